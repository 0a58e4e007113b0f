package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// sarifDoc is what the tests read back from SARIF output.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID                   string            `json:"id"`
					Name                 string            `json:"name"`
					HelpURI              string            `json:"helpUri"`
					DefaultConfiguration map[string]string `json:"defaultConfiguration"`
					Properties           struct {
						SecuritySeverity string   `json:"security-severity"`
						Tags             []string `json:"tags"`
					} `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Invocations []struct {
			ExecutionSuccessful        bool  `json:"executionSuccessful"`
			ToolExecutionNotifications []any `json:"toolExecutionNotifications"`
		} `json:"invocations"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct {
						URI       string `json:"uri"`
						URIBaseID string `json:"uriBaseId"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine   int `json:"startLine"`
						StartColumn int `json:"startColumn"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					FullyQualifiedName string `json:"fullyQualifiedName"`
					Kind               string `json:"kind"`
				} `json:"logicalLocations"`
			} `json:"locations"`
			PartialFingerprints map[string]string `json:"partialFingerprints"`
		} `json:"results"`
	} `json:"runs"`
}

func decodeSARIF(t *testing.T, r *finding.Report) sarifDoc {
	t.Helper()
	b := write(t, SARIF, r, testOpts)
	var doc sarifDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("SARIF output is not valid JSON: %v\n%s", err, b)
	}
	if doc.Version != "2.1.0" || doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" {
		t.Errorf("version %q, $schema %q; want 2.1.0 and the 2.1.0 schema", doc.Version, doc.Schema)
	}
	if len(doc.Runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(doc.Runs))
	}
	return doc
}

func TestSARIF(t *testing.T) {
	derived := testReport()
	derived.Rules = nil
	tests := []struct {
		name      string
		r         *finding.Report
		wantRules []string
	}{
		{"report rules", testReport(), []string{"MAM-001", "MAM-002", "MAM-003", "MAM-004"}},
		// Without r.Rules, one rule per distinct check of the findings.
		{"derived rules", derived, []string{"MAM-001", "MAM-002", "MAM-003"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := decodeSARIF(t, tt.r).Runs[0]
			driver := run.Tool.Driver
			if driver.Name != "mamori" || driver.Version != "0.1.0-test" {
				t.Errorf("driver %q %q, want mamori 0.1.0-test", driver.Name, driver.Version)
			}
			var ids []string
			for _, rule := range driver.Rules {
				ids = append(ids, rule.ID)
			}
			if diff := cmp.Diff(tt.wantRules, ids); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if len(run.Results) != len(tt.r.Findings) {
				t.Fatalf("got %d results, want %d", len(run.Results), len(tt.r.Findings))
			}
			for i, res := range run.Results {
				f := tt.r.Findings[i]
				if res.RuleIndex < 0 || res.RuleIndex >= len(driver.Rules) || driver.Rules[res.RuleIndex].ID != res.RuleID {
					t.Errorf("result %d: ruleIndex %d does not point at rule %s", i, res.RuleIndex, res.RuleID)
				}
				if res.RuleID != f.CheckID() {
					t.Errorf("result %d: ruleId %s, want %s", i, res.RuleID, f.CheckID())
				}
				if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation == nil {
					t.Fatalf("result %d: want one physical location, got %+v", i, res.Locations)
				}
				pl := res.Locations[0].PhysicalLocation
				if pl.Region.StartLine < 1 {
					t.Errorf("result %d: startLine %d, want >= 1", i, pl.Region.StartLine)
				}
				if pl.ArtifactLocation.URI != f.Location.File || pl.ArtifactLocation.URIBaseID != "%SRCROOT%" {
					t.Errorf("result %d: artifact %+v, want %s relative to %%SRCROOT%%", i, pl.ArtifactLocation, f.Location.File)
				}
				if got := res.PartialFingerprints["mamori/v1"]; got != f.Fingerprint {
					t.Errorf("result %d: fingerprint %q, want %q", i, got, f.Fingerprint)
				}
			}
			inv := run.Invocations
			if len(inv) != 1 || inv[0].ExecutionSuccessful || len(inv[0].ToolExecutionNotifications) != 1 {
				t.Errorf("invocations = %+v, want one unsuccessful invocation with one notification", inv)
			}
		})
	}
}

func TestSARIFRuleMetadata(t *testing.T) {
	rules := decodeSARIF(t, testReport()).Runs[0].Tool.Driver.Rules
	got := rules[0]
	if got.ID != "MAM-001" || got.Name != "PrivilegedContainer" || got.HelpURI != rulePrivileged.References[0] {
		t.Errorf("rule id/name/helpUri = %q %q %q", got.ID, got.Name, got.HelpURI)
	}
	if got.DefaultConfiguration["level"] != "error" || got.Properties.SecuritySeverity != "9.5" {
		t.Errorf("level %q, security-severity %q; want error, 9.5", got.DefaultConfiguration["level"], got.Properties.SecuritySeverity)
	}
	if diff := cmp.Diff([]string{"security", "PSS baseline/privileged", "CIS 5.2.2"}, got.Properties.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	levels := map[string]string{}
	for _, r := range rules {
		levels[r.ID] = r.DefaultConfiguration["level"] + " " + r.Properties.SecuritySeverity
	}
	want := map[string]string{"MAM-001": "error 9.5", "MAM-002": "warning 5.5", "MAM-003": "note 3.0", "MAM-004": "error 8.0"}
	if diff := cmp.Diff(want, levels); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
}

func TestSARIFLocations(t *testing.T) {
	res := finding.Resource{Kind: "Pod", Namespace: "default", Name: "p"}
	r := &finding.Report{
		Findings: []finding.Finding{
			newFinding(ruleTag, "stdin", res, finding.Location{File: "<stdin>", Line: 3, Path: "spec.containers[0].image"}),
			newFinding(ruleTag, "no file", res, finding.Location{}),
			newFinding(ruleTag, "absolute", res, finding.Location{File: "/srv/k8s/pod.yaml", Line: 4, Column: 2}),
			newFinding(ruleTag, "no line", res, finding.Location{File: "./k8s/my pod.yaml"}),
		},
	}
	type loc struct {
		URI, Base         string
		Line, Column      int
		Physical          bool
		Logical, LogiKind string
	}
	var got []loc
	for _, result := range decodeSARIF(t, r).Runs[0].Results {
		l := result.Locations[0]
		var g loc
		if pl := l.PhysicalLocation; pl != nil {
			g = loc{URI: pl.ArtifactLocation.URI, Base: pl.ArtifactLocation.URIBaseID, Line: pl.Region.StartLine, Column: pl.Region.StartColumn, Physical: true}
		}
		if len(l.LogicalLocations) == 1 {
			g.Logical, g.LogiKind = l.LogicalLocations[0].FullyQualifiedName, l.LogicalLocations[0].Kind
		}
		got = append(got, g)
	}
	want := []loc{
		{Logical: "Pod default/p/spec.containers[0].image", LogiKind: "object"},
		{Logical: "Pod default/p", LogiKind: "object"},
		{URI: "file:///srv/k8s/pod.yaml", Line: 4, Column: 2, Physical: true, Logical: "Pod default/p", LogiKind: "object"},
		{URI: "k8s/my%20pod.yaml", Base: "%SRCROOT%", Line: 1, Physical: true, Logical: "Pod default/p", LogiKind: "object"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("locations (-want +got):\n%s", diff)
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"Privileged container":          "PrivilegedContainer",
		"Container may run as root":     "ContainerMayRunAsRoot",
		"hostPath volume (read-write)":  "HostPathVolumeReadWrite",
		"":                              "",
		"CAP_SYS_ADMIN added":           "CAPSYSADMINAdded",
		"Image uses the 'latest' tag":   "ImageUsesTheLatestTag",
		"émigré container":              "ÉmigréContainer",
		"   ":                           "",
		"seccomp profile is Unconfined": "SeccompProfileIsUnconfined",
	} {
		if got := camelCase(in); got != want {
			t.Errorf("camelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSARIFLargeReportInOrder(t *testing.T) {
	r := bigReport(2*encodeBatch + 5)
	var out bytes.Buffer
	if err := Write(&out, SARIF, r, Options{}); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	res := log.Runs[0].Results
	if len(res) != len(r.Findings) {
		t.Fatalf("%d results, want %d", len(res), len(r.Findings))
	}
	for i := range res {
		if res[i].PartialFingerprints[sarifFingerprintKey] != r.Findings[i].Fingerprint {
			t.Fatalf("result %d out of order", i)
		}
	}
}
