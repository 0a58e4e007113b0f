package php

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
		{NewComposerLock(), "app/composer.lock"},
		{NewInstalled(), "v1/vendor/composer/installed.json"},
		{NewInstalled(), "v2/vendor/composer/installed.json"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			pkgs, err := analyze(t, tt.a, tt.path, read(t, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(tt.path, filepath.Ext(tt.path)), pkgs)
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		a          inventory.Analyzer
		name, data string
		want       string
	}{
		{NewComposerLock(), "syntax", "{\n  \"packages\": [\n    {\"name\": \"a/b\",, }\n  ]\n}", "line 3:20: invalid character ','"},
		{NewComposerLock(), "type", "{\n  \"packages\": [\n    {\"name\": \"a/b\", \"version\": 1}\n  ]\n}", "line 3:33: packages.version: want string, got JSON number"},
		{NewComposerLock(), "no version", `{"packages": [{"name": "a/b"}]}`, `packages[0]: no name or version (name "a/b", version "")`},
		{NewComposerLock(), "not a lock", `{"name": "a/b"}`, `no "packages": not a composer.lock`},
		{NewComposerLock(), "license", `{"packages": [{"name": "a/b", "version": "1", "license": 7}]}`, "packages[0] (a/b): license: want a string or a list of strings, got 7"},
		{NewComposerLock(), "truncated", "{\"packages\": [", "line 1:15: unexpected end of JSON input"},
		{NewInstalled(), "dev no version", `{"packages": [{"name": "a/b", "version": "1"}, {"name": "c/d"}]}`, `packages[1]: no name or version`},
		{NewInstalled(), "wrong shape", `{"foo": 1}`, `neither a list of packages nor {"packages": […]}`},
		{NewInstalled(), "v1 syntax", "[\n{\"name\": }]", "line 2:10: invalid character '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := "composer.lock"
			if tt.a.Name() != "composer" {
				p = "vendor/composer/installed.json"
			}
			_, err := analyze(t, tt.a, p, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for in, want := range map[string]string{"v5.4.20": "5.4.20", "V1.0": "1.0", "7.4.4": "7.4.4", "dev-main": "dev-main", "v": "v", "vendor": "vendor"} {
		if got := version(in); got != want {
			t.Errorf("version(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWants(t *testing.T) {
	for _, tt := range []struct {
		a    inventory.Analyzer
		path string
		want bool
	}{
		{NewComposerLock(), "composer.lock", true},
		{NewComposerLock(), "srv/www/composer.lock", true},
		{NewComposerLock(), "srv/www/my-composer.lock", false},
		{NewInstalled(), "vendor/composer/installed.json", true},
		{NewInstalled(), "srv/www/vendor/composer/installed.json", true},
		{NewInstalled(), "srv/www/installed.json", false},
	} {
		if got := tt.a.Wants(tt.path, inventory.FileInfo{Mode: 0o644}); got != tt.want {
			t.Errorf("%s.Wants(%q) = %v", tt.a.Name(), tt.path, got)
		}
	}
}

func FuzzComposerLock(f *testing.F) {
	f.Add(read(f, "app/composer.lock"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseLock(data, "composer.lock")
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

func FuzzInstalled(f *testing.F) {
	f.Add(read(f, "v1/vendor/composer/installed.json"))
	f.Add(read(f, "v2/vendor/composer/installed.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseInstalled(data, "installed.json")
	})
}

func BenchmarkComposerLock(b *testing.B) {
	data := read(b, "app/composer.lock")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseLock(data, "composer.lock"); err != nil {
			b.Fatal(err)
		}
	}
}
