package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

func analyze(t *testing.T, text string) []finding.Finding {
	t.Helper()
	res := manifest.Parse("rbac.yaml", []byte(text))
	if len(res.Errors) > 0 {
		t.Fatalf("parse: %v", res.Errors)
	}
	var objs []*Object
	for _, o := range res.Objects {
		r, err := Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			objs = append(objs, r)
		}
	}
	return Analyze(objs)
}

// hits lists "checkID path" of the findings, checking each points at its
// field exactly.
func hits(t *testing.T, text string) []string {
	t.Helper()
	res := manifest.Parse("rbac.yaml", []byte(text))
	var out []string
	for _, f := range analyze(t, text) {
		out = append(out, f.CheckID()+" "+f.Location.Path)
		for _, o := range res.Objects {
			if o.Name() == f.Resource.Name && o.Kind() == f.Resource.Kind {
				if line, _, exact := o.Locate(f.Location.Path); !exact || line != f.Location.Line {
					t.Errorf("%s at line %d; field %s is at %d (exact %v)", f.CheckID(), f.Location.Line, f.Location.Path, line, exact)
				}
			}
		}
	}
	return out
}

func role(rules string) string {
	return "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: shop}\nrules:\n" + rules
}

func binding(ref, subjects string) string {
	return "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: " + ref + "}\nsubjects:\n" + subjects
}

type rbacCase struct {
	check      string
	fail, pass string
	want       []string // paths on fail
}

func cases() []rbacCase {
	return []rbacCase{
		{check: "rbac-wildcard",
			fail: role("- apiGroups: ['']\n  resources: [configmaps]\n  verbs: ['*']\n"), want: []string{"rules[0].verbs[0]"},
			pass: role("- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get, list]\n")},
		{check: "rbac-secrets-read",
			fail: role("- apiGroups: ['']\n  resources: [configmaps, secrets]\n  verbs: [list]\n"), want: []string{"rules[0].resources[1]"},
			pass: role("- apiGroups: ['']\n  resources: [secrets]\n  verbs: [create]\n")},
		{check: "rbac-pod-exec",
			fail: role("- apiGroups: ['']\n  resources: ['pods/*']\n  verbs: [create]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: ['']\n  resources: [pods/log]\n  verbs: [get]\n")},
		{check: "rbac-escalation-verbs",
			fail: role("- apiGroups: ['']\n  resources: [serviceaccounts]\n  verbs: [impersonate]\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles]\n  verbs: [bind]\n"),
			want: []string{"rules[0].resources[0]", "rules[1].resources[0]"},
			pass: role("- apiGroups: [rbac.authorization.k8s.io]\n  resources: [roles]\n  verbs: [get]\n")},
		{check: "rbac-create-pods",
			fail: role("- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [create, update]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [update, patch]\n")},
		{check: "rbac-nodes-proxy",
			fail: role("- apiGroups: ['']\n  resources: [nodes/proxy]\n  verbs: [get]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: ['']\n  resources: [nodes/metrics]\n  verbs: [get]\n")},
		{check: "rbac-serviceaccount-token",
			fail: role("- apiGroups: ['']\n  resources: [serviceaccounts/token]\n  verbs: [create]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: ['']\n  resources: [serviceaccounts]\n  verbs: [get]\n")},
		{check: "rbac-csr-approval",
			fail: role("- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval]\n  verbs: [update]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [create]\n")},
		{check: "rbac-webhook-config",
			fail: role("- apiGroups: [admissionregistration.k8s.io]\n  resources: [validatingwebhookconfigurations]\n  verbs: [patch]\n"), want: []string{"rules[0].resources[0]"},
			pass: role("- apiGroups: [admissionregistration.k8s.io]\n  resources: [validatingwebhookconfigurations]\n  verbs: [list]\n")},
		{check: "rbac-cluster-admin-binding",
			fail: binding("cluster-admin", "- {kind: ServiceAccount, name: ci, namespace: tools}\n"), want: []string{"roleRef.name"},
			pass: binding("view", "- {kind: ServiceAccount, name: ci, namespace: tools}\n")},
		{check: "rbac-anonymous-binding",
			fail: binding("view", "- {kind: User, name: alice}\n- {kind: Group, name: 'system:unauthenticated'}\n"), want: []string{"subjects[1].name"},
			pass: binding("view", "- {kind: Group, name: 'system:serviceaccounts:shop'}\n")},
		{check: "rbac-system-masters",
			fail: binding("view", "- {kind: Group, name: 'system:masters'}\n"), want: []string{"subjects[0].name"},
			pass: binding("view", "- {kind: Group, name: admins}\n")},
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.check, func(t *testing.T) {
			var got []string
			for _, h := range hits(t, tc.fail) {
				if id, path, _ := strings.Cut(h, " "); id == tc.check {
					got = append(got, path)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fail: %s at %q, want %q", tc.check, got, tc.want)
			}
			for _, h := range hits(t, tc.pass) {
				if strings.HasPrefix(h, tc.check+" ") {
					t.Errorf("pass: %s", h)
				}
			}
		})
	}
}

func TestEverythingIsOneWildcardFinding(t *testing.T) {
	got := hits(t, role("- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']\n"))
	want := []string{"rbac-wildcard rules[0].apiGroups[0]", "rbac-wildcard rules[0].resources[0]", "rbac-wildcard rules[0].verbs[0]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAggregationAndBuiltins(t *testing.T) {
	text := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: shop-admin}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions: [{key: shop/aggregate, operator: In, values: ["true"]}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: shop-secrets, labels: {shop/aggregate: "true"}}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: unrelated, labels: {shop/aggregate: "false"}}
rules:
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:controller:thing"}
rules:
- {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:public-info-viewer"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:public-info-viewer"}
subjects: [{kind: Group, name: "system:unauthenticated"}]
`
	var got []string
	for _, f := range analyze(t, text) {
		got = append(got, fmt.Sprintf("%s %s %s", f.Resource.Name, f.CheckID(), f.Location.Path))
	}
	want := []string{
		"shop-admin rbac-secrets-read aggregationRule",
		"shop-secrets rbac-secrets-read rules[0].resources[0]",
		"unrelated rbac-pod-exec rules[0].resources[0]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q,\nwant %q", got, want)
	}
}

func TestRulesWellFormed(t *testing.T) {
	have := map[string]bool{}
	for _, c := range cases() {
		have[c.check] = true
	}
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || !strings.HasPrefix(r.ID, "rbac-") {
			t.Errorf("bad or duplicate ID %s", r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Description == "" || r.Remediation == "" || len(r.References) == 0 || len(r.Controls) == 0 || r.Severity == finding.Unknown {
			t.Errorf("%s: incomplete metadata", r.ID)
		}
		if !have[r.ID] {
			t.Errorf("%s: no test case", r.ID)
		}
	}
}

func TestDecodeError(t *testing.T) {
	res := manifest.Parse("r.yaml", []byte(role("- apiGroups: ['']\n  resources: secrets\n  verbs: [get]\n")))
	_, err := Decode(res.Objects[0])
	var fe *manifest.FieldError
	if !errors.As(err, &fe) || fe.Path != "rules[0].resources" || fe.Line != 6 || !strings.Contains(fe.Msg, "want a list") {
		t.Fatalf("err = %#v", err)
	}
}
