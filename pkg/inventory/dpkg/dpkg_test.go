package dpkg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// open makes an inventory.File of a file on disk, named path in the tree.
func open(t testing.TB, name, path string) *inventory.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	file := inventory.NewFile(path, inventory.FileInfo{Size: st.Size(), Mode: st.Mode()}, f, name, f.Close)
	t.Cleanup(func() { file.Close() })
	return file
}

func memFile(path, content string) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(content))}, strings.NewReader(content), "", nil)
}

func TestWants(t *testing.T) {
	for path, want := range map[string]bool{
		"var/lib/dpkg/status":                     true,
		"var/lib/dpkg/status.d/libc6":             true,
		"var/lib/dpkg/status.d/libssl3":           true,
		"var/lib/dpkg/status.d/libc6.md5sums":     false,
		"var/lib/dpkg/status-old":                 false,
		"var/lib/dpkg/available":                  false,
		"var/lib/dpkg/status.d/sub/libc6":         false,
		"var/lib/dpkg/status.d":                   false,
		"usr/var/lib/dpkg/status":                 false,
		"/var/lib/dpkg/status":                    false,
		"var/lib/dpkg/info/libc6:amd64.md5sums":   false,
		"opt/app/var/lib/dpkg/status.d/something": false,
	} {
		if got := New().Wants(path, inventory.FileInfo{}); got != want {
			t.Errorf("Wants(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestAnalyze checks the packages read from real status files against
// golden files (go test -update rewrites them).
func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		file, path, golden string
		shared             bool // the golden file is another case's: never rewritten here
	}{
		// The first 100 stanzas of a Debian 12 desktop's status file.
		{"status-debian12-100pkg", statusFile, "status-debian12-100pkg", false},
		// Real stanzas in every state, with blank-line runs and
		// continuation lines: installed, hold, deinstall (still on disk),
		// triggers-pending, config-files, not-installed, half-installed,
		// and the same package for two architectures.
		{"status-states", statusFile, "status-states", false},
		// The same with CRLF line ends: the result must not differ.
		{"status-crlf", statusFile, "status-states", true},
		// Distroless: one file per package, Status present or not.
		{"distroless/var/lib/dpkg/status.d/libc6", statusDir + "/libc6", "distroless-libc6", false},
		{"distroless/var/lib/dpkg/status.d/tzdata", statusDir + "/tzdata", "distroless-tzdata", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := open(t, filepath.Join("testdata", tc.file), tc.path)
			res, err := New().Analyze(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if res.OS != nil {
				t.Errorf("OS = %+v, want nil", res.OS)
			}
			for _, p := range res.Packages {
				if p.Path != tc.path {
					t.Fatalf("%s: Path %q, want %q", p.Name, p.Path, tc.path)
				}
			}
			got, err := json.MarshalIndent(res.Packages, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.golden+".golden.json")
			if *update && !tc.shared {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(string(bytes.TrimSpace(want)), string(got)); d != "" {
				t.Errorf("packages differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestStates pins what the golden file of status-states must say, so that
// a wrong golden file cannot pass unnoticed.
func TestStates(t *testing.T) {
	res, err := New().Analyze(context.Background(), open(t, "testdata/status-states", statusFile))
	if err != nil {
		t.Fatal(err)
	}
	type nv struct{ Name, Version, Arch, SourceName, SourceVersion string }
	var got []nv
	for _, p := range res.Packages {
		got = append(got, nv{p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion})
	}
	want := []nv{
		{"base-files", "12.4+deb12u15", "amd64", "", ""},
		{"bash", "5.2.15-2+b13", "amd64", "bash", "5.2.15-2"}, // binNMU, hold
		{"libc6", "2.36-9+deb12u14", "amd64", "glibc", "2.36-9+deb12u14"},
		{"libcap2", "1:2.66-4+deb12u3+b1", "amd64", "libcap2", "1:2.66-4+deb12u3"}, // deinstall, still on disk
		{"zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib", "1:1.2.13.dfsg-1"},          // triggers-pending
		{"libc6", "2.36-9+deb12u14", "i386", "glibc", "2.36-9+deb12u14"},
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("packages (-want +got):\n%s", d)
	}
}

func TestBadInput(t *testing.T) {
	good := "Package: a\nStatus: install ok installed\nVersion: 1.0-1\n\n"
	for _, tc := range []struct {
		name, path, content string
		wantErr             []string // substrings of the error
		wantPkgs            int      // packages still read
	}{
		{"continuation first", statusFile, good + " stray\nPackage: b\nStatus: install ok installed\nVersion: 1\n", []string{"line 5: continuation line before any field"}, 1},
		{"no colon", statusFile, good + "Package: b\nStatus install ok installed\nVersion: 1\n", []string{"line 6: not a field"}, 1},
		{"no package", statusFile, "Status: install ok installed\nVersion: 1\n\n" + good, []string{"stanza at line 1: no Package field"}, 1},
		{"no version", statusFile, good + "\n\nPackage: b\nStatus: install ok installed\n", []string{"stanza at line 7 (b): no Version field"}, 1},
		{"no status", statusFile, good + "Package: b\nVersion: 1\n", []string{"stanza at line 5 (b): no Status field"}, 1},
		{"short status", statusFile, "Package: b\nStatus: installed\nVersion: 1\n", []string{"stanza at line 1 (b): bad Status \"installed\""}, 0},
		{"unknown state", statusFile, "Package: b\nStatus: install ok flying\nVersion: 1\n", []string{"unknown state \"flying\""}, 0},
		{"bad source", statusFile, "Package: b\nStatus: install ok installed\nSource: x (1\nVersion: 1\n", []string{"stanza at line 1 (b): bad Source \"x (1\""}, 0},
		{"duplicate field", statusFile, "Package: b\nStatus: install ok installed\nVersion: 1\nVersion: 2\n", []string{"line 4: Version given twice in the stanza at line 1"}, 0},
		{"space in version", statusFile, "Package: b\nStatus: install ok installed\nVersion: 1 2\n", []string{"white space or control character in name or version \"1 2\""}, 0},
		{"long line", statusFile, good + "Package: b\nDescription: " + strings.Repeat("x", maxLine) + "\n", []string{"line 6 is longer than"}, 1},
		{"binary", statusDir + "/x", "\x00\x01\x02", []string{"line 1: not a field"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Analyze(context.Background(), memFile(tc.path, tc.content))
			if err == nil {
				t.Fatalf("no error; packages %+v", res.Packages)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			n := 0
			if res != nil {
				n = len(res.Packages)
			}
			if n != tc.wantPkgs {
				t.Errorf("%d packages read, want %d", n, tc.wantPkgs)
			}
		})
	}
}

func TestManyErrorsCapped(t *testing.T) {
	content := strings.Repeat("Package: b\nVersion: 1\n\n", 50)
	_, err := New().Analyze(context.Background(), memFile(statusFile, content))
	if err == nil || !strings.Contains(err.Error(), "and 40 more stanzas in error") {
		t.Fatalf("error %v, want 10 errors and a count of the rest", err)
	}
	if n := strings.Count(err.Error(), "no Status field"); n != maxErrors {
		t.Errorf("%d stanza errors shown, want %d", n, maxErrors)
	}
}

func TestEmpty(t *testing.T) {
	for _, content := range []string{"", "\n\n\r\n"} {
		res, err := New().Analyze(context.Background(), memFile(statusFile, content))
		if err != nil || len(res.Packages) != 0 {
			t.Errorf("%q: %v, %v; want no packages and no error", content, res, err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	f := inventory.NewFile(statusFile, inventory.FileInfo{Size: maxSize + 1}, strings.NewReader(""), "", nil)
	_, err := New().Analyze(context.Background(), f)
	if !errors.Is(err, inventory.ErrTooLarge) || !strings.Contains(err.Error(), "268435457 bytes") {
		t.Fatalf("error %v, want ErrTooLarge with the size", err)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	content := strings.Repeat("Package: b\nStatus: install ok installed\nVersion: 1\n\n", 2000)
	if _, err := New().Analyze(ctx, memFile(statusFile, content)); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestDebianRootfs reads a real Debian 12 minbase system built by
// hack/debian-rootfs.sh and checks its source packages against the 63 of
// the shared known answers. It skips when the tree has not been built.
func TestDebianRootfs(t *testing.T) {
	root := cmp.Or(os.Getenv("MAMORI_DEBIAN_ROOTFS"), "/var/cache/mamori-test/debian12-minbase")
	if _, err := os.Stat(filepath.Join(root, statusFile)); err != nil {
		t.Skipf("no Debian rootfs (build it with hack/debian-rootfs.sh): %v", err)
	}
	var known struct {
		Debian12Minbase struct {
			Packages []struct{ Source, Version string }
		} `json:"debian12_minbase"`
	}
	b, err := os.ReadFile(shareddata.Path(t, "osv", "known-answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &known); err != nil {
		t.Fatal(err)
	}
	s := inventory.Scanner{Analyzers: []inventory.Analyzer{New()}}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Problems) > 0 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	got := map[string]string{}
	for _, p := range inv.Packages {
		if p.Path != statusFile {
			t.Errorf("%s read from %s", p.Name, p.Path)
		}
		got[cmp.Or(p.SourceName, p.Name)] = cmp.Or(p.SourceVersion, p.Version)
	}
	var gotNames, wantNames []string
	for n := range got {
		gotNames = append(gotNames, n)
	}
	for _, p := range known.Debian12Minbase.Packages {
		wantNames = append(wantNames, p.Source)
		// The archive moves on after the known answers were taken; report
		// version differences without failing on them.
		if v, ok := got[p.Source]; ok && v != p.Version {
			t.Logf("%s: %s here, %s in the known answers", p.Source, v, p.Version)
		}
	}
	slices.Sort(gotNames)
	slices.Sort(wantNames)
	if d := gocmp.Diff(wantNames, gotNames, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("source packages (-known answers +read):\n%s", d)
	}
	t.Logf("%d binary packages, %d source packages", len(inv.Packages), len(got))
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"status-states", "status-crlf", "distroless/var/lib/dpkg/status.d/tzdata"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	f.Add([]byte("Package: a\n stray\n\n\nPackage: b\nSource: x (1)\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, needStatus bool) {
		pkgs, err := parse(context.Background(), bytes.NewReader(b), needStatus)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || strings.IndexFunc(p.Name+p.Version, textutil.NotPrintable) >= 0 {
				t.Fatalf("bad package %+v", p)
			}
			if (p.SourceName == "") != (p.SourceVersion == "") {
				t.Fatalf("source half set: %+v", p)
			}
		}
		if err != nil && !strings.Contains(err.Error(), "line ") {
			t.Fatalf("error without a line: %v", err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/status-debian12-100pkg")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pkgs, err := parse(context.Background(), bytes.NewReader(data), true)
		if err != nil || len(pkgs) != 100 {
			b.Fatalf("%d packages, %v", len(pkgs), err)
		}
	}
}
