package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"clean", []string{"scan", "config", "testdata/clean.yaml"}, ExitClean},
		{"findings", []string{"scan", "config", "testdata/medium.yaml"}, ExitFindings},
		{"custom exit code", []string{"scan", "config", "--exit-code", "7", "testdata/medium.yaml"}, 7},
		{"exit code 0 disables the gate", []string{"scan", "config", "--exit-code", "0", "testdata/medium.yaml"}, ExitClean},
		{"below the gate", []string{"scan", "config", "--fail-on", "HIGH", "testdata/medium.yaml"}, ExitClean},
		{"at the gate", []string{"scan", "config", "--fail-on", "medium", "testdata/medium.yaml"}, ExitFindings},
		{"severity filter hides all", []string{"scan", "config", "--severity", "CRITICAL,HIGH", "testdata/medium.yaml"}, ExitClean},
		{"broken input fails the scan", []string{"scan", "config", "testdata/broken.yaml", "testdata/clean.yaml"}, ExitError},
		{"missing path", []string{"scan", "config", "testdata/nope.yaml"}, ExitError},
		{"bad format", []string{"scan", "config", "-f", "xml", "testdata/clean.yaml"}, ExitError},
		{"bad severity", []string{"scan", "config", "--severity", "URGENT", "testdata/clean.yaml"}, ExitError},
		{"bad pss level", []string{"scan", "config", "--pss-level", "privileged", "testdata/clean.yaml"}, ExitError},
		{"no args", []string{"scan", "config"}, ExitError},
		{"unknown command", []string{"frobnicate"}, ExitError},
		{"policy findings gate the scan", []string{"scan", "config", "--policy", "../../examples/policies", "--fail-on", "CRITICAL", "../../examples/policies/fixtures"}, ExitFindings},
		{"a broken policy fails the scan", []string{"scan", "config", "--policy", "../../pkg/policy/testdata/bad", "testdata/clean.yaml"}, ExitError},
		{"policy tests pass", []string{"policy", "test", "../../examples/policies"}, ExitClean},
		{"failing policy test", []string{"policy", "test", "testdata/policytest-wrong"}, ExitFindings},
		{"broken policy test", []string{"policy", "test", "testdata/nope"}, ExitError},
		{"export", []string{"policy", "export", "--builtin", "../../examples/policies"}, ExitClean},
		{"export strict with notes", []string{"policy", "export", "--strict", "--builtin"}, ExitFindings},
		{"export needs input", []string{"policy", "export"}, ExitError},
		{"webhook manifest needs a failure policy", []string{"webhook", "manifest"}, ExitError},
		{"webhook manifest", []string{"webhook", "manifest", "--failure-policy", "Ignore", "--policy", "../../examples/policies"}, ExitClean},
		{"webhook refuses a broken policy", []string{"webhook", "--self-signed", "--no-cluster", "--listen", "127.0.0.1:0", "--policy", "../../pkg/policy/testdata/bad"}, ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, out, errs := run(t, "", tt.args...); code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errs)
			}
		})
	}
}

func TestBrokenFileDoesNotHideOthers(t *testing.T) {
	code, out, _ := run(t, "", "scan", "config", "-f", "json", "testdata/broken.yaml", "testdata/medium.yaml")
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	var rep struct {
		Findings []struct{ CheckID string }
		Errors   []struct {
			File    string
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) == 0 {
		t.Error("findings of the good file are missing")
	}
	if len(rep.Errors) != 1 || rep.Errors[0].File != "testdata/broken.yaml" || rep.Errors[0].Line != 3 {
		t.Errorf("errors = %+v, want one at testdata/broken.yaml:3", rep.Errors)
	}
}

func TestStdinAndOutputFile(t *testing.T) {
	data, err := os.ReadFile("testdata/medium.yaml")
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(t.TempDir(), "r.sarif")
	code, stdout, stderr := run(t, string(data), "scan", "config", "-f", "sarif", "-o", outFile, "-")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout not empty with --output: %q", stdout)
	}
	if !strings.Contains(stderr, "1 finding (") {
		t.Errorf("summary missing on stderr: %q", stderr)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var sarif struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID    string
				Locations []struct {
					PhysicalLocation *struct{} `json:"physicalLocation"`
					LogicalLocations []struct {
						FullyQualifiedName string
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &sarif); err != nil {
		t.Fatal(err)
	}
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) == 0 {
		t.Fatalf("unexpected SARIF: %s", b)
	}
	if r := sarif.Runs[0].Results[0]; r.RuleID != "k8s-readonly-root-filesystem" {
		t.Errorf("first result = %s", r.RuleID)
	}
}

func TestTableNoColorWhenNotTTY(t *testing.T) {
	_, out, _ := run(t, "", "scan", "config", "testdata/medium.yaml")
	if strings.Contains(out, "\x1b[") {
		t.Error("colour escape codes in non-TTY output")
	}
	if !strings.Contains(out, "Pod shop/p") || !strings.Contains(out, "k8s-readonly-root-filesystem") {
		t.Errorf("table output:\n%s", out)
	}
	_, out, _ = run(t, "", "scan", "config", "--color", "always", "testdata/medium.yaml")
	if !strings.Contains(out, "\x1b[") {
		t.Error("--color always gave no colour")
	}
}

func TestVersionAndChecks(t *testing.T) {
	if code, out, _ := run(t, "", "version"); code != 0 || !strings.HasPrefix(out, "mamori ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out, _ := run(t, "", "checks", "list", "-f", "json")
	var rules []map[string]any
	if err := json.Unmarshal([]byte(out), &rules); err != nil || code != 0 || len(rules) < 30 {
		t.Fatalf("checks list json: code %d, %d rules, %v", code, len(rules), err)
	}
	for _, f := range []string{"table", "markdown"} {
		if code, out, _ := run(t, "", "checks", "list", "-f", f); code != 0 || !strings.Contains(out, "pss-privileged") {
			t.Errorf("checks list -f %s: %d\n%s", f, code, out)
		}
	}
}

// TestChecksDocUpToDate keeps docs/checks.md in step with the catalogue.
func TestChecksDocUpToDate(t *testing.T) {
	_, out, _ := run(t, "", "checks", "list", "-f", "markdown")
	doc, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != out {
		t.Error("docs/checks.md is stale: run `make docs`")
	}
}

// TestExceptions runs the whole path: an ignore file found in the scanned
// tree suppresses (and --show-suppressed says by which entry), a malformed
// --ignorefile fails the scan, and suppressed findings do not trip the gate.
func TestExceptions(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/medium.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ignore := "exceptions:\n- check: k8s-readonly-root-filesystem\n  resources: [{kind: Pod, name: p*}]\n  reason: writes a cache\n  owner: team-shop\n  expires: 2999-12-31\n"
	if err := os.WriteFile(filepath.Join(dir, ".mamori-ignore.yaml"), []byte(ignore), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "", "scan", "config", "--show-suppressed", dir)
	if code != ExitClean {
		t.Errorf("exit %d, want %d (the only finding is suppressed)\n%s", code, ExitClean, out)
	}
	for _, want := range []string{"Suppressed", "k8s-readonly-root-filesystem", "by " + filepath.ToSlash(dir) + "/.mamori-ignore.yaml:2 (owner team-shop, until 2999-12-31): writes a cache", "1 suppressed by exceptions"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "", "scan", "config", "-f", "json", "--show-suppressed", dir)
	var rep struct {
		Summary    struct{ Suppressed int }
		Suppressed []struct {
			Finding   struct{ CheckID string }
			Exception struct{ Owner string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitClean {
		t.Fatalf("json: exit %d, %v", code, err)
	}
	if rep.Summary.Suppressed != 1 || len(rep.Suppressed) != 1 || rep.Suppressed[0].Exception.Owner != "team-shop" {
		t.Errorf("json suppressed = %+v", rep)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("exceptions:\n- check: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "", "scan", "config", "-f", "json", "--ignorefile", bad, dir); code != ExitError || !strings.Contains(errs, "bad.yaml:2: exception: reason is required") {
		t.Errorf("malformed ignore file: exit %d, stderr %s", code, errs)
	}
}

func TestCompliance(t *testing.T) {
	code, out, _ := run(t, "", "scan", "config", "--compliance", "cis", "-f", "json", "../../examples/")
	if code != ExitFindings {
		t.Errorf("exit %d, want %d (the examples have findings)", code, ExitFindings)
	}
	var res struct {
		Framework string
		Controls  []struct {
			ID, Status string
			Failing    []struct{ CheckID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	status := map[string]string{}
	for _, c := range res.Controls {
		status[c.ID] = c.Status
	}
	for id, want := range map[string]string{"5.1.1": "FAIL", "5.1.3": "FAIL", "5.1.9": "MANUAL", "5.1.13": "PASS", "5.2.2": "FAIL", "5.3.2": "FAIL"} {
		if status[id] != want {
			t.Errorf("CIS %s = %s, want %s", id, status[id], want)
		}
	}
	if code, out, _ := run(t, "", "scan", "config", "--compliance", "pss-baseline", "../../examples/"); code != ExitFindings || !strings.Contains(out, "baseline profile") || strings.Contains(out, "restricted/") {
		t.Errorf("pss-baseline: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--compliance", "soc2"},
		{"--compliance", "pss-baseline", "--pss-level", "restricted"},
		{"--compliance", "cis", "-f", "sarif"},
	} {
		if code, _, _ := run(t, "", append(append([]string{"scan", "config"}, args...), "testdata/clean.yaml")...); code != ExitError {
			t.Errorf("%v: exit %d, want %d", args, code, ExitError)
		}
	}
}

func TestHelmValuesFlags(t *testing.T) {
	count := func(args ...string) (int, int) {
		code, out, errs := run(t, "", append([]string{"scan", "config", "-f", "json"}, append(args, "../../examples/helm")...)...)
		var rep struct{ Findings []struct{ CheckID string } }
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errs)
		}
		n := 0
		for _, f := range rep.Findings {
			if f.CheckID == "k8s-secret-in-env" || f.CheckID == "pss-privilege-escalation" {
				n++
			}
		}
		return code, n
	}
	if _, n := count(); n != 0 {
		t.Errorf("default values: %d debug findings", n)
	}
	if _, n := count("--set", "debug.enabled=true"); n != 2 {
		t.Errorf("--set debug.enabled=true: %d debug findings, want 2", n)
	}
	if code, _, errs := run(t, "", "scan", "config", "-f", "json", "--values", "testdata/nope.yaml", "../../examples/helm"); code != ExitError || !strings.Contains(errs, "helm values:") {
		t.Errorf("missing values file: exit %d, %s", code, errs)
	}
}

// TestBadColorKeepsOutputFile: a bad flag fails before --output is touched.
func TestBadColorKeepsOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(out, []byte("previous report"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run(t, "", "scan", "config", "--color", "rainbow", "-o", out, "testdata/clean.yaml"); code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	if b, _ := os.ReadFile(out); string(b) != "previous report" {
		t.Errorf("output file was truncated: %q", b)
	}
}
