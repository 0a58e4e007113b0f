package dpkg

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func TestCopyrightLicenses(t *testing.T) {
	root := "testdata/copyright"
	// A status file beside the copyright files: Finish joins them by
	// package name.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	status := "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n\n" +
		"Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9+deb12u9\n\n" +
		"Package: coreutils\nStatus: install ok installed\nVersion: 9.1-1\n\n" +
		"Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.15-1~deb12u1\n"
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, statusFile), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	s := inventory.Scanner{Analyzers: []inventory.Analyzer{New(), NewCopyright()}}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: dir})
	if err != nil || len(inv.Problems) > 0 {
		t.Fatal(err, inv.Problems)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		got[p.Name] = strings.Join(p.Licenses, "; ")
	}
	want := map[string]string{
		"zlib1g": "Zlib",
		// Machine-readable: the License fields, not the texts referred to.
		"coreutils": "GPL-3+; GPL-3+ and BSD-4-clause-UC",
		// Free-form: the common licence texts the file points at.
		"libc6": "LGPL-2.1; GPL-2",
		// No copyright file: no licence, not a guess.
		"libssl3": "",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: licences %q, want %q", name, got[name], w)
		}
	}
}

func TestCopyrightWants(t *testing.T) {
	c := NewCopyright()
	for p, want := range map[string]bool{
		"usr/share/doc/bash/copyright":          true,
		"usr/share/doc/bash/changelog.gz":       false,
		"usr/share/doc/bash/examples/copyright": false,
		"usr/share/doc/copyright":               false,
		"opt/usr/share/doc/bash/copyright":      false,
	} {
		if c.Wants(p, inventory.FileInfo{}) != want {
			t.Errorf("Wants(%s) = %v", p, !want)
		}
	}
}

// TestCopyrightDebianRootfs reads the licences of a real bookworm system
// (hack/debian-rootfs.sh); it skips when the tree is absent.
func TestCopyrightDebianRootfs(t *testing.T) {
	root := cmp.Or(os.Getenv("MAMORI_DEBIAN_ROOTFS"), "/var/cache/mamori-test/debian12-minbase")
	if _, err := os.Stat(filepath.Join(root, statusFile)); err != nil {
		t.Skipf("no Debian rootfs: %v", err)
	}
	s := inventory.Scanner{Analyzers: []inventory.Analyzer{New(), NewCopyright()}}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
	if err != nil || len(inv.Problems) > 0 {
		t.Fatal(err, inv.Problems)
	}
	with := 0
	for _, p := range inv.Packages {
		if len(p.Licenses) > 0 {
			with++
		}
		if p.Name == "bash" && !slices.Contains(p.Licenses, "GPL-3+") {
			t.Errorf("bash licences %q, want GPL-3+ among them", p.Licenses)
		}
	}
	if with < len(inv.Packages)*3/4 {
		t.Errorf("only %d of %d packages have licences", with, len(inv.Packages))
	}
	t.Logf("%d of %d packages have licences", with, len(inv.Packages))
}

func FuzzCopyright(f *testing.F) {
	for _, p := range []string{"zlib1g", "coreutils", "libc6"} {
		b, err := os.ReadFile(filepath.Join("testdata/copyright/usr/share/doc", p, "copyright"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := strings.NewReader(string(b))
		file := inventory.NewFile("usr/share/doc/x/copyright", inventory.FileInfo{Size: int64(len(b))}, r, "", nil)
		res, err := NewCopyright().Analyze(context.Background(), file)
		if err == nil && res != nil && len(res.Licenses["x"]) == 0 {
			t.Error("a result without licences")
		}
	})
}
