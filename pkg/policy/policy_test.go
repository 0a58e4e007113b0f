package policy

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/k8sschema"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestLoadProblemsNameFileAndLine(t *testing.T) {
	s, err := NewSet(Options{})
	if err != nil {
		t.Fatal(err)
	}
	problems := s.Load(context.Background(), []string{"testdata/bad"})
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"testdata/bad/errors.yaml:12: Policy broken-cel: spec.validations[0].expression: compilation failed: ERROR: <input>:1:74: Syntax error: missing ')'",
		`testdata/bad/errors.yaml:25: Policy unknown-field: unknown field "spec.validations[0].expresion"`,
		`testdata/bad/errors.yaml:33: Policy wrong-type: spec.severity: unknown severity "SEVERE"`,
		`testdata/bad/more.yaml:4: Policy Bad_Name: metadata.name "Bad_Name": want a DNS subdomain`,
		"testdata/bad/more.yaml:29: Policy not-bool: spec.validations[1].expression: must evaluate to bool",
		"testdata/bad/more.yaml:30: Policy not-bool: spec.validations[1].messageExpression: must evaluate to string",
		`testdata/bad/more.yaml:39: Policy no-match: spec.mode "block": want enforce, warn or audit`,
		"testdata/bad/more.yaml:36: Policy no-match: spec.matchConstraints is required",
		`testdata/bad/more.yaml:43: Policy future: apiVersion "mamori.dev/v2" is not supported`,
		"testdata/bad/more.yaml:60: Policy replicas-type: spec.validations[0].reason: want a string, found a list",
		"testdata/bad/more.yaml:74: Policy variable-in-match-condition: spec.matchConditions[0].expression: compilation failed: ERROR: <input>:1:10: undefined field 'isPod'",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) && !strings.Contains(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if len(s.Policies) != 0 {
		t.Errorf("broken policies were loaded: %d", len(s.Policies))
	}
}

func TestPolicyTests(t *testing.T) {
	s, err := NewSet(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Load(context.Background(), []string{"testdata/good"}); len(p) > 0 {
		t.Fatal(p)
	}
	outcomes, problems := s.RunTests(context.Background())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if len(outcomes) != 9 {
		t.Errorf("%d outcomes, want 9", len(outcomes))
	}
	for _, o := range outcomes {
		if !o.Pass {
			t.Errorf("%s %s %s: want %s, got %s (%s)", o.Test, o.Policy, o.Resource, o.Want, o.Got, o.Detail)
		}
	}
	// A wrong expectation fails: the runner is not a rubber stamp.
	s.Tests[0].Spec.Results[0].Result = "deny"
	outcomes, _ = s.RunTests(context.Background())
	if outcomes[0].Pass {
		t.Error("a wrong expectation passed")
	}
	// So does judging on a day when the exception has expired.
	s.Tests[0].Spec.Results[0].Result = "allow"
	s.Tests[0].Spec.Now = "2027-02-01"
	outcomes, _ = s.RunTests(context.Background())
	for _, o := range outcomes {
		if o.Resource == "shop/legacy" && o.Policy == "team-label-required" && o.Pass {
			t.Error("expired exception still admits")
		}
	}
}

func TestExportGolden(t *testing.T) {
	s, err := NewSet(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Load(context.Background(), []string{"testdata/good/team-label.yaml"}); len(p) > 0 {
		t.Fatal(p)
	}
	data, err := os.ReadFile("testdata/good/fixtures/exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exc, problems := exception.Load("exceptions.yaml", data, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	scoped, _ := exception.Load("shop/.mamori-ignore.yaml", []byte(`exceptions:
- {check: "team-*", reason: r, owner: o, expires: 2030-01-01}
- {check: replicas-limit, paths: [deploy/*.yaml], resources: [{kind: "Deploy*", name: "web-?"}], reason: r, owner: o, expires: 2030-01-01}
`), "shop")
	exc.Add(scoped)
	whole, _ := exception.Load("global.yaml", []byte(`exceptions:
- {check: replicas-limit, resources: [{kind: "Deploy*", namespace: "team-[ab]", name: "web-?"}], reason: r, owner: o, expires: 2030-01-01}
- {fingerprints: [0123456789abcdef01234567], reason: one secret, owner: o, expires: 2030-01-01}
- {check: "*", packages: [openssl], reason: one package, owner: o, expires: 2030-01-01}
`), "")
	exc.Add(whole)
	x := s.ExportVAP(ExportOptions{Exceptions: exc, Now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	got, err := x.YAML()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "export.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("export differs from %s (-want +got); run go test -update:\n%s", golden, d)
	}
	// What is exported compiles in the API server's environment.
	for _, o := range x.Objects {
		if vap, ok := o.(*admissionregistrationv1.ValidatingAdmissionPolicy); ok {
			if errs := s.compiler.check(&vap.Spec); len(errs) > 0 {
				t.Errorf("exported %s does not compile: %v", vap.Name, errs)
			}
		}
	}
	// Every exception not carried over is said, per policy.
	var notes []string
	for _, n := range x.Notes {
		notes = append(notes, n.Policy+": "+n.Message)
	}
	all := strings.Join(notes, "\n")
	for _, s := range []string{"team-label-required: exception exceptions.yaml:7 (owner data@example.com) expired",
		"team-label-required: exception shop/.mamori-ignore.yaml:2 (owner o) holds only for files under shop",
		"replicas-limit: exception shop/.mamori-ignore.yaml:3 (owner o) is limited to file paths deploy/*.yaml",
		"team-label-required: exception exceptions.yaml:2 (owner platform@example.com) exported as matchCondition",
		// Exported, those would exempt every object from every policy.
		"team-label-required: exception global.yaml:3 (owner o) is limited to fingerprints, packages or images",
		"team-label-required: exception global.yaml:4 (owner o) is limited to fingerprints, packages or images"} {
		if !strings.Contains(all, s) {
			t.Errorf("notes lack %q:\n%s", s, all)
		}
	}
}

func TestGlobRegexp(t *testing.T) {
	for _, tc := range []struct{ glob, re string }{
		{"web-?", `^web-[^/]$`},
		{"team-[ab]*", `^team-[ab][^/]*$`},
		{"a.b", `^a\.b$`},
		{`x\*`, `^x\*$`},
	} {
		if got := globRegexp(tc.glob); got != tc.re {
			t.Errorf("globRegexp(%q) = %q, want %q", tc.glob, got, tc.re)
		}
	}
}

// FuzzAdd: no policy file, however broken, panics the loader.
func FuzzAdd(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, _ := os.ReadFile(file)
			f.Add(data)
		}
	}
	s, err := NewSet(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s.Policies, s.Tests = nil, nil
		s.Add("fuzz.yaml", data)
	})
}

// TestTypeCheckedAgainstSchemas: with the built-in kinds' schemas, a
// misspelt field or a mistyped comparison is a load error at its line,
// as the API server's type checker would warn.
func TestTypeCheckedAgainstSchemas(t *testing.T) {
	s, err := NewSet(Options{Mapper: k8sschema.RESTMapper(), Schemas: k8sschema.Resolver()})
	if err != nil {
		t.Fatal(err)
	}
	problems := s.Load(context.Background(), []string{"testdata/typecheck.yaml"})
	want := []string{
		"testdata/typecheck.yaml:11: Policy typo: spec.validations[0].expression: type error: apps/v1, Kind=Deployment: ERROR: <input>:1:12: undefined field 'replica'",
		"testdata/typecheck.yaml:12: Policy typo: spec.validations[1].expression: type error: apps/v1, Kind=Deployment: ERROR: <input>:1:53: found no matching overload for '_==_' applied to '(string, int)'",
	}
	if len(problems) != len(want) {
		t.Fatalf("got %v", problems)
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i].String(), w) {
			t.Errorf("got  %s\nwant %s", problems[i], w)
		}
	}
	// Without schemas the same file loads: objects are untyped.
	s, _ = NewSet(Options{})
	if p := s.Load(context.Background(), []string{"testdata/typecheck.yaml"}); len(p) > 0 {
		t.Errorf("untyped load: %v", p)
	}
}

func TestLoadLeavesImageVerificationPolicies(t *testing.T) {
	s, err := NewSet(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Load(context.Background(), []string{"testdata/mixed"}); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	if len(s.Policies) != 1 || s.Policies[0].ID() != "team-label-required" {
		t.Fatalf("policies: %v", s.Rules())
	}
	// Other unknown kinds of the group are still reported.
	p := s.Add("typo.yaml", []byte("apiVersion: mamori.dev/v1alpha1\nkind: ImageVerificationPolicies\nmetadata: {name: x}\n"))
	if len(p) != 1 || !strings.Contains(p[0].String(), "typo.yaml:1: kind ImageVerificationPolicies: unknown") {
		t.Errorf("problems: %v", p)
	}
}
