package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// The real archives are imported once per test binary: Debian.zip alone
// is 210 MB of JSON.
var shared struct {
	once  sync.Once
	dir   string
	path  string
	stats *Stats
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// raceArchives are the archives race runs import (6 MB of JSON of 350).
var raceArchives = []string{"Go.zip", "crates.io.zip", "Ubuntu.zip"}

// imported reports whether this run imports the named shared archive.
func imported(archive string) bool {
	return !raceEnabled || slices.Contains(raceArchives, archive)
}

// archives lists the shared OSV archives this run imports.
func archives(t testing.TB) []string {
	dir := shareddata.Path(t, "osv")
	zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
	if err != nil || len(zips) == 0 {
		t.Fatalf("no archives in %s: %v", dir, err)
	}
	return slices.DeleteFunc(zips, func(p string) bool { return !imported(filepath.Base(p)) })
}

// needs skips a test in race runs, which do not import the archive.
func needs(t *testing.T, archive string) {
	t.Helper()
	if !imported(archive) {
		t.Skipf("%s is imported only without -race", archive)
	}
}

// sharedDB returns the database built from every shared archive.
func sharedDB(t testing.TB) (string, *Stats) {
	t.Helper()
	zips := archives(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "vulndb-test-")
		if shared.err != nil {
			return
		}
		shared.path = filepath.Join(shared.dir, "osv.db")
		shared.stats, shared.err = Import(context.Background(), shared.path, zips, ImportOptions{})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.path, shared.stats
}

func openShared(t testing.TB) *DB {
	t.Helper()
	p, _ := sharedDB(t)
	db, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type manifest struct {
	Archives map[string]struct {
		Archive string `json:"archive"`
		Records int    `json:"records"`
		Bytes   int64  `json:"bytes"`
		SHA256  string `json:"sha256"`
	} `json:"archives"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestImportCounts checks the import against the manifest: every archive's
// records, size and hash, and the records left after de-duplicating IDs
// across archives (counted here from the entry names, <ID>.json).
func TestImportCounts(t *testing.T) {
	path, st := sharedDB(t)
	var man manifest
	readJSON(t, shareddata.Path(t, "osv", "manifest.json"), &man)
	db := openShared(t)
	meta := db.Meta()

	ids := map[string]bool{}
	read := 0
	for eco, want := range man.Archives {
		if !imported(want.Archive) {
			continue
		}
		got, ok := meta.Archives[eco]
		if !ok {
			t.Errorf("archive %s missing from meta", eco)
			continue
		}
		if got.Records != want.Records || got.Size != want.Bytes || got.SHA256 != want.SHA256 {
			t.Errorf("%s: records %d size %d sha256 %s, manifest says %d, %d, %s", eco, got.Records, got.Size, got.SHA256, want.Records, want.Bytes, want.SHA256)
		}
		read += want.Records
		zr, err := zip.OpenReader(shareddata.Path(t, "osv", want.Archive))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			ids[strings.TrimSuffix(f.Name, ".json")] = true
		}
		zr.Close()
	}
	if st.Read != read || st.Skipped != 0 {
		t.Errorf("read %d records (%d skipped), manifest has %d", st.Read, st.Skipped, read)
	}
	if meta.Records != len(ids) || st.Records != len(ids) || st.Added != len(ids) {
		t.Errorf("%d records in the database (stats: %d, %d added), %d distinct IDs in the archives", meta.Records, st.Records, st.Added, len(ids))
	}
	if st.Replaced+st.Kept != read-len(ids) {
		t.Errorf("replaced %d + kept %d, want the %d duplicate IDs", st.Replaced, st.Kept, read-len(ids))
	}
	if imported("Debian.zip") && (meta.Bases["Debian"] == 0 || meta.Ecosystems["Debian:12"] == 0) || meta.Bases["Go"] == 0 {
		t.Errorf("ecosystem counts missing: %v", meta.Bases)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("database file: %v, mode %v", err, fi.Mode())
	}
}

// TestEcosystemCounts recounts, from the archives that share no IDs, the
// records per ecosystem the meta reports.
func TestEcosystemCounts(t *testing.T) {
	db := openShared(t)
	// own[e] is the IDs whose copy in e's own archive names e; any[e] the
	// IDs any copy names e in. Each archive speaks for its own ecosystem,
	// so the import holds every ID of own and nothing outside any.
	own, any := map[string]map[string]bool{}, map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, e, id string) {
		if m[e] == nil {
			m[e] = map[string]bool{}
		}
		m[e][id] = true
	}
	for _, name := range []string{"Go.zip", "crates.io.zip", "PyPI.zip", "npm.zip", "Maven.zip", "NuGet.zip", "RubyGems.zip", "Packagist.zip", "Ubuntu.zip"} {
		if !imported(name) {
			continue
		}
		zr, err := zip.OpenReader(shareddata.Path(t, "osv", name))
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(name, ".zip")
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			var v osv.Vulnerability
			err = json.NewDecoder(rc).Decode(&v)
			rc.Close()
			if err != nil {
				t.Fatalf("%s:%s: %v", name, f.Name, err)
			}
			for _, a := range v.Affected {
				if e := a.Package.Ecosystem; e != "" {
					add(any, e, v.ID)
					if BaseEcosystem(e) == base {
						add(own, e, v.ID)
					}
				}
			}
		}
		zr.Close()
	}
	got := db.Meta().Ecosystems
	for eco, ids := range any {
		if strings.HasPrefix(eco, "Debian") || strings.HasPrefix(eco, "Alpine") {
			continue // also in Debian.zip and Alpine.zip
		}
		if lo, hi := len(own[eco]), len(ids); got[eco] < lo || got[eco] > hi {
			t.Errorf("%s: %d records, want %d (its archive's) to %d (every archive's)", eco, got[eco], lo, hi)
		}
	}
	for _, eco := range []string{"PyPI", "npm", "Go", "crates.io", "Maven", "NuGet", "RubyGems", "Packagist"} {
		if imported(eco+".zip") && got[eco] == 0 {
			t.Errorf("%s: no records", eco)
		}
	}
}

type knownAnswers struct {
	Cases []struct {
		Archive string `json:"archive"`
		Query   struct {
			Ecosystem string `json:"ecosystem"`
			Package   string `json:"package"`
			Version   string `json:"version"`
		} `json:"query"`
		MustMatch   []struct{ ID string } `json:"must_match"`
		ExpectedIDs []string              `json:"expected_ids"`
	} `json:"cases"`
	Minbase struct {
		Ecosystem string `json:"ecosystem"`
		Packages  []struct {
			Source  string `json:"source"`
			Records int    `json:"records_for_package"`
		} `json:"packages"`
	} `json:"debian12_minbase"`
}

// archiveRecord reads one record from a shared archive.
func archiveRecord(t *testing.T, archive, id string) *osv.Vulnerability {
	t.Helper()
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", archive))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open(id + ".json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var v osv.Vulnerability
	if err := json.NewDecoder(rc).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func queryIDs(t *testing.T, db *DB, eco, name string) []string {
	t.Helper()
	vs, err := db.Query(eco, name)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
		if len(v.Affected) == 0 || v.Details != "" || v.References != nil {
			t.Errorf("%s: not trimmed for matching: %d affected, details %q", v.ID, len(v.Affected), v.Details)
		}
		for _, a := range v.Affected {
			if a.Package.Ecosystem != eco || NormalizeName(eco, a.Package.Name) != NormalizeName(eco, name) {
				t.Errorf("Query(%s, %s) returned %s with an entry for %s %s", eco, name, v.ID, a.Package.Ecosystem, a.Package.Name)
			}
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("Query(%s, %s) not sorted by ID", eco, name)
	}
	return ids
}

// TestKnownAnswers: every record the reference matcher found for a query
// is among the records Query returns for its package. That includes
// CVE-2024-38472, whose copy in Alpine.zip is four months newer than in
// Debian.zip but lists Alpine releases only: each archive speaks for its
// own ecosystem, so the newer copy does not take the Debian entries away.
func TestKnownAnswers(t *testing.T) {
	db := openShared(t)
	var ka knownAnswers
	readJSON(t, shareddata.Path(t, "osv", "known-answers.json"), &ka)
	for _, c := range ka.Cases {
		q := c.Query
		t.Run(q.Ecosystem+"/"+q.Package+"@"+q.Version, func(t *testing.T) {
			needs(t, c.Archive)
			ids := queryIDs(t, db, q.Ecosystem, q.Package)
			want := slices.Clone(c.ExpectedIDs)
			for _, m := range c.MustMatch {
				want = append(want, m.ID)
			}
			for _, id := range want {
				if !slices.Contains(ids, id) {
					t.Errorf("Query(%s, %s) lacks %s (got %d records)", q.Ecosystem, q.Package, id, len(ids))
				}
			}
		})
	}
}

// TestMinbase: the records per source package of a Debian 12 minbase
// system, as the reference counted them in Debian.zip.
func TestMinbase(t *testing.T) {
	needs(t, "Debian.zip")
	db := openShared(t)
	var ka knownAnswers
	readJSON(t, shareddata.Path(t, "osv", "known-answers.json"), &ka)
	if len(ka.Minbase.Packages) != 63 {
		t.Fatalf("%d minbase packages, want 63", len(ka.Minbase.Packages))
	}
	for _, p := range ka.Minbase.Packages {
		if got := queryIDs(t, db, ka.Minbase.Ecosystem, p.Source); len(got) != p.Records {
			t.Errorf("%s: %d records, want %d", p.Source, len(got), p.Records)
		}
	}
}

func TestQuery(t *testing.T) {
	db := openShared(t)
	tests := []struct {
		eco, name string
		want      string // an ID that must be there; "" for no records
	}{
		{"Debian:12", "openssl", "DSA-5532-1"},
		{"Alpine:v3.20", "openssl", "CVE-2024-5535"},
		{"crates.io", "tokio", "RUSTSEC-2021-0124"},
		{"PyPI", "jinja2", "GHSA-h75v-3vvj-5mfj"},
		{"PyPI", "Jinja2", "GHSA-h75v-3vvj-5mfj"},
		{"PyPI", "JINJA2", "PYSEC-2021-66"},
		{"Maven", "org.apache.logging.log4j:log4j-core", "GHSA-jfh8-c2jp-5v3q"},
		{"Go", "stdlib", ""},
		{"Debian:12", "libssl3", ""}, // a binary package: records name sources
		{"Debian", "openssl", ""},    // ecosystems match exactly
		{"debian:12", "openssl", ""},
		{"npm", "Lodash", ""}, // only PyPI names are normalised
	}
	for _, tt := range tests {
		if !imported(BaseEcosystem(tt.eco) + ".zip") {
			continue
		}
		ids := queryIDs(t, db, tt.eco, tt.name)
		switch {
		case tt.want == "" && tt.eco == "Go":
			if len(ids) < 100 {
				t.Errorf("Query(Go, stdlib): %d records", len(ids))
			}
		case tt.want == "" && len(ids) != 0:
			t.Errorf("Query(%s, %s) = %v, want none", tt.eco, tt.name, ids)
		case tt.want != "" && !slices.Contains(ids, tt.want):
			t.Errorf("Query(%s, %s) lacks %s: %v", tt.eco, tt.name, tt.want, ids)
		}
	}
}

func TestGetLookup(t *testing.T) {
	needs(t, "Debian.zip")
	db := openShared(t)
	v, err := db.Get("DSA-5532-1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(v.Related, "CVE-2023-5363") || v.Affected[0].Package.Name != "openssl" {
		t.Errorf("Get(DSA-5532-1) = %+v", v)
	}
	if _, err := db.Get("CVE-1999-99999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown) error %v, want ErrNotFound", err)
	}
	tests := []struct {
		id   string
		want []string
	}{
		{"CVE-2023-5363", []string{"CVE-2023-5363", "DSA-5532-1"}},            // the CVE, then the advisory naming it
		{"CVE-2019-10906", []string{"GHSA-462w-v97r-4m45", "PYSEC-2019-217"}}, // GHSA and PYSEC alias it
		{"GHSA-462w-v97r-4m45", []string{"GHSA-462w-v97r-4m45", "PYSEC-2019-217"}},
	}
	for _, tt := range tests {
		vs, err := db.Lookup(tt.id)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", tt.id, err)
		}
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		for _, w := range tt.want {
			if !slices.Contains(ids, w) {
				t.Errorf("Lookup(%s) = %v, lacks %s", tt.id, ids, w)
			}
		}
		if ids[0] != tt.want[0] && tt.want[0] == tt.id {
			t.Errorf("Lookup(%s) = %v: the record itself comes first", tt.id, ids)
		}
	}
	if _, err := db.Lookup("CVE-1999-99999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(unknown) error %v, want ErrNotFound", err)
	}
}

func ids(vs []*osv.Vulnerability) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

// TestMerge imports a record, then a newer and an older copy of it: the
// newer replaces it in every index, the older is dropped.
func TestMerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "osv.db")
	st, err := Import(t.Context(), path, []string{"testdata/records"}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 2 || st.Records != 2 {
		t.Errorf("stats %+v, want 2 added", st)
	}
	check := func(eco, name string, want ...string) {
		t.Helper()
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		vs, err := db.Query(eco, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(vs); !slices.Equal(got, want) {
			t.Errorf("Query(%s, %s) = %v, want %v", eco, name, got, want)
		}
	}
	lookup := func(id string, want ...string) {
		t.Helper()
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		vs, err := db.Lookup(id)
		if len(want) == 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("Lookup(%s) = %v, %v; want ErrNotFound", id, ids(vs), err)
			}
			return
		}
		if got := ids(vs); err != nil || !slices.Equal(got, want) {
			t.Errorf("Lookup(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	check("PyPI", "demo-pkg", "TEST-2024-1")
	check("PyPI", "DEMO.pkg", "TEST-2024-1")
	check("npm", "demo", "TEST-2024-1")
	check("Debian:12", "demo", "TEST-2024-2")
	lookup("CVE-2024-0001", "TEST-2024-1", "TEST-2024-2")

	st, err = Import(t.Context(), path, []string{"testdata/newer/TEST-2024-1.json"}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Replaced != 1 || st.Records != 2 {
		t.Errorf("stats %+v, want 1 replaced", st)
	}
	check("PyPI", "demo-pkg")
	check("npm", "demo")
	check("PyPI", "other-pkg", "TEST-2024-1")
	check("Debian:12", "demo", "TEST-2024-2")
	lookup("CVE-2024-0001", "TEST-2024-2")
	lookup("CVE-2024-0002", "TEST-2024-1")

	st, err = Import(t.Context(), path, []string{"testdata/older"}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Kept != 1 || st.Replaced != 0 {
		t.Errorf("stats %+v, want 1 kept", st)
	}
	check("PyPI", "stale")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Get("TEST-2024-1")
	if err != nil || v.Summary != "second version" {
		t.Errorf("Get = %+v, %v; want the newer record", v, err)
	}
	m := db.Meta()
	if m.Records != 2 || m.Ecosystems["PyPI"] != 1 || m.Ecosystems["npm"] != 0 || m.Bases["Debian"] != 1 || len(m.Sources) != 3 {
		t.Errorf("meta %+v", m)
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// dirLeftovers lists files besides the database and its lock.
func dirLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if n := e.Name(); n != "osv.db" && n != "osv.db.lock" {
			out = append(out, n)
		}
	}
	return out
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		input string
		want  []string // in the error, in this order
	}{
		{"testdata/bad/syntax.json", []string{"testdata/bad/syntax.json: line 3: invalid character ','"}},
		{"testdata/bad/noid.json", []string{`testdata/bad/noid.json: no "id"`}},
		{"testdata/bad/noname.json", []string{"testdata/bad/noname.json: BAD-3: affected[0]: package in PyPI has no name"}},
		{"testdata/bad/badtime.json", []string{"testdata/bad/badtime.json", `"yesterday"`}},
		{"testdata/bad/array.json", []string{"testdata/bad/array.json: line 1: json: cannot unmarshal array"}},
		{"testdata/bad", []string{"5 invalid record(s)", "array.json", "badtime.json", "noid.json", "noname.json", "syntax.json"}},
		{"testdata/nope.json", []string{"testdata/nope.json: no such file"}},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "osv.db")
	if _, err := Import(t.Context(), path, []string{"testdata/records"}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, path)
	for _, tt := range tests {
		_, err := Import(t.Context(), path, []string{"testdata/records", tt.input}, ImportOptions{})
		if err == nil {
			t.Errorf("%s: imported", tt.input)
			continue
		}
		msg, at := err.Error(), 0
		for _, w := range tt.want {
			i := strings.Index(msg[at:], w)
			if i < 0 {
				t.Errorf("%s: error %q lacks %q", tt.input, msg, w)
				break
			}
			at += i
		}
		if fileHash(t, path) != before {
			t.Errorf("%s: the failed import changed the database", tt.input)
		}
		if left := dirLeftovers(t, dir); len(left) != 0 {
			t.Errorf("%s: left %v behind", tt.input, left)
		}
	}

	st, err := Import(t.Context(), path, []string{"testdata/bad", "testdata/newer"}, ImportOptions{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 5 || len(st.Invalid) != 5 || st.Replaced != 1 {
		t.Errorf("stats %+v, want 5 skipped and 1 replaced", st)
	}
}

// TestInvalidZip: a bad entry in an archive is named archive:entry, and an
// archive with nothing to import is an error.
func TestInvalidZip(t *testing.T) {
	dir := t.TempDir()
	zpath := filepath.Join(dir, "Demo.zip")
	writeZip(t, zpath, map[string]string{
		"TEST-2024-1.json": mustRead(t, "testdata/records/TEST-2024-1.json"),
		"BAD-1.json":       `{"id": "BAD-1", "modified": 7}`,
		"README.md":        "not a record",
	})
	_, err := Import(t.Context(), filepath.Join(dir, "osv.db"), []string{zpath}, ImportOptions{})
	for _, w := range []string{zpath + ":BAD-1.json: Time.UnmarshalJSON", zpath + ":README.md: not a .json entry"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	empty := filepath.Join(dir, "empty.zip")
	writeZip(t, empty, nil)
	if _, err := Import(t.Context(), filepath.Join(dir, "osv.db"), []string{empty}, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "no records") {
		t.Errorf("empty archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "osv.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed imports created the database: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none.db")); err == nil || !strings.Contains(err.Error(), "mamori db import") {
		t.Errorf("missing database: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o644)
	if _, err := Open(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk file: %v", err)
	}
	// A build refuses to merge into something that is not a database.
	if _, err := Import(t.Context(), junk, []string{"testdata/records"}, ImportOptions{}); err == nil {
		t.Error("imported into a junk file")
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MAMORI_DB": "/x/db", "XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/x/db"},
		{map[string]string{"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/mamori/osv.db"},
		{map[string]string{"HOME": "/h"}, "/h/.cache/mamori/osv.db"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := DefaultPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DefaultPath(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ eco, in, want string }{
		{"PyPI", "Jinja2", "jinja2"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar-.baz", "foo-bar-baz"},
		{"PyPI", "-x_", "-x-"},
		{"npm", "Foo_Bar", "Foo_Bar"},
		{"Maven", "org.Apache:X", "org.Apache:X"},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.eco, tt.in); got != tt.want {
			t.Errorf("NormalizeName(%s, %s) = %s, want %s", tt.eco, tt.in, got, tt.want)
		}
	}
}

// BenchmarkOpenQuery opens the database and queries the 63 source
// packages of a Debian 12 minbase system, as a scan does.
func BenchmarkOpenQuery(b *testing.B) {
	path, _ := sharedDB(b)
	var ka knownAnswers
	readJSON(b, shareddata.Path(b, "osv", "known-answers.json"), &ka)
	recs := 0
	for b.Loop() {
		db, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		recs = 0
		for _, p := range ka.Minbase.Packages {
			vs, err := db.Query("Debian:12", p.Source)
			if err != nil {
				b.Fatal(err)
			}
			recs += len(vs)
		}
		db.Close()
	}
	b.ReportMetric(float64(recs), "records/op")
}

// TestQueryRedHatStreams: a query for a Red Hat product finds the records
// of each of its streams, once each, and not those of another release.
func TestQueryRedHatStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "osv.db")
	if _, err := Import(t.Context(), path, []string{"../vuln/testdata/records/RHSA-2024-0001.json"}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for eco, want := range map[string]int{
		"Red Hat:enterprise_linux:9":            2, // appstream and baseos entries
		"Red Hat:enterprise_linux:9::appstream": 1,
		"Red Hat:enterprise_linux:8":            1,
		"Red Hat:enterprise_linux:7":            0,
		"Red Hat:enterprise_linux":              0,
	} {
		vs, err := db.Query(eco, "openssl")
		if err != nil {
			t.Fatal(err)
		}
		entries := 0
		for _, v := range vs {
			entries += len(v.Affected)
		}
		if want == 0 && len(vs) != 0 || want > 0 && (len(vs) != 1 || entries != want) {
			t.Errorf("Query(%s): %d records with %d entries, want 1 with %d", eco, len(vs), entries, want)
		}
	}
}
