package ruby

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

func TestGemfileLock(t *testing.T) {
	pkgs, err := analyze(t, NewGemfileLock(), "app/Gemfile.lock", read(t, "rails/Gemfile.lock"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "rails/Gemfile.lock", pkgs)
}

func TestGemspec(t *testing.T) {
	for _, p := range []string{
		"gemlib/specifications/rack-2.2.3.gemspec",
		"gemlib/specifications/nokogiri-1.15.4-x86_64-linux.gemspec",
		"gemlib/specifications/default/json-2.6.3.gemspec",
		"gemlib/specifications/rake-12.3.3.gemspec",
	} {
		t.Run(p, func(t *testing.T) {
			pkgs, err := analyze(t, NewGemspec(), "usr/local/lib/ruby/"+p, read(t, p))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(p, ".gemspec"), pkgs)
		})
	}
}

func TestGemfileLockErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"unclosed version", "GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.3\n", `line 4: want "name (version)", got "rack (2.2.3"`},
		{"no version", "GEM\n  specs:\n    rack\n", `line 3: want "name (version)", got "rack"`},
		{"orphan dependency", "GEM\n  remote: x\n      rack (>= 1)\n", `line 3: dependency "rack (>= 1)" outside a spec`},
		{"odd indent", "GEM\n  specs:\n     rack (2.2.3)\n", "line 3: unexpected indentation of 5 spaces in GEM"},
		{"bad attribute", "GIT\n  this is junk\n", `line 2: want an attribute ("remote: …") in GIT, got "this is junk"`},
		{"bad dependency", "DEPENDENCIES\n  rails (~> 7\n", `line 2: want a dependency name, got "rails (~> 7"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analyze(t, NewGemfileLock(), "Gemfile.lock", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestGemspecErrors(t *testing.T) {
	_, err := analyze(t, NewGemspec(), "specifications/x.gemspec", []byte("Gem::Specification.new do |s|\n  s.name = NAME\n  s.version = Foo::VERSION\nend\n"))
	if err == nil || !strings.Contains(err.Error(), "no literal s.name and s.version") {
		t.Errorf("got %v", err)
	}
	_, err = analyze(t, NewGemspec(), "specifications/big.gemspec", make([]byte, maxGemspec+1))
	if err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("got %v", err)
	}
}

func TestWants(t *testing.T) {
	for _, tt := range []struct {
		a    inventory.Analyzer
		path string
		want bool
	}{
		{NewGemfileLock(), "Gemfile.lock", true},
		{NewGemfileLock(), "app/gems.locked", true},
		{NewGemfileLock(), "app/Gemfile", false},
		{NewGemspec(), "usr/local/bundle/specifications/rack-2.2.3.gemspec", true},
		{NewGemspec(), "specifications/rack-2.2.3.gemspec", true},
		{NewGemspec(), "src/rack/rack.gemspec", false},
	} {
		if got := tt.a.Wants(tt.path, inventory.FileInfo{Mode: 0o644}); got != tt.want {
			t.Errorf("%s.Wants(%q) = %v", tt.a.Name(), tt.path, got)
		}
	}
}

func FuzzGemfileLock(f *testing.F) {
	f.Add(read(f, "rails/Gemfile.lock"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseGemfileLock(strings.NewReader(string(data)), "Gemfile.lock")
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

func FuzzGemspec(f *testing.F) {
	for _, p := range []string{"gemlib/specifications/rack-2.2.3.gemspec", "gemlib/specifications/rake-12.3.3.gemspec"} {
		f.Add(read(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseGemspec(data, "x.gemspec")
	})
}

func BenchmarkGemfileLock(b *testing.B) {
	data := read(b, "rails/Gemfile.lock")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseGemfileLock(strings.NewReader(string(data)), "Gemfile.lock"); err != nil {
			b.Fatal(err)
		}
	}
}
