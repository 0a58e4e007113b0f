package netpol

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// analyze reads manifests the way the scanner does and returns
// "checkID resource path" per finding, and the problems.
func analyze(t *testing.T, text string) ([]string, []finding.Problem) {
	t.Helper()
	res := manifest.Parse("np.yaml", []byte(text))
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	var (
		ws  []Workload
		ps  []*Policy
		nss []Namespace
	)
	for _, o := range res.Objects {
		switch o.Kind() {
		case "Pod":
			var meta corev1.Pod
			if _, err := o.Decode("", &meta); err != nil {
				t.Fatal(err)
			}
			ws = append(ws, Workload{Resource: o.Resource(), Labels: meta.Labels, LabelsAt: o.Location("metadata.labels"), Namespace: o.Location("metadata.namespace")})
		case "Namespace":
			nss = append(nss, Namespace{Name: o.Name(), At: o.Location("metadata.name"), Res: o.Resource()})
		case "NetworkPolicy":
			p, err := DecodePolicy(o)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
	}
	fs, problems := Analyze(ws, ps, nss)
	var out []string
	for _, f := range fs {
		out = append(out, f.CheckID()+" "+f.Resource.Kind+"/"+f.Resource.Name+" "+f.Location.Path)
	}
	return out, problems
}

func pod(name, ns, labels string) string {
	return "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n  labels: " + labels + "\nspec: {containers: [{name: c, image: x}]}\n"
}

func policy(name, ns, spec string) string {
	return "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + spec
}

func TestCoverage(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"no policies", pod("web", "shop", "{app: web}"), []string{
			"netpol-no-default-deny-ingress Namespace/shop metadata.namespace",
			"netpol-no-default-deny-egress Namespace/shop metadata.namespace"}},
		{"namespace object is pointed at", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n" + pod("web", "shop", "{app: web}") +
			policy("deny", "shop", "  podSelector: {}\n  policyTypes: [Ingress]\n"), []string{
			"netpol-no-default-deny-egress Namespace/shop metadata.name"}},
		{"default deny both ways", pod("web", "shop", "{app: web}") + policy("deny", "shop", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"), nil},
		{"egress only implied by rules", pod("web", "shop", "{app: web}") + policy("deny", "shop", "  podSelector: {}\n  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]\n"), nil},
		{"allow-all ingress is not deny", pod("web", "shop", "{app: web}") + policy("open", "shop", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress: [{}]\n"), []string{
			"netpol-no-default-deny-ingress Namespace/shop metadata.namespace"}},
		{"workload not selected, selector matches nothing", pod("web", "shop", "{app: web}") + pod("api", "shop", "{app: api}") +
			policy("web", "shop", "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n") +
			policy("typo", "shop", "  podSelector: {matchLabels: {app: wbe}}\n"), []string{
			"netpol-no-default-deny-ingress Namespace/shop metadata.namespace",
			"netpol-no-default-deny-egress Namespace/shop metadata.namespace",
			"netpol-workload-not-selected Pod/api metadata.labels",
			"netpol-selector-matches-nothing NetworkPolicy/typo spec.podSelector"}},
		{"expressions", pod("web", "shop", "{app: web, tier: front}") + pod("db", "shop", "{app: db}") +
			policy("deny", "shop", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n") +
			policy("a", "shop", "  podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}\n") +
			policy("b", "shop", "  podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [web, db]}]}\n") +
			policy("c", "shop", "  podSelector: {matchExpressions: [{key: tier, operator: Exists}, {key: app, operator: In, values: [web]}]}\n") +
			policy("d", "shop", "  podSelector: {}\n  ingress: [{from: [{podSelector: {matchLabels: {app: cache}}}, {namespaceSelector: {}, podSelector: {matchLabels: {app: x}}}]}]\n"),
			[]string{
				"netpol-selector-matches-nothing NetworkPolicy/b spec.podSelector",
				"netpol-selector-matches-nothing NetworkPolicy/d spec.ingress[0].from[0].podSelector"}},
		{"other namespace does not count", pod("web", "shop", "{app: web}") + policy("deny", "other", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"), []string{
			"netpol-no-default-deny-ingress Namespace/shop metadata.namespace",
			"netpol-no-default-deny-egress Namespace/shop metadata.namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := analyze(t, tt.text)
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestInvalidSelector(t *testing.T) {
	_, problems := analyze(t, pod("web", "shop", "{app: web}")+policy("bad", "shop", "  podSelector: {matchExpressions: [{key: app, operator: Near, values: [x]}]}\n"))
	if len(problems) != 1 || problems[0].Line != 14 || !strings.Contains(problems[0].Message, "spec.podSelector") {
		t.Errorf("problems = %v", problems)
	}
}

func TestRulesWellFormed(t *testing.T) {
	for _, r := range Rules() {
		if !strings.HasPrefix(r.ID, "netpol-") || r.Title == "" || r.Description == "" || r.Remediation == "" || len(r.References) == 0 || len(r.Controls) == 0 {
			t.Errorf("%s: incomplete", r.ID)
		}
	}
}
