package osv

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadRecord(t testing.TB, name string) *Vulnerability {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func TestEvaluate(t *testing.T) {
	v := loadRecord(t, "ranges.json")
	for _, tc := range []struct {
		name          string
		q             Query
		affected      bool
		entry, rng    int
		event         string
		wantErr       string
		fixed         []string
		reasonContain string
	}{
		{"backport before fix", Query{"Debian:12", "openssl", "3.0.11-1~deb12u1"}, true, 0, 0, "introduced 0, fixed 3.0.11-1~deb12u2", "", []string{"3.0.11-1~deb12u2"}, "ECOSYSTEM range"},
		{"at the fix", Query{"Debian:12", "openssl", "3.0.11-1~deb12u2"}, false, 0, -1, "", "", nil, "outside every range"},
		{"listed version", Query{"Debian:12", "openssl", "3.0.9-1"}, true, 0, -1, "versions[] lists 3.0.9-1", "", []string{"3.0.11-1~deb12u2"}, "versions[]"},
		{"listed, unparsable", Query{"Debian:12", "openssl", "not-a-version"}, true, 0, -1, "versions[] lists not-a-version", "", []string{"3.0.11-1~deb12u2"}, ""},
		{"open issue", Query{"Debian:11", "openssl", "9:9.9-9"}, true, 1, 0, "introduced 0 (no fix)", "", nil, ""},
		{"other release", Query{"Debian:13", "openssl", "3.0.0-1"}, false, -1, -1, "", "", nil, "no affected entry for Debian:13/openssl"},
		{"binary name", Query{"Debian:12", "libssl3", "3.0.0-1"}, false, -1, -1, "", "", nil, "no affected entry"},
		{"GIT range ignored, SEMVER used", Query{"npm", "lodash", "4.17.20"}, true, 2, 1, "introduced 0, fixed 4.17.21", "", []string{"4.17.21"}, "SEMVER"},
		{"SEMVER fixed", Query{"npm", "lodash", "4.17.21"}, false, 2, -1, "", "", nil, ""},
		{"last_affected inclusive", Query{"PyPI", "jinja2", "2.11.3"}, true, 3, 0, "introduced 2.0, last_affected 2.11.3", "", []string{"3.1.3"}, ""},
		{"after last_affected", Query{"PyPI", "Jinja2", "2.11.4"}, false, 3, -1, "", "", []string{"3.1.3"}, ""},
		{"before introduced", Query{"PyPI", "jinja2", "1.9"}, false, 3, -1, "", "", []string{"3.1.3"}, ""},
		{"unsorted events", Query{"PyPI", "jinja2", "3.0.0rc1"}, true, 3, 1, "introduced 3.0.0a1, fixed 3.1.3", "", []string{"3.1.3"}, ""},
		{"pre-release before introduced", Query{"PyPI", "jinja2", "3.0.0.dev1"}, false, 3, -1, "", "", []string{"3.1.3"}, ""},
		{"limit above", Query{"Go", "golang.org/x/net", "0.24.1"}, true, 4, 0, "introduced 0.24.0, limit 0.25.0", "", nil, ""},
		{"at limit", Query{"Go", "golang.org/x/net", "0.25.0"}, false, 4, -1, "", "", nil, ""},
		{"between", Query{"Go", "golang.org/x/net", "0.23.5"}, false, 4, -1, "", "", nil, ""},
		{"pseudo-version", Query{"Go", "golang.org/x/net", "0.0.0-20240101000000-abcdefabcdef"}, true, 4, 0, "introduced 0, fixed 0.23.0", "", []string{"0.23.0"}, ""},
		{"bad event does not hide the rest", Query{"Alpine:v3.20", "openssl", "3.3.1-r0"}, true, 5, 1, "introduced 3.3.0-r0, fixed 3.3.2-r0", "", []string{"3.3.2-r0", "3.3.1-r1-bad"}, ""},
		{"bad event reported", Query{"Alpine:v3.20", "openssl", "3.2.0-r0"}, false, 5, -1, "", `MAMORI-TEST-1 affected[5].ranges[0]: events[1]: fixed: invalid Alpine:v3.20 version "3.3.1-r1-bad"`, []string{"3.3.2-r0", "3.3.1-r1-bad"}, "could not be evaluated"},
		{"bad query version", Query{"npm", "lodash", "latest"}, false, 2, -1, "", `invalid SEMVER version "latest"`, []string{"4.17.21"}, ""},
		{"maven qualifiers", Query{"Maven", "org.apache.logging.log4j:log4j-core", "2.0-rc1"}, true, 6, 0, "introduced 2.0-beta9, fixed 2.15.0", "", []string{"2.15.0", "2.16.0"}, ""},
		{"maven second range", Query{"Maven", "org.apache.logging.log4j:log4j-core", "2.15.0"}, true, 6, 1, "introduced 2.13.0, fixed 2.16.0", "", []string{"2.16.0"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Evaluate(v, tc.q)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Evaluate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Evaluate error = %v, want it to contain %q", err, tc.wantErr)
			}
			if d.Affected != tc.affected || d.Entry != tc.entry || d.Range != tc.rng || d.Event != tc.event {
				t.Errorf("Evaluate = %+v\nwant affected=%v entry=%d range=%d event=%q", d, tc.affected, tc.entry, tc.rng, tc.event)
			}
			if !strings.Contains(d.Reason, tc.reasonContain) || d.Reason == "" {
				t.Errorf("Reason %q does not say %q", d.Reason, tc.reasonContain)
			}
			if got := FixedVersions(v, tc.q); !slices.Equal(got, tc.fixed) {
				t.Errorf("FixedVersions = %q, want %q", got, tc.fixed)
			}
		})
	}
}

func TestEvaluateWithdrawn(t *testing.T) {
	v := loadRecord(t, "withdrawn.json")
	q := Query{"crates.io", "dirs", "5.0.1"}
	d, err := Evaluate(v, q)
	if err != nil || d.Affected || !strings.Contains(d.Reason, "withdrawn on 2024-06-01") {
		t.Fatalf("Evaluate = %+v, %v", d, err)
	}
	if f := FixedVersions(v, q); f != nil {
		t.Errorf("FixedVersions = %q", f)
	}
}

func TestExplainGolden(t *testing.T) {
	for _, tc := range []struct {
		file, golden string
		q            Query
	}{
		{"ranges.json", "debian-backport.txt", Query{"Debian:12", "openssl", "3.0.11-1~deb12u1"}},
		{"ranges.json", "npm-fixed.txt", Query{"npm", "lodash", "4.17.21"}},
		{"ranges.json", "alpine-bad-event.txt", Query{"Alpine:v3.20", "openssl", "3.2.0-r0"}},
		{"ranges.json", "go-limit.txt", Query{"Go", "golang.org/x/net", "0.24.1"}},
		{"withdrawn.json", "withdrawn.txt", Query{"crates.io", "dirs", "5.0.1"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := Explain(&b, loadRecord(t, tc.file), tc.q); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "explain", tc.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("Explain output:\n%s\nwant (%s):\n%s", b.String(), path, want)
			}
		})
	}
}

func TestEcosystemMatches(t *testing.T) {
	for _, tt := range []struct {
		record, query string
		want          bool
	}{
		{"Debian:12", "Debian:12", true},
		{"Debian:12", "Debian:11", false},
		{"Debian:12", "Debian", false},
		{"Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9", true},
		{"Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::appstream", true},
		{"Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos", false},
		{"Red Hat:enterprise_linux:90::baseos", "Red Hat:enterprise_linux:9", false},
		{"Alpine:v3.20::x", "Alpine:v3.20", false}, // only Red Hat names streams
	} {
		if got := EcosystemMatches(tt.record, tt.query); got != tt.want {
			t.Errorf("EcosystemMatches(%q, %q) = %v", tt.record, tt.query, got)
		}
	}
}
