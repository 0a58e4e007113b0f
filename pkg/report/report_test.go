package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/finding"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var testOpts = Options{ToolVersion: "0.1.0-test", Command: "scan config"}

// Rules of the test report.
var (
	rulePrivileged = &finding.Rule{
		ID:          "MAM-001",
		Title:       "Privileged container",
		Severity:    finding.Critical,
		Description: "A privileged container has all the capabilities of the host and can take it over.",
		Remediation: "Set securityContext.privileged to false.",
		References: []string{
			"https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline",
			"https://kubernetes.io/docs/tasks/configure-pod-container/security-context/",
		},
		Controls: []finding.Control{
			{Framework: finding.PSS, ID: "baseline/privileged", Title: "Privileged Containers"},
			{Framework: finding.CIS, ID: "5.2.2", Title: "Minimize the admission of privileged containers"},
		},
	}
	ruleRoot = &finding.Rule{
		ID:          "MAM-002",
		Title:       "Container may run as root",
		Severity:    finding.Medium,
		Description: "Without runAsNonRoot the container may run as UID 0.",
		Remediation: "Set securityContext.runAsNonRoot to true.",
		Controls: []finding.Control{
			{Framework: finding.CIS, ID: "5.2.6", Title: "Minimize the admission of root containers"},
		},
	}
	ruleTag = &finding.Rule{
		ID:          "MAM-003",
		Title:       "Mutable image tag",
		Severity:    finding.Low,
		Description: "An image referenced by a mutable tag can change under the same name.",
		Remediation: "Pin the image by digest.",
		References:  []string{"https://kubernetes.io/docs/concepts/containers/images/#image-names"},
	}
	// ruleHostNetwork ran but found nothing.
	ruleHostNetwork = &finding.Rule{
		ID:          "MAM-004",
		Title:       "Host network",
		Severity:    finding.High,
		Description: "A pod on the host network sees all of the node's traffic.",
		Remediation: "Remove spec.hostNetwork.",
		Controls:    []finding.Control{{Framework: finding.CIS, ID: "5.2.5"}},
	}
)

func newFinding(rule *finding.Rule, msg string, res finding.Resource, loc finding.Location) finding.Finding {
	return finding.Finding{
		Rule:        rule,
		Message:     msg,
		Resource:    res,
		Location:    loc,
		Fingerprint: finding.ComputeFingerprint(rule.ID, loc.File, res, loc.Path),
	}
}

// testReport returns a small fixed report: four findings of three checks and
// three severities over two files and two resources, an error and two notes.
func testReport() *finding.Report {
	web := finding.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	worker := finding.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "jobs", Name: "worker"}
	const webFile, workerFile = "examples/web.yaml", "examples/worker.yaml"
	const c0 = "spec.template.spec.containers[0]"
	r := &finding.Report{
		Targets: []string{"examples/"},
		Files:   5,
		Objects: 3,
		Findings: []finding.Finding{
			newFinding(rulePrivileged, `Container "worker" is privileged`, worker,
				finding.Location{File: workerFile, Line: 9, Column: 21, Path: "spec.containers[0].securityContext.privileged"}),
			newFinding(ruleTag, `Image "nginx:latest" uses a mutable tag & no digest`, web,
				finding.Location{File: webFile, Line: 19, Column: 16, Path: c0 + ".image"}),
			newFinding(rulePrivileged, `Container "web" is privileged`, web,
				finding.Location{File: webFile, Line: 22, Column: 23, Path: c0 + ".securityContext.privileged"}),
			newFinding(ruleRoot, `Container "web" may run as root`, web,
				finding.Location{File: webFile, Path: c0 + ".securityContext.runAsNonRoot"}),
		},
		Errors: []finding.Problem{
			{File: "examples/broken.yaml", Line: 3, Message: "yaml: line 3: mapping values are not allowed in this context"},
		},
		Notes: []finding.Problem{
			{File: "examples/values.yaml", Message: "not a Kubernetes object: no apiVersion or kind"},
			{File: "examples/kustomization.yaml", Line: 1, Message: "not a Kubernetes object: kind Kustomization is kustomize configuration"},
		},
		Rules: []*finding.Rule{ruleTag, rulePrivileged, ruleRoot, ruleHostNetwork},
	}
	r.Sort()
	return r
}

func write(t *testing.T, f Format, r *finding.Report, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, f, r, opts); err != nil {
		t.Fatalf("Write(%s): %v", f, err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	colorOpts := testOpts
	colorOpts.Color = true
	tests := []struct {
		golden string
		format Format
		report *finding.Report
		opts   Options
	}{
		{"table", Table, testReport(), testOpts},
		{"table-color", Table, testReport(), colorOpts},
		{"json", JSON, testReport(), testOpts},
		{"sarif", SARIF, testReport(), testOpts},
		{"junit", JUnit, testReport(), testOpts},
		{"empty-table", Table, &finding.Report{}, testOpts},
		{"empty-json", JSON, &finding.Report{}, testOpts},
		{"empty-sarif", SARIF, &finding.Report{}, testOpts},
		{"empty-junit", JUnit, &finding.Report{}, testOpts},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := write(t, tt.format, tt.report, tt.opts)
			// The same report must always give the same bytes.
			for range 3 {
				if again := write(t, tt.format, tt.report, tt.opts); !bytes.Equal(got, again) {
					t.Fatalf("output is not deterministic:\n%s", cmp.Diff(string(got), string(again)))
				}
			}
			path := filepath.Join("testdata", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s output differs from %s (-want +got); if the change is intended, run go test ./pkg/report -update:\n%s", tt.format, path, diff)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{in: "table", want: Table},
		{in: "json", want: JSON},
		{in: "sarif", want: SARIF},
		{in: "junit", want: JUnit},
		{in: " JSON ", want: JSON},
		{in: "SARIF", want: SARIF},
		{in: "xml", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseFormat(%q) = %q, want an error", tt.in, got)
				continue
			}
			// The error lists every valid format.
			for _, f := range Formats() {
				if !strings.Contains(err.Error(), string(f)) {
					t.Errorf("ParseFormat(%q) error %q does not mention %q", tt.in, err, f)
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Format("yaml"), testReport(), testOpts); err == nil {
		t.Error("Write with an unknown format succeeded")
	}
	if buf.Len() != 0 {
		t.Errorf("Write with an unknown format wrote %q", buf.String())
	}
}

func TestSummary(t *testing.T) {
	one := &finding.Report{
		Files: 1, Objects: 1,
		Findings: []finding.Finding{{Rule: ruleRoot}},
		Errors:   []finding.Problem{{File: "a"}},
		Notes:    []finding.Problem{{File: "b"}},
	}
	unknown := &finding.Report{Files: 2, Objects: 2, Findings: []finding.Finding{{}, {Rule: ruleTag}}}
	tests := []struct {
		name string
		r    *finding.Report
		want string
	}{
		{"empty", &finding.Report{}, "0 findings (CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFO: 0) in 0 objects from 0 files; 0 errors, 0 notes"},
		{"nil", nil, "0 findings (CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, INFO: 0) in 0 objects from 0 files; 0 errors, 0 notes"},
		{"singular", one, "1 finding (CRITICAL: 0, HIGH: 0, MEDIUM: 1, LOW: 0, INFO: 0) in 1 object from 1 file; 1 error, 1 note"},
		{"fixture", testReport(), "4 findings (CRITICAL: 2, HIGH: 0, MEDIUM: 1, LOW: 1, INFO: 0) in 3 objects from 5 files; 1 error, 2 notes"},
		{"unknown severity", unknown, "2 findings (CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 1, INFO: 0, UNKNOWN: 1) in 2 objects from 2 files; 0 errors, 0 notes"},
	}
	for _, tt := range tests {
		if got := Summary(tt.r); got != tt.want {
			t.Errorf("%s: Summary() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestNilRule makes sure that no writer trips over a finding whose rule is
// missing and that every format still parses.
func TestNilRule(t *testing.T) {
	r := &finding.Report{Findings: []finding.Finding{{
		Message:  "something",
		Resource: finding.Resource{Kind: "Pod", Name: "p"},
		Location: finding.Location{File: "p.yaml", Line: 2},
	}}}
	for _, f := range Formats() {
		if out := write(t, f, r, testOpts); len(out) == 0 {
			t.Errorf("%s: empty output", f)
		}
	}
}
