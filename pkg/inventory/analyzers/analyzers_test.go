package analyzers

import (
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func TestSets(t *testing.T) {
	names := func(list []inventory.Analyzer) map[string]bool {
		m := map[string]bool{}
		for _, a := range list {
			if m[a.Name()] {
				t.Errorf("analyzer %q listed twice", a.Name())
			}
			m[a.Name()] = true
		}
		return m
	}
	installed, source := names(Installed()), names(Source())
	// What a system has installed, and what a source tree declares.
	for _, n := range []string{"osrelease", "dpkg", "dpkg-copyright", "apk", "rpm"} {
		if !installed[n] || source[n] {
			t.Errorf("%s: installed %v, source %v; want only installed", n, installed[n], source[n])
		}
	}
	wants := func(list []inventory.Analyzer, path string) bool {
		for _, a := range list {
			if a.Wants(path, inventory.FileInfo{Size: 100, Mode: 0o644}) {
				return true
			}
		}
		return false
	}
	for path, want := range map[string][2]bool{ // installed, source
		"var/lib/dpkg/status":                                {true, false},
		"app/package-lock.json":                              {false, true},
		"app/node_modules/lodash/package.json":               {true, false},
		"srv/requirements.txt":                               {false, true},
		"usr/lib/python3/dist-packages/a.dist-info/METADATA": {true, false},
		"app/Cargo.lock":                                     {true, true},
		"app/lib/app.jar":                                    {true, true},
		"app/go.mod":                                         {false, true},
	} {
		if got := [2]bool{wants(Installed(), path), wants(Source(), path)}; got != want {
			t.Errorf("%s: wanted by installed, source = %v, want %v", path, got, want)
		}
	}
}
