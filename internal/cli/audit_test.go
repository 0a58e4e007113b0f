package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

const auditLog = "testdata/auditscan/audit.log"

func alertsOf(t *testing.T, out string) []audit.Alert {
	t.Helper()
	var as []audit.Alert
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a audit.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		as = append(as, a)
	}
	return as
}

// TestAuditScan: malformed lines are named by file and line and do not
// stop the stream; an exec reported at two stages is one alert per rule;
// a token in a request URI never reaches the output.
func TestAuditScan(t *testing.T) {
	code, out, errOut := run(t, "", "audit", "scan", "--format", "json", auditLog)
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFindings, errOut)
	}
	for _, want := range []string{
		auditLog + ":3: offset 1: invalid character",
		auditLog + ":6: offset 105: unexpected end of JSON input",
		"4 events, 3 alerts, 0 suppressed by exceptions, 2 malformed, 0 skipped",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var got []string
	for _, a := range alertsOf(t, out) {
		got = append(got, a.Rule+" "+a.AuditID[len(a.AuditID)-1:]+" "+a.Source)
		if a.Technique == "" || a.Severity == "" || a.User == "" || a.Verb == "" || a.Time.IsZero() || a.ResponseCode == 0 {
			t.Errorf("alert lacks fields: %+v", a)
		}
	}
	want := []string{"pod-exec 2 " + auditLog + ":2", "exec-shell 2 " + auditLog + ":2", "secret-read-unusual 3 " + auditLog + ":4"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(out, "eyJpc3Mi") {
		t.Errorf("the access token in a request URI reached the output:\n%s", out)
	}

	// Text, with no alert wanted as a failure.
	code, out, _ = run(t, "", "audit", "scan", "--exit-code", "0", "-q", auditLog)
	if code != 0 || !strings.Contains(out, "HIGH pod-exec [T1609 Execution] alice@example.com") || strings.Contains(out, "eyJpc3Mi") {
		t.Errorf("text: exit %d\n%s", code, out)
	}
}

// TestAuditScanInputs: stdin, gzip by content, rules without built-ins,
// lists from flags, and exceptions from the ignore file.
func TestAuditScanInputs(t *testing.T) {
	raw, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "audit-2026-11-24T08-00-00.000.log.gz")
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, fromFile, _ := run(t, "", "audit", "scan", "-f", "json", "-q", gzPath)
	_, fromStdin, _ := run(t, gz.String(), "audit", "scan", "-f", "json", "-q", "-")
	if n := len(alertsOf(t, fromFile)); n != 3 || len(alertsOf(t, fromStdin)) != 3 {
		t.Errorf("gzip file gave %d alerts, gzip stdin %d; want 3 each", n, len(alertsOf(t, fromStdin)))
	}

	// The service account becomes a usual secret reader.
	_, out, _ := run(t, "", "audit", "scan", "-f", "json", "-q", "--list", "secret_readers=system:serviceaccount:shop:*", auditLog)
	if as := alertsOf(t, out); len(as) != 2 || as[0].Rule != "pod-exec" {
		t.Errorf("with secret_readers: %+v", as)
	}

	ignore := filepath.Join(t.TempDir(), "ignore.yaml")
	os.WriteFile(ignore, []byte(`exceptions:
- check: pod-exec
  users: ["alice@*"]
  reason: on-call debugging
  owner: platform
  expires: 2999-01-01
`), 0o600)
	code, out, errOut := run(t, "", "audit", "scan", "-f", "json", "--ignorefile", ignore, auditLog)
	if as := alertsOf(t, out); code != ExitFindings || len(as) != 2 || as[0].Rule != "exec-shell" || !strings.Contains(errOut, "2 alerts, 1 suppressed") {
		t.Errorf("with the exception: exit %d, %+v\n%s", code, as, errOut)
	}

	rule := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rule, []byte(`apiVersion: mamori.dev/v1alpha1
kind: AuditRule
metadata: {name: curl-user-agent}
spec:
  title: curl against the API
  severity: LOW
  technique: T1613
  tactic: Discovery
  condition: userAgent.startsWith("curl/")
  output: "{{user.username}} used curl"
`), 0o600)
	_, out, errOut = run(t, "", "audit", "scan", "-f", "json", "--no-builtin", "--rules", rule, auditLog)
	if as := alertsOf(t, out); len(as) != 1 || as[0].Rule != "curl-user-agent" || as[0].Output != "system:serviceaccount:shop:web used curl" {
		t.Errorf("own rule: %+v\n%s", as, errOut)
	}
}

func TestAuditBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`apiVersion: mamori.dev/v1alpha1
kind: AuditRule
metadata: {name: broken}
spec:
  title: broken
  severity: HIGH
  technique: T1609
  condition: verb ==
  output: x
`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "scan", "--input-format", "xml", auditLog}, "xml"},
		{[]string{"audit", "scan", "--follow", auditLog, auditLog}, "--follow takes exactly one file"},
		{[]string{"audit", "scan", "--from-start", auditLog}, "go with --follow"},
		{[]string{"audit", "scan", "--format", "yaml", auditLog}, `--format "yaml"`},
		{[]string{"audit", "scan", "--list", "novalue", auditLog}, "want NAME=item,item"},
		{[]string{"audit", "scan", "--rules", bad, auditLog}, bad + ":8"},
		{[]string{"audit", "rules", "check", bad}, bad + ":8"},
		{[]string{"audit", "scan", filepath.Join(t.TempDir(), "missing.log")}, "missing.log"},
		{[]string{"audit", "serve"}, "--tls-cert-file and --tls-key-file are required"},
	} {
		code, _, errOut := run(t, "", tc.args...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, errOut, ExitError, tc.want)
		}
	}
}

// TestAuditScanFollow follows a file as it grows and is rotated.
func TestAuditScanFollow(t *testing.T) {
	dir := t.TempDir()
	logPath, alerts := filepath.Join(dir, "audit.log"), filepath.Join(dir, "alerts.jsonl")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(mustReadFile(t, auditLog)), "\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- Run(ctx, []string{"audit", "scan", "--follow", "--exit-code", "0", "-f", "json", "-o", alerts, logPath},
			IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errb})
	}()
	waitAlerts := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if b, _ := os.ReadFile(alerts); strings.Count(string(b), "\n") >= n {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("fewer than %d alerts in %s; stderr:\n%s", n, alerts, errb.String())
	}
	// The follower starts at the end: give it time to open the file
	// before the first line, by waiting for an alert that only it raises.
	appendLines(t, logPath, lines[1])
	for range 100 {
		if b, _ := os.ReadFile(alerts); len(b) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
		appendLines(t, logPath, lines[1]) // same audit ID: one alert per rule however often it comes
	}
	waitAlerts(2)
	// Rotation: the old file moves away, a new one takes its name.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, logPath, lines[3])
	waitAlerts(3)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("follow exit %d; stderr:\n%s", code, errb.String())
	}
	as := alertsOf(t, mustReadFile(t, alerts))
	if len(as) != 3 || as[2].Rule != "secret-read-unusual" {
		t.Errorf("alerts: %+v", as)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditMalformedFlood: the first 20 bad lines are named, the rest
// only counted.
func TestAuditMalformedFlood(t *testing.T) {
	code, _, errOut := run(t, strings.Repeat("not json\n", 25), "audit", "scan", "-")
	if code != 0 || strings.Count(errOut, "-:") != 20 || !strings.Contains(errOut, "-:20: ") ||
		!strings.Contains(errOut, "only the first 20 are printed") || !strings.Contains(errOut, "25 malformed") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
