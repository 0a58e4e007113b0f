package golang

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

var update = flag.Bool("update", false, "rewrite golden files")

func open(t testing.TB, path, rel string) *inventory.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return inventory.NewFile(rel, inventory.FileInfo{Size: st.Size(), Mode: st.Mode()}, f, path, nil)
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

func TestMod(t *testing.T) {
	a := NewMod()
	if !a.Wants("src/app/go.mod", inventory.FileInfo{Size: 10}) || a.Wants("src/app/go.sum", inventory.FileInfo{Size: 10}) {
		t.Fatal("Wants")
	}
	r, err := a.Analyze(context.Background(), open(t, "testdata/mod/basic/go.mod", "app/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/mod/basic.golden.json", r.Packages)
}

func TestModErrors(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"testdata/mod/bad/go.mod", "go.mod:7:"},
	} {
		_, err := NewMod().Analyze(context.Background(), open(t, tc.file, "x/go.mod"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
	big := inventory.NewFile("go.mod", inventory.FileInfo{Size: MaxModSize + 1}, bytes.NewReader(nil), "", nil)
	if _, err := NewMod().Analyze(context.Background(), big); !errorsIs(err, inventory.ErrTooLarge) {
		t.Errorf("oversized go.mod: %v, want ErrTooLarge", err)
	}
}

func TestStdlibVersion(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.1":                 "1.22.1",
		"go1.22.1 X:boringcrypto":  "1.22.1",
		"go1.20":                   "1.20.0",
		"go1.21rc2":                "1.21.0-rc.2",
		"go1.19beta1":              "1.19.0-beta.1",
		"devel go1.23-a1b2c3 Tue":  "",
		"":                         "",
		"go1.26.8 X:nodwarf5,loop": "1.26.8",
	} {
		got, ok := StdlibVersion(in)
		if got != want || ok != (want != "") {
			t.Errorf("StdlibVersion(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// writeModule adds a module version to a GOPROXY=file:// directory.
func writeModule(t *testing.T, proxy, modPath, version string, files map[string]string) {
	t.Helper()
	src := t.TempDir()
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(proxy, modPath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	z, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(z, module.Version{Path: modPath, Version: version}, src); err != nil {
		t.Fatal(err)
	}
	z.Close()
	for name, body := range map[string]string{
		version + ".mod":  files["go.mod"],
		version + ".info": `{"Version":"` + version + `"}`,
		"list":            version + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func goCmd(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// buildBinaries builds real Go programs against modules served from a
// local file proxy (no network): app, a main module at (devel) with a
// module replacement and a directory replacement, and tool, installed as
// example.com/tool@v1.0.0 so that its main module has a version.
func buildBinaries(t *testing.T) (app, tool string) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	writeModule(t, proxy, "example.com/dep", "v1.2.3", map[string]string{
		"go.mod": "module example.com/dep\n\ngo 1.22\n",
		"dep.go": "package dep\n\nfunc Name() string { return \"dep\" }\n",
	})
	// A replacement declares the path it replaces.
	writeModule(t, proxy, "example.com/new", "v1.0.0", map[string]string{
		"go.mod": "module example.com/old\n\ngo 1.22\n",
		"old.go": "package old\n\nfunc Name() string { return \"new\" }\n",
	})
	writeModule(t, proxy, "example.com/tool", "v1.0.0", map[string]string{
		"go.mod":  "module example.com/tool\n\ngo 1.22\n\nrequire example.com/dep v1.2.3\n",
		"main.go": "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Name()) }\n",
	})
	appDir := filepath.Join(tmp, "app")
	for name, body := range map[string]string{
		"go.mod": `module example.com/app

go 1.22

require (
	example.com/dep v1.2.3
	example.com/old v0.1.0
	example.com/local v0.0.0
)

replace example.com/old => example.com/new v1.0.0

replace example.com/local => ./local
`,
		"main.go": `package main

import (
	"example.com/dep"
	"example.com/local"
	"example.com/old"
)

func main() { println(dep.Name(), old.Name(), local.Name()) }
`,
		"local/go.mod":   "module example.com/local\n\ngo 1.22\n",
		"local/local.go": "package local\n\nfunc Name() string { return \"local\" }\n",
	} {
		p := filepath.Join(appDir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy), "GOSUMDB=off", "GOWORK=off", "CGO_ENABLED=0",
		"GOFLAGS=-mod=mod -modcacherw -buildvcs=false", "GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOBIN=" + filepath.Join(tmp, "bin"),
	}
	goCmd(t, appDir, env, "build", "-o", filepath.Join(tmp, "bin", "app"), ".")
	goCmd(t, tmp, env, "install", "example.com/tool@v1.0.0")
	return filepath.Join(tmp, "bin", "app"), filepath.Join(tmp, "bin", "tool")
}

func TestBinary(t *testing.T) {
	app, tool := buildBinaries(t)
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	std, ok := StdlibVersion(strings.TrimSpace(string(out)))
	if !ok {
		t.Fatalf("toolchain version %q", out)
	}
	mk := func(file, name, version string) inventory.Package {
		return pkg(inventory.GoBinary, file, name, version)
	}
	for _, tc := range []struct {
		path, rel string
		want      []inventory.Package
	}{
		{app, "usr/bin/app", []inventory.Package{
			mk("usr/bin/app", "example.com/dep", "v1.2.3"),
			mk("usr/bin/app", "example.com/new", "v1.0.0"),
			mk("usr/bin/app", "stdlib", std),
		}},
		{tool, "usr/local/bin/tool", []inventory.Package{
			mk("usr/local/bin/tool", "example.com/dep", "v1.2.3"),
			mk("usr/local/bin/tool", "example.com/tool", "v1.0.0"),
			mk("usr/local/bin/tool", "stdlib", std),
		}},
	} {
		f := open(t, tc.path, tc.rel)
		a := NewBinary()
		if !a.Wants(tc.rel, inventory.FileInfo{Size: f.Size, Mode: f.Mode}) {
			t.Errorf("%s: not wanted", tc.rel)
		}
		r, err := a.Analyze(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, r.Packages); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.rel, d)
		}
		if r.Packages[0].PURL != "pkg:golang/example.com/dep@v1.2.3" {
			t.Errorf("PURL %s", r.Packages[0].PURL)
		}
	}

	// Truncated: an ELF whose sections are cut off is an error, not a panic
	// and not silence.
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	cut := inventory.NewFile("bin/cut", inventory.FileInfo{Size: 4096, Mode: 0o755}, bytes.NewReader(data[:4096]), "", nil)
	if _, err := NewBinary().Analyze(context.Background(), cut); err == nil {
		t.Error("truncated binary: no error")
	}
}

func TestBinaryNotGo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_ = self
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"script", []byte("#!/bin/sh\necho hello\n")},
		{"text", bytes.Repeat([]byte("x"), 100)},
		{"empty", nil},
	} {
		f := inventory.NewFile("bin/"+tc.name, inventory.FileInfo{Size: int64(len(tc.data)), Mode: 0o755}, bytes.NewReader(tc.data), "", nil)
		r, err := NewBinary().Analyze(context.Background(), f)
		if err != nil || r != nil {
			t.Errorf("%s: %v, %v; want nothing", tc.name, r, err)
		}
	}
	// A real ELF that is not a Go program.
	if runtime.GOOS == "linux" {
		for _, p := range []string{"/bin/true", "/usr/bin/true"} {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			r, err := NewBinary().Analyze(context.Background(), open(t, p, "bin/true"))
			if err != nil || r != nil {
				t.Errorf("%s: %v, %v; want nothing", p, r, err)
			}
			_ = st
			break
		}
	}
}

func TestWants(t *testing.T) {
	a := NewBinary()
	for _, tc := range []struct {
		path string
		info inventory.FileInfo
		want bool
	}{
		{"usr/bin/kubectl", inventory.FileInfo{Size: 1 << 20, Mode: 0o755}, true},
		{"usr/share/doc/README", inventory.FileInfo{Size: 1 << 20, Mode: 0o644}, false},
		{"app/server.exe", inventory.FileInfo{Size: 1 << 20, Mode: 0o644}, true},
		{"Windows/bin/tool", inventory.FileInfo{Size: 1 << 20, Mode: 0o644}, true},
		{"usr/bin/small", inventory.FileInfo{Size: 100, Mode: 0o755}, false},
		{"usr/bin/link", inventory.FileInfo{Size: 1 << 20, Mode: os.ModeSymlink | 0o777}, false},
	} {
		if got := a.Wants(tc.path, tc.info); got != tc.want {
			t.Errorf("Wants(%s) = %v", tc.path, got)
		}
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func FuzzMod(f *testing.F) {
	for _, p := range []string{"testdata/mod/basic/go.mod", "testdata/mod/bad/go.mod"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := inventory.NewFile("go.mod", inventory.FileInfo{Size: int64(len(data))}, bytes.NewReader(data), "", nil)
		r, err := NewMod().Analyze(context.Background(), file)
		if err == nil && r == nil {
			t.Fatal("no result and no error")
		}
	})
}

func FuzzBinary(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"))
	f.Add([]byte("MZ\x90\x00"))
	f.Add([]byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := inventory.NewFile("bin/x", inventory.FileInfo{Size: int64(len(data)), Mode: 0o755}, bytes.NewReader(data), "", nil)
		NewBinary().Analyze(context.Background(), file) // must not panic
	})
}
