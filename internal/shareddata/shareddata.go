// Package shareddata finds the real upstream data tests read (OSV archives
// and their known answers) in ../shared/data beside the repository root, or
// where MAMORI_TESTDATA points. The data is never copied into the repository.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared data directory, or "" and where it looked.
func Dir() (string, string) {
	if d := os.Getenv("MAMORI_TESTDATA"); d != "" {
		return d, d
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err.Error()
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "data")
			if _, err := os.Stat(p); err == nil {
				return p, p
			}
			return "", p
		}
		if filepath.Dir(d) == d {
			return "", "../shared/data beside the module root (no go.mod above " + wd + ")"
		}
	}
}

// Path returns a path under the shared data directory, skipping the test
// when the data is missing (and failing it when MAMORI_REQUIRE_DATA=1, as
// CI sets).
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	d, looked := Dir()
	p := filepath.Join(append([]string{d}, elem...)...)
	if d != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		looked = p
	}
	msg := "shared test data not found at " + looked + " (set MAMORI_TESTDATA to its directory)"
	if os.Getenv("MAMORI_REQUIRE_DATA") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
