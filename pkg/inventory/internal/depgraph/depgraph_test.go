package depgraph

import (
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func pkg(id string) inventory.Package { return inventory.Package{Name: id, ID: id} }

func TestGraph(t *testing.T) {
	g := New()
	for _, id := range []string{"app", "lib", "shared", "test"} {
		g.Add(pkg(id), id, false)
	}
	g.Add(pkg("lib"), "lib", true) // a dev copy of a production package stays production
	g.Dep("app", "shared")
	g.Dep("test", "shared")
	g.Dep("test", "lib")
	g.Dep("app", "missing") // ignored
	g.Dep("app", "app")     // ignored
	g.Direct("app")
	g.License("app", []string{"MIT"})
	g.License("app", []string{"GPL"}) // the first licence stays
	g.MarkDev([]string{"app"})
	var got []string
	for _, p := range g.Packages() {
		s := p.ID + " deps=" + strings.Join(p.DependsOn, ",")
		if p.Dev {
			s += " dev"
		}
		if p.Direct {
			s += " direct"
		}
		if len(p.Licenses) > 0 {
			s += " " + strings.Join(p.Licenses, ",")
		}
		got = append(got, s)
	}
	want := []string{
		"app deps=shared direct MIT",
		"lib deps= dev", // reachable only from test
		"shared deps=",
		"test deps=lib,shared dev",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ids := g.ByName("lib"); len(ids) != 1 || !g.Has("lib") || g.Has("missing") {
		t.Errorf("ByName(lib) = %v", ids)
	}
}
