package python

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

func memFile(path string, data []byte) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}, bytes.NewReader(data), "", nil)
}

func open(t testing.TB, path string) *inventory.File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return memFile(filepath.ToSlash(path), data)
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

func analyze(t *testing.T, a inventory.Analyzer, file string) []inventory.Package {
	t.Helper()
	if !a.Wants(file, inventory.FileInfo{Size: 1}) {
		t.Fatalf("%s analyzer does not want %s", a.Name(), file)
	}
	r, err := a.Analyze(context.Background(), open(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return r.Packages
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		a    inventory.Analyzer
		file string
	}{
		{NewRequirements(), "testdata/requirements/requirements.txt"},
		{NewPoetry(), "testdata/poetry-v1/poetry.lock"},
		{NewPoetry(), "testdata/poetry-v2/poetry.lock"},
		{NewPipenv(), "testdata/pipenv/Pipfile.lock"},
		{NewUV(), "testdata/uv/uv.lock"},
		{NewInstalled(), "testdata/site-packages/requests-2.31.0.dist-info/METADATA"},
		{NewInstalled(), "testdata/site-packages/PyYAML-6.0.1.dist-info/METADATA"},
		{NewInstalled(), "testdata/site-packages/attrs-23.2.0.dist-info/METADATA"},
		{NewInstalled(), "testdata/site-packages/six-1.16.0.egg-info/PKG-INFO"},
	} {
		t.Run(strings.TrimPrefix(tc.file, "testdata/"), func(t *testing.T) {
			golden(t, tc.file+".golden.json", analyze(t, tc.a, tc.file))
		})
	}
}

func TestFacts(t *testing.T) {
	ids := func(pkgs []inventory.Package) map[string]inventory.Package {
		m := map[string]inventory.Package{}
		for _, p := range pkgs {
			m[p.ID] = p
		}
		return m
	}
	req := ids(analyze(t, NewRequirements(), "testdata/requirements/requirements.txt"))
	want := []string{"certifi@2024.2.2", "charset-normalizer@3.3.2", "django@4.2.11", "idna@3.6", "typing-extensions@4.10.0", "urllib3@2.2.1"}
	if got := keys(req); !cmp.Equal(got, want) {
		t.Errorf("requirements: %v, want %v", got, want)
	}
	if p := req["django@4.2.11"]; p.Name != "Django" || p.PURL != "pkg:pypi/django@4.2.11" {
		t.Errorf("Django = %+v", p)
	}
	uvp := ids(analyze(t, NewUV(), "testdata/uv/uv.lock"))
	for id, want := range map[string][2]bool{ // direct, dev
		"anyio@4.6.0": {true, false}, "h2@4.1.0": {true, false}, "pytest@8.3.3": {true, true},
		"iniconfig@2.0.0": {false, true}, "idna@3.10": {false, false},
	} {
		if p := uvp[id]; [2]bool{p.Direct, p.Dev} != want {
			t.Errorf("uv %s: direct %v dev %v, want %v", id, p.Direct, p.Dev, want)
		}
	}
	if _, ok := uvp["example@0.1.0"]; ok {
		t.Error("uv: the project is reported as a package")
	}
	p2 := ids(analyze(t, NewPoetry(), "testdata/poetry-v2/poetry.lock"))
	if !p2["ruff@0.9.2"].Dev || p2["idna@3.10"].Dev {
		t.Errorf("poetry groups: ruff %+v idna %+v", p2["ruff@0.9.2"], p2["idna@3.10"])
	}
	if d := p2["anyio@4.8.0"].DependsOn; !cmp.Equal(d, []string{"idna@3.10", "sniffio@1.3.1", "typing-extensions@4.12.2"}) {
		t.Errorf("anyio depends on %v", d)
	}
}

func keys(m map[string]inventory.Package) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		a          inventory.Analyzer
		name, body string
		want       string
	}{
		{NewRequirements(), "requirements.txt", "flask==3.0\n!!bad\n", "line 2: not a requirement"},
		{NewRequirements(), "requirements.txt", "flask==3.0\n\nfoo=1.0\n", "line 3: bad version specifier"},
		{NewRequirements(), "requirements.txt", "a==1 \\\n  --hash=sha256:00\nb ~ 2\n", "line 3: bad version specifier"},
		{NewPoetry(), "poetry.lock", "[[package]]\nname = \"a\"\nversion = 1.0.0\n", "line 3"},
		{NewPoetry(), "poetry.lock", "[[package]]\nname = \"a\"\n", "no name or version"},
		{NewPipenv(), "Pipfile.lock", "{\n\"default\": {\n\"a\": {\"version\": 1}}}", "line 3, column"},
		{NewUV(), "uv.lock", "version = 1\n[[package]]\nname = 'a'\nversion = '1'\nsource = { registry = \n", "line 5"},
		{NewInstalled(), "a.dist-info/METADATA", "Metadata-Version: 2.1\nName: a\n", "no Name or Version"},
		{NewInstalled(), "a.dist-info/METADATA", "Metadata-Version: 2.1\nName a\n", "line 2: header line without a colon"},
	} {
		_, err := tc.a.Analyze(context.Background(), memFile(tc.name, []byte(tc.body)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: error %v, want one containing %q", tc.a.Name(), tc.body, err, tc.want)
		}
	}
	for _, a := range []inventory.Analyzer{NewRequirements(), NewPoetry(), NewPipenv(), NewUV()} {
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
		{NewRequirements(), "requirements.txt", true},
		{NewRequirements(), "app/requirements-dev.txt", true},
		{NewRequirements(), "app/dev-requirements.txt", true},
		{NewRequirements(), "app/requirements/base.txt", true},
		{NewRequirements(), "app/notes.txt", false},
		{NewRequirements(), "requirements.in", false},
		{NewInstalled(), "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", true},
		{NewInstalled(), "usr/lib/python3/site-packages/six-1.16.0.egg-info/PKG-INFO", true},
		{NewInstalled(), "usr/lib/python3/dist-packages/distro-1.8.0.egg-info", true},
		{NewInstalled(), "src/pkg/METADATA", false},
		{NewInstalled(), "sdist/PKG-INFO", false},
	} {
		if got := tc.a.Wants(tc.path, inventory.FileInfo{Size: 100}); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v", tc.a.Name(), tc.path, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Django": "django", "typing_extensions": "typing-extensions", "zope.interface": "zope-interface", "a__b--c": "a-b-c"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%s) = %s", in, got)
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

func FuzzRequirements(f *testing.F) {
	fuzz(f, NewRequirements(), "requirements.txt", "testdata/requirements/requirements.txt")
}

func FuzzPoetry(f *testing.F) {
	fuzz(f, NewPoetry(), "poetry.lock", "testdata/poetry-v1/poetry.lock", "testdata/poetry-v2/poetry.lock")
}

func FuzzPipenv(f *testing.F) { fuzz(f, NewPipenv(), "Pipfile.lock", "testdata/pipenv/Pipfile.lock") }

func FuzzUV(f *testing.F) { fuzz(f, NewUV(), "uv.lock", "testdata/uv/uv.lock") }

func FuzzInstalled(f *testing.F) {
	fuzz(f, NewInstalled(), "a.dist-info/METADATA", "testdata/site-packages/requests-2.31.0.dist-info/METADATA", "testdata/site-packages/six-1.16.0.egg-info/PKG-INFO")
}

func BenchmarkRequirements(b *testing.B) {
	var buf bytes.Buffer
	for i := range 2000 {
		buf.WriteString("package-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "==1.0." + string(rune('0'+i%10)) + " \\\n    --hash=sha256:0569859f95fc761b18b45ef421b1290a0f65f147e92a1e5eb3e635f9a5e4e66f\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := NewRequirements().Analyze(context.Background(), memFile("requirements.txt", data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInstalledHugeHeader: a METADATA that never ends its header is an
// error, read through a bounded window rather than whole.
func TestInstalledHugeHeader(t *testing.T) {
	big := strings.Repeat("Summary-Extra: "+strings.Repeat("x", 1000)+"\n", 9000) // ~9 MB of header
	data := "Metadata-Version: 2.1\nName: a\nVersion: 1\n" + big
	f := inventory.NewFile("x.dist-info/METADATA", inventory.FileInfo{Size: int64(len(data))}, strings.NewReader(data), "", nil)
	_, err := NewInstalled().Analyze(context.Background(), f)
	if !errors.Is(err, inventory.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}
