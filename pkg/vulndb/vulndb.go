// Package vulndb is mamori's local vulnerability database: OSV records
// (https://ossf.github.io/osv-schema/) in one embedded bbolt file, indexed
// for exact matching by ecosystem and package name, by ID and by the IDs a
// record names as aliases, upstream or related.
//
// The file is built by Import (OSV JSON files, directories and
// per-ecosystem all.zip archives) or Update (the same archives over HTTP),
// always into a new file beside the old one that is renamed over it only
// when complete, so readers and a failed build never see half a database.
// Nothing here touches the network except Update.
//
// Layout. Matching reads one bbolt value per package: the "pkgs" bucket
// maps ecosystem NUL name to every record for that package, trimmed to
// what a matcher and a report line need (no details, references or related
// IDs, only the affected entries for that package), compressed together.
// The whole record is kept once in "vulns", zstd-compressed, for Get. Measured on a
// tenth of Debian.zip: trimmed entries compress only 1.6x with zstd and
// decoding them costs a third more, so they stay uncompressed; whole
// records compress 4.3x (flate 3.8x, and decodes four times slower than
// zstd); gob of the trimmed struct, one encoder per value as a key-value
// store needs, is 1.8x larger than the JSON and 3.5x slower to decode.
package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"github.com/mamori-dev/mamori/pkg/osv"
	"github.com/mamori-dev/mamori/pkg/version"
)

// ErrNotFound is returned by Get and Lookup for an unknown ID.
var ErrNotFound = errors.New("not in the vulnerability database")

// schemaVersion changes when the layout does; an older file must be rebuilt.
const schemaVersion = 1

// Bucket names.
var (
	bucketMeta  = []byte("meta")
	bucketVulns = []byte("vulns") // id → modified (8 bytes) + zstd(record JSON)
	bucketPkgs  = []byte("pkgs")  // eco NUL name NUL → group of trimmed records
	bucketRefs  = []byte("refs")  // alias/upstream/related NUL id → nil
	bucketEcos  = []byte("ecos")  // eco NUL id → nil (for counts)
	keyMeta     = []byte("meta")
)

// Meta describes a database: when it was built, from what, and what it holds.
type Meta struct {
	Schema  int       `json:"schema"`
	Built   time.Time `json:"built"`   // when the file was first created
	Updated time.Time `json:"updated"` // last import or update that changed it
	// Sources are the inputs (paths or base URLs) imported so far, sorted.
	Sources []string `json:"sources"`
	Records int      `json:"records"`
	// Ecosystems counts records with an affected entry per ecosystem as
	// records name it ("Debian:12"); Bases per ecosystem without the
	// release ("Debian"), each record once.
	Ecosystems map[string]int `json:"ecosystems"`
	Bases      map[string]int `json:"bases"`
	// Archives are the all.zip archives imported or downloaded, by
	// ecosystem ("Debian" for Debian.zip or Debian/all.zip).
	Archives map[string]Archive `json:"archives,omitempty"`
}

// Archive is one imported all.zip archive.
type Archive struct {
	Source       string    `json:"source"` // path or URL
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	Records      int       `json:"records"` // records read from it
	Fetched      time.Time `json:"fetched"` // when it was imported or last confirmed unchanged
}

// DB is an open, read-only vulnerability database. Its methods are safe for
// concurrent use.
type DB struct {
	path string
	bolt *bolt.DB
	meta Meta
	zstd *zstd.Decoder
}

// DefaultPath returns where the database lives: $MAMORI_DB, else
// $XDG_CACHE_HOME/mamori/osv.db, else $HOME/.cache/mamori/osv.db; "" when
// none of those is set.
func DefaultPath(getenv func(string) string) string {
	if p := getenv("MAMORI_DB"); p != "" {
		return p
	}
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "mamori", "osv.db")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "mamori", "osv.db")
	}
	return ""
}

// Open opens the database at path read-only. Readers share the file; a
// build never writes to it (it renames a new file over it), so Open waits
// at most a second, only for a lock held by something else.
func Open(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("vulnerability database %s does not exist: run `mamori db import` or `mamori db update` first", path)
		}
		return nil, fmt.Errorf("open vulnerability database: %w", err)
	}
	b, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	db := &DB{path: path, bolt: b}
	err = b.View(func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		db.meta = m
		return err
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open vulnerability database %s: %w", path, err)
	}
	// One decoder serves concurrent DecodeAll calls; no goroutines of its own.
	db.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// readMeta reads and checks the meta record.
func readMeta(tx *bolt.Tx) (Meta, error) {
	var m Meta
	mb := tx.Bucket(bucketMeta)
	if mb == nil {
		return m, errors.New("not a mamori vulnerability database (no meta bucket): rebuild it with `mamori db import` or `mamori db update`")
	}
	if err := json.Unmarshal(mb.Get(keyMeta), &m); err != nil {
		return m, fmt.Errorf("read meta: %w", err)
	}
	if m.Schema != schemaVersion {
		return m, fmt.Errorf("database layout %d, this mamori reads %d: rebuild it with `mamori db import` or `mamori db update`", m.Schema, schemaVersion)
	}
	for _, name := range [][]byte{bucketVulns, bucketPkgs, bucketRefs, bucketEcos} {
		if tx.Bucket(name) == nil {
			return m, fmt.Errorf("bucket %s missing: rebuild the database", name)
		}
	}
	return m, nil
}

// Close releases the file.
func (db *DB) Close() error {
	db.zstd.Close()
	return db.bolt.Close()
}

// Path is the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Meta describes the database as it was when opened.
func (db *DB) Meta() Meta { return db.meta }

// Query returns the records with an affected entry for exactly this
// ecosystem (as records name it: "Debian:12", "Alpine:v3.20", "PyPI") and
// package name (PEP 503-normalised for PyPI, exact otherwise), sorted by
// ID. Each record is trimmed for matching: its Affected holds only the
// entries for this package, and Details, References, Related and
// DatabaseSpecific are empty; Get returns the whole record.
func (db *DB) Query(ecosystem, name string) ([]*osv.Vulnerability, error) {
	var out []*osv.Vulnerability
	err := db.bolt.View(func(tx *bolt.Tx) error {
		pkgs := tx.Bucket(bucketPkgs)
		groups := [][]byte{pkgs.Get(pkgPrefix(ecosystem, name))}
		if strings.HasPrefix(ecosystem, "Red Hat:") && !strings.Contains(ecosystem, "::") {
			// A Red Hat product covers its streams (osv.EcosystemMatches):
			// the keys "<product>::<stream>\x00<name>\x00".
			want := "\x00" + NormalizeName(ecosystem, name) + "\x00"
			prefix := []byte(ecosystem + "::")
			c := pkgs.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if bytes.HasSuffix(k, []byte(want)) && !bytes.Contains(k[len(prefix):len(k)-len(want)], []byte{0}) {
					groups = append(groups, v)
				}
			}
		}
		seen := map[string]bool{}
		for _, v := range groups {
			if v == nil {
				continue
			}
			g, err := decodeGroup(db.zstd, v)
			if err != nil {
				return err
			}
			for i, rec := range g.recs {
				if seen[g.ids[i]] {
					// One record naming several streams: its trimmed
					// copies differ only in their entries.
					for _, r := range out {
						if r.ID == g.ids[i] {
							var more osv.Vulnerability
							if err := json.Unmarshal(rec, &more); err != nil {
								return fmt.Errorf("record %s: %w", g.ids[i], err)
							}
							r.Affected = append(r.Affected, more.Affected...)
						}
					}
					continue
				}
				seen[g.ids[i]] = true
				v := new(osv.Vulnerability)
				if err := json.Unmarshal(rec, v); err != nil {
					return fmt.Errorf("record %s: %w", g.ids[i], err)
				}
				out = append(out, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query %s %s in %s: %w", ecosystem, name, db.path, err)
	}
	slices.SortFunc(out, func(a, b *osv.Vulnerability) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Get returns the whole record with this ID, or an error wrapping
// ErrNotFound.
func (db *DB) Get(id string) (*osv.Vulnerability, error) {
	var r *osv.Vulnerability
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		r, err = db.get(tx, id)
		return err
	})
	return r, err
}

func (db *DB) get(tx *bolt.Tx, id string) (*osv.Vulnerability, error) {
	v := tx.Bucket(bucketVulns).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	r, err := decodeStored(db.zstd, v)
	if err != nil {
		return nil, fmt.Errorf("record %s in %s: %w", id, db.path, err)
	}
	return r, nil
}

// Lookup returns the record with this ID, if there is one, followed by
// every record that names the ID among its aliases, upstream or related
// IDs, sorted by ID: Lookup("CVE-2023-5363") finds DSA-5532-1, which fixes
// it, and the CVE record itself. It returns an error wrapping ErrNotFound
// when nothing matches.
func (db *DB) Lookup(id string) ([]*osv.Vulnerability, error) {
	var out []*osv.Vulnerability
	err := db.bolt.View(func(tx *bolt.Tx) error {
		r, err := db.get(tx, id)
		switch {
		case err == nil:
			out = append(out, r)
		case !errors.Is(err, ErrNotFound):
			return err
		}
		prefix := append([]byte(id), 0)
		c := tx.Bucket(bucketRefs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			other := string(k[len(prefix):])
			if other == id {
				continue
			}
			r, err := db.get(tx, other)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return out, nil
}

// NormalizeName returns a package name as the index keys it, as the
// matcher compares names (version.Name): PEP 503 for PyPI, lower case for
// NuGet and Packagist, whose registries ignore case while records keep
// the publisher's spelling; unchanged for every other ecosystem.
func NormalizeName(ecosystem, name string) string { return version.Name(ecosystem, name) }

func pkgPrefix(ecosystem, name string) []byte {
	k := make([]byte, 0, len(ecosystem)+len(name)+2)
	k = append(k, ecosystem...)
	k = append(k, 0)
	k = append(k, NormalizeName(ecosystem, name)...)
	return append(k, 0)
}

// BaseEcosystem is an ecosystem without its release: "Debian" for
// "Debian:12", "Ubuntu" for "Ubuntu:Pro:20.04:LTS".
func BaseEcosystem(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
