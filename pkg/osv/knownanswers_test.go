package osv

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/version"
)

// knownAnswers is /work/shared/data/osv/known-answers.json.
type knownAnswers struct {
	Cases []struct {
		Archive string `json:"archive"`
		Query   struct {
			Ecosystem string `json:"ecosystem"`
			Package   string `json:"package"`
			Version   string `json:"version"`
		} `json:"query"`
		MustMatch    []idWhy  `json:"must_match"`
		MustNotMatch []idWhy  `json:"must_not_match"`
		ExpectedIDs  []string `json:"expected_ids"`
		Complete     bool     `json:"expected_ids_complete"`
	} `json:"cases"`
	Minbase struct {
		Ecosystem string `json:"ecosystem"`
		Archive   string `json:"archive"`
		Packages  []struct {
			Source   string `json:"source"`
			Version  string `json:"version"`
			Records  int    `json:"records_for_package"`
			Expected []struct {
				ID string `json:"id"`
			} `json:"expected"`
		} `json:"packages"`
	} `json:"debian12_minbase"`
}

type idWhy struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

// index holds one archive's records by (ecosystem, normalised name),
// deduplicated by id with the newest modified winning.
type index struct {
	byID  map[string]*Vulnerability
	byPkg map[string][]*Vulnerability
}

func pkgKey(eco, name string) string { return eco + "\x00" + version.Name(eco, name) }

// loadIndex indexes the records of an archive whose affected entries name
// one of names: the archives are compact JSON, so a scan of the raw
// bytes for "name":"..." finds them without decoding the rest (a record
// where the scan finds no names at all is decoded anyway).
func loadIndex(t testing.TB, path string, names []string) *index {
	ix := &index{byID: map[string]*Vulnerability{}, byPkg: map[string][]*Vulnerability{}}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	marker := []byte(`"name":"`)
	keep := func(raw []byte) bool {
		found := false
		for {
			i := bytes.Index(raw, marker)
			if i < 0 {
				return !found
			}
			found = true
			raw = raw[i+len(marker):]
			j := bytes.IndexByte(raw, '"')
			if j < 0 {
				return true
			}
			if want[string(raw[:j])] {
				return true
			}
			raw = raw[j:]
		}
	}
	err := readZip(path, keep, func(v *Vulnerability) error {
		if old, ok := ix.byID[v.ID]; !ok || v.Modified.After(old.Modified) {
			ix.byID[v.ID] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ix.byID {
		seen := map[string]bool{}
		for _, a := range v.Affected {
			k := pkgKey(a.Package.Ecosystem, a.Package.Name)
			if !seen[k] {
				seen[k] = true
				ix.byPkg[k] = append(ix.byPkg[k], v)
			}
		}
	}
	return ix
}

// match returns the ids of the records affecting q, sorted, failing the
// test on any evaluation error.
func (ix *index) match(t *testing.T, q Query) []string {
	t.Helper()
	var ids []string
	for _, v := range ix.byPkg[pkgKey(q.Ecosystem, q.Name)] {
		d, err := Evaluate(v, q)
		if err != nil {
			t.Errorf("Evaluate(%s, %+v): %v", v.ID, q, err)
		}
		if d.Affected {
			ids = append(ids, v.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestKnownAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("streams every OSV archive in the shared data")
	}
	dir := shareddata.Path(t, "osv")
	raw, err := os.ReadFile(shareddata.Path(t, "osv", "known-answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ka knownAnswers
	if err := json.Unmarshal(raw, &ka); err != nil {
		t.Fatal(err)
	}
	archives := map[string][]string{}
	for _, p := range ka.Minbase.Packages {
		archives[ka.Minbase.Archive] = append(archives[ka.Minbase.Archive], p.Source)
	}
	for _, c := range ka.Cases {
		archives[c.Archive] = append(archives[c.Archive], c.Query.Package)
	}
	// Decode each archive once, in parallel, and share it between cases.
	indexes := map[string]*index{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for a, names := range archives {
		wg.Go(func() {
			ix := loadIndex(t, dir+"/"+a, names)
			mu.Lock()
			indexes[a] = ix
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for _, c := range ka.Cases {
		q := Query{Ecosystem: c.Query.Ecosystem, Name: c.Query.Package, Version: c.Query.Version}
		t.Run(strings.TrimSuffix(c.Archive, ".zip")+"/"+q.Ecosystem+"/"+q.Name+"@"+q.Version, func(t *testing.T) {
			ix := indexes[c.Archive]
			got := ix.match(t, q)
			for _, m := range c.MustMatch {
				if !slices.Contains(got, m.ID) {
					t.Errorf("%s must match: %s", m.ID, m.Why)
				}
			}
			for _, m := range c.MustNotMatch {
				if slices.Contains(got, m.ID) {
					v := ix.byID[m.ID]
					d, _ := Evaluate(v, q)
					t.Errorf("%s must not match: %s\n(we decided: %s)", m.ID, m.Why, d.Reason)
				}
			}
			if c.Complete {
				want := slices.Sorted(slices.Values(c.ExpectedIDs))
				if !slices.Equal(got, want) {
					t.Errorf("ids = %v\nwant %v", got, want)
				}
			}
		})
	}

	t.Run("debian12_minbase", func(t *testing.T) {
		ix := indexes[ka.Minbase.Archive]
		total := 0
		for _, p := range ka.Minbase.Packages {
			q := Query{Ecosystem: ka.Minbase.Ecosystem, Name: p.Source, Version: p.Version}
			if n := len(ix.byPkg[pkgKey(q.Ecosystem, q.Name)]); n != p.Records {
				t.Errorf("%s: %d records, known answers say %d", p.Source, n, p.Records)
			}
			var want []string
			for _, e := range p.Expected {
				want = append(want, e.ID)
			}
			slices.Sort(want)
			got := ix.match(t, q)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: ids = %v, want %v", p.Source, p.Version, got, want)
			}
			total += len(got)
		}
		if total != 36 {
			t.Errorf("%d ids over the minbase system, want 36", total)
		}
	})
}
