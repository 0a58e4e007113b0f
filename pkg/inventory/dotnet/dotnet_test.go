package dotnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnalyzers(t *testing.T) {
	tests := []struct {
		a    inventory.Analyzer
		path string
	}{
		{NewDepsJSON(), "app/WebApi.deps.json"},
		{NewDepsJSON(), "selfcontained/Worker.deps.json"},
		{NewPackagesLock(), "lib/packages.lock.json"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			pkgs, err := analyze(t, tt.a, tt.path, read(t, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(tt.path, ".json"), pkgs)
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		a          inventory.Analyzer
		name, data string
		want       string
	}{
		{NewDepsJSON(), "syntax", "{\n  \"libraries\": {\n    \"A/1.0\": {\"type\": \"package\"}\n    \"B/2.0\": {}\n  }\n}", "line 4:5: invalid character '\"' after object key:value pair"},
		{NewDepsJSON(), "type", "{\n  \"libraries\": {\"A/1.0\": {\"type\": 1}}}", "line 2:36: libraries.type: want string, got JSON number"},
		{NewDepsJSON(), "key", `{"libraries": {"Newtonsoft.Json": {"type": "package"}}}`, `libraries: key "Newtonsoft.Json" is not "Name/Version"`},
		{NewDepsJSON(), "not deps", `{"runtimeTarget": {}}`, `no "libraries": not a .deps.json`},
		{NewDepsJSON(), "truncated", `{"libraries": {`, "line 1:16: unexpected end of JSON input"},
		{NewPackagesLock(), "unknown type", `{"version": 1, "dependencies": {"net6.0": {"A": {"type": "Weird", "resolved": "1.0"}}}}`, `dependencies["net6.0"]["A"]: unknown type "Weird"`},
		{NewPackagesLock(), "no resolved", `{"version": 1, "dependencies": {"net6.0": {"A": {"type": "Direct"}}}}`, `dependencies["net6.0"]["A"]: no resolved version`},
		{NewPackagesLock(), "not lock", `{"version": 1}`, `no "dependencies": not a packages.lock.json`},
		{NewPackagesLock(), "syntax", "{\n\"version\": 1,\n\"dependencies\": [}", "line 3:18: invalid character '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := "app/x.deps.json"
			if tt.a.Name() == "nuget" {
				p = "packages.lock.json"
			}
			_, err := analyze(t, tt.a, p, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWants(t *testing.T) {
	for _, tt := range []struct {
		a    inventory.Analyzer
		path string
		want bool
	}{
		{NewDepsJSON(), "app/WebApi.deps.json", true},
		{NewDepsJSON(), "app/WebApi.runtimeconfig.json", false},
		{NewPackagesLock(), "packages.lock.json", true},
		{NewPackagesLock(), "src/Shop/packages.lock.json", true},
		{NewPackagesLock(), "src/Shop/my-packages.lock.json", false},
	} {
		if got := tt.a.Wants(tt.path, inventory.FileInfo{Mode: 0o644}); got != tt.want {
			t.Errorf("%s.Wants(%q) = %v", tt.a.Name(), tt.path, got)
		}
	}
}

func FuzzDepsJSON(f *testing.F) {
	f.Add(read(f, "app/WebApi.deps.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseDeps(data, "x.deps.json")
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("empty name or version: %+v", p)
			}
		}
	})
}

func FuzzPackagesLock(f *testing.F) {
	f.Add(read(f, "lib/packages.lock.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseLock(data, "packages.lock.json")
	})
}

func BenchmarkDepsJSON(b *testing.B) {
	data := read(b, "app/WebApi.deps.json")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseDeps(data, "x.deps.json"); err != nil {
			b.Fatal(err)
		}
	}
}
