package rules

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestLoadErrors: every problem of a file is reported, each with its
// file and line (and column for CEL).
func TestLoadErrors(t *testing.T) {
	_, err := Load([]string{"testdata/load/bad.yaml"}, LoadOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`testdata/load/bad.yaml:15: AuditRule bad-fields: spec.severity "URGENT": want one of LOW, MEDIUM, HIGH, CRITICAL`,
		`testdata/load/bad.yaml:16: AuditRule bad-fields: spec.technique "T12": want a MITRE ATT&CK technique ID such as T1609 or T1552.007`,
		`testdata/load/bad.yaml:57: AuditRule bad-agg: spec.output: {{nope}}: unknown field "nope"`,
		`testdata/load/bad.yaml:58: AuditRule bad-agg: spec.aggregate: count 1: want at least 2`,
		`testdata/load/bad.yaml:32: AuditRule pod-exec: rule already defined at builtin/10-rules.yaml:1`,
		`testdata/load/bad.yaml:7:8: AuditRule bad-cel: spec.condition: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`,
		`testdata/load/bad.yaml:24: AuditRule low-level: reads requestObject: spec.match.level must be at least Request, not Metadata`,
		`testdata/load/bad.yaml:46:9: AuditRule unknown-refs: spec.condition: undeclared reference to 'lists' (in container '')`,
		`testdata/load/bad.yaml:47:3: AuditRule unknown-refs: spec.condition: undeclared reference to 'macros' (in container '')`,
	}
	// The unknown field is reported by the strict decode.
	unknown := `testdata/load/bad.yaml:17: AuditRule bad-fields: unknown field "spec.colour"`
	if !slices.Contains(got, unknown) {
		t.Errorf("missing %q", unknown)
	}
	got = slices.DeleteFunc(got, func(s string) bool { return s == unknown })
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadErrorsSmall(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"kind: AuditRule\n", `f.yaml:1: not a Kubernetes object`},
		{"apiVersion: mamori.dev/v1alpha1\nkind: Other\nmetadata: {name: x}\nspec: {}\n", "f.yaml:2: Other x: unknown kind"},
		{"apiVersion: mamori.dev/v1alpha1\nkind: AuditList\nmetadata: {name: x}\nspec: {items: [a], append: true}\n", "f.yaml:4: AuditList x: append: no list x is defined before"},
		{"apiVersion: mamori.dev/v1alpha1\nkind: AuditRuleOverride\nmetadata: {name: nope}\nspec: {enabled: false}\n", "f.yaml:3: AuditRuleOverride nope: no rule nope to override"},
		{"apiVersion: mamori.dev/v1alpha1\nkind: AuditMacro\nmetadata: {name: a}\nspec: {condition: macros.b}\n---\napiVersion: mamori.dev/v1alpha1\nkind: AuditMacro\nmetadata: {name: b}\nspec: {condition: macros.a}\n", "macro cycle"},
		{"apiVersion: mamori.dev/v1alpha1\nkind: AuditRule\nmetadata: {name: x}\nspec: {title: t, severity: LOW, condition: verb, output: o}\n", "spec.condition must be a bool"},
		{"apiVersion: mamori.dev/v1alpha1\nkind: AuditRule\nmetadata: {name: x}\nspec: {title: t, severity: LOW, condition: 'true', output: o, match: {level: Full}}\n", `f.yaml:4: AuditRule x: spec.match.level "Full"`},
	} {
		_, err := LoadBytes("f.yaml", []byte(tc.src), LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestOverride: an override appends to a condition and changes the
// aggregate.
func TestOverride(t *testing.T) {
	s, err := LoadBytes("o.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: AuditRuleOverride
metadata: {name: forbidden-burst}
spec:
  severity: HIGH
  aggregate: {count: 3, window: 10s, by: sourceIP}
  condition: user.username != "scanner"
  append: true
`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Rules() {
		if r.ID == "forbidden-burst" && (r.Severity != "HIGH" || r.Aggregate.Count != 3 || !strings.HasSuffix(r.Condition, `&& (user.username != "scanner")`)) {
			t.Errorf("%+v", r)
		}
	}
	e := NewEngine(s, EngineOptions{})
	as := run(e, forbidden("1", "a", t0), forbidden("2", "b", t0), forbidden("3", "scanner", t0), forbidden("4", "c", t0))
	if len(as) != 1 || as[0].AuditID != "4" || as[0].Count != 3 {
		t.Errorf("%+v", as)
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/load/bad.yaml", "builtin/10-rules.yaml", "builtin/00-lists.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadBytes("fuzz.yaml", data, LoadOptions{NoBuiltin: true})
		if (s == nil) == (err == nil) {
			t.Fatalf("set %v, error %v", s, err)
		}
	})
}
