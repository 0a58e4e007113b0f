package vuln

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/vulndb"
)

// TestMatchThroughDB matches through the real store rather than records in
// memory: what the DB keeps of a record must be enough to rate it (GHSA's
// own severity) and to borrow a rating through an alias.
func TestMatchThroughDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "osv.db")
	if _, err := vulndb.Import(context.Background(), path, []string{"testdata/records"}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inv := &inventory.Inventory{Packages: []inventory.Package{
		{Type: inventory.Pip, Ecosystem: "PyPI", Name: "Jinja2", Version: "3.1.2", Path: "requirements.txt"},
		{Type: inventory.GoBinary, Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.22.0", Path: "usr/bin/app"},
	}}
	res, err := Match(context.Background(), db, inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, describe(f))
	}
	want := []string{
		"CVE-2024-22195 Jinja2 3.1.2 -> 3.1.3 MEDIUM/ghsa",
		"CVE-2023-45288 golang.org/x/net v0.22.0 -> 0.23.0 HIGH/CVSS_V3 via CVE-2023-45288",
	}
	if len(got) != len(want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d: %q, want %q", i, got[i], want[i])
		}
	}
}
