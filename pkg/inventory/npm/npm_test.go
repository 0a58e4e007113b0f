package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

func open(t testing.TB, path string) *inventory.File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return memFile(filepath.ToSlash(path), data)
}

func memFile(path string, data []byte) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}, bytes.NewReader(data), "", nil)
}

func golden(t *testing.T, name string, pkgs []inventory.Package) {
	t.Helper()
	got, err := json.MarshalIndent(pkgs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, d)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		a    inventory.Analyzer
		file string
	}{
		{NewPackageLock(), "testdata/lock-v1/package-lock.json"},
		{NewPackageLock(), "testdata/lock-v2/package-lock.json"},
		{NewPackageLock(), "testdata/lock-v3-workspaces/package-lock.json"},
		{NewPackageLock(), "testdata/shrinkwrap/npm-shrinkwrap.json"},
		{NewYarn(), "testdata/yarn-classic/yarn.lock"},
		{NewYarn(), "testdata/yarn-berry/yarn.lock"},
		{NewPnpm(), "testdata/pnpm-v5/pnpm-lock.yaml"},
		{NewPnpm(), "testdata/pnpm-v6/pnpm-lock.yaml"},
		{NewPnpm(), "testdata/pnpm-v9/pnpm-lock.yaml"},
		{NewInstalled(), "testdata/installed/node_modules/lodash/package.json"},
		{NewInstalled(), "testdata/installed/node_modules/@babel/code-frame/package.json"},
	} {
		t.Run(strings.TrimPrefix(tc.file, "testdata/"), func(t *testing.T) {
			if !tc.a.Wants(tc.file, inventory.FileInfo{Size: 1}) {
				t.Fatalf("%s analyzer does not want %s", tc.a.Name(), tc.file)
			}
			r, err := tc.a.Analyze(context.Background(), open(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(filepath.Dir(tc.file), filepath.Base(tc.file)+".golden.json"), r.Packages)
		})
	}
}

// TestGraph pins the facts the golden files hold that matter most.
func TestGraph(t *testing.T) {
	byID := func(t *testing.T, a inventory.Analyzer, file string) map[string]inventory.Package {
		r, err := a.Analyze(context.Background(), open(t, file))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]inventory.Package{}
		for _, p := range r.Packages {
			if _, dup := m[p.ID]; dup {
				t.Errorf("%s: ID %s twice", file, p.ID)
			}
			m[p.ID] = p
		}
		return m
	}
	v3 := byID(t, NewPackageLock(), "testdata/lock-v3-workspaces/package-lock.json")
	// debug's ms is its nested copy; the workspace member's ms is the root's.
	if d := v3["debug@2.6.9"]; !d.Dev || !d.Direct || !slices_equal(d.DependsOn, []string{"ms@2.0.0"}) {
		t.Errorf("debug@2.6.9 = %+v", d)
	}
	if ms := v3["ms@2.1.3"]; ms.Dev || !ms.Direct {
		t.Errorf("ms@2.1.3 (a workspace member's dependency) = %+v", ms)
	}
	if sw := v3["string-width@4.2.3"]; !sw.Direct || sw.PURL != "pkg:npm/string-width@4.2.3" {
		t.Errorf("aliased string-width = %+v", sw)
	}
	if _, ok := v3["@monorepo/util@0.1.0"]; ok {
		t.Error("workspace member reported as a package")
	}
	yc := byID(t, NewYarn(), "testdata/yarn-classic/yarn.lock")
	if p := yc["@babel/code-frame@7.22.13"]; p.PURL != "pkg:npm/%40babel/code-frame@7.22.13" ||
		!slices_equal(p.DependsOn, []string{"@babel/highlight@7.22.20", "chalk@2.4.2"}) {
		t.Errorf("@babel/code-frame = %+v", p)
	}
	yb := byID(t, NewYarn(), "testdata/yarn-berry/yarn.lock")
	if p := yb["resolve@1.22.8"]; !p.Direct || len(p.DependsOn) != 3 {
		t.Errorf("resolve (patched) = %+v", p)
	}
	if p := yb["ansi-regex@5.0.1"]; !p.Direct {
		t.Errorf("a workspace's dependency is not direct: %+v", p)
	}
	p9 := byID(t, NewPnpm(), "testdata/pnpm-v9/pnpm-lock.yaml")
	if p := p9["loose-envify@1.4.0"]; p.Dev || p.Direct {
		t.Errorf("loose-envify = %+v", p)
	}
	if p := p9["string-width@4.2.3"]; !p.Dev || !p.Direct {
		t.Errorf("aliased dev dependency = %+v", p)
	}
}

func slices_equal(a, b []string) bool { return cmp.Equal(a, b) }

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		a          inventory.Analyzer
		name, body string
		want       string
	}{
		{NewPackageLock(), "package-lock.json", "{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n    \"node_modules/a\": {\"version\": 1.0}\n  }\n}\n", "line 4, column"},
		{NewPackageLock(), "package-lock.json", "{\n  \"lockfileVersion\": 3,\n  \"packages\": {,}\n}", "line 3, column 16"},
		{NewPackageLock(), "package-lock.json", "{}", "not a package lock"},
		{NewYarn(), "yarn.lock", "# yarn lockfile v1\n\na@^1.0.0:\n  version \"1.0.0\n", "line 4: bad quoted string"},
		{NewYarn(), "yarn.lock", "a@^1.0.0:\n  version \"1.0.0\"\nb@^1.0.0\n", "line 3: entry key does not end with a colon"},
		{NewYarn(), "yarn.lock", "a@^1.0.0:\n  resolved \"x\"\n", "line 1: entry a@^1.0.0 has no version"},
		{NewYarn(), "yarn.lock", "__metadata:\n  version: 8\n\"a@npm:^1\":\n  version: [1\n", "yaml: line"},
		{NewPnpm(), "pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages:\n  a@1.0.0: [\n", "yaml: line"},
		{NewPnpm(), "pnpm-lock.yaml", "lockfileVersion: '3.9'\n", "unsupported lockfileVersion"},
		{NewInstalled(), "node_modules/a/package.json", "{\"name\": \"a\"}", "without name or version"},
		{NewInstalled(), "node_modules/a/package.json", "{\"name\": \"a\",\n\"version\": }", "line 2, column 12"},
	} {
		_, err := tc.a.Analyze(context.Background(), memFile(tc.name, []byte(tc.body)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %v, want one containing %q", tc.a.Name(), tc.body, err, tc.want)
		}
	}
	for _, a := range Analyzers() {
		big := inventory.NewFile("x", inventory.FileInfo{Size: MaxLockSize + 1}, bytes.NewReader(nil), "", nil)
		if _, err := a.Analyze(context.Background(), big); !errors.Is(err, inventory.ErrTooLarge) {
			t.Errorf("%s: oversized file: %v", a.Name(), err)
		}
	}
}

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		a    inventory.Analyzer
		path string
		want bool
	}{
		{NewPackageLock(), "app/package-lock.json", true},
		{NewPackageLock(), "npm-shrinkwrap.json", true},
		{NewPackageLock(), "app/node_modules/x/package-lock.json", false},
		{NewYarn(), "yarn.lock", true},
		{NewPnpm(), "web/pnpm-lock.yaml", true},
		{NewInstalled(), "usr/lib/node_modules/npm/package.json", true},
		{NewInstalled(), "app/node_modules/@types/node/package.json", true},
		{NewInstalled(), "app/node_modules/a/node_modules/b/package.json", true},
		{NewInstalled(), "app/package.json", false},
		{NewInstalled(), "app/node_modules/resolve/test/resolver/package.json", false},
		{NewInstalled(), "app/node_modules/@scope/package.json", false},
		{NewInstalled(), "app/node_modules/.bin/package.json", false},
		{NewInstalled(), "app/my_node_modules/a/package.json", false},
	} {
		if got := tc.a.Wants(tc.path, inventory.FileInfo{Size: 100}); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func fuzz(f *testing.F, a inventory.Analyzer, name string, seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := a.Analyze(context.Background(), memFile(name, data))
		if err == nil && r == nil {
			t.Fatal("no result and no error")
		}
	})
}

func FuzzPackageLock(f *testing.F) {
	fuzz(f, NewPackageLock(), "package-lock.json", "testdata/lock-v1/package-lock.json", "testdata/lock-v3-workspaces/package-lock.json")
}

func FuzzYarn(f *testing.F) {
	fuzz(f, NewYarn(), "yarn.lock", "testdata/yarn-classic/yarn.lock", "testdata/yarn-berry/yarn.lock")
}

func FuzzPnpm(f *testing.F) {
	fuzz(f, NewPnpm(), "pnpm-lock.yaml", "testdata/pnpm-v5/pnpm-lock.yaml", "testdata/pnpm-v6/pnpm-lock.yaml", "testdata/pnpm-v9/pnpm-lock.yaml")
}

func FuzzInstalled(f *testing.F) {
	fuzz(f, NewInstalled(), "node_modules/a/package.json", "testdata/installed/node_modules/lodash/package.json")
}

// genPackageLock makes a lockfile v3 with n packages, each depending on
// the next two, some nested.
func genPackageLock(n int) []byte {
	pkgs := map[string]any{"": map[string]any{"name": "big", "dependencies": map[string]string{"p0": "^1.0.0"}}}
	for i := range n {
		loc := fmt.Sprintf("node_modules/p%d", i)
		if i%10 == 9 {
			loc = fmt.Sprintf("node_modules/p%d/node_modules/p%d", i-1, i)
		}
		pkgs[loc] = map[string]any{
			"version": fmt.Sprintf("1.%d.0", i), "license": "MIT",
			"resolved":     fmt.Sprintf("https://registry.npmjs.org/p%d/-/p%d-1.%d.0.tgz", i, i, i),
			"integrity":    "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
			"dependencies": map[string]string{fmt.Sprintf("p%d", (i+1)%n): "^1.0.0", fmt.Sprintf("p%d", (i+2)%n): "^1.0.0"},
		}
	}
	b, _ := json.Marshal(map[string]any{"name": "big", "lockfileVersion": 3, "packages": pkgs})
	return b
}

func genYarnLock(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# yarn lockfile v1\n\n")
	for i := range n {
		fmt.Fprintf(&b, "\n\"p%d@^1.0.0\", \"p%d@^1.%d.0\":\n  version \"1.%d.0\"\n", i, i, i, i)
		fmt.Fprintf(&b, "  resolved \"https://registry.yarnpkg.com/p%d/-/p%d-1.%d.0.tgz#0123456789abcdef\"\n", i, i, i)
		b.WriteString("  integrity sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==\n")
		fmt.Fprintf(&b, "  dependencies:\n    p%d \"^1.0.0\"\n    p%d \"^1.0.0\"\n", (i+1)%n, (i+2)%n)
	}
	return b.Bytes()
}

func TestGenerated(t *testing.T) {
	for _, tc := range []struct {
		a     inventory.Analyzer
		name  string
		data  []byte
		edges int
	}{
		// Every tenth package is nested under the one before it, where
		// the package two before it cannot see it.
		{NewPackageLock(), "package-lock.json", genPackageLock(1000), 1900},
		{NewYarn(), "yarn.lock", genYarnLock(1000), 2000},
	} {
		r, err := tc.a.Analyze(context.Background(), memFile(tc.name, tc.data))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Packages) != 1000 {
			t.Fatalf("%s: %d packages", tc.name, len(r.Packages))
		}
		edges := 0
		for _, p := range r.Packages {
			edges += len(p.DependsOn)
		}
		if edges != tc.edges {
			t.Errorf("%s: %d dependencies, want %d", tc.name, edges, tc.edges)
		}
	}
}

func benchmark(b *testing.B, a inventory.Analyzer, name string, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Analyze(context.Background(), memFile(name, data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPackageLockV3(b *testing.B) {
	benchmark(b, NewPackageLock(), "package-lock.json", genPackageLock(1000))
}

func BenchmarkYarnClassic(b *testing.B) { benchmark(b, NewYarn(), "yarn.lock", genYarnLock(1000)) }
