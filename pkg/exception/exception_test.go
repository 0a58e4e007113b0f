package exception

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/finding"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLoadErrors(t *testing.T) {
	src := `exceptions:
- check: pss-privileged
  reason: node agent
  owner: platform
  expires: 2027-01-31
- check: k8s-*
  owner: team
  expires: 2027-01-31
- check: "["
  reason: r
  owner: o
  expires: soon
- check: x
  reason: r
  owner: o
  expires: 2027-01-31
  colour: blue
- check: y
  reason: r
  owner: o
  expires: 2027-01-31
  resources: [{kind: Pod, label: x}]
`
	set, errs := Load("ignore.yaml", []byte(src), "")
	var got []string
	for _, e := range errs {
		got = append(got, e.String())
	}
	want := []string{
		"ignore.yaml:6: exception: reason is required",
		"ignore.yaml:9: exception: expires \"soon\": want a date such as 2027-03-31",
		"ignore.yaml:9: exception: check \"[\": syntax error in pattern",
		"ignore.yaml:17: exception: unknown field \"colour\" (want check, fingerprints, resources, paths, packages, purls, images, users, reason, owner, expires)",
		"ignore.yaml:22: exception: resources: line 22: unknown field \"label\" (want kind, namespace, name)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(set.Entries) != 1 || set.Entries[0].Check != "pss-privileged" || set.Entries[0].Line != 2 {
		t.Errorf("entries = %+v", set.Entries)
	}
	for _, bad := range []string{"[1]", "exceptions: 3", "other: 1", "a: [", "exceptions:\n- just a string\n"} {
		if _, errs := Load("f.yaml", []byte(bad), ""); len(errs) == 0 {
			t.Errorf("Load(%q): no error", bad)
		}
	}
	if set, errs := Load("f.yaml", nil, ""); len(errs) != 0 || len(set.Entries) != 0 {
		t.Errorf("empty file: %v %v", set, errs)
	}
}

func f(check, file, kind, ns, name string) finding.Finding {
	return finding.Finding{Rule: &finding.Rule{ID: check}, Location: finding.Location{File: file, Line: 1},
		Resource: finding.Resource{Kind: kind, Namespace: ns, Name: name}}
}

func TestApply(t *testing.T) {
	src := `exceptions:
- check: pss-*
  resources: [{kind: DaemonSet, namespace: monitoring, name: node-*}]
  reason: node agent needs the host
  owner: platform@example.com
  expires: 2027-01-31
- check: k8s-image-digest
  paths: ["legacy/**"]
  reason: legacy images are rebuilt by tag
  owner: apps
  expires: 2026-06-30
- check: k8s-cpu-limits
  reason: we run without CPU limits
  owner: sre
  expires: 2030-01-01
- check: never-matches
  reason: r
  owner: o
  expires: 2030-01-01
`
	set, errs := Load("deploy/.mamori-ignore.yaml", []byte(src), "deploy")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := &finding.Report{Findings: []finding.Finding{
		f("pss-privileged", "deploy/agent.yaml", "DaemonSet", "monitoring", "node-agent"), // suppressed by 1
		f("pss-privileged", "deploy/agent.yaml", "DaemonSet", "shop", "node-agent"),       // other namespace
		f("k8s-image-digest", "deploy/legacy/a/b.yaml", "Deployment", "shop", "old"),      // 2 expired
		f("k8s-cpu-limits", "deploy/web.yaml", "Deployment", "shop", "web"),               // suppressed by 3
		f("k8s-cpu-limits", "other/web.yaml", "Deployment", "shop", "web"),                // outside deploy/
	}}
	set.Apply(r, day("2026-11-23"))
	var kept, suppressed []string
	for _, x := range r.Findings {
		kept = append(kept, x.CheckID()+" "+x.Location.File+" "+x.Resource.Namespace)
	}
	for _, s := range r.Suppressed {
		suppressed = append(suppressed, s.Finding.CheckID()+" by line "+strings.TrimPrefix(s.Exception.File, "deploy/")+":"+string(rune('0'+s.Exception.Line)))
	}
	wantKept := []string{"pss-privileged deploy/agent.yaml shop", "k8s-image-digest deploy/legacy/a/b.yaml shop", "k8s-cpu-limits other/web.yaml shop"}
	if !slices.Equal(kept, wantKept) {
		t.Errorf("kept %q, want %q", kept, wantKept)
	}
	if len(r.Suppressed) != 2 || r.Suppressed[0].Exception.Line != 2 || r.Suppressed[1].Exception.Line != 12 || r.Suppressed[0].Exception.Owner != "platform@example.com" {
		t.Errorf("suppressed %q", suppressed)
	}
	var notes []string
	for _, n := range r.Notes {
		notes = append(notes, n.String())
	}
	wantNotes := []string{
		"deploy/.mamori-ignore.yaml:7: exception for k8s-image-digest (owner apps) expired on 2026-06-30: 1 findings no longer suppressed",
		"deploy/.mamori-ignore.yaml:16: exception for never-matches (owner o) is unused: it matched no finding",
	}
	if !slices.Equal(notes, wantNotes) {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(wantNotes, "\n"))
	}
}

func TestExpiresIsInclusive(t *testing.T) {
	e := &Entry{Expires: day("2026-11-23")}
	if e.Expired(time.Date(2026, 11, 23, 23, 59, 0, 0, time.UTC)) {
		t.Error("expired on its last day")
	}
	if !e.Expired(day("2026-11-24")) {
		t.Error("not expired the day after")
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"legacy/**", "legacy/a/b.yaml", true},
		{"legacy/*", "legacy/a/b.yaml", false},
		{"**/values.yaml", "values.yaml", true},
		{"**/values.yaml", "a/b/values.yaml", true},
		{"*.yaml", "a/b.yaml", false},
		{"a?.yaml", "ab.yaml", true},
		{"a.b", "axb", false},
	}
	for _, tt := range tests {
		if got := globRegexp(tt.glob).MatchString(tt.path); got != tt.want {
			t.Errorf("glob %q on %q = %v", tt.glob, tt.path, got)
		}
	}
}

func TestVulnerabilitySelectors(t *testing.T) {
	const file = `exceptions:
  - check: CVE-2023-5363
    packages: [libssl*]
    reason: r
    owner: o
    expires: 2099-01-01
  - check: GHSA-jfh8-c2jp-5v3q
    reason: alias
    owner: o
    expires: 2099-01-01
  - check: "*"
    purls: ["pkg:npm/lodash"]
    reason: any version
    owner: o
    expires: 2099-01-01
  - check: "*"
    images: ["sha256:abc*"]
    reason: image
    owner: o
    expires: 2099-01-01
`
	set, errs := Load("ignore.yaml", []byte(file), "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	vf := func(id string, v finding.Vulnerability) finding.Finding {
		v.ID = id
		return finding.Finding{Rule: &finding.Rule{ID: id}, Vulnerability: &v}
	}
	tests := []struct {
		name string
		f    finding.Finding
		want int // entry line, 0 for none
	}{
		{"package glob", vf("CVE-2023-5363", finding.Vulnerability{Package: "libssl3"}), 2},
		{"other package", vf("CVE-2023-5363", finding.Vulnerability{Package: "openssl-provider-legacy"}), 0},
		{"source package", vf("CVE-2023-5363", finding.Vulnerability{Package: "x", SourcePackage: "libssl-src"}), 2},
		{"alias", vf("CVE-2021-44228", finding.Vulnerability{Aliases: []string{"GHSA-jfh8-c2jp-5v3q"}}), 7},
		{"purl without version", vf("CVE-1", finding.Vulnerability{PURL: "pkg:npm/lodash@4.17.20"}), 11},
		{"purl other", vf("CVE-1", finding.Vulnerability{PURL: "pkg:npm/lodash-es@4.17.20"}), 0},
		{"image digest", vf("CVE-2", finding.Vulnerability{Target: "reg/app@sha256:abcdef"}), 16},
		{"config finding not matched by package entries", finding.Finding{Rule: &finding.Rule{ID: "CVE-2023-5363"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := 0
			for _, e := range set.Entries {
				if e.matches(&tt.f) {
					got = e.Line
					break
				}
			}
			if got != tt.want {
				t.Errorf("matched entry at line %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPURLQualifiersRejected(t *testing.T) {
	_, errs := Load("ignore.yaml", []byte("exceptions:\n  - check: \"*\"\n    purls: [\"pkg:deb/debian/openssl?distro=debian-12\"]\n    reason: r\n    owner: o\n    expires: 2099-01-01\n"), "")
	if len(errs) != 1 || errs[0].Line != 2 || !strings.Contains(errs[0].Message, "qualifiers") {
		t.Errorf("errors %v, want one at line 2 about qualifiers", errs)
	}
}

func TestScopedToDot(t *testing.T) {
	set, errs := Load(".mamori-ignore.yaml", []byte("exceptions:\n- {check: c, paths: [src/*.go], reason: r, owner: o, expires: 2030-01-01}\n"), ".")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rep := &finding.Report{Findings: []finding.Finding{
		{Rule: &finding.Rule{ID: "c"}, Location: finding.Location{File: "src/a.go"}},
		{Rule: &finding.Rule{ID: "c"}, Location: finding.Location{File: "lib/a.go"}},
	}}
	set.Apply(rep, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if len(rep.Suppressed) != 1 || rep.Suppressed[0].Finding.Location.File != "src/a.go" {
		t.Errorf("an ignore file at the root of a scan of . must cover its tree: suppressed %+v", rep.Suppressed)
	}
}

// TestMatchUsers covers the users selector of audit alerts and Match, the
// one-finding-at-a-time form of Apply.
func TestMatchUsers(t *testing.T) {
	src := `exceptions:
- check: pod-exec
  users: ["system:serviceaccount:ci:*"]
  reason: CI debugs its pods
  owner: platform
  expires: 2027-01-31
- check: secret-read-unusual
  users: [alice]
  reason: old
  owner: sec
  expires: 2026-01-31
`
	set, errs := Load("ignore.yaml", []byte(src), "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	now := day("2026-06-01")
	for _, tc := range []struct {
		check, user   string
		live, expired int // entry lines, 0 none
	}{
		{"pod-exec", "system:serviceaccount:ci:runner", 2, 0},
		{"pod-exec", "system:serviceaccount:prod:runner", 0, 0},
		{"pod-exec", "", 0, 0}, // an entry with users never matches a finding without one
		{"secret-read-unusual", "alice", 0, 7},
		{"secret-read-unusual", "bob", 0, 0},
	} {
		fd := f(tc.check, "", "pods", "ns", "p")
		fd.User = tc.user
		live, expired := set.Match(&fd, now)
		line := func(e *Entry) int {
			if e == nil {
				return 0
			}
			return e.Line
		}
		if line(live) != tc.live || line(expired) != tc.expired {
			t.Errorf("Match(%s, %q) = %d, %d; want %d, %d", tc.check, tc.user, line(live), line(expired), tc.live, tc.expired)
		}
	}
	var nilSet *Set
	if l, e := nilSet.Match(&finding.Finding{}, now); l != nil || e != nil {
		t.Error("nil set matched")
	}
}
