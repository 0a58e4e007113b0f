// Package php inventories Composer packages: composer.lock and the
// vendor/composer/installed.json Composer writes when it installs.
//
// Versions drop a leading "v" ("v5.4.20" → "5.4.20"): Composer itself
// normalises versions that way, and OSV's Packagist records give their
// ranges without it (none of the 16,344 range events in the Packagist
// export carries one). Branch versions ("dev-main") are kept as written.
package php

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
	"github.com/package-url/packageurl-go"
)

const maxFile = 64 << 20

type composerPackage struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Require map[string]string `json:"require"`
	License json.RawMessage   `json:"license"`
}

type lockAnalyzer struct{}

// NewComposerLock returns the analyzer of composer.lock: "packages" and
// "packages-dev" (Dev), with DependsOn from each package's "require".
// The lock file does not say which packages the project requires itself,
// so Direct is not set.
func NewComposerLock() inventory.Analyzer { return lockAnalyzer{} }

func (lockAnalyzer) Name() string { return string(inventory.Composer) }

func (lockAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && (p == "composer.lock" || strings.HasSuffix(p, "/composer.lock"))
}

func (lockAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := textutil.ReadAll(f, maxFile)
	if err != nil {
		return nil, err
	}
	pkgs, err := parseLock(data, f.Path)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, nil
}

func parseLock(data []byte, file string) ([]inventory.Package, error) {
	var lock struct {
		Packages    []composerPackage `json:"packages"`
		PackagesDev []composerPackage `json:"packages-dev"`
	}
	if err := textutil.DecodeJSON(data, &lock); err != nil {
		return nil, err
	}
	if lock.Packages == nil && lock.PackagesDev == nil && !bytes.Contains(data, []byte(`"packages"`)) {
		return nil, errors.New(`no "packages": not a composer.lock`)
	}
	return packages(file, lock.Packages, lock.PackagesDev, nil)
}

type installedAnalyzer struct{}

// NewInstalled returns the analyzer of vendor/composer/installed.json, in
// Composer 1's form (a list of packages) and Composer 2's
// ({"packages": […], "dev-package-names": […]}, which marks Dev).
func NewInstalled() inventory.Analyzer { return installedAnalyzer{} }

func (installedAnalyzer) Name() string { return "composer-installed" }

func (installedAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && (p == "vendor/composer/installed.json" || strings.HasSuffix(p, "/vendor/composer/installed.json"))
}

func (installedAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := textutil.ReadAll(f, maxFile)
	if err != nil {
		return nil, err
	}
	pkgs, err := parseInstalled(data, f.Path)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, nil
}

func parseInstalled(data []byte, file string) ([]inventory.Package, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\xef\xbb\xbf")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var v1 []composerPackage
		if err := textutil.DecodeJSON(data, &v1); err != nil {
			return nil, err
		}
		return packages(file, v1, nil, nil)
	}
	var v2 struct {
		Packages []composerPackage `json:"packages"`
		DevNames []string          `json:"dev-package-names"`
	}
	if err := textutil.DecodeJSON(data, &v2); err != nil {
		return nil, err
	}
	if v2.Packages == nil {
		return nil, errors.New(`neither a list of packages nor {"packages": […]}`)
	}
	dev := map[string]bool{}
	for _, n := range v2.DevNames {
		dev[strings.ToLower(n)] = true
	}
	return packages(file, v2.Packages, nil, dev)
}

// packages turns Composer's package lists into inventory packages.
func packages(file string, prod, devList []composerPackage, devNames map[string]bool) ([]inventory.Package, error) {
	ids := map[string]string{} // lower-case name → ID
	type item struct {
		c   composerPackage
		dev bool
		at  string
	}
	var all []item
	for i, c := range prod {
		all = append(all, item{c, devNames[strings.ToLower(c.Name)], fmt.Sprintf("packages[%d]", i)})
	}
	for i, c := range devList {
		all = append(all, item{c, true, fmt.Sprintf("packages-dev[%d]", i)})
	}
	for _, it := range all {
		if it.c.Name == "" || it.c.Version == "" {
			return nil, fmt.Errorf("%s: no name or version (name %q, version %q)", it.at, it.c.Name, it.c.Version)
		}
		ids[strings.ToLower(it.c.Name)] = it.c.Name + "@" + version(it.c.Version)
	}
	pkgs := make([]inventory.Package, 0, len(all))
	for _, it := range all {
		c := it.c
		v := version(c.Version)
		vendor, name, _ := strings.Cut(c.Name, "/")
		if name == "" {
			vendor, name = "", c.Name
		}
		p := inventory.Package{
			Type:      inventory.Composer,
			Ecosystem: inventory.EcoPackagist,
			Name:      c.Name,
			Version:   v,
			PURL:      packageurl.NewPackageURL(packageurl.TypeComposer, vendor, name, v, nil, "").ToString(),
			Path:      file,
			ID:        c.Name + "@" + v,
			Dev:       it.dev,
		}
		lic, err := licenses(c.License)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): license: %w", it.at, c.Name, err)
		}
		p.Licenses = lic
		// Platform requirements (php, ext-*, lib-*) have no vendor; a
		// requirement another package replaces or provides has no entry.
		for _, req := range sortedKeys(c.Require) {
			if id, ok := ids[strings.ToLower(req)]; ok && strings.Contains(req, "/") {
				p.DependsOn = append(p.DependsOn, id)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// version drops the "v" of a tag-style version, as Composer normalises it.
func version(v string) string {
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		return v[1:]
	}
	return v
}

// licenses reads "license": a list of SPDX ids, or one string in old packages.
func licenses(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("want a string or a list of strings, got %s", textutil.Clip(string(raw)))
	}
	if one == "" {
		return nil, nil
	}
	return []string{one}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
