package vuln

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/dpkg"
	"github.com/mamori-dev/mamori/pkg/inventory/osrelease"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// TestDebianMinbaseKnownAnswers runs the whole path on a real system: a
// bookworm minbase root filesystem made by debootstrap
// (hack/debian-rootfs.sh), inventoried by the dpkg and os-release
// analyzers, matched against the real Debian archive. Every source
// package installed at the version the known answers were computed for
// must yield exactly their IDs.
func TestDebianMinbaseKnownAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("reads Debian.zip (56 MB)")
	}
	root := cmp.Or(os.Getenv("MAMORI_DEBIAN_ROOTFS"), "/var/cache/mamori-test/debian12-minbase")
	if _, err := os.Stat(root + "/var/lib/dpkg/status"); err != nil {
		t.Skipf("no Debian rootfs at %s (hack/debian-rootfs.sh builds it)", root)
	}
	var answers struct {
		Debian12Minbase struct {
			Packages []struct {
				Source, Version string
				Expected        []struct{ ID string }
			}
		} `json:"debian12_minbase"`
	}
	data, err := os.ReadFile(shareddata.Path(t, "osv", "known-answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &answers); err != nil {
		t.Fatal(err)
	}

	sc := &inventory.Scanner{Analyzers: []inventory.Analyzer{dpkg.New(), osrelease.New()}}
	inv, err := sc.Scan(context.Background(), inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Problems) > 0 {
		t.Fatalf("problems: %v", inv.Problems)
	}
	sources := map[string]string{} // source package → source version
	for _, p := range inv.Packages {
		q, _, ok := QueryFor(&p, inv.OS)
		if !ok {
			t.Fatalf("%s not matchable", p.Name)
		}
		sources[q.Name] = q.Version
	}

	// The records naming those packages in Debian:12, newest copy of each.
	// Only records whose text names one of them are decoded: the race
	// detector makes decoding all 44,000 slow.
	byID := map[string]*osv.Vulnerability{}
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", "Debian.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !namesAny(raw, sources) {
			continue
		}
		v, err := osv.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		for _, a := range v.Affected {
			if a.Package.Ecosystem == "Debian:12" && sources[a.Package.Name] != "" {
				if old := byID[v.ID]; old == nil || v.Modified.After(old.Modified) {
					byID[v.ID] = v
				}
				break
			}
		}
	}
	src := memSource{}
	for _, v := range byID {
		seen := map[string]bool{}
		for _, a := range v.Affected {
			k := a.Package.Ecosystem + "\x00" + a.Package.Name
			if !seen[k] {
				src[k] = append(src[k], v)
				seen[k] = true
			}
		}
	}
	res, err := Match(context.Background(), src, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range res.Findings {
		v := f.Vulnerability
		s := cmp.Or(v.SourcePackage, v.Package)
		if !slices.Contains(got[s], v.ID) {
			got[s] = append(got[s], v.ID)
		}
	}
	compared := 0
	for _, p := range answers.Debian12Minbase.Packages {
		if sources[p.Source] != p.Version {
			// The rootfs was built on another day, with other updates.
			t.Logf("%s: installed %q, known answers for %q: not compared", p.Source, sources[p.Source], p.Version)
			continue
		}
		compared++
		var want []string
		for _, e := range p.Expected {
			want = append(want, e.ID)
		}
		g := got[p.Source]
		slices.Sort(g)
		slices.Sort(want)
		if !slices.Equal(g, want) {
			t.Errorf("%s %s: got %s\nwant %s", p.Source, p.Version, strings.Join(g, " "), strings.Join(want, " "))
		}
	}
	if compared < len(answers.Debian12Minbase.Packages)/2 {
		t.Skipf("only %d of %d source packages at the known answers' versions", compared, len(answers.Debian12Minbase.Packages))
	}
	t.Logf("%d source packages compared, %d findings", compared, len(res.Findings))
}

// namesAny reports whether a record's JSON has a "name" field with one of
// the names as its value.
func namesAny(raw []byte, names map[string]string) bool {
	key := []byte(`"name":"`)
	for {
		i := bytes.Index(raw, key)
		if i < 0 {
			return false
		}
		raw = raw[i+len(key):]
		if j := bytes.IndexByte(raw, '"'); j >= 0 && names[string(raw[:j])] != "" {
			return true
		}
	}
}
