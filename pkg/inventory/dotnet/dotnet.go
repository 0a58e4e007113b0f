// Package dotnet inventories NuGet packages: the *.deps.json a .NET build
// writes beside an application (what it runs with) and the
// packages.lock.json NuGet writes for a project (what it restores).
package dotnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
	"github.com/package-url/packageurl-go"
)

const maxFile = 64 << 20

func nugetPackage(typ inventory.Type, name, version, file string) inventory.Package {
	return inventory.Package{
		Type:      typ,
		Ecosystem: inventory.EcoNuGet,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeNuget, "", name, version, nil, "").ToString(),
		Path:      file,
		ID:        name + "@" + version,
	}
}

type depsAnalyzer struct{}

// NewDepsJSON returns the analyzer of *.deps.json. Every library of type
// "package" is a package, its name and version taken from the
// "Name/Version" key; so is the runtime a self-contained application
// carries ("runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/6.0.5",
// named without the "runtimepack." prefix, as advisories name the runtime
// packs). Projects (the application and its project references) and
// framework references are not packages. DependsOn comes from the targets; a
// package a project depends on is Direct.
func NewDepsJSON() inventory.Analyzer { return depsAnalyzer{} }

func (depsAnalyzer) Name() string { return string(inventory.DotnetDeps) }

func (depsAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && strings.HasSuffix(p, ".deps.json")
}

func (depsAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := textutil.ReadAll(f, maxFile)
	if err != nil {
		return nil, err
	}
	pkgs, err := parseDeps(data, f.Path)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, nil
}

func parseDeps(data []byte, file string) ([]inventory.Package, error) {
	var deps struct {
		Targets map[string]map[string]struct {
			Dependencies map[string]string `json:"dependencies"`
		} `json:"targets"`
		Libraries map[string]struct {
			Type string `json:"type"`
		} `json:"libraries"`
	}
	if err := textutil.DecodeJSON(data, &deps); err != nil {
		return nil, err
	}
	if deps.Libraries == nil {
		return nil, errors.New(`no "libraries": not a .deps.json`)
	}
	type lib struct{ name, version, typ string }
	libs := map[string]lib{} // lower-case name → library
	for _, key := range slices.Sorted(maps.Keys(deps.Libraries)) {
		name, version, ok := strings.Cut(key, "/")
		if !ok || name == "" || version == "" {
			return nil, fmt.Errorf("libraries: key %q is not \"Name/Version\"", textutil.Clip(key))
		}
		libs[strings.ToLower(name)] = lib{strings.TrimPrefix(name, "runtimepack."), version, deps.Libraries[key].Type}
	}
	dependsOn := map[string][]string{}
	direct := map[string]bool{}
	for _, target := range deps.Targets {
		for key, entry := range target {
			name, _, _ := strings.Cut(key, "/")
			from := libs[strings.ToLower(name)]
			for dep := range entry.Dependencies {
				to, ok := libs[strings.ToLower(dep)]
				if !ok || !isPackage(to.typ) {
					continue // a project reference, or a framework assembly
				}
				id := to.name + "@" + to.version
				if from.typ == "project" {
					direct[id] = true
				}
				if !slices.Contains(dependsOn[key], id) {
					dependsOn[key] = append(dependsOn[key], id)
				}
			}
		}
	}
	var pkgs []inventory.Package
	for _, key := range slices.Sorted(maps.Keys(deps.Libraries)) {
		name, version, _ := strings.Cut(key, "/")
		if !isPackage(deps.Libraries[key].Type) {
			continue
		}
		p := nugetPackage(inventory.DotnetDeps, strings.TrimPrefix(name, "runtimepack."), version, file)
		p.Direct = direct[p.ID]
		p.DependsOn = slices.Sorted(slices.Values(dependsOn[key]))
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func isPackage(typ string) bool { return typ == "package" || typ == "runtimepack" }

type lockAnalyzer struct{}

// NewPackagesLock returns the analyzer of NuGet's packages.lock.json.
// Packages of every target framework are reported once (by name and
// resolved version); those of type Direct in any framework are Direct.
// Project references are not packages.
func NewPackagesLock() inventory.Analyzer { return lockAnalyzer{} }

func (lockAnalyzer) Name() string { return string(inventory.NuGetLock) }

func (lockAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && (p == "packages.lock.json" || strings.HasSuffix(p, "/packages.lock.json"))
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

type lockEntry struct {
	Type         string            `json:"type"`
	Resolved     string            `json:"resolved"`
	Dependencies map[string]string `json:"dependencies"`
}

func parseLock(data []byte, file string) ([]inventory.Package, error) {
	var lock struct {
		Version      int                             `json:"version"`
		Dependencies map[string]map[string]lockEntry `json:"dependencies"`
	}
	if err := textutil.DecodeJSON(data, &lock); err != nil {
		return nil, err
	}
	if lock.Dependencies == nil {
		return nil, errors.New(`no "dependencies": not a packages.lock.json`)
	}
	byID := map[string]*inventory.Package{}
	for _, fw := range slices.Sorted(maps.Keys(lock.Dependencies)) {
		entries := lock.Dependencies[fw]
		resolved := map[string]string{} // lower-case name → ID, in this framework
		for name, e := range entries {
			if e.Type != "Project" {
				resolved[strings.ToLower(name)] = name + "@" + e.Resolved
			}
		}
		for _, name := range slices.Sorted(maps.Keys(entries)) {
			e := entries[name]
			switch e.Type {
			case "Project":
				continue
			case "Direct", "Transitive", "CentralTransitive":
			default:
				return nil, fmt.Errorf("dependencies[%q][%q]: unknown type %q", fw, name, e.Type)
			}
			if e.Resolved == "" {
				return nil, fmt.Errorf("dependencies[%q][%q]: no resolved version", fw, name)
			}
			key := strings.ToLower(name) + "@" + e.Resolved
			p := byID[key]
			if p == nil {
				np := nugetPackage(inventory.NuGetLock, name, e.Resolved, file)
				p = &np
				byID[key] = p
			}
			p.Direct = p.Direct || e.Type == "Direct"
			for dep := range e.Dependencies {
				if id, ok := resolved[strings.ToLower(dep)]; ok && !slices.Contains(p.DependsOn, id) {
					p.DependsOn = append(p.DependsOn, id)
				}
			}
		}
	}
	pkgs := make([]inventory.Package, 0, len(byID))
	for _, p := range byID {
		slices.Sort(p.DependsOn)
		pkgs = append(pkgs, *p)
	}
	slices.SortFunc(pkgs, func(a, b inventory.Package) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
	})
	return pkgs, nil
}
