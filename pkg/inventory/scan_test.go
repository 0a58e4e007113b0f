package inventory_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// lines is a test analyzer: files named pkgs.txt list "name version" per
// line; os.txt names an OS as "family version ecosystem"; a line "panic"
// panics, a line "bad" is an error.
type lines struct{}

func (lines) Name() string { return "lines" }

func (lines) Wants(p string, _ inventory.FileInfo) bool {
	return filepath.Base(p) == "pkgs.txt" || filepath.Base(p) == "os.txt"
}

func (lines) Analyze(_ context.Context, f *inventory.File) (*inventory.Result, error) {
	res := &inventory.Result{}
	sc := bufio.NewScanner(f.Reader())
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 1 && fields[0] == "panic":
			panic("boom")
		case len(fields) == 1 && fields[0] == "bad":
			return res, errors.New("line " + string(rune('0'+n)) + ": bad")
		case filepath.Base(f.Path) == "os.txt" && len(fields) == 3:
			res.OS = &inventory.OS{Family: fields[0], Version: fields[1], Ecosystem: fields[2], Path: f.Path}
		case len(fields) == 2:
			res.Packages = append(res.Packages, inventory.Package{Type: inventory.Dpkg, Name: fields[0], Version: fields[1], Arch: "amd64", Path: f.Path})
		}
	}
	return res, sc.Err()
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanDir(t *testing.T) {
	root := t.TempDir()
	write(t, root, "var/lib/pkgs.txt", "zlib1g 1:1.2.13.dfsg-1\nlibssl3 3.0.11-1~deb12u2\n")
	write(t, root, "etc/os.txt", "debian 12 Debian:12\n")
	write(t, root, "opt/a/pkgs.txt", "panic\n")
	write(t, root, "opt/b/pkgs.txt", "x 1\nbad\n")
	write(t, root, "proc/pkgs.txt", "hidden 1\n")
	write(t, root, "other.txt", "not wanted\n")

	s := &inventory.Scanner{Analyzers: []inventory.Analyzer{lines{}}, Workers: 2}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS == nil || inv.OS.Ecosystem != "Debian:12" {
		t.Fatalf("OS = %+v", inv.OS)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, p.Path+" "+p.Ecosystem+" "+p.PURL)
	}
	want := []string{
		// Packages of a file that also had an error are kept.
		"opt/b/pkgs.txt Debian pkg:deb/debian/x@1?arch=amd64&distro=debian-12",
		"var/lib/pkgs.txt Debian pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
		"var/lib/pkgs.txt Debian pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var problems []string
	for _, p := range inv.Problems {
		problems = append(problems, p.Error())
	}
	wantProblems := []string{
		"opt/a/pkgs.txt: lines: internal error in lines analyzer: boom",
		"opt/b/pkgs.txt: lines: line 2: bad",
	}
	if !slices.Equal(problems, wantProblems) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(wantProblems, "\n"))
	}
}

func TestScanCancelled(t *testing.T) {
	root := t.TempDir()
	write(t, root, "pkgs.txt", "a 1\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &inventory.Scanner{Analyzers: []inventory.Analyzer{lines{}}}
	if _, err := s.Scan(ctx, inventory.Dir{Root: root}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestScanMissingRoot(t *testing.T) {
	s := &inventory.Scanner{Analyzers: []inventory.Analyzer{lines{}}}
	if _, err := s.Scan(context.Background(), inventory.Dir{Root: filepath.Join(t.TempDir(), "nope")}); err == nil {
		t.Error("no error for a missing root")
	}
}

func TestOSPURL(t *testing.T) {
	deb := &inventory.OS{Family: "debian", Version: "12"}
	tests := []struct {
		p    inventory.Package
		o    *inventory.OS
		want string
	}{
		{inventory.Package{Type: inventory.Dpkg, Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Arch: "amd64"}, deb,
			"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"},
		{inventory.Package{Type: inventory.Dpkg, Name: "bash", Version: "5.2.15-2+b2", SourceName: "bash", SourceVersion: "5.2.15-2"}, &inventory.OS{Family: "debian", Version: "12", Distroless: true},
			"pkg:deb/debian/bash@5.2.15-2%2Bb2?distro=debian-12&upstream=bash%405.2.15-2"},
		{inventory.Package{Type: inventory.RPM, Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64"}, &inventory.OS{Family: "rocky", Version: "9.3"},
			"pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rocky-9.3&epoch=1"},
		{inventory.Package{Type: inventory.Apk, Name: "musl", Version: "1.2.5-r0"}, nil, "pkg:apk/alpine/musl@1.2.5-r0"},
		{inventory.Package{Type: inventory.Npm, Name: "lodash", Version: "4.17.21"}, deb, ""},
	}
	for _, tt := range tests {
		if got := inventory.OSPURL(&tt.p, tt.o); got != tt.want {
			t.Errorf("OSPURL(%s) = %s, want %s", tt.p.Name, got, tt.want)
		}
	}
}

func TestOSRank(t *testing.T) {
	osRelease := &inventory.OS{Family: "debian", Ecosystem: "Debian:12", Path: "etc/os-release"}
	debianVersion := &inventory.OS{Family: "debian", Version: "12.15", Ecosystem: "Debian:12", Path: "etc/debian_version"}
	distroless := &inventory.OS{Family: "debian", Ecosystem: "Debian:12", Distroless: true, Path: "etc/os-release"}
	if !inventory.PreferOS(osRelease, debianVersion) || inventory.PreferOS(debianVersion, osRelease) {
		t.Error("os-release must win over debian_version")
	}
	if !inventory.PreferOS(distroless, osRelease) {
		t.Error("distroless must win over plain Debian")
	}
}
