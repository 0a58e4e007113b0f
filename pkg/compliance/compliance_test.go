package compliance

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
)

// TestEveryMappedControlIsListed: a control a check maps to but the
// framework's list lacks would silently vanish from reports.
func TestEveryMappedControlIsListed(t *testing.T) {
	for _, r := range misconfig.Catalogue() {
		for _, c := range r.Controls {
			if c.Framework == finding.PSS {
				continue
			}
			i := slices.IndexFunc(catalogs, func(cat catalog) bool { return cat.framework == c.Framework })
			if i < 0 {
				t.Errorf("%s: framework %s has no catalog", r.ID, c.Framework)
				continue
			}
			j := slices.IndexFunc(catalogs[i].controls, func(ct Control) bool { return ct.ID == c.ID })
			if j < 0 {
				t.Errorf("%s maps to %s %s, which the %s catalog does not list", r.ID, c.Framework, c.ID, catalogs[i].name)
			} else if catalogs[i].controls[j].Title != c.Title && c.Framework != finding.MITREATTACK {
				t.Errorf("%s: %s %s titled %q, catalog says %q", r.ID, c.Framework, c.ID, c.Title, catalogs[i].controls[j].Title)
			}
		}
	}
}

func TestStatuses(t *testing.T) {
	rules := []*finding.Rule{
		{ID: "a", Controls: []finding.Control{{Framework: finding.CIS, ID: "5.1.1"}}},
		{ID: "b", Controls: []finding.Control{{Framework: finding.CIS, ID: "5.1.2"}}},
		{ID: "c", Controls: []finding.Control{{Framework: finding.CIS, ID: "5.1.3"}}},
	}
	rep := &finding.Report{Findings: []finding.Finding{{Rule: rules[0], Resource: finding.Resource{Kind: "Role", Name: "r"}}}}
	res, err := Report("cis", rules, rep, func(id string) bool { return id != "c" })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Status{}
	for _, c := range res.Controls {
		got[c.ID] = c.Status
	}
	want := map[string]Status{"5.1.1": Fail, "5.1.2": Pass, "5.1.3": NotApplicable, "5.1.9": Manual}
	for id, s := range want {
		if got[id] != s {
			t.Errorf("%s = %s, want %s", id, got[id], s)
		}
	}
	if res.Controls[0].Failing[0].Resource.Name != "r" || res.Counts[Manual] != len(res.Controls)-3 {
		t.Errorf("result = %+v", res)
	}
	if _, err := Report("iso-27001", rules, rep, nil); err == nil || !strings.Contains(err.Error(), "pss-baseline") {
		t.Errorf("unknown framework: %v", err)
	}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Controls) != len(res.Controls) {
		t.Errorf("JSON round trip: %v", err)
	}
	buf.Reset()
	if err := res.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "MANUAL  Minimize access to create persistent volumes  [no check: review by hand]") {
		t.Errorf("table:\n%s", buf.String())
	}
}

func TestPSSProfiles(t *testing.T) {
	for level, want := range map[string]bool{"baseline": false, "restricted": true} {
		s, err := misconfig.New(misconfig.Options{PSSLevel: level})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Report("pss-"+level, s.Rules(), &finding.Report{}, func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		hasRestricted := slices.ContainsFunc(res.Controls, func(c ControlResult) bool { return strings.HasPrefix(c.ID, "restricted/") })
		if hasRestricted != want || len(res.Controls) < 10 || res.Counts[Pass] != len(res.Controls) {
			t.Errorf("pss-%s: %d controls, restricted=%v, counts %v", level, len(res.Controls), hasRestricted, res.Counts)
		}
	}
}
