package apk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

const fixture = "testdata/installed-alpine3.14-armv7"

func memFile(content string) *inventory.File {
	return inventory.NewFile(installedFile, inventory.FileInfo{Size: int64(len(content))}, strings.NewReader(content), "", nil)
}

func TestWants(t *testing.T) {
	for path, want := range map[string]bool{
		"lib/apk/db/installed":      true,
		"lib/apk/db/installed.bak":  false,
		"lib/apk/db/triggers":       false,
		"usr/lib/apk/db/installed":  false,
		"/lib/apk/db/installed":     false,
		"x/lib/apk/db/installed":    false,
		"lib/apk/db/installed/sub":  false,
		"etc/apk/world":             false,
		"lib/apk/db/scripts.tar.gz": false,
	} {
		if got := New().Wants(path, inventory.FileInfo{}); got != want {
			t.Errorf("Wants(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestAnalyze(t *testing.T) {
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"lf":   string(b),
		"crlf": strings.ReplaceAll(string(b), "\n", "\r\n"),
		// No blank line at the end, and runs of blank lines between.
		"no final newline": strings.TrimRight(strings.ReplaceAll(string(b), "\n\n", "\n\n\n\n"), "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := New().Analyze(context.Background(), memFile(content))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(res.Packages, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := fixture + ".golden.json"
			if *update && name == "lf" {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(bytes.TrimSpace(want)), string(got)); d != "" {
				t.Errorf("packages differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestFields pins what the golden file must say for the interesting
// stanzas, so that a wrong golden file cannot pass unnoticed.
func TestFields(t *testing.T) {
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	res, err := New().Analyze(context.Background(), inventory.NewFile(installedFile, inventory.FileInfo{Size: st.Size()}, f, fixture, nil))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.Package{}
	for _, p := range res.Packages {
		got[p.Name] = p
	}
	if len(got) != 14 {
		t.Errorf("%d packages, want 14", len(got))
	}
	for _, want := range []inventory.Package{
		{Name: "musl", Version: "1.2.2-r3", Arch: "armv7", Licenses: []string{"MIT"}},
		{Name: "musl-utils", Version: "1.2.2-r3", Arch: "armv7", SourceName: "musl", SourceVersion: "1.2.2-r3", Licenses: []string{"MIT BSD GPL2+"}},
		{Name: "libcrypto1.1", Version: "1.1.1k-r0", Arch: "armv7", SourceName: "openssl", SourceVersion: "1.1.1k-r0", Licenses: []string{"OpenSSL"}},
		{Name: "ssl_client", Version: "1.33.1-r3", Arch: "armv7", SourceName: "busybox", SourceVersion: "1.33.1-r3", Licenses: []string{"GPL-2.0-only"}},
		{Name: "libretls", Version: "3.3.3-r2", Arch: "armv7", Licenses: []string{"ISC AND (BSD-3-Clause OR MIT)"}},
	} {
		want.Type, want.Path = inventory.Apk, installedFile
		if d := cmp.Diff(want, got[want.Name]); d != "" {
			t.Errorf("%s (-want +got):\n%s", want.Name, d)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := "P:a\nV:1.0-r0\n\n"
	for _, tc := range []struct {
		name, content string
		wantErr       string
		wantPkgs      int
	}{
		{"no colon", good + "P:b\nV 1.0-r0\n", "line 5: not a field (want \"K:value\")", 1},
		{"long key", good + "PP:b\n", "line 4: not a field", 1},
		{"no name", good + "V:1.0-r0\nA:x86_64\n", "stanza at line 4: no P: (name) field", 1},
		{"no version", "P:b\nA:x86_64\n\n" + good, "stanza at line 1 (b): no V: (version) field", 1},
		{"run together", "P:a\nV:1\nP:b\nV:2\n", "line 3: P: given twice in the stanza at line 1", 0},
		{"space in version", "P:a\nV:1 2\n", "white space or control character in name or version \"1 2\"", 0},
		{"long line", good + "P:b\nT:" + strings.Repeat("x", maxLine) + "\n", "line 5 is longer than", 1},
		{"binary", "\x00\x01\x02\n", "line 1: not a field", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Analyze(context.Background(), memFile(tc.content))
			if err == nil {
				t.Fatalf("no error; packages %+v", res.Packages)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
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
	_, err := New().Analyze(context.Background(), memFile(strings.Repeat("P:a\n\n", 25)))
	if err == nil || !strings.Contains(err.Error(), "and 15 more stanzas in error") {
		t.Fatalf("error %v, want 10 errors and a count of the rest", err)
	}
}

func TestEmpty(t *testing.T) {
	res, err := New().Analyze(context.Background(), memFile("\n\n"))
	if err != nil || len(res.Packages) != 0 {
		t.Errorf("%v, %v; want no packages and no error", res, err)
	}
}

func TestTooLarge(t *testing.T) {
	f := inventory.NewFile(installedFile, inventory.FileInfo{Size: maxSize + 1}, strings.NewReader(""), "", nil)
	_, err := New().Analyze(context.Background(), f)
	if !errors.Is(err, inventory.ErrTooLarge) || !strings.Contains(err.Error(), "268435457 bytes") {
		t.Fatalf("error %v, want ErrTooLarge with the size", err)
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("P:a\nV:1\nP:b\n\n\r\nx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := parse(context.Background(), bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || strings.IndexFunc(p.Name+p.Version, textutil.NotPrintable) >= 0 {
				t.Fatalf("bad package %+v", p)
			}
		}
		if err != nil && !strings.Contains(err.Error(), "line ") {
			t.Fatalf("error without a line: %v", err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if pkgs, err := parse(context.Background(), bytes.NewReader(data)); err != nil || len(pkgs) != 14 {
			b.Fatalf("%d packages, %v", len(pkgs), err)
		}
	}
}
