package java

import (
	"archive/zip"
	"bytes"
	"flag"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/invtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got any) { t.Helper(); invtest.Golden(t, name, got, *update) }

func fileOf(p string, data []byte) *inventory.File { return invtest.File(p, data) }

func analyze(t testing.TB, a inventory.Analyzer, p string, data []byte) ([]inventory.Package, error) {
	t.Helper()
	return invtest.Analyze(t, a, p, data)
}

type entry struct {
	name  string
	data  []byte
	store bool // uncompressed, as Spring Boot stores nested jars
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.store {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
