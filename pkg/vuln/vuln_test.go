package vuln

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/osv"
	"github.com/mamori-dev/mamori/pkg/version"
)

// memSource is an in-memory record index, keyed as the real DB keys them.
type memSource map[string][]*osv.Vulnerability

func (m memSource) Query(eco, name string) ([]*osv.Vulnerability, error) {
	out := m[eco+"\x00"+version.Name(eco, name)]
	if strings.HasPrefix(eco, "Red Hat:") {
		// A Red Hat product covers its streams, as in vulndb.
		for k, recs := range m {
			e, n, _ := strings.Cut(k, "\x00")
			if strings.HasPrefix(e, eco+"::") && n == version.Name(eco, name) {
				out = append(out, recs...)
			}
		}
	}
	return out, nil
}

// Lookup finds records by ID or alias, as the real DB does.
func (m memSource) Lookup(id string) ([]*osv.Vulnerability, error) {
	var out []*osv.Vulnerability
	seen := map[string]bool{}
	for _, recs := range m {
		for _, r := range recs {
			if !seen[r.ID] && (r.ID == id || slices.Contains(r.Aliases, id)) {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func loadRecords(t *testing.T) memSource {
	t.Helper()
	paths, err := filepath.Glob("testdata/records/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no records: %v", err)
	}
	m := memSource{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v osv.Vulnerability
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		seen := map[string]bool{}
		for _, a := range v.Affected {
			k := a.Package.Ecosystem + "\x00" + version.Name(a.Package.Ecosystem, a.Package.Name)
			if !seen[k] {
				m[k] = append(m[k], &v)
				seen[k] = true
			}
		}
	}
	return m
}

var debian12 = &inventory.OS{Family: "debian", Name: "Debian GNU/Linux 12 (bookworm)", Version: "12", Ecosystem: "Debian:12",
	EOL: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC), Path: "etc/os-release"}

func TestMatch(t *testing.T) {
	src := loadRecords(t)
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		inv  inventory.Inventory
		opts Options
		// want is "ID package installed -> fixed|none severity[/source]" per finding.
		want []string
	}{
		{
			name: "binary packages match by source package; a backport below the fix is affected, the fix is not",
			inv: inventory.Inventory{OS: debian12, Packages: []inventory.Package{
				{Type: inventory.Dpkg, Name: "libssl3", Version: "3.0.11-1~deb12u1", SourceName: "openssl", Path: "var/lib/dpkg/status"},
				{Type: inventory.Dpkg, Name: "openssl", Version: "3.0.11-1~deb12u2", Path: "var/lib/dpkg/status"},
			}},
			want: []string{"CVE-2023-5363 libssl3 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2 HIGH/CVSS_V3"},
		},
		{
			name: "the binary name alone matches nothing",
			inv: inventory.Inventory{OS: debian12, Packages: []inventory.Package{
				{Type: inventory.Dpkg, Name: "libssl3", Version: "3.0.11-1~deb12u1", Path: "var/lib/dpkg/status"},
			}},
		},
		{
			name: "an open issue has no fix; the distro's urgency rates it",
			inv: inventory.Inventory{OS: debian12, Packages: []inventory.Package{
				{Type: inventory.Dpkg, Name: "libc6", Version: "2.36-9+deb12u9", SourceName: "glibc", SourceVersion: "2.36-9+deb12u9", Path: "var/lib/dpkg/status"},
			}},
			want: []string{"CVE-2010-4756 libc6 2.36-9+deb12u9 -> none LOW/debian"},
		},
		{
			name: "--ignore-unfixed drops it",
			inv: inventory.Inventory{OS: debian12, Packages: []inventory.Package{
				{Type: inventory.Dpkg, Name: "libc6", Version: "2.36-9+deb12u9", SourceName: "glibc", Path: "var/lib/dpkg/status"},
			}},
			opts: Options{IgnoreUnfixed: true},
		},
		{
			name: "GHSA and PYSEC records of one CVE are one finding; the GHSA rating wins over none",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.Pip, Ecosystem: "PyPI", Name: "Jinja2", Version: "3.1.2", Path: "requirements.txt"},
			}},
			want: []string{"CVE-2024-22195 Jinja2 3.1.2 -> 3.1.3 MEDIUM/ghsa"},
		},
		{
			name: "Go modules carry a v the Go database does not; stdlib by toolchain version",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.GoBinary, Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.22.0", Path: "usr/bin/app"},
				{Type: inventory.GoBinary, Ecosystem: "Go", Name: "stdlib", Version: "1.22.1", Path: "usr/bin/app"},
				{Type: inventory.GoBinary, Ecosystem: "Go", Name: "stdlib", Version: "1.22.2", Path: "usr/bin/other"},
			}},
			want: []string{
				// The Go record rates nothing; the CVE record it aliases does.
				"CVE-2023-45288 golang.org/x/net v0.22.0 -> 0.23.0 HIGH/CVSS_V3 via CVE-2023-45288",
				"CVE-2023-45288 stdlib 1.22.1 -> 1.22.2 HIGH/CVSS_V3 via CVE-2023-45288",
			},
		},
		{
			name: "a jar without a group ID is not guessed at",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.Jar, Ecosystem: "Maven", Name: "net", Version: "0.22.0", Path: "app.jar"},
			}},
		},
		{
			name: "a Red Hat release covers the product's streams; a release's own fix decides",
			inv: inventory.Inventory{OS: &inventory.OS{Family: "rhel", Version: "9.3", Ecosystem: "Red Hat:enterprise_linux:9"}, Packages: []inventory.Package{
				{Type: inventory.RPM, Name: "openssl-libs", Version: "1:3.0.7-24.el9", SourceName: "openssl", SourceVersion: "1:3.0.7-24.el9", Path: "var/lib/rpm/rpmdb.sqlite"},
				{Type: inventory.RPM, Name: "openssl", Version: "1:3.0.7-25.el9_3", Path: "var/lib/rpm/rpmdb.sqlite"},
			}},
			want: []string{"CVE-2023-5678 openssl-libs 1:3.0.7-24.el9 -> 1:3.0.7-25.el9_3 MEDIUM/CVSS_V3"},
		},
		{
			name: "withdrawn records never match",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.GoMod, Ecosystem: "Go", Name: "example.com/withdrawn", Version: "1.0.0", Path: "go.mod"},
			}},
		},
		{
			name: "SLA due date from publication; overdue",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.Pip, Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.2", Path: "requirements.txt"},
			}},
			opts: Options{SLA: SLA{finding.Medium: 30}},
			want: []string{"CVE-2024-22195 jinja2 3.1.2 -> 3.1.3 MEDIUM/ghsa due 2024-02-10 overdue"},
		},
		{
			name: "SLA counts from first seen when given",
			inv: inventory.Inventory{Packages: []inventory.Package{
				{Type: inventory.Pip, Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.2", Path: "requirements.txt"},
			}},
			opts: Options{SLA: SLA{finding.Medium: 30}, FirstSeen: map[string]time.Time{"CVE-2024-22195": now.AddDate(0, 0, -10)}},
			want: []string{"CVE-2024-22195 jinja2 3.1.2 -> 3.1.3 MEDIUM/ghsa due 2026-12-14"},
		},
		{
			name: "an OS past end of life is a finding",
			inv: inventory.Inventory{OS: &inventory.OS{Family: "debian", Name: "Debian GNU/Linux 10 (buster)", Version: "10", Ecosystem: "Debian:10",
				EOL: time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC), Path: "etc/os-release"}},
			want: []string{"os-eol OS Debian GNU/Linux 10 (buster)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Now = now
			inv := tt.inv
			inventory.Finish(&inv)
			res, err := Match(context.Background(), src, &inv, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Findings {
				got = append(got, describe(f))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			for _, n := range res.Notes {
				t.Log("note:", n)
			}
		})
	}
}

func describe(f finding.Finding) string {
	v := f.Vulnerability
	if v == nil {
		return f.CheckID() + " " + f.Resource.Kind + " " + f.Resource.Name
	}
	fixed := "none"
	if len(v.FixedVersions) > 0 {
		fixed = strings.Join(v.FixedVersions, ",")
	}
	s := v.ID + " " + v.Package + " " + v.InstalledVersion + " -> " + fixed + " " + f.Severity().String() + "/" + v.SeveritySource
	if v.Due != "" {
		s += " due " + v.Due
	}
	if v.Overdue {
		s += " overdue"
	}
	return s
}

func TestPrimaryID(t *testing.T) {
	tests := []struct {
		rec     osv.Vulnerability
		id      string
		aliases []string
	}{
		{osv.Vulnerability{ID: "GHSA-x", Aliases: []string{"CVE-2021-44228"}}, "CVE-2021-44228", []string{"GHSA-x"}},
		{osv.Vulnerability{ID: "CVE-2021-1", Aliases: []string{"GHSA-y"}}, "CVE-2021-1", []string{"GHSA-y"}},
		{osv.Vulnerability{ID: "DSA-1", Aliases: []string{"CVE-2", "CVE-1"}}, "DSA-1", []string{"CVE-1", "CVE-2"}},
		{osv.Vulnerability{ID: "GO-2024-1", Aliases: []string{"GHSA-z", "CVE-2024-9"}}, "CVE-2024-9", []string{"GO-2024-1", "GHSA-z"}},
	}
	for _, tt := range tests {
		id, aliases := PrimaryID(&tt.rec)
		if id != tt.id || !slices.Equal(aliases, tt.aliases) {
			t.Errorf("PrimaryID(%s) = %s %v, want %s %v", tt.rec.ID, id, aliases, tt.id, tt.aliases)
		}
	}
}

func TestParseSLA(t *testing.T) {
	sla, err := ParseSLA("CRITICAL=7, high=30d,MEDIUM=90")
	if err != nil {
		t.Fatal(err)
	}
	if sla[finding.Critical] != 7 || sla[finding.High] != 30 || sla[finding.Medium] != 90 || len(sla) != 3 {
		t.Errorf("got %v", sla)
	}
	for _, bad := range []string{"CRITICAL", "SEVERE=1", "HIGH=-1", "HIGH=x", "HIGH=1,HIGH=2"} {
		if _, err := ParseSLA(bad); err == nil {
			t.Errorf("ParseSLA(%q) succeeded", bad)
		}
	}
}

func TestFingerprintsDistinct(t *testing.T) {
	inv := &inventory.Inventory{Packages: []inventory.Package{
		{Type: inventory.Pip, Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.2", Path: "poetry.lock"},
		{Type: inventory.Pip, Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.1", Path: "poetry.lock"},
	}}
	res, err := Match(context.Background(), loadRecords(t), inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 2 || res.Findings[0].Fingerprint == res.Findings[1].Fingerprint {
		t.Errorf("two versions in one file must be two findings with two fingerprints: %+v", res.Findings)
	}
}
