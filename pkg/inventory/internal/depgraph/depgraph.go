// Package depgraph collects a lock file's packages as a dependency graph:
// repeated copies of one package merge, development-only dependencies
// are worked out by reachability, and the result is the packages with
// their DependsOn lists, in ID order.
package depgraph

import (
	"maps"
	"slices"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Graph is the packages of one file by ID.
type Graph struct {
	nodes  map[string]*node
	byName map[string][]string // lookup name → IDs
}

type node struct {
	pkg  inventory.Package
	deps map[string]bool
	prod bool // some copy is not a development dependency
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{nodes: map[string]*node{}, byName: map[string][]string{}}
}

// Add records a copy of p under p.ID, findable by name with ByName, and
// returns the ID. The first copy's package is kept; a package is a
// development dependency only if every copy is.
func (g *Graph) Add(p inventory.Package, name string, dev bool) string {
	n := g.nodes[p.ID]
	if n == nil {
		n = &node{pkg: p, deps: map[string]bool{}}
		g.nodes[p.ID] = n
		g.byName[name] = append(g.byName[name], p.ID)
	}
	n.prod = n.prod || !dev
	return p.ID
}

// Has reports whether the graph holds id.
func (g *Graph) Has(id string) bool { return g.nodes[id] != nil }

// ByName returns the IDs added under name.
func (g *Graph) ByName(name string) []string { return g.byName[name] }

// Dep records that from depends on to; unknown IDs and self-dependencies
// are ignored.
func (g *Graph) Dep(from, to string) {
	if n := g.nodes[from]; n != nil && from != to && g.nodes[to] != nil {
		n.deps[to] = true
	}
}

// Direct marks id as a dependency the project declares itself.
func (g *Graph) Direct(id string) {
	if n := g.nodes[id]; n != nil {
		n.pkg.Direct = true
	}
}

// License sets id's licences unless it has some.
func (g *Graph) License(id string, l []string) {
	if n := g.nodes[id]; n != nil && len(n.pkg.Licenses) == 0 && len(l) > 0 {
		n.pkg.Licenses = l
	}
}

// MarkDev marks as development dependencies the packages not reachable
// from the project's production dependencies, for lock files that record
// only which of the project's own dependencies are for development.
func (g *Graph) MarkDev(prodRoots []string) {
	prod := map[string]bool{}
	stack := slices.Clone(prodRoots)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if prod[id] || g.nodes[id] == nil {
			continue
		}
		prod[id] = true
		for d := range g.nodes[id].deps {
			stack = append(stack, d)
		}
	}
	for id, n := range g.nodes {
		n.prod = prod[id]
	}
}

// Packages returns the packages in ID order, with Dev and DependsOn set.
func (g *Graph) Packages() []inventory.Package {
	out := make([]inventory.Package, 0, len(g.nodes))
	for _, id := range slices.Sorted(maps.Keys(g.nodes)) {
		n := g.nodes[id]
		p := n.pkg
		p.Dev = !n.prod
		if len(n.deps) > 0 {
			p.DependsOn = slices.Sorted(maps.Keys(n.deps))
		}
		out = append(out, p)
	}
	return out
}
