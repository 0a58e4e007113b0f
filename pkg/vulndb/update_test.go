package vulndb

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/internal/shareddata"
)

// bucket serves <Ecosystem>/all.zip like Cloud Storage: ETag,
// conditional requests, x-goog-hash; fault makes it misbehave.
type bucket struct {
	mu    sync.Mutex
	files map[string][]byte // path → body
	fault string            // "", "500", "hash", "truncate"
	gets  []string          // "path status"
}

func (b *bucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	body, ok := b.files[r.URL.Path]
	fault := b.fault
	b.mu.Unlock()
	status := http.StatusOK
	defer func() {
		b.mu.Lock()
		b.gets = append(b.gets, fmt.Sprintf("%s %d", r.URL.Path, status))
		b.mu.Unlock()
	}()
	if !ok {
		status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	if fault == "500" {
		status = http.StatusInternalServerError
		http.Error(w, "backend error", status)
		return
	}
	sum := md5.Sum(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		status = http.StatusNotModified
		w.WriteHeader(status)
		return
	}
	crc := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	crcb := []byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)}
	if fault == "hash" {
		sum[0] ^= 0xff
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", "Mon, 17 Feb 2025 10:00:00 GMT")
	w.Header().Add("X-Goog-Hash", "crc32c="+base64.StdEncoding.EncodeToString(crcb))
	w.Header().Add("X-Goog-Hash", "md5="+base64.StdEncoding.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if fault == "truncate" {
		w.Write(body[:len(body)/2])
		return // the server closes the connection short of Content-Length
	}
	w.Write(body)
}

func (b *bucket) set(path string, body []byte, fault string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if body != nil {
		b.files[path] = body
	}
	b.fault = fault
	b.gets = nil
}

func readShared(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(shareddata.Path(t, "osv", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpdate(t *testing.T) {
	bk := &bucket{files: map[string][]byte{
		"/Go/all.zip":        readShared(t, "Go.zip"),
		"/crates.io/all.zip": readShared(t, "crates.io.zip"),
		"/Ubuntu/all.zip":    readShared(t, "Ubuntu.zip"),
	}}
	srv := httptest.NewServer(bk)
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "osv.db")
	opts := UpdateOptions{BaseURL: srv.URL + "/", Client: srv.Client()}

	if _, err := Update(t.Context(), path, opts); err == nil || !strings.Contains(err.Error(), "ecosystems.txt") {
		t.Errorf("update of no database without ecosystems: %v", err)
	}
	var progress strings.Builder
	o := opts
	o.Ecosystems, o.Progress = []string{"Ubuntu", "crates.io"}, &progress
	st, err := Update(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 1+1206 || len(st.Downloaded) != 2 || st.Bytes != int64(len(bk.files["/Ubuntu/all.zip"])+len(bk.files["/crates.io/all.zip"])) {
		t.Errorf("first update: %+v", st)
	}
	if !strings.Contains(progress.String(), "Ubuntu: downloaded") {
		t.Errorf("progress: %q", progress.String())
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m := db.Meta()
	db.Close()
	if a := m.Archives["crates.io"]; a.Source != srv.URL+"/crates.io/all.zip" || a.ETag == "" || a.LastModified == "" || a.Records != 1206 {
		t.Errorf("crates.io archive: %+v", a)
	}
	if len(m.Sources) != 1 || m.Sources[0] != srv.URL {
		t.Errorf("sources %v", m.Sources)
	}
	if left := dirLeftovers(t, dir); len(left) != 0 {
		t.Errorf("left %v behind", left)
	}

	// Nothing changed: conditional requests, 304s, the data untouched,
	// but the database counts as checked now (scans' --db-max-age).
	bk.set("", nil, "")
	st, err = Update(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NotModified) != 2 || len(st.Downloaded) != 0 {
		t.Errorf("unchanged update: %+v", st)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m2 := db.Meta()
	db.Close()
	if !m2.Updated.After(m.Updated) || !m2.Archives["crates.io"].Fetched.After(m.Archives["crates.io"].Fetched) || m2.Records != m.Records {
		t.Errorf("after a 304: updated %v (was %v), fetched %v, %d records (was %d)", m2.Updated, m.Updated, m2.Archives["crates.io"].Fetched, m2.Records, m.Records)
	}
	if got := strings.Join(bk.gets, ","); got != "/Ubuntu/all.zip 304,/crates.io/all.zip 304" {
		t.Errorf("requests: %s", got)
	}

	// A new archive for one ecosystem: only it is downloaded.
	dir2 := t.TempDir()
	writeZip(t, filepath.Join(dir2, "x.zip"), map[string]string{"TEST-2024-2.json": mustRead(t, "testdata/records/TEST-2024-2.json")})
	bk.set("/crates.io/all.zip", append(bk.files["/crates.io/all.zip"][:0:0], mustRead(t, filepath.Join(dir2, "x.zip"))...), "")
	st, err = Update(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(st.Downloaded, ",") != "crates.io" || strings.Join(st.NotModified, ",") != "Ubuntu" || st.Added != 1 || st.Records != 1+1206+1 {
		t.Errorf("partial update: %+v", st)
	}

	// Failures leave the database as it was and say what failed.
	before := fileHash(t, path)
	bk.files["/crates.io/all.zip"] = readShared(t, "crates.io.zip")
	for _, tt := range []struct{ fault, want string }{
		{"500", "update Go: GET " + srv.URL + "/Go/all.zip: 500 Internal Server Error"},
		{"hash", "md5 of the body is"},
		{"truncate", "unexpected EOF"},
	} {
		bk.set("", nil, tt.fault)
		o := opts
		o.Ecosystems = []string{"Go", "crates.io"}
		_, err := Update(t.Context(), path, o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.fault, err, tt.want)
		}
		if fileHash(t, path) != before {
			t.Errorf("%s: the database changed", tt.fault)
		}
		if left := dirLeftovers(t, dir); len(left) != 0 {
			t.Errorf("%s: left %v behind", tt.fault, left)
		}
		db, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", tt.fault, err)
		}
		// Go was never imported; the record of the last update is there.
		u, err1 := db.Query("Go", "stdlib")
		d, err2 := db.Query("Debian:12", "demo")
		if len(u) != 0 || len(d) != 1 || err1 != nil || err2 != nil {
			t.Errorf("%s: the old database answers %d, %d (%v, %v)", tt.fault, len(u), len(d), err1, err2)
		}
		db.Close()
	}
}

// TestCancelledImport cancels an import of Debian.zip once it has started
// writing: the old database stays, no temporary file is left.
func TestCancelledImport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "osv.db")
	if _, err := Import(t.Context(), path, []string{"testdata/records"}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := Import(ctx, path, []string{shareddata.Path(t, "osv", "Debian.zip")}, ImportOptions{})
		done <- err
	}()
	for len(dirLeftovers(t, dir)) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled import: %v", err)
	}
	if fileHash(t, path) != before {
		t.Error("the cancelled import changed the database")
	}
	if left := dirLeftovers(t, dir); len(left) != 0 {
		t.Errorf("left %v behind", left)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if vs, err := db.Query("Debian:12", "demo"); err != nil || len(vs) != 1 {
		t.Errorf("old database: %d, %v", len(vs), err)
	}
}

func TestGoogHash(t *testing.T) {
	md, crc, err := googHash([]string{"crc32c=n03x6A==,md5=Ojk9c3dhfxgoKVVHYwFbHQ=="})
	if err != nil || len(md) != 16 || len(crc) != 4 {
		t.Errorf("googHash = %x, %x, %v", md, crc, err)
	}
	if _, _, err := googHash([]string{"md5=!!"}); err == nil {
		t.Error("bad base64 accepted")
	}
}

// TestUpdateRedactsCredentials: a mirror URL's password goes in the
// request, never into the database's metadata or errors.
func TestUpdateRedactsCredentials(t *testing.T) {
	bk := &bucket{files: map[string][]byte{"/Ubuntu/all.zip": readShared(t, "Ubuntu.zip")}}
	srv := httptest.NewServer(bk)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "osv.db")
	base := strings.Replace(srv.URL, "http://", "http://mirror:s3cret@", 1)
	if _, err := Update(t.Context(), path, UpdateOptions{BaseURL: base, Ecosystems: []string{"Ubuntu"}, Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(db.Meta())
	db.Close()
	if strings.Contains(string(meta), "s3cret") || !strings.Contains(string(meta), "mirror:xxxxx@") {
		t.Errorf("metadata: %s", meta)
	}
	_, err = Update(t.Context(), path, UpdateOptions{BaseURL: base, Ecosystems: []string{"Nonesuch"}, Client: srv.Client()})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want one without the password", err)
	}
}
