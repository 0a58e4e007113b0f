package vuln

import (
	"archive/zip"
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite examples/vuln/osv.zip from testdata/records")

// TestExampleArchive keeps the demo's archive, examples/vuln/osv.zip, equal
// to the records the tests use: one entry per record, <ID>.json, as
// osv.dev packs all.zip.
func TestExampleArchive(t *testing.T) {
	const archive = "../../examples/vuln/osv.zip"
	paths, err := filepath.Glob("testdata/records/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no records: %v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// A fixed time keeps the archive byte-identical across runs.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.Base(p), Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/vuln -run TestExampleArchive -update)", err)
	}
	defer zr.Close()
	if len(zr.File) != len(paths) {
		t.Fatalf("%s has %d records, testdata/records %d: run go test ./pkg/vuln -run TestExampleArchive -update", archive, len(zr.File), len(paths))
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		want, err := os.ReadFile(filepath.Join("testdata/records", f.Name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %s differs from testdata/records (go test ./pkg/vuln -run TestExampleArchive -update)", archive, f.Name)
		}
	}
}
