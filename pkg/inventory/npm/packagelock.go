package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// NewPackageLock returns the analyzer of package-lock.json and
// npm-shrinkwrap.json. Lockfile versions 2 and 3 list every installed
// location ("node_modules/a/node_modules/b"); dependencies resolve the way
// Node does, to the nearest node_modules up the tree, and Direct marks
// what the root and workspace packages declare. Version 1 nests
// "dependencies" and resolves "requires" the same way; it does not say
// what the project declares, so Direct is not set.
func NewPackageLock() inventory.Analyzer { return packageLock{} }

type packageLock struct{}

func (packageLock) Name() string { return string(inventory.Npm) }

func (packageLock) Wants(p string, _ inventory.FileInfo) bool {
	switch path.Base(p) {
	case "package-lock.json", "npm-shrinkwrap.json":
		// A copy inside an installed package is not the project's lock.
		return !strings.Contains(p, "node_modules/")
	}
	return false
}

type lockFile struct {
	LockfileVersion int                    `json:"lockfileVersion"`
	Packages        map[string]lockPackage `json:"packages"`
	Dependencies    map[string]lockDepV1   `json:"dependencies"`
}

type lockPackage struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Resolved             string            `json:"resolved"`
	Link                 bool              `json:"link"`
	Dev                  bool              `json:"dev"`
	Dependencies         map[string]string `json:"dependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	PeerDependencies     map[string]string `json:"peerDependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	License              json.RawMessage   `json:"license"`
	Licenses             json.RawMessage   `json:"licenses"`
}

type lockDepV1 struct {
	Version      string               `json:"version"`
	Dev          bool                 `json:"dev"`
	Requires     map[string]string    `json:"requires"`
	Dependencies map[string]lockDepV1 `json:"dependencies"`
}

func (packageLock) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	var lf lockFile
	if err := json.Unmarshal(data, &lf); err != nil {
		return nil, jsonError(data, err)
	}
	g := newGraph(inventory.Npm, f.Path)
	switch {
	case lf.Packages != nil:
		if err := lockV2(g, lf.Packages); err != nil {
			return nil, err
		}
	case lf.Dependencies != nil:
		lockV1(g, lf.Dependencies, nil)
	case lf.LockfileVersion == 0:
		return nil, fmt.Errorf("no lockfileVersion, packages or dependencies: not a package lock")
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

// lockV2 reads the "packages" map of lockfile versions 2 and 3.
func lockV2(g *graph, pkgs map[string]lockPackage) error {
	ids := map[string]string{} // location → ID
	locs := slices.Sorted(maps.Keys(pkgs))
	for _, loc := range locs {
		e := pkgs[loc]
		i := strings.LastIndex(loc, "node_modules/")
		if i < 0 || e.Link {
			continue // the root, a workspace member or a link to one
		}
		name := e.Name
		if name == "" {
			name = loc[i+len("node_modules/"):]
		}
		if e.Version == "" || isLocal(e.Version) {
			continue
		}
		id := g.add(name, e.Version, e.Dev)
		g.License(id, licenses(e.License, e.Licenses))
		ids[loc] = id
	}
	for _, loc := range locs {
		e := pkgs[loc]
		if e.Link {
			continue
		}
		from, installed := ids[loc]
		if !installed && strings.Contains(loc, "node_modules/") {
			continue
		}
		declared := [][]string{keys(e.Dependencies), keys(e.OptionalDependencies), keys(e.PeerDependencies)}
		if !installed { // the root or a workspace member: the project
			declared = append(declared, keys(e.DevDependencies))
		}
		for _, names := range declared {
			for _, name := range names {
				to, ok := ids[resolve(pkgs, loc, name)]
				if !ok {
					continue // not installed (optional, peer) or local
				}
				if installed {
					g.Dep(from, to)
				} else {
					g.Direct(to)
				}
			}
		}
	}
	return nil
}

// resolve finds the location Node loads name from when required at loc:
// loc/node_modules/name, then up through the enclosing node_modules
// directories to the root's. Links to workspace members are followed.
func resolve(pkgs map[string]lockPackage, loc, name string) string {
	for {
		cand := "node_modules/" + name
		if loc != "" {
			cand = loc + "/" + cand
		}
		if e, ok := pkgs[cand]; ok {
			if e.Link {
				return e.Resolved
			}
			return cand
		}
		if loc == "" {
			return ""
		}
		if i := strings.LastIndex(loc, "/node_modules/"); i >= 0 {
			loc = loc[:i]
		} else {
			loc = "" // node_modules/x, or a workspace member: the root is next
		}
	}
}

// lockV1 reads the nested "dependencies" of lockfile version 1. scopes
// holds the dependency maps of the enclosing packages, innermost last.
func lockV1(g *graph, deps map[string]lockDepV1, scopes []map[string]lockDepV1) {
	scopes = append(scopes, deps)
	for _, key := range slices.Sorted(maps.Keys(deps)) {
		d := deps[key]
		name, version, ok := v1NameVersion(key, d.Version)
		if !ok {
			continue
		}
		id := g.add(name, version, d.Dev)
		inner := append(slices.Clip(scopes), d.Dependencies)
		for _, req := range slices.Sorted(maps.Keys(d.Requires)) {
			for i := len(inner) - 1; i >= 0; i-- {
				if t, ok := inner[i][req]; ok {
					if tn, tv, ok := v1NameVersion(req, t.Version); ok {
						g.add(tn, tv, t.Dev)
						g.Dep(id, tn+"@"+tv)
					}
					break
				}
			}
		}
		if d.Dependencies != nil {
			lockV1(g, d.Dependencies, scopes)
		}
	}
}

// v1NameVersion reads a version 1 entry: a registry version, an alias
// ("npm:real@1.0.0"), or a URL, git or local reference, which has no
// version to report.
func v1NameVersion(key, version string) (string, string, bool) {
	if real, ok := strings.CutPrefix(version, "npm:"); ok {
		return splitNameVersion(real)
	}
	if version == "" || strings.Contains(version, ":") || strings.Contains(version, "/") {
		return "", "", false
	}
	return key, version, true
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
