// Package rust inventories Rust crates: Cargo.lock (versions 1 to 4) and
// the dependency list cargo-auditable embeds in binaries (a zlib-compressed
// JSON section named .dep-v0, or __dep_v0 in Mach-O).
//
// Crates without a source — the workspace's own members and path
// dependencies — are the project itself and are left out; what they
// depend on is Direct. Binaries mark the root crate's dependencies
// Direct the same way. Crates are identified as name@version.
package rust

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/package-url/packageurl-go"
)

// MaxLockSize caps the Cargo.lock files read.
const MaxLockSize = 64 << 20

// NewCargoLock returns the analyzer of Cargo.lock.
func NewCargoLock() inventory.Analyzer { return cargoLock{} }

// Analyzers returns every analyzer of this package.
func Analyzers() []inventory.Analyzer { return []inventory.Analyzer{NewCargoLock(), NewBinary()} }

// PURL is the package URL of a crate: pkg:cargo/serde@1.0.197.
func PURL(name, version string) string {
	return packageurl.NewPackageURL(packageurl.TypeCargo, "", name, version, nil, "").ToString()
}

type cargoLock struct{}

func (cargoLock) Name() string { return string(inventory.Cargo) }

func (cargoLock) Wants(p string, _ inventory.FileInfo) bool { return path.Base(p) == "Cargo.lock" }

type lockPackage struct {
	Name         string   `toml:"name"`
	Version      string   `toml:"version"`
	Source       string   `toml:"source"`
	Dependencies []string `toml:"dependencies"`
}

type lockFile struct {
	Version int           `toml:"version"`
	Root    *lockPackage  `toml:"root"` // version 1
	Package []lockPackage `toml:"package"`
}

func (cargoLock) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > MaxLockSize {
		return nil, fmt.Errorf("%d bytes, over the %d-byte cap: %w", f.Size, MaxLockSize, inventory.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(f.Reader(), MaxLockSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxLockSize {
		return nil, inventory.ErrTooLarge
	}
	var lock lockFile
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil, err // "toml: line 12 (last key ...): ..."
	}
	pkgs := lock.Package
	if lock.Root != nil {
		pkgs = append(pkgs, *lock.Root)
	}
	g := newGraph(inventory.Cargo, f.Path)
	type key struct{ name, version string }
	byName := map[string][]int{}
	byNameVersion := map[key][]int{}
	ids := make([]string, len(pkgs))
	for i, p := range pkgs {
		if p.Name == "" || p.Version == "" {
			return nil, fmt.Errorf("package %d (%q): no name or version", i+1, p.Name)
		}
		byName[p.Name] = append(byName[p.Name], i)
		byNameVersion[key{p.Name, p.Version}] = append(byNameVersion[key{p.Name, p.Version}], i)
		if p.Source != "" {
			ids[i] = g.add(p.Name, p.Version)
		}
	}
	for i, p := range pkgs {
		for _, d := range p.Dependencies {
			// "name", "name version" or "name version (source)".
			fields := strings.Fields(d)
			var cands []int
			switch {
			case len(fields) == 1:
				cands = byName[fields[0]]
			case len(fields) >= 2:
				cands = byNameVersion[key{fields[0], fields[1]}]
			}
			if len(cands) == 0 {
				return nil, fmt.Errorf("package %s %s: dependency %q is not in the lock file", p.Name, p.Version, d)
			}
			for _, c := range cands {
				if len(fields) == 3 && pkgs[c].Source != strings.Trim(fields[2], "()") {
					continue
				}
				to := ids[c]
				switch {
				case to == "":
				case ids[i] == "":
					g.direct(to) // a workspace member's dependency
				default:
					g.dep(ids[i], to)
				}
			}
		}
	}
	return &inventory.Result{Packages: g.packages()}, nil
}

// graph collects crates by name@version.
type graph struct {
	typ   inventory.Type
	path  string
	nodes map[string]*inventory.Package
	deps  map[string]map[string]bool
}

func newGraph(typ inventory.Type, path string) *graph {
	return &graph{typ: typ, path: path, nodes: map[string]*inventory.Package{}, deps: map[string]map[string]bool{}}
}

func (g *graph) add(name, version string) string {
	id := name + "@" + version
	if g.nodes[id] == nil {
		g.nodes[id] = &inventory.Package{
			Type: g.typ, Ecosystem: inventory.EcoCrates, Name: name, Version: version,
			PURL: PURL(name, version), Path: g.path, ID: id,
		}
		g.deps[id] = map[string]bool{}
	}
	return id
}

func (g *graph) dep(from, to string) {
	if from != to {
		g.deps[from][to] = true
	}
}

func (g *graph) direct(id string) { g.nodes[id].Direct = true }

func (g *graph) packages() []inventory.Package {
	out := make([]inventory.Package, 0, len(g.nodes))
	for _, id := range slices.Sorted(maps.Keys(g.nodes)) {
		p := *g.nodes[id]
		if len(g.deps[id]) > 0 {
			p.DependsOn = slices.Sorted(maps.Keys(g.deps[id]))
		}
		out = append(out, p)
	}
	return out
}
