package npm

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"go.yaml.in/yaml/v3"
)

// NewPnpm returns the analyzer of pnpm-lock.yaml, lockfile versions 5.x
// ("/name/1.0.0_peer@2.0.0" keys), 6.x ("/name@1.0.0(peer@2.0.0)") and
// 9.x ("name@1.0.0", dependencies under snapshots). Direct marks what the
// project and its workspace importers declare; Dev marks packages that
// only the importers' devDependencies lead to. Copies of a version that
// differ only in the peers they were installed with are one package.
func NewPnpm() inventory.Analyzer { return pnpmLock{} }

type pnpmLock struct{}

func (pnpmLock) Name() string { return string(inventory.Pnpm) }

func (pnpmLock) Wants(p string, _ inventory.FileInfo) bool {
	return path.Base(p) == "pnpm-lock.yaml" && !strings.Contains(p, "node_modules/")
}

type pnpmFile struct {
	LockfileVersion string                  `yaml:"lockfileVersion"`
	Importers       map[string]pnpmImporter `yaml:"importers"`
	pnpmImporter    `yaml:",inline"`
	Packages        map[string]pnpmPackage `yaml:"packages"`
	Snapshots       map[string]pnpmPackage `yaml:"snapshots"`
}

type pnpmImporter struct {
	Dependencies         map[string]pnpmRef `yaml:"dependencies"`
	OptionalDependencies map[string]pnpmRef `yaml:"optionalDependencies"`
	DevDependencies      map[string]pnpmRef `yaml:"devDependencies"`
}

type pnpmPackage struct {
	Name                 string            `yaml:"name"`
	Version              string            `yaml:"version"`
	Dependencies         map[string]string `yaml:"dependencies"`
	OptionalDependencies map[string]string `yaml:"optionalDependencies"`
}

// pnpmRef is an importer's dependency: a version (5.x) or
// {specifier, version} (6.x and later).
type pnpmRef string

func (r *pnpmRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*r = pnpmRef(n.Value)
		return nil
	}
	var v struct {
		Version string `yaml:"version"`
	}
	if err := n.Decode(&v); err != nil {
		return err
	}
	*r = pnpmRef(v.Version)
	return nil
}

func (pnpmLock) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	var lf pnpmFile
	if err := yaml.Unmarshal(data, &lf); err != nil {
		return nil, err // "yaml: line 12: ..."
	}
	major, _, _ := strings.Cut(lf.LockfileVersion, ".")
	var v int
	if _, err := fmt.Sscan(major, &v); err != nil || v < 5 {
		return nil, fmt.Errorf("unsupported lockfileVersion %q", lf.LockfileVersion)
	}
	g := newGraph(inventory.Pnpm, f.Path)
	deps := lf.Snapshots // 9.x
	if v < 9 {
		deps = lf.Packages
	}
	ids := map[string]string{} // package key → ID
	for _, key := range slices.Sorted(maps.Keys(deps)) {
		p := deps[key]
		name, version, ok := pnpmKey(v, key)
		if p.Name != "" && p.Version != "" { // tarball and git packages
			name, version, ok = p.Name, p.Version, true
		}
		if !ok || isLocal(version) {
			continue
		}
		ids[key] = g.add(name, version, false)
	}
	for key, p := range deps {
		from, ok := ids[key]
		if !ok {
			continue
		}
		for _, m := range []map[string]string{p.Dependencies, p.OptionalDependencies} {
			for name, ref := range m {
				if to, ok := ids[pnpmRefKey(v, name, ref)]; ok {
					g.Dep(from, to)
				}
			}
		}
	}
	importers := lf.Importers
	if importers == nil {
		importers = map[string]pnpmImporter{".": lf.pnpmImporter}
	}
	var prod []string
	for _, imp := range importers {
		for _, m := range []map[string]pnpmRef{imp.Dependencies, imp.OptionalDependencies, imp.DevDependencies} {
			for name, ref := range m {
				to, ok := ids[pnpmRefKey(v, name, string(ref))]
				if !ok {
					continue
				}
				g.Direct(to)
				if _, dev := imp.DevDependencies[name]; !dev {
					prod = append(prod, to)
				}
			}
		}
	}
	g.MarkDev(prod)
	return &inventory.Result{Packages: g.Packages()}, nil
}

// pnpmKey reads the name and version of a package key: "/name/1.0.0_peer"
// (5.x), "/name@1.0.0(peer@2)" (6.x), "name@1.0.0(peer@2)" (9.x). Keys of
// other registries keep their host before the name in 5.x and 6.x
// ("registry.example.com/name/1.0.0"); those without a version are not
// registry packages.
func pnpmKey(v int, key string) (string, string, bool) {
	key, _, _ = strings.Cut(key, "(") // peers
	if v < 6 {
		key = strings.TrimPrefix(key, "/")
		i := strings.LastIndexByte(key, '/')
		if i <= 0 {
			return "", "", false
		}
		name, version := key[:i], key[i+1:]
		version, _, _ = strings.Cut(version, "_") // peers
		return name, version, validVersion(version)
	}
	key = strings.TrimPrefix(key, "/")
	name, version, ok := splitNameVersion(key)
	return name, version, ok && validVersion(version)
}

// pnpmRefKey turns a dependency reference into the key of the package it
// names: a version ("1.0.0(peer@2)"), or a key of its own for aliases and
// non-registry packages ("/real/1.0.0", "real@1.0.0").
func pnpmRefKey(v int, name, ref string) string {
	switch {
	case v < 6:
		if strings.HasPrefix(ref, "/") {
			return ref
		}
		return "/" + name + "/" + ref
	case v < 9:
		if strings.HasPrefix(ref, "/") {
			return ref
		}
		return "/" + name + "@" + ref
	}
	base, _, _ := strings.Cut(ref, "(")
	if strings.Contains(base, "@") { // an alias: real@1.0.0
		return ref
	}
	return name + "@" + ref
}

// validVersion is a cheap check that a version starts like a semantic
// version, which pnpm's keys of git and tarball packages do not.
func validVersion(v string) bool {
	return v != "" && v[0] >= '0' && v[0] <= '9'
}
