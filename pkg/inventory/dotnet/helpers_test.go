package dotnet

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got, as indented JSON, with testdata/<name>.golden.json.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name+".golden.json")
	if *update {
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

func fileOf(p string, data []byte) *inventory.File {
	return inventory.NewFile(p, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}, bytes.NewReader(data), "", nil)
}

func analyze(t testing.TB, a inventory.Analyzer, p string, data []byte) ([]inventory.Package, error) {
	t.Helper()
	if !a.Wants(p, inventory.FileInfo{Size: int64(len(data)), Mode: 0o644}) {
		t.Fatalf("%s analyzer does not want %s", a.Name(), p)
	}
	r, err := inventory.AnalyzeFile(context.Background(), a, fileOf(p, data))
	if r == nil {
		return nil, err
	}
	return r.Packages, err
}
