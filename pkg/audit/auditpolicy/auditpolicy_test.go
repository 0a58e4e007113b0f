package auditpolicy

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/mamori-dev/mamori/pkg/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// builtins are requirements shaped like those of the built-in rules.
func builtins() []audit.Requirement {
	meta, req := audit.LevelMetadata, audit.LevelRequest
	core := func(rs ...string) audit.GroupResources { return audit.GroupResources{Group: "", Resources: rs} }
	g := func(group string, rs ...string) audit.GroupResources {
		return audit.GroupResources{Group: group, Resources: rs}
	}
	rbac := "rbac.authorization.k8s.io"
	return []audit.Requirement{
		{Rule: "pod-exec", Verbs: []string{"create", "get"}, Resources: []audit.GroupResources{core("pods/exec", "pods/attach", "pods/portforward")},
			Level: meta, Stages: []string{audit.StageResponseStarted, audit.StageResponseComplete}},
		{Rule: "privileged-pod", Verbs: []string{"create", "update"}, Level: req, Resources: []audit.GroupResources{
			core("pods", "replicationcontrollers"), g("apps", "deployments", "daemonsets", "statefulsets", "replicasets"), g("batch", "jobs", "cronjobs")}},
		{Rule: "secret-read-unusual", Verbs: []string{"get", "list", "watch"}, Resources: []audit.GroupResources{core("secrets")}, Level: meta},
		{Rule: "anonymous-allowed", NonResourceURLs: []string{"*"}, Level: meta},
		{Rule: "cluster-admin-binding", Verbs: []string{"create", "update"}, Resources: []audit.GroupResources{g(rbac, "clusterrolebindings", "rolebindings")}, Level: req},
		{Rule: "rbac-dangerous-role", Verbs: []string{"create", "update"}, Resources: []audit.GroupResources{g(rbac, "clusterroles", "roles")}, Level: req},
		{Rule: "sa-token-outside", Verbs: []string{"create"}, Resources: []audit.GroupResources{core("serviceaccounts/token")}, Level: meta},
		{Rule: "events-deleted", Verbs: []string{"delete", "deletecollection"}, Resources: []audit.GroupResources{core("events"), g("events.k8s.io", "events")}, Level: meta},
		{Rule: "webhook-config-changed", Verbs: []string{"create", "update", "patch", "delete"},
			Resources: []audit.GroupResources{g("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "validatingwebhookconfigurations")}, Level: meta},
		{Rule: "csr-approved", Verbs: []string{"update", "patch"}, Resources: []audit.GroupResources{g("certificates.k8s.io", "certificatesigningrequests/approval")}, Level: meta},
		{Rule: "kube-system-workload", Verbs: []string{"create"}, Namespaces: []string{"kube-system", "kube-public"},
			Resources: []audit.GroupResources{core("pods", "serviceaccounts", "secrets"), g("apps", "deployments")}, Level: meta},
		{Rule: "forbidden-burst", NonResourceURLs: []string{"*"}, Level: meta, Stages: []string{audit.StageResponseComplete, audit.StageResponseStarted}},
		{Rule: "source-ip-not-allowed", NonResourceURLs: []string{"*"}, Level: meta},
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestRecommended: the recommended policy starves none of the
// requirements it was built from, is a strict audit.k8s.io/v1 Policy the
// API server's own loader accepts, drops system reads and records
// exactly the body-reading requests at Request.
func TestRecommended(t *testing.T) {
	reqs := builtins()
	out, err := Recommended(reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/recommended.golden.yaml", string(out))

	rep, err := Check("recommended.yaml", out, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Starved) > 0 || len(rep.Notes) > 0 {
		t.Errorf("recommended policy starves its own rules:\n%s", rep)
	}

	// Strict decode with the upstream scheme, as the API server loads it.
	strict := serializer.NewCodecFactory(k8saudit.Scheme, serializer.EnableStrict).UniversalDecoder(auditv1.SchemeGroupVersion)
	var v1 auditv1.Policy
	if _, _, err := strict.Decode(out, nil, &v1); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if got, err := policy.LoadPolicyFromBytes(out); err != nil || len(got.Rules) == 0 {
		t.Fatalf("upstream loader: %v", err)
	}
	if !slices.Equal(v1.OmitStages, []auditv1.Stage{auditv1.StageRequestReceived}) {
		t.Errorf("omitStages %v", v1.OmitStages)
	}

	p, err := Parse("recommended.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	node := principal{"system:node:n1", []string{user.NodesGroup, user.AllAuthenticated}}
	kcm := principal{user.KubeControllerManager, []string{user.AllAuthenticated}}
	ksys := principal{"system:serviceaccount:kube-system:replicaset-controller", []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", user.AllAuthenticated}}
	alice := principals[0]
	for _, tc := range []struct {
		q    request
		want string
	}{
		{request{verb: "watch", resource: "pods", who: node}, audit.LevelNone},
		{request{verb: "get", resource: "secrets", namespace: "ns", name: "s", who: node}, audit.LevelNone},
		{request{verb: "list", group: "apps", resource: "replicasets", who: kcm}, audit.LevelNone},
		{request{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system", name: "x", who: kcm}, audit.LevelNone},
		{request{verb: "patch", resource: "pods", sub: "status", namespace: "ns", name: "x", who: node}, audit.LevelNone},
		{request{verb: "get", path: "/healthz", who: principals[3]}, audit.LevelNone},
		// Writes of the system are kept, with bodies where rules need them.
		{request{verb: "create", resource: "pods", namespace: "kube-system", who: ksys}, audit.LevelRequest},
		{request{verb: "delete", resource: "pods", namespace: "ns", name: "x", who: kcm}, audit.LevelMetadata},
		// Exactly the body-reading pairs at Request.
		{request{verb: "create", group: "apps", resource: "deployments", namespace: "ns", who: alice}, audit.LevelRequest},
		{request{verb: "patch", group: "apps", resource: "deployments", namespace: "ns", name: "x", who: alice}, audit.LevelMetadata},
		{request{verb: "update", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", name: "x", who: alice}, audit.LevelRequest},
		{request{verb: "delete", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", name: "x", who: alice}, audit.LevelMetadata},
		{request{verb: "get", resource: "pods", namespace: "ns", name: "x", who: alice}, audit.LevelMetadata},
		// Never bodies of credentials.
		{request{verb: "create", resource: "secrets", namespace: "ns", who: alice}, audit.LevelMetadata},
		{request{verb: "create", resource: "serviceaccounts", sub: "token", namespace: "ns", name: "x", who: alice}, audit.LevelMetadata},
		{request{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", who: alice}, audit.LevelMetadata},
		{request{verb: "get", path: "/metrics", who: alice}, audit.LevelMetadata},
	} {
		if d := p.Evaluate(tc.q.attrs()); d.Level != tc.want {
			t.Errorf("%s: level %s (line %d), want %s", tc.q, d.Level, d.Line, tc.want)
		}
	}

	keep, err := Recommended(reqs, Options{KeepReadsOfSystem: true})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := Parse("keep.yaml", keep)
	if err != nil {
		t.Fatal(err)
	}
	if d := pk.Evaluate(request{verb: "watch", resource: "pods", who: node}.attrs()); d.Level != audit.LevelMetadata {
		t.Errorf("KeepReadsOfSystem: watch pods by node at %s", d.Level)
	}
}

// TestRecommendedSensitive: a rule wanting bodies of secrets does not
// get them, and Check says so.
func TestRecommendedSensitive(t *testing.T) {
	reqs := []audit.Requirement{{Rule: "secret-content", Verbs: []string{"create"}, Level: audit.LevelRequest,
		Resources: []audit.GroupResources{{Group: "", Resources: []string{"secrets", "pods"}}}}}
	out, err := Recommended(reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "secret-content would read bodies") {
		t.Errorf("no comment on the withheld bodies:\n%s", out)
	}
	rep, err := Check("r.yaml", out, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Starved) != 1 || !strings.Contains(rep.Starved[0].Reason, "level Metadata for create secrets") {
		t.Errorf("report:\n%s", rep)
	}
}

// TestCheckGolden: reports on the docs' example, GKE's policy, a
// Metadata catch-all and a policy written to starve.
func TestCheckGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 4 {
		t.Fatalf("testdata: %v", files)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(f, data, builtins())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", rep.String())
		})
	}
}

// TestCheckFindings pins the findings the golden files show, so that a
// careless -update cannot bless a broken checker.
func TestCheckFindings(t *testing.T) {
	check := func(file string) *Report {
		t.Helper()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Check(file, data, builtins())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	has := func(rep *Report, rule, reason string, line int) bool {
		return slices.ContainsFunc(rep.Starved, func(s Starvation) bool {
			return s.Rule == rule && strings.Contains(s.Reason, reason) && s.PolicyLine == line
		})
	}
	starved := func(rep *Report, rule string) bool {
		return slices.ContainsFunc(rep.Starved, func(s Starvation) bool { return s.Rule == rule })
	}

	s := check("testdata/starving.yaml")
	if !has(s, "pod-exec", "level None for create pods/exec", 13) {
		t.Errorf("pod-exec not starved by line 13:\n%s", s)
	}
	if !has(s, "secret-read-unusual", "omitStages drops ResponseStarted and ResponseComplete", 17) {
		t.Errorf("secret-read-unusual stages:\n%s", s)
	}
	if !has(s, "privileged-pod", "level Metadata for create pods: privileged-pod reads the request body and needs Request", 22) {
		t.Errorf("privileged-pod:\n%s", s)
	}
	// Line 7 drops reads of secrets by nodes: secret-read-unusual ignores
	// nodes, so it is no starvation.
	if slices.ContainsFunc(s.Starved, func(x Starvation) bool { return x.PolicyLine == 7 }) {
		t.Errorf("nodes' reads counted:\n%s", s)
	}
	// Default None: webhook configs match no rule.
	if !has(s, "webhook-config-changed", "default level is None", 0) {
		t.Errorf("default None:\n%s", s)
	}
	if starved(s, "cluster-admin-binding") {
		t.Errorf("RequestResponse starves nothing:\n%s", s)
	}

	m := check("testdata/metadata.yaml")
	for _, r := range []string{"privileged-pod", "cluster-admin-binding", "rbac-dangerous-role"} {
		if !starved(m, r) {
			t.Errorf("metadata: %s not starved", r)
		}
	}
	for _, r := range []string{"pod-exec", "secret-read-unusual", "anonymous-allowed", "forbidden-burst"} {
		if starved(m, r) {
			t.Errorf("metadata: %s starved", r)
		}
	}
	if !slices.ContainsFunc(m.Notes, func(n string) bool { return strings.Contains(n, "RequestReceived") }) {
		t.Errorf("metadata: no RequestReceived note: %v", m.Notes)
	}

	d := check("testdata/k8s-docs.yaml")
	// The docs drop /api* for authenticated users, which forbidden-burst
	// and anonymous-allowed's siblings judge; deployments and bindings get
	// Metadata only; configmaps of kube-system are recorded with bodies.
	if !has(d, "privileged-pod", "level Metadata for create deployments.apps", 67) {
		t.Errorf("docs privileged-pod:\n%s", d)
	}
	if !has(d, "forbidden-burst", "level None for get /api", 39) {
		t.Errorf("docs forbidden-burst:\n%s", d)
	}
	if !slices.ContainsFunc(d.Notes, func(n string) bool {
		return strings.HasPrefix(n, "warning:") && strings.Contains(n, "configmaps at Request")
	}) {
		t.Errorf("docs: no configmap leak warning: %v", d.Notes)
	}

	g := check("testdata/gke.yaml")
	if starved(g, "privileged-pod") || starved(g, "cluster-admin-binding") || starved(g, "pod-exec") {
		t.Errorf("gke records bodies of everything known:\n%s", g)
	}
	// GKE drops events for everyone, deletions too.
	if !has(g, "events-deleted", "level None for delete events", 77) {
		t.Errorf("gke events-deleted:\n%s", g)
	}
	// Every recording rule of GKE omits RequestReceived, and credentials
	// stay at Metadata.
	if slices.ContainsFunc(g.Notes, func(n string) bool {
		return strings.Contains(n, "RequestReceived") || strings.HasPrefix(n, "warning:")
	}) {
		t.Errorf("gke notes: %v", g.Notes)
	}
}

// TestCheckSubsets: rules that starve only some namespaces, groups or
// users are reported with the subset, an example request in it and the
// policy line, though no sampled request reaches them.
func TestCheckSubsets(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // exact report lines
		// Requirements that must not be reported for the subset rule.
		not []string
	}{
		{"starve-namespaces.yaml", []string{
			"starved pod-exec (line 6): starves pod-exec for namespaces prod, payments: level None; e.g. create pods/exec in ns prod by alice (48 requests)",
			"starved secret-read-unusual (line 6): starves secret-read-unusual for namespaces prod, payments: level None; e.g. get secrets in ns prod by alice (24 requests)",
			"starved rbac-dangerous-role (line 6): starves rbac-dangerous-role for namespaces prod, payments: level None; e.g. create roles.rbac.authorization.k8s.io in ns prod by alice (16 requests)",
		}, []string{"kube-system-workload", "webhook-config-changed", "csr-approved"}}, // outside prod, or cluster-scoped
		{"starve-groups.yaml", []string{
			"starved pod-exec (line 7): starves pod-exec for groups oidc:admins: level None; e.g. create pods/exec in ns default by alice in group oidc:admins (48 requests)",
			"starved kube-system-workload (line 7): starves kube-system-workload for groups oidc:admins: level None; e.g. create pods in ns kube-system by alice in group oidc:admins (32 requests)",
		}, nil},
		{"starve-users.yaml", []string{
			"starved pod-exec (line 13): starves pod-exec for users mallory: omitStages drops ResponseStarted and ResponseComplete; e.g. create pods/exec in ns default by mallory (16 requests)",
			"starved privileged-pod (line 7): starves privileged-pod for users mallory: level Metadata, and privileged-pod reads the request body and needs Request; e.g. create deployments.apps in ns default by mallory (16 requests)",
		}, []string{"secret-read-unusual", "cluster-admin-binding"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(tc.file, data, builtins())
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(rep.String(), "\n")
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q in\n%s", w, rep)
				}
			}
			for _, s := range rep.Starved {
				if slices.Contains(tc.not, s.Rule) && strings.HasPrefix(s.Reason, "starves ") {
					t.Errorf("%s reported: %s", s.Rule, s.Reason)
				}
				// System components do not count, even when named.
				if strings.Contains(s.Reason, "system:") || strings.Contains(s.Example, "system:") {
					t.Errorf("system component counted: %s; %s", s.Reason, s.Example)
				}
			}
		})
	}
}

// TestSubsetExamplesConfirmed: every subset finding's example is decided
// by the reported line at a level or stages that starve the rule.
func TestSubsetExamplesConfirmed(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		p, err := Parse(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range builtins() {
			for _, q := range requests(r, principals) {
				for _, s := range p.subsetRules() {
					for _, m := range s.moves(r, q) {
						// Moves stay within what the requirement covers.
						if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, m.q.namespace) {
							t.Fatalf("%s: %s moved out of %v", f, m.q, r.Namespaces)
						}
						if ignoredUser(m.q.who.name) && !ignoredUser(q.who.name) {
							t.Fatalf("%s: moved to a system user: %s", f, m.q)
						}
					}
				}
			}
		}
	}
	// The examples of TestCheckSubsets, asked of the evaluator again.
	alice := principals[0]
	for _, tc := range []struct {
		file string
		q    request
		line int
		want string
	}{
		{"starve-namespaces.yaml", request{verb: "create", resource: "pods", sub: "exec", namespace: "prod", name: "app", who: alice}, 6, audit.LevelNone},
		{"starve-namespaces.yaml", request{verb: "create", resource: "pods", sub: "exec", namespace: "default", name: "app", who: alice}, 8, audit.LevelRequest},
		{"starve-groups.yaml", request{verb: "create", resource: "pods", sub: "exec", namespace: "default", name: "app",
			who: principal{"alice", []string{user.AllAuthenticated, "oidc:admins"}}}, 7, audit.LevelNone},
		{"starve-users.yaml", request{verb: "create", group: "apps", resource: "deployments", namespace: "default", who: principal{"mallory", []string{user.AllAuthenticated}}}, 7, audit.LevelMetadata},
	} {
		data, _ := os.ReadFile(filepath.Join("testdata", tc.file))
		p, err := Parse(tc.file, data)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Evaluate(tc.q.attrs()); d.Line != tc.line || d.Level != tc.want {
			t.Errorf("%s: %s: line %d %s, want line %d %s", tc.file, tc.q, d.Line, d.Level, tc.line, tc.want)
		}
	}
}

// TestParseErrors: bad policies are errors naming file:line and the fault.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"not-policy.yaml", []string{"not-policy.yaml:2: not an audit policy: kind \"ConfigMap\""}},
		{"unknown-level.yaml", []string{"unknown-level.yaml:5: rules[1]: unknown level \"Everything\""}},
		{"unknown-field.yaml", []string{"unknown-field.yaml:5: rules[0]: unknown field \"verb\"", "unknown-field.yaml:7: rules[1].omitStages: unknown stage \"Started\""}},
		{"old-version.yaml", []string{"old-version.yaml:1: apiVersion \"audit.k8s.io/v1beta1\""}},
		{"broken.yaml", []string{"broken.yaml:"}},
		{"wrong-type.yaml", []string{"wrong-type.yaml:4: rules[0]: ", "users"}},
		{"no-rules.yaml", []string{"no-rules.yaml:3: policy has no rules"}},
		{"two-docs.yaml", []string{"two-docs.yaml:6: a second document"}},
		{"empty.yaml", []string{"empty.yaml: empty"}},
		{"invalid-rule.yaml", []string{"invalid-rule.yaml:4: rules[0]", "nonResourceURLs"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/bad", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Check(tc.file, data, builtins())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q", err, w)
				}
			}
		})
	}
}

// TestEvaluateUpstream: Evaluate agrees with the API server's evaluator
// on every representative request of the test policies.
func TestEvaluateUpstream(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	var qs []request
	for _, r := range builtins() {
		qs = append(qs, requests(r, principals)...)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		p, err := Parse(f, data)
		if err != nil {
			t.Fatal(err)
		}
		internal, err := policy.LoadPolicyFromBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		ev := policy.NewPolicyRuleEvaluator(internal)
		for _, q := range qs {
			got := p.Evaluate(q.attrs())
			want := ev.EvaluatePolicyRule(q.attrs())
			ws := union(want.OmitStages, nil)
			if got.Level != string(want.Level) || !slices.Equal(got.OmitStages, ws) {
				t.Errorf("%s: %s: got %s %v, upstream %s %v", f, q, got.Level, got.OmitStages, want.Level, ws)
			}
		}
		// The package-level Evaluate on the v1 policy: same level.
		for _, q := range qs[:20] {
			lv, _, line := Evaluate(p.V1, q.attrs())
			if d := p.Evaluate(q.attrs()); lv != d.Level || (line == 0) != (d.Line == 0) {
				t.Errorf("%s: %s: Evaluate %s line %d, method %s line %d", f, q, lv, line, d.Level, d.Line)
			}
		}
	}
	_ = auditinternal.LevelNone
}

func FuzzCheck(f *testing.F) {
	for _, dir := range []string{"testdata", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, _ := os.ReadFile(file)
			f.Add(data)
		}
	}
	// A few requirements keep an execution short: the fuzzer minimizes
	// every new input by re-running it hundreds of times.
	reqs := builtins()[:3]
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Check("fuzz.yaml", data, reqs)
		if err == nil && rep == nil {
			t.Fatal("nil report without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
