package osv

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeZip writes an archive of the named entries to a temporary file.
func writeZip(t *testing.T, entries [][2]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadZip(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "ranges.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries [][2]string
	for i := range 300 { // more than one batch
		entries = append(entries, [2]string{"R-" + string(rune('a'+i%26)) + ".json", strings.Replace(string(good), "MAMORI-TEST-1", "R-"+string(rune('a'+i%26))+strings.Repeat("x", i), 1)})
	}
	entries = append(entries, [2]string{"README.txt", "not a record"}, [2]string{"dir/", ""})
	path := writeZip(t, entries)
	var ids []string
	if err := ReadZip(path, func(v *Vulnerability) error { ids = append(ids, v.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 300 {
		t.Fatalf("read %d records, want 300", len(ids))
	}
	for i, id := range ids {
		if len(id) != 3+i {
			t.Fatalf("record %d is %q: not in archive order", i, id)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := ReadZip(path, func(*Vulnerability) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("fn error: got %v after %d records", err, n)
	}
}

func TestReadZipErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"BAD-1.json", `{"id":"BAD-1","affected":[}`, `entry BAD-1.json: invalid JSON at byte offset 27`},
		{"BAD-2.json", `{"id":"BAD-2","modified":"yesterday"}`, `entry BAD-2.json: parsing time "yesterday"`},
		{"BAD-3.json", `{"id":"BAD-3","affected":{"package":1}}`, `entry BAD-3.json: field affected at byte offset`},
		{"BAD-4.json", `{"summary":"no id"}`, `entry BAD-4.json: record has no id`},
		{"BAD-5.json", `{"id":"BAD-5"} {"id":"BAD-6"}`, `entry BAD-5.json: data after the record`},
		{"BAD-7.json", ``, `entry BAD-7.json: empty record`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeZip(t, [][2]string{{"OK.json", `{"id":"OK"}`}, {tc.name, tc.body}})
			n := 0
			err := ReadZip(path, func(*Vulnerability) error { n++; return nil })
			if err == nil || !strings.Contains(err.Error(), path+": "+tc.want[:strings.Index(tc.want, ":")]) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadZip error = %v, want it to name %s and say %q", err, path, tc.want)
			}
		})
	}
	if err := ReadZip(filepath.Join(t.TempDir(), "missing.zip"), func(*Vulnerability) error { return nil }); err == nil || !strings.Contains(err.Error(), "missing.zip") {
		t.Errorf("missing archive: %v", err)
	}
}
