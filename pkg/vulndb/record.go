package vulndb

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/mamori-dev/mamori/pkg/osv"
)

// maxRecordSize bounds one record, so a hostile archive entry cannot
// exhaust memory. The largest real record (a Debian per-CVE record with
// every release's version list) is under 2 MB.
const maxRecordSize = 64 << 20

// entry is one decoded record and every key it adds to the indexes.
type entry struct {
	id       string
	modified time.Time
	stored   []byte            // value in bucketVulns
	pkgs     map[string][]byte // key in bucketPkgs → this record trimmed for it, JSON
	refs     []string          // keys in bucketRefs
	ecos     []string          // keys in bucketEcos
	// archive is the ecosystem of the all.zip the record came from, which
	// speaks for that ecosystem's entries only; empty for JSON files.
	archive string
}

// parseRecord decodes and checks one OSV record. Errors say what is wrong,
// with the line when the JSON decoder gives an offset.
func parseRecord(data []byte) (*osv.Vulnerability, error) {
	var v osv.Vulnerability
	if err := json.Unmarshal(data, &v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("line %d: %w", lineAt(data, se.Offset), err)
		case errors.As(err, &te):
			return nil, fmt.Errorf("line %d: %w", lineAt(data, te.Offset), err)
		}
		return nil, err
	}
	if v.ID == "" {
		return nil, errors.New(`no "id"`)
	}
	if strings.ContainsRune(v.ID, 0) {
		return nil, fmt.Errorf("id %q contains NUL", v.ID)
	}
	for i, a := range v.Affected {
		p := a.Package
		switch {
		case p.Ecosystem == "" && p.Name == "":
			// Allowed: an entry with only GIT ranges names no package.
		case p.Ecosystem == "":
			return nil, fmt.Errorf("%s: affected[%d]: package %q has no ecosystem", v.ID, i, p.Name)
		case p.Name == "":
			return nil, fmt.Errorf("%s: affected[%d]: package in %s has no name", v.ID, i, p.Ecosystem)
		case strings.ContainsRune(p.Ecosystem+p.Name, 0):
			return nil, fmt.Errorf("%s: affected[%d]: package name or ecosystem contains NUL", v.ID, i)
		}
	}
	for _, ref := range [][]string{v.Aliases, v.Upstream, v.Related} {
		for _, r := range ref {
			if strings.ContainsRune(r, 0) {
				return nil, fmt.Errorf("%s: referenced id %q contains NUL", v.ID, r)
			}
		}
	}
	return &v, nil
}

func lineAt(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// newEntry builds the stored forms of a record: compressed whole JSON and
// one trimmed copy per affected package.
func newEntry(enc *zstd.Encoder, v *osv.Vulnerability, raw []byte) *entry {
	e := &entry{id: v.ID, modified: v.Modified}
	e.stored = enc.EncodeAll(raw, appendTime(make([]byte, 0, 12+len(raw)/3), v.Modified))
	pkgKeys, refs, ecos := indexKeys(v)
	e.refs, e.ecos = refs, ecos
	e.pkgs = make(map[string][]byte, len(pkgKeys))
	for _, k := range pkgKeys {
		// Marshalling what was just unmarshalled cannot fail.
		b, _ := json.Marshal(trim(v, k))
		e.pkgs[k] = b
	}
	return e
}

// indexKeys returns the keys of the package groups a record belongs to
// and its keys in bucketRefs and bucketEcos, each once.
func indexKeys(v *osv.Vulnerability) (pkgs, refs, ecos []string) {
	seen := map[string]bool{}
	add := func(list *[]string, k string) {
		if !seen[k] {
			seen[k] = true
			*list = append(*list, k)
		}
	}
	for _, a := range v.Affected {
		if a.Package.Ecosystem == "" {
			continue
		}
		add(&pkgs, string(pkgPrefix(a.Package.Ecosystem, a.Package.Name)))
		add(&ecos, a.Package.Ecosystem+"\x00"+v.ID)
	}
	for _, list := range [][]string{v.Aliases, v.Upstream, v.Related} {
		for _, r := range list {
			if r != "" && r != v.ID {
				add(&refs, r+"\x00"+v.ID)
			}
		}
	}
	return pkgs, refs, ecos
}

// trim returns the record as Query returns it for the package key k.
func trim(v *osv.Vulnerability, k string) *osv.Vulnerability {
	t := *v
	t.Details, t.References, t.Related = "", nil, nil
	// The advisory database's own rating (GHSA's "severity") is all of
	// database_specific that matching reads.
	t.DatabaseSpecific = severityOnly(v.DatabaseSpecific)
	t.Affected = nil
	for _, a := range v.Affected {
		if a.Package.Ecosystem != "" && string(pkgPrefix(a.Package.Ecosystem, a.Package.Name)) == k {
			t.Affected = append(t.Affected, a)
		}
	}
	return &t
}

// appendTime encodes a record's modified time in 12 bytes.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func storedTime(v []byte) (time.Time, error) {
	if len(v) < 12 {
		return time.Time{}, errors.New("stored record too short")
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint32(v[8:]))).UTC(), nil
}

func decodeStored(dec *zstd.Decoder, v []byte) (*osv.Vulnerability, error) {
	if len(v) < 12 {
		return nil, errors.New("stored record too short")
	}
	raw, err := dec.DecodeAll(v[12:], nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	r := new(osv.Vulnerability)
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, err
	}
	return r, nil
}

// A group is the value of a package key: the records for that package,
// trimmed, sorted by ID, framed as uvarint(len id) id uvarint(len json)
// json, and compressed as one, since records of one package repeat its
// version lists and compress far better together than apart.
type group struct {
	ids  []string
	recs [][]byte
}

func (g *group) encode(enc *zstd.Encoder) []byte {
	var raw []byte
	for i, id := range g.ids {
		raw = binary.AppendUvarint(raw, uint64(len(id)))
		raw = append(raw, id...)
		raw = binary.AppendUvarint(raw, uint64(len(g.recs[i])))
		raw = append(raw, g.recs[i]...)
	}
	return enc.EncodeAll(raw, nil)
}

// decodeGroup reads a group value; the slices alias one decompressed buffer.
func decodeGroup(dec *zstd.Decoder, v []byte) (*group, error) {
	raw, err := dec.DecodeAll(v, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	g := &group{}
	for len(raw) > 0 {
		var f [2][]byte
		for i := range f {
			n, w := binary.Uvarint(raw)
			if w <= 0 || n > uint64(len(raw)-w) {
				return nil, errors.New("corrupt package group")
			}
			f[i], raw = raw[w:w+int(n)], raw[w+int(n):]
		}
		g.ids = append(g.ids, string(f[0]))
		g.recs = append(g.recs, f[1])
	}
	return g, nil
}

// uniqueSorted sorts and de-duplicates a list.
func uniqueSorted(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// severityOnly keeps the "severity" member of a record's
// database_specific, dropping the rest (CWE lists, review dates, URLs).
func severityOnly(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var db struct {
		Severity string `json:"severity"`
	}
	if json.Unmarshal(raw, &db) != nil || db.Severity == "" {
		return nil
	}
	out, _ := json.Marshal(db)
	return out
}
