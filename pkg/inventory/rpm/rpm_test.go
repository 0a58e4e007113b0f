package rpm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// fixture returns the content of a test database, gunzipped.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diskFile writes b under a temporary root at path and returns it as a
// File with a LocalPath, as a rootfs scan hands it over.
func diskFile(t testing.TB, path string, b []byte) *inventory.File {
	t.Helper()
	local := filepath.Join(t.TempDir(), filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	file := inventory.NewFile(path, inventory.FileInfo{Size: int64(len(b))}, f, local, f.Close)
	t.Cleanup(func() { file.Close() })
	return file
}

// memFile is a File without a LocalPath, as an image layer hands it over.
func memFile(path string, b []byte) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(b))}, bytes.NewReader(b), "", nil)
}

func TestWants(t *testing.T) {
	for path, want := range map[string]bool{
		"var/lib/rpm/Packages":                  true,
		"var/lib/rpm/Packages.db":               true,
		"var/lib/rpm/rpmdb.sqlite":              true,
		"usr/lib/sysimage/rpm/Packages":         true,
		"usr/lib/sysimage/rpm/Packages.db":      true,
		"usr/lib/sysimage/rpm/rpmdb.sqlite":     true,
		"var/lib/rpm/rpmdb.sqlite-wal":          false,
		"var/lib/rpm/rpmdb.sqlite-shm":          false,
		"var/lib/rpm/Name":                      false,
		"var/lib/rpm/__db.001":                  false,
		"opt/var/lib/rpm/Packages":              false,
		"/var/lib/rpm/Packages":                 false,
		"Packages":                              false,
		"var/lib/rpm/sub/Packages":              false,
		"usr/lib/sysimage/rpm/Packages.db.back": false,
	} {
		if got := New().Wants(path, inventory.FileInfo{}); got != want {
			t.Errorf("Wants(%q) = %v, want %v", path, got, want)
		}
	}
}

var fixtures = []struct {
	file, path, golden string
	count              int
}{
	// Berkeley DB, UBI 8 with one package installed.
	{"Packages-libuuid-bdb", "var/lib/rpm/Packages", "libuuid-bdb", 1},
	// ndb, SUSE BCI 15.
	{"Packages.db-sle15-bci-ndb.gz", "usr/lib/sysimage/rpm/Packages.db", "sle15-bci-ndb", 0},
	// SQLite, CBL-Mariner 2.0.
	{"rpmdb.sqlite-cbl-mariner2.0.gz", "var/lib/rpm/rpmdb.sqlite", "cbl-mariner2.0-sqlite", 0},
}

// TestAnalyze reads each real database from disk and from memory (the
// copy to a temporary file) and compares with golden files.
func TestAnalyze(t *testing.T) {
	for _, fx := range fixtures {
		b := fixture(t, fx.file)
		modes := []string{"disk", "memory"}
		if strings.Contains(fx.file, "sqlite") {
			// A SQLite database is always copied: the memory case adds
			// nothing, and SQLite under -race is slow.
			modes = modes[:1]
		}
		for _, mode := range modes {
			t.Run(fx.golden+"/"+mode, func(t *testing.T) {
				f := memFile(fx.path, b)
				if mode == "disk" {
					f = diskFile(t, fx.path, b)
				}
				res, err := New().Analyze(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				if fx.count > 0 && len(res.Packages) != fx.count {
					t.Errorf("%d packages, want %d", len(res.Packages), fx.count)
				}
				for _, p := range res.Packages {
					if p.Path != fx.path || p.Name == "gpg-pubkey" {
						t.Errorf("package %s from %s", p.Name, p.Path)
					}
				}
				got, err := json.MarshalIndent(res.Packages, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", fx.golden+".golden.json")
				if *update && mode == "disk" {
					if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(string(bytes.TrimSpace(want)), string(got)); d != "" {
					t.Errorf("packages differ from %s (-want +got):\n%.3000s", golden, d)
				}
				if mode == "disk" {
					// Nothing may be written beside the scanned database.
					entries, err := os.ReadDir(filepath.Dir(f.LocalPath))
					if err != nil {
						t.Fatal(err)
					}
					if len(entries) != 1 {
						t.Errorf("the scanned directory holds %d files after the scan, want 1", len(entries))
					}
				}
			})
		}
	}
}

// TestKnown pins packages as go-rpmdb's own tests describe them in the
// golden files (which TestAnalyze holds the output to), so that a wrong
// golden file cannot pass unnoticed.
func TestKnown(t *testing.T) {
	for _, tc := range []struct {
		golden string
		want   inventory.Package
	}{
		{"libuuid-bdb", inventory.Package{
			Name: "libuuid", Version: "2.32.1-42.el8_8", Arch: "x86_64", Licenses: []string{"BSD"},
			SourceName: "util-linux", SourceVersion: "2.32.1-42.el8_8", Path: "var/lib/rpm/Packages",
		}},
		{"cbl-mariner2.0-sqlite", inventory.Package{
			Name: "curl", Version: "7.76.0-6.cm2", Arch: "x86_64", Licenses: []string{"MIT"}, Path: "var/lib/rpm/rpmdb.sqlite",
		}},
		// An epoch, carried to the source version.
		{"cbl-mariner2.0-sqlite", inventory.Package{
			Name: "ca-certificates-base", Version: "1:2.0.0-1.cm2", Arch: "noarch", Licenses: []string{"MPLv2.0"},
			SourceName: "ca-certificates", SourceVersion: "1:2.0.0-1.cm2", Path: "var/lib/rpm/rpmdb.sqlite",
		}},
		// A source whose version differs from the binary's.
		{"sle15-bci-ndb", inventory.Package{
			Name: "libreadline7", Version: "7.0-19.6.1", Arch: "x86_64", Licenses: []string{"GPL-3.0-or-later"},
			SourceName: "bash", SourceVersion: "4.4-19.6.1", Path: "usr/lib/sysimage/rpm/Packages.db",
		}},
		{"sle15-bci-ndb", inventory.Package{
			Name: "libdw1", Version: "0.168-4.5.3", Arch: "x86_64", Licenses: []string{"SUSE-GPL-2.0-with-OSI-exception"},
			SourceName: "elfutils", SourceVersion: "0.168-4.5.3", Path: "usr/lib/sysimage/rpm/Packages.db",
		}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.golden+".golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		var pkgs []inventory.Package
		if err := json.Unmarshal(b, &pkgs); err != nil {
			t.Fatal(err)
		}
		want := tc.want
		want.Type = inventory.RPM
		i := slices.IndexFunc(pkgs, func(p inventory.Package) bool { return p.Name == want.Name })
		if i < 0 {
			t.Errorf("%s not in %s", want.Name, tc.golden)
			continue
		}
		if d := cmp.Diff(want, pkgs[i]); d != "" {
			t.Errorf("%s in %s (-want +got):\n%s", want.Name, tc.golden, d)
		}
	}
}

func TestEpoch(t *testing.T) {
	epoch := 1
	p, err := toPackage(&rpmdb.PackageInfo{Epoch: &epoch, Name: "openssl-libs", Version: "3.0.7", Release: "27.el9", Arch: "x86_64", SourceRpm: "openssl-3.0.7-27.el9.src.rpm"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "1:3.0.7-27.el9" || p.SourceName != "openssl" || p.SourceVersion != "1:3.0.7-27.el9" {
		t.Errorf("got %+v", p)
	}
	zero := 0
	p, err = toPackage(&rpmdb.PackageInfo{Epoch: &zero, Name: "bash", Version: "5.1.8", Release: "9.el9", SourceRpm: "bash-5.1.8-9.el9.src.rpm"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "5.1.8-9.el9" || p.SourceName != "" || p.SourceVersion != "" {
		t.Errorf("got %+v", p)
	}
}

func TestParseSourceRPM(t *testing.T) {
	for _, tc := range []struct{ in, name, vr, err string }{
		{"openssl-3.0.7-27.el9.src.rpm", "openssl", "3.0.7-27.el9", ""},
		{"python3-setuptools-wheel-53.0.0-12.el9.src.rpm", "python3-setuptools-wheel", "53.0.0-12.el9", ""},
		{"kernel-5.14.0-362.8.1.el9_3.nosrc.rpm", "kernel", "5.14.0-362.8.1.el9_3", ""},
		{"openssl-3.0.7.src.rpm", "", "", "want name-version-release.src.rpm"},
		{"openssl-3.0.7-27.el9.rpm", "", "", "want name-version-release.src.rpm"},
		{"-1-2.src.rpm", "", "", "want name-version-release.src.rpm"},
	} {
		name, vr, err := parseSourceRPM(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || vr != tc.vr {
			t.Errorf("%s: %q %q %v, want %q %q", tc.in, name, vr, err, tc.name, tc.vr)
		}
	}
}

// TestDamaged checks that truncated, corrupted and foreign files give an
// error, never a short list or a panic.
func TestDamaged(t *testing.T) {
	bdb := fixture(t, "Packages-libuuid-bdb")
	ndb := fixture(t, "Packages.db-sle15-bci-ndb.gz")
	sqlite := fixture(t, "rpmdb.sqlite-cbl-mariner2.0.gz")
	flip := func(b []byte, from int) []byte {
		b = bytes.Clone(b)
		for i := from; i < len(b); i += 7 {
			b[i] ^= 0x5a
		}
		return b
	}
	for _, tc := range []struct {
		name, path string
		content    []byte
		wantErr    string
	}{
		{"empty", "var/lib/rpm/Packages", nil, "too short"},
		{"text", "var/lib/rpm/Packages", []byte("this is not a database at all"), "open rpm database"},
		{"bdb truncated", "var/lib/rpm/Packages", bdb[:len(bdb)/2], "rpm database"},
		{"bdb header only", "var/lib/rpm/Packages", bdb[:4096], "rpm database"},
		{"ndb truncated", "var/lib/rpm/Packages.db", ndb[:len(ndb)/3], "rpm database"},
		{"sqlite truncated", "var/lib/rpm/rpmdb.sqlite", sqlite[:len(sqlite)/2], "damaged rpm database (SQLite)"},
		{"sqlite corrupted", "var/lib/rpm/rpmdb.sqlite", flip(sqlite, 8192), "damaged rpm database (SQLite)"},
		{"sqlite header only", "var/lib/rpm/rpmdb.sqlite", sqlite[:100], "rpm database (SQLite)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []*inventory.File{memFile(tc.path, tc.content), diskFile(t, tc.path, tc.content)} {
				res, err := inventory.AnalyzeFile(context.Background(), New(), f)
				if err == nil {
					t.Fatalf("no error; %d packages", len(res.Packages))
				}
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("panic: %v", err)
				}
				t.Logf("%s: %v", tc.name, err)
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want %q in it", err, tc.wantErr)
				}
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	f := inventory.NewFile("var/lib/rpm/Packages", inventory.FileInfo{Size: maxSize + 1}, strings.NewReader(""), "", nil)
	_, err := New().Analyze(context.Background(), f)
	if !errors.Is(err, inventory.ErrTooLarge) || !strings.Contains(err.Error(), "1073741825 bytes") {
		t.Fatalf("error %v, want ErrTooLarge with the size", err)
	}
}

// BenchmarkSQLite measures opening and reading a SQLite rpmdb (CBL-Mariner
// 2.0, 3.6 MB) from a file on disk: the copy, the check and the read.
func BenchmarkSQLite(b *testing.B) {
	f := diskFile(b, "var/lib/rpm/rpmdb.sqlite", fixture(b, "rpmdb.sqlite-cbl-mariner2.0.gz"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New().Analyze(context.Background(), f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBDB(b *testing.B) {
	f := diskFile(b, "var/lib/rpm/Packages", fixture(b, "Packages-libuuid-bdb"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New().Analyze(context.Background(), f); err != nil {
			b.Fatal(err)
		}
	}
}
