// Package invtest holds the test helpers the inventory analyzers share:
// golden JSON files and running one analyzer on bytes.
package invtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Golden compares got, as indented JSON, with testdata/<name>.golden.json,
// or rewrites that file when update is set.
func Golden(t *testing.T, name string, got any, update bool) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name+".golden.json")
	if update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(b)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, d)
	}
}

// File makes an inventory file of data at path p.
func File(p string, data []byte) *inventory.File {
	return inventory.NewFile(p, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}, bytes.NewReader(data), "", nil)
}

// Analyze runs analyzer a on data as the file p, failing the test if a
// does not want p.
func Analyze(t testing.TB, a inventory.Analyzer, p string, data []byte) ([]inventory.Package, error) {
	t.Helper()
	if !a.Wants(p, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}) {
		t.Fatalf("%s analyzer does not want %s", a.Name(), p)
	}
	r, err := inventory.AnalyzeFile(context.Background(), a, File(p, data))
	if r == nil {
		return nil, err
	}
	return r.Packages, err
}
