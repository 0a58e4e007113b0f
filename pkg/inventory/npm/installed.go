package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// NewInstalled returns the analyzer of installed packages: the
// package.json at the top of each package under node_modules
// (node_modules/name/package.json, node_modules/@scope/name/package.json).
// A project's own package.json, and the package.json files packages carry
// in their subdirectories, are not installed packages and are not read.
func NewInstalled() inventory.Analyzer { return installed{} }

type installed struct{}

func (installed) Name() string { return "node-pkg" }

func (installed) Wants(p string, _ inventory.FileInfo) bool {
	rest, ok := strings.CutSuffix(p, "/package.json")
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, "node_modules/")
	if i < 0 || (i > 0 && rest[i-1] != '/') {
		return false
	}
	name := rest[i+len("node_modules/"):]
	slash := strings.Count(name, "/")
	if strings.HasPrefix(name, "@") {
		return slash == 1
	}
	return slash == 0 && name != "" && name[0] != '.'
}

type manifest struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	License  json.RawMessage `json:"license"`
	Licenses json.RawMessage `json:"licenses"`
}

func (installed) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, jsonError(data, err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("installed package without name or version (name %q, version %q)", m.Name, m.Version)
	}
	return &inventory.Result{Packages: []inventory.Package{{
		Type: inventory.Npm, Ecosystem: inventory.EcoNpm, Name: m.Name, Version: m.Version,
		Licenses: licenses(m.License, m.Licenses), PURL: PURL(m.Name, m.Version), Path: f.Path,
	}}}, nil
}
