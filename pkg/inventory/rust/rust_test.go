package rust

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

func memFile(path string, data []byte, mode os.FileMode) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(data)), Mode: mode}, bytes.NewReader(data), "", nil)
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
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
		mode os.FileMode
	}{
		{NewCargoLock(), "testdata/v1/Cargo.lock", 0o644},
		{NewCargoLock(), "testdata/v3/Cargo.lock", 0o644},
		{NewCargoLock(), "testdata/v4-workspace/Cargo.lock", 0o644},
		{NewBinary(), "testdata/bin/hello-auditable", 0o755},
	} {
		t.Run(strings.TrimPrefix(tc.file, "testdata/"), func(t *testing.T) {
			f := memFile(tc.file, read(t, tc.file), tc.mode)
			if !tc.a.Wants(tc.file, inventory.FileInfo{Size: f.Size, Mode: tc.mode}) {
				t.Fatalf("%s does not want %s", tc.a.Name(), tc.file)
			}
			r, err := tc.a.Analyze(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file+".golden.json", r.Packages)
		})
	}
}

func TestFacts(t *testing.T) {
	r, err := NewCargoLock().Analyze(context.Background(), memFile("Cargo.lock", read(t, "testdata/v3/Cargo.lock"), 0o644))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.Package{}
	for _, p := range r.Packages {
		got[p.ID] = p
	}
	if _, ok := got["ripgrep-lite@0.1.0"]; ok {
		t.Error("the workspace member is reported")
	}
	// "bitflags 1.3.2" picks one of two versions.
	if d := got["grep-cli@0.1.10"].DependsOn; !cmp.Equal(d, []string{"bitflags@1.3.2", "regex@1.10.3"}) {
		t.Errorf("grep-cli depends on %v", d)
	}
	if !got["bitflags@2.4.2"].Direct || got["bitflags@1.3.2"].Direct || !got["serde_json@1.0.113"].Direct {
		t.Errorf("direct: %+v", got)
	}
	if p := got["regex@1.10.3"]; p.PURL != "pkg:cargo/regex@1.10.3" || p.Ecosystem != "crates.io" {
		t.Errorf("regex = %+v", p)
	}
}

// TestObjcopy adds a .dep-v0 section to this test's own executable, a
// large real ELF, the way cargo-auditable's linker step does.
func TestObjcopy(t *testing.T) {
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Skip("no objcopy")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data := read(t, self)
	if !bytes.HasPrefix(data, []byte("\x7fELF")) {
		t.Skip("test binary is not ELF")
	}
	// Without the section: no result, no error.
	if r, err := NewBinary().Analyze(context.Background(), memFile("bin/self", data, 0o755)); r != nil || err != nil {
		t.Fatalf("plain ELF: %v, %v", r, err)
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(bytes.TrimSpace(read(t, "testdata/bin/dep-v0.json")))
	w.Close()
	dir := t.TempDir()
	sec, out := filepath.Join(dir, "dep"), filepath.Join(dir, "out")
	if err := os.WriteFile(sec, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(objcopy, "--add-section", ".dep-v0="+sec, "--set-section-flags", ".dep-v0=noload,readonly", self, out).CombinedOutput(); err != nil {
		t.Skipf("objcopy cannot rewrite the test binary: %v\n%s", err, b)
	}
	r, err := NewBinary().Analyze(context.Background(), memFile("testdata/bin/hello-auditable", read(t, out), 0o755))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/bin/hello-auditable.golden.json", r.Packages)
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"toml", "version = 3\n[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \n", "line 5"},
		{"no version", "[[package]]\nname = \"a\"\n", "no name or version"},
		{"missing dep", "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+x\"\ndependencies = [\"b 1.0.0\"]\n", `dependency "b 1.0.0" is not in the lock file`},
	} {
		_, err := NewCargoLock().Analyze(context.Background(), memFile("Cargo.lock", []byte(tc.body), 0o644))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"json", []byte(`{"packages":[{"name":"a",`), "cargo-auditable JSON"},
		{"index", []byte(`{"packages":[{"name":"a","version":"1","dependencies":[7]}]}`), "dependency index 7 out of range"},
	} {
		_, err := auditData("bin/x", tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// A section that is not zlib data.
	bin := read(t, "testdata/bin/hello-auditable")
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(bin)
	copy(bad[ef.Section(".dep-v0").Offset:], "xx")
	if _, err := NewBinary().Analyze(context.Background(), memFile("bin/x", bad, 0o755)); err == nil || !strings.Contains(err.Error(), "cargo-auditable section") {
		t.Errorf("corrupt section: %v", err)
	}
	big := inventory.NewFile("Cargo.lock", inventory.FileInfo{Size: MaxLockSize + 1}, bytes.NewReader(nil), "", nil)
	if _, err := NewCargoLock().Analyze(context.Background(), big); !errors.Is(err, inventory.ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	for _, data := range [][]byte{nil, []byte("#!/bin/sh\n"), []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34")} {
		if r, err := NewBinary().Analyze(context.Background(), memFile("bin/x", data, 0o755)); r != nil || err != nil {
			t.Errorf("%q: %v, %v", data, r, err)
		}
	}
}

func FuzzCargoLock(f *testing.F) {
	for _, p := range []string{"testdata/v1/Cargo.lock", "testdata/v3/Cargo.lock", "testdata/v4-workspace/Cargo.lock"} {
		f.Add(read(f, p))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewCargoLock().Analyze(context.Background(), memFile("Cargo.lock", data, 0o644))
		if err == nil && r == nil {
			t.Fatal("no result and no error")
		}
	})
}

func FuzzAuditData(f *testing.F) {
	f.Add(read(f, "testdata/bin/dep-v0.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := auditData("bin/x", data)
		if err == nil && r == nil {
			t.Fatal("no result and no error")
		}
	})
}

func FuzzBinary(f *testing.F) {
	f.Add(read(f, "testdata/bin/hello-auditable"))
	f.Fuzz(func(t *testing.T, data []byte) {
		NewBinary().Analyze(context.Background(), memFile("bin/x", data, 0o755)) // must not panic
	})
}
