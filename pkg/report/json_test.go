package report

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/finding"
)

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	return m
}

func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("got %T (%v), want a JSON object", v, v)
	}
	return slices.Sorted(maps.Keys(m))
}

func TestJSONShape(t *testing.T) {
	r := testReport()
	m := decodeJSON(t, write(t, JSON, r, testOpts))

	wantKeys := map[string][]string{
		"top":        {"checks", "command", "errors", "findings", "notes", "schemaVersion", "summary", "targets", "tool"},
		"tool":       {"name", "version"},
		"summary":    {"bySeverity", "errors", "files", "findings", "notes", "objects", "suppressed"},
		"bySeverity": {"CRITICAL", "HIGH", "INFO", "LOW", "MEDIUM"},
		"finding":    {"checkID", "fingerprint", "location", "message", "resource", "severity", "title"},
		"check":      {"controls", "description", "references", "remediation", "severity", "title"},
		"control":    {"framework", "id", "title"},
		"resource":   {"apiVersion", "kind", "name", "namespace"},
		"location":   {"column", "file", "line", "path"},
		"problem":    {"file", "line", "message"},
	}
	summary := m["summary"].(map[string]any)
	findings := m["findings"].([]any)
	// The privileged finding in worker.yaml has every field set.
	var full map[string]any
	for _, f := range findings {
		f := f.(map[string]any)
		if f["checkID"] == rulePrivileged.ID && f["location"].(map[string]any)["file"] == "examples/worker.yaml" {
			full = f
		}
	}
	if full == nil {
		t.Fatal("privileged finding in examples/worker.yaml missing from JSON")
	}
	checks := m["checks"].(map[string]any)
	check, _ := checks[rulePrivileged.ID].(map[string]any)
	if check == nil {
		t.Fatalf("checks lacks %s: %v", rulePrivileged.ID, checks)
	}
	// One entry per check that has findings, not per finding.
	distinct := map[string]bool{}
	for _, f := range r.Findings {
		distinct[f.CheckID()] = true
	}
	if len(checks) != len(distinct) {
		t.Errorf("checks has %d entries, want %d", len(checks), len(distinct))
	}
	gotKeys := map[string][]string{
		"top":        keys(t, m),
		"tool":       keys(t, m["tool"]),
		"summary":    keys(t, summary),
		"bySeverity": keys(t, summary["bySeverity"]),
		"finding":    keys(t, full),
		"check":      keys(t, check),
		"control":    keys(t, check["controls"].([]any)[0]),
		"resource":   keys(t, full["resource"]),
		"location":   keys(t, full["location"]),
		"problem":    keys(t, m["errors"].([]any)[0]),
	}
	if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
		t.Errorf("JSON keys (-want +got):\n%s", diff)
	}

	wantValues := map[string]any{
		"schemaVersion": float64(1),
		"tool":          map[string]any{"name": "mamori", "version": "0.1.0-test"},
		"command":       "scan config",
		"targets":       []any{"examples/"},
		"summary": map[string]any{
			"files": float64(5), "objects": float64(3), "findings": float64(4),
			"bySeverity": map[string]any{"CRITICAL": float64(2), "HIGH": float64(0), "MEDIUM": float64(1), "LOW": float64(1), "INFO": float64(0)},
			"errors":     float64(1), "notes": float64(2), "suppressed": float64(0),
		},
	}
	for k, want := range wantValues {
		if diff := cmp.Diff(want, m[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if len(findings) != len(r.Findings) || len(m["errors"].([]any)) != len(r.Errors) || len(m["notes"].([]any)) != len(r.Notes) {
		t.Errorf("got %d findings, %d errors, %d notes; want %d, %d, %d", len(findings), len(m["errors"].([]any)),
			len(m["notes"].([]any)), len(r.Findings), len(r.Errors), len(r.Notes))
	}
	if got, want := full["severity"], "CRITICAL"; got != want {
		t.Errorf("severity = %v, want %v", got, want)
	}
	if got, want := full["fingerprint"], r.Findings[len(r.Findings)-1].Fingerprint; got != want {
		t.Errorf("fingerprint = %v, want %v", got, want)
	}
}

func TestJSONEmptySlices(t *testing.T) {
	m := decodeJSON(t, write(t, JSON, &finding.Report{}, Options{}))
	for _, k := range []string{"targets", "findings", "errors", "notes"} {
		v, ok := m[k].([]any)
		if !ok || v == nil || len(v) != 0 {
			t.Errorf("%s = %#v, want []", k, m[k])
		}
	}
}

func TestJSONComputesMissingFingerprint(t *testing.T) {
	r := testReport()
	r.Findings = r.Findings[:1]
	r.Findings[0].Fingerprint = ""
	m := decodeJSON(t, write(t, JSON, r, testOpts))
	f := r.Findings[0]
	want := finding.ComputeFingerprint(f.CheckID(), f.Location.File, f.Resource, f.Location.Path)
	if got := m["findings"].([]any)[0].(map[string]any)["fingerprint"]; got != want {
		t.Errorf("fingerprint = %v, want %v", got, want)
	}
	if r.Findings[0].Fingerprint != "" {
		t.Error("Write modified the report")
	}
}

// TestAppendFindingMatchesEncodingJSON pins the hand-written encoder to
// encoding/json's bytes, including escapes and omitted empty fields.
func TestAppendFindingMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `q"uote\back`, "<html>&amp;", "tab\tnl\ncr\r\x01\x1f", "é ü 日本", "\u2028\u2029", "bad\xffutf8", "\x7f"}
	for i, s := range strs {
		for _, loc := range []finding.Location{{}, {File: s, Line: i + 1, Column: i, Path: s}, {Path: "p"}, {Source: s}, {File: "f", Path: "p", Source: "kustomize " + s}} {
			j := finding.JSON{CheckID: s, Title: "t" + s, Severity: finding.Severity(i % 6), Message: s,
				Resource: finding.Resource{APIVersion: s, Name: "n"}, Location: loc, Fingerprint: s}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("    ", "  ")
			if err := enc.Encode(j); err != nil {
				t.Fatal(err)
			}
			want := "    " + strings.TrimSuffix(buf.String(), "\n")
			if got := string(appendFinding(nil, &j)); got != want {
				t.Errorf("appendFinding(%q):\ngot  %s\nwant %s", s, got, want)
			}
		}
	}
}

// TestJSONLargeReportInOrder covers the parallel encoding: many batches,
// written complete and in order.
func TestJSONLargeReportInOrder(t *testing.T) {
	r := bigReport(3*encodeBatch + 17)
	var out bytes.Buffer
	if err := Write(&out, JSON, r, Options{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []struct{ Fingerprint string }
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) != len(r.Findings) {
		t.Fatalf("%d findings, want %d", len(doc.Findings), len(r.Findings))
	}
	for i, f := range doc.Findings {
		if f.Fingerprint != r.Findings[i].Fingerprint {
			t.Fatalf("finding %d out of order", i)
		}
	}
}
