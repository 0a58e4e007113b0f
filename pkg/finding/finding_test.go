package finding

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseSeverity(t *testing.T) {
	for _, s := range Severities() {
		got, err := ParseSeverity(" " + s.String() + " ")
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%s) = %v, %v", s, got, err)
		}
	}
	if got, err := ParseSeverity("high"); err != nil || got != High {
		t.Errorf("ParseSeverity(high) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "UNKNOWN", "urgent"} {
		if _, err := ParseSeverity(bad); err == nil {
			t.Errorf("ParseSeverity(%q): no error", bad)
		}
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"CRITICAL"`), &s); err != nil || s != Critical {
		t.Errorf("unmarshal = %v, %v", s, err)
	}
}

// TestFingerprint pins the fingerprint: users track findings by it across
// releases, so a change here is a breaking change.
func TestFingerprint(t *testing.T) {
	r := Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	fp := ComputeFingerprint("pss-privileged", "k8s/web.yaml", r, "spec.template.spec.containers[0].securityContext.privileged")
	if fp != "0ab83c305c2fbfe190f65478" {
		t.Errorf("fingerprint = %s", fp)
	}
	// The version part of apiVersion does not matter; everything else does.
	r2 := r
	r2.APIVersion = "apps/v1beta2"
	if ComputeFingerprint("pss-privileged", "k8s/web.yaml", r2, "spec.template.spec.containers[0].securityContext.privileged") != fp {
		t.Error("fingerprint depends on the API version")
	}
	r3 := r
	r3.Name = "api"
	if ComputeFingerprint("pss-privileged", "k8s/web.yaml", r3, "spec.template.spec.containers[0].securityContext.privileged") == fp {
		t.Error("fingerprint ignores the name")
	}
	// Fields are separated: shifting text between them changes the hash.
	if ComputeFingerprint("ab", "c", Resource{}, "") == ComputeFingerprint("a", "bc", Resource{}, "") {
		t.Error("fields are not separated")
	}
}

func TestReportSort(t *testing.T) {
	high := &Rule{ID: "b", Severity: High}
	low := &Rule{ID: "a", Severity: Low}
	r := &Report{Findings: []Finding{
		{Rule: high, Location: Location{File: "b.yaml", Line: 1}},
		{Rule: low, Location: Location{File: "a.yaml", Line: 9}},
		{Rule: high, Location: Location{File: "a.yaml", Line: 9}},
		{Rule: low, Location: Location{File: "a.yaml", Line: 2}},
	}}
	r.Sort()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Location.String()+" "+f.CheckID())
	}
	want := []string{"a.yaml:2 a", "a.yaml:9 a", "a.yaml:9 b", "b.yaml:1 b"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %q, want %q", got, want)
	}
	if r.HighestSeverity() != High || r.Counts()[Low] != 2 {
		t.Errorf("highest %v counts %v", r.HighestSeverity(), r.Counts())
	}
}
