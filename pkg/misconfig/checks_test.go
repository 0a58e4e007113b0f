package misconfig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// goodPod passes every check at the restricted level.
const goodPod = `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: shop
spec:
  serviceAccountName: app
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile: {type: RuntimeDefault}
  volumes:
  - name: tmp
    emptyDir: {}
  containers:
  - name: app
    image: ghcr.io/example/app:1.2.3@sha256:0000000000000000000000000000000000000000000000000000000000000000
    env:
    - {name: LOG_LEVEL, value: info}
    ports:
    - {containerPort: 8080}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: "1", memory: 128Mi}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}}
    readinessProbe: {httpGet: {path: /ready, port: 8080}}
`

// mutate applies replacements to goodPod; each old string must occur.
func mutate(t *testing.T, pairs ...string) string {
	t.Helper()
	s := goodPod
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("mutation %q not found in goodPod", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

const (
	ctr   = "spec.containers[0]"
	ctrSC = "spec.containers[0].securityContext"
	sc    = "      allowPrivilegeEscalation: false\n"
)

type checkCase struct {
	check string
	level string // PSS level; restricted when empty
	fail  []string
	want  []string // field paths the check must report on fail
	// present is set when the reported field exists in the fail manifest
	// (the finding must then point exactly at it).
	present bool
	pass    []string
}

func checkCases() []checkCase {
	return []checkCase{
		{check: "pss-privileged", present: true, fail: []string{sc, sc + "      privileged: yes\n"}, want: []string{ctrSC + ".privileged"},
			pass: []string{sc, sc + "      privileged: false\n"}},
		{check: "pss-host-namespaces", present: true, fail: []string{"  serviceAccountName: app\n", "  serviceAccountName: app\n  hostPID: true\n"}, want: []string{"spec.hostPID"},
			pass: []string{"  serviceAccountName: app\n", "  serviceAccountName: app\n  hostNetwork: false\n"}},
		{check: "pss-host-path-volumes", present: true, level: "baseline", fail: []string{"emptyDir: {}", "hostPath: {path: /data}"}, want: []string{"spec.volumes[0].hostPath.path"}},
		{check: "pss-restricted-volumes", fail: []string{"emptyDir: {}", "nfs: {server: nfs.example, path: /x}"}, want: []string{"spec.volumes[0]"},
			pass: []string{"emptyDir: {}", "configMap: {name: cfg}"}},
		{check: "pss-host-ports", present: true, fail: []string{"containerPort: 8080}", "containerPort: 8080, hostPort: 8080}"}, want: []string{ctr + ".ports[0].hostPort"},
			pass: []string{"containerPort: 8080}", "containerPort: 8080, hostPort: 0}"}},
		{check: "pss-capabilities-baseline", present: true, level: "baseline", fail: []string{"drop: [ALL]", "add: [SYS_ADMIN]"}, want: []string{ctrSC + ".capabilities.add"},
			pass: []string{"drop: [ALL]", "add: [NET_BIND_SERVICE, CHOWN]"}},
		{check: "pss-capabilities-restricted", present: true, fail: []string{"drop: [ALL]", "drop: [NET_RAW]"}, want: []string{ctrSC + ".capabilities.drop"},
			pass: []string{"drop: [ALL]", "drop: [ALL], add: [NET_BIND_SERVICE]"}},
		{check: "pss-proc-mount", present: true, level: "baseline", fail: []string{sc, sc + "      procMount: Unmasked\n"}, want: []string{ctrSC + ".procMount"},
			pass: []string{sc, sc + "      procMount: Default\n"}},
		{check: "pss-proc-mount-restricted", present: true, fail: []string{sc, sc + "      procMount: Unmasked\n"}, want: []string{ctrSC + ".procMount"},
			pass: []string{sc, sc + "      procMount: Default\n"}},
		{check: "pss-selinux-options", present: true, fail: []string{sc, sc + "      seLinuxOptions: {user: system_u}\n"}, want: []string{ctrSC + ".seLinuxOptions"},
			pass: []string{sc, sc + "      seLinuxOptions: {type: container_t}\n"}},
		{check: "pss-seccomp-baseline", present: true, level: "baseline", fail: []string{"type: RuntimeDefault", "type: Unconfined"}, want: []string{"spec.securityContext.seccompProfile.type"},
			pass: []string{"    seccompProfile: {type: RuntimeDefault}\n", ""}},
		{check: "pss-seccomp-restricted", fail: []string{"    seccompProfile: {type: RuntimeDefault}\n", ""}, want: []string{ctrSC + ".seccompProfile.type"},
			pass: []string{"    seccompProfile: {type: RuntimeDefault}\n", "", sc, sc + "      seccompProfile: {type: Localhost, localhostProfile: p.json}\n"}},
		{check: "pss-sysctls", present: true, fail: []string{"    runAsUser: 10001\n", "    runAsUser: 10001\n    sysctls: [{name: kernel.msgmax, value: '65536'}]\n"}, want: []string{"spec.securityContext.sysctls"},
			pass: []string{"    runAsUser: 10001\n", "    runAsUser: 10001\n    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: '0'}]\n"}},
		{check: "pss-windows-host-process", present: true, fail: []string{sc, sc + "      windowsOptions: {hostProcess: true}\n"}, want: []string{ctrSC + ".windowsOptions.hostProcess"},
			pass: []string{sc, sc + "      windowsOptions: {hostProcess: false}\n"}},
		{check: "pss-apparmor", present: true, fail: []string{sc, sc + "      appArmorProfile: {type: Unconfined}\n"}, want: []string{ctrSC + ".appArmorProfile.type"},
			pass: []string{sc, sc + "      appArmorProfile: {type: RuntimeDefault}\n"}},
		{check: "pss-host-probes", present: true, fail: []string{"path: /healthz, port: 8080", "path: /healthz, port: 8080, host: 169.254.169.254"}, want: []string{ctr + ".livenessProbe.httpGet.host"},
			pass: []string{"path: /healthz, port: 8080", "path: /healthz, port: 8080, scheme: HTTPS"}},
		{check: "pss-privilege-escalation", present: true, fail: []string{"allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"}, want: []string{ctrSC + ".allowPrivilegeEscalation"}},
		{check: "pss-run-as-non-root", fail: []string{"    runAsNonRoot: true\n", ""}, want: []string{ctrSC + ".runAsNonRoot"},
			pass: []string{"    runAsNonRoot: true\n", "", sc, sc + "      runAsNonRoot: true\n"}},
		{check: "pss-run-as-user-root", present: true, fail: []string{"runAsUser: 10001", "runAsUser: 0"}, want: []string{"spec.securityContext.runAsUser"},
			pass: []string{"runAsUser: 10001", "runAsUser: 1"}},
		{check: "k8s-readonly-root-filesystem", present: true, fail: []string{"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"}, want: []string{ctrSC + ".readOnlyRootFilesystem"}},
		{check: "k8s-root-group", present: true, fail: []string{"runAsUser: 10001", "runAsUser: 10001\n    fsGroup: 0"}, want: []string{"spec.securityContext.fsGroup"},
			pass: []string{"runAsUser: 10001", "runAsUser: 10001\n    fsGroup: 2000"}},
		{check: "k8s-dangerous-capabilities", present: true, fail: []string{"drop: [ALL]", "drop: [ALL], add: [NET_BIND_SERVICE, cap_sys_ptrace]"}, want: []string{ctrSC + ".capabilities.add[1]"},
			pass: []string{"drop: [ALL]", "drop: [ALL], add: [NET_BIND_SERVICE]"}},
		{check: "k8s-image-tag-latest", present: true, fail: []string{"app:1.2.3@sha256:0000000000000000000000000000000000000000000000000000000000000000", "app:latest"}, want: []string{ctr + ".image"},
			pass: []string{"app:1.2.3@sha256:0000000000000000000000000000000000000000000000000000000000000000", "app@sha256:0000000000000000000000000000000000000000000000000000000000000000"}},
		{check: "k8s-image-digest", present: true, fail: []string{"ghcr.io/example/app:1.2.3@sha256:0000000000000000000000000000000000000000000000000000000000000000", "localhost:5000/app"}, want: []string{ctr + ".image"}},
		{check: "k8s-automount-sa-token", fail: []string{"  automountServiceAccountToken: false\n", ""}, want: []string{"spec.automountServiceAccountToken"},
			pass: []string{"  automountServiceAccountToken: false\n", "", "apiVersion: v1\n", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: shop}\nautomountServiceAccountToken: false\n---\napiVersion: v1\n"}},
		{check: "k8s-default-namespace", present: true, fail: []string{"namespace: shop", "namespace: default"}, want: []string{"metadata.namespace"}},
		{check: "k8s-default-service-account", fail: []string{"  serviceAccountName: app\n", ""}, want: []string{"spec.serviceAccountName"}},
		{check: "k8s-sensitive-host-path", present: true, level: "baseline", fail: []string{"emptyDir: {}", "hostPath: {path: /run/containerd/containerd.sock}"}, want: []string{"spec.volumes[0].hostPath.path"},
			pass: []string{"emptyDir: {}", "hostPath: {path: /data/cache}"}},
		{check: "k8s-secret-in-env", present: true, fail: []string{"{name: LOG_LEVEL, value: info}", "{name: LOG_LEVEL, value: info}\n    - {name: AWS_KEY, value: AKIAIOSFODNN7EXAMPLE}"}, want: []string{ctr + ".env[1].value"},
			pass: []string{"{name: LOG_LEVEL, value: info}", "{name: DB_PASSWORD_FILE, value: /run/secrets/db}\n    - {name: API_TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}"}},
		{check: "k8s-sensitive-host-port", present: true, level: "baseline", fail: []string{"containerPort: 8080}", "containerPort: 8080, hostPort: 10250}"}, want: []string{ctr + ".ports[0].hostPort"},
			pass: []string{"containerPort: 8080}", "containerPort: 8080, hostPort: 8080}"}},
		{check: "k8s-cpu-requests", fail: []string{"cpu: 100m, ", ""}, want: []string{ctr + ".resources.requests.cpu"}},
		{check: "k8s-cpu-limits", fail: []string{`cpu: "1", `, ""}, want: []string{ctr + ".resources.limits.cpu"}},
		{check: "k8s-memory-requests", fail: []string{"memory: 64Mi", ""}, want: []string{ctr + ".resources.requests.memory"}},
		{check: "k8s-memory-limits", fail: []string{", memory: 128Mi", ""}, want: []string{ctr + ".resources.limits.memory"}},
		{check: "k8s-liveness-probe", fail: []string{"    livenessProbe: {httpGet: {path: /healthz, port: 8080}}\n", ""}, want: []string{ctr + ".livenessProbe"},
			pass: []string{"kind: Pod\nmetadata:\n  name: p\n  namespace: shop\nspec:\n", "kind: Job\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  template:\n    spec:\n", "    livenessProbe: {httpGet: {path: /healthz, port: 8080}}\n", ""}},
		{check: "k8s-readiness-probe", fail: []string{"    readinessProbe: {httpGet: {path: /ready, port: 8080}}\n", ""}, want: []string{ctr + ".readinessProbe"}},
	}
}

// scanText scans text as stdin and fails on input errors.
func scanText(t *testing.T, level, text string) *finding.Report {
	t.Helper()
	rep := scanTextErrors(t, level, text)
	if len(rep.Errors) > 0 {
		t.Fatalf("input errors: %v\n%s", rep.Errors, text)
	}
	return rep
}

func pathsOf(rep *finding.Report, check string) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.CheckID() == check {
			out = append(out, f.Location.Path)
		}
	}
	return out
}

// denyAll isolates goodPod's namespace both ways.
const denyAll = `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`

func TestGoodPodIsClean(t *testing.T) {
	for _, level := range []string{"baseline", "restricted"} {
		rep := scanText(t, level, goodPod+denyAll)
		for _, f := range rep.Findings {
			t.Errorf("%s: unexpected finding %s at %s: %s", level, f.CheckID(), f.Location.Path, f.Message)
		}
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range checkCases() {
		t.Run(tc.check, func(t *testing.T) {
			level := cmpOr(tc.level, "restricted")
			fail := mutate(t, tc.fail...)
			rep := scanText(t, level, fail)
			got := pathsOf(rep, tc.check)
			if !slices.Equal(got, tc.want) {
				t.Errorf("fail manifest: %s reported at %q, want %q\n%s", tc.check, got, tc.want, fail)
			}
			for _, f := range rep.Findings {
				if f.CheckID() != tc.check {
					continue
				}
				// A present field is pointed at exactly; a missing one at
				// its nearest present ancestor.
				line, col, exact := locate(t, fail, f.Location.Path)
				if f.Location.Line != line || f.Location.Column != col {
					t.Errorf("finding at %d:%d, field %s is at %d:%d (exact=%v)", f.Location.Line, f.Location.Column, f.Location.Path, line, col, exact)
				}
				if tc.present && !exact {
					t.Errorf("field %s should be present in the fail manifest", f.Location.Path)
				}
			}
			pass := goodPod
			if tc.pass != nil {
				pass = mutate(t, tc.pass...)
			}
			if got := pathsOf(scanText(t, level, pass), tc.check); len(got) != 0 {
				t.Errorf("pass manifest: %s reported at %q\n%s", tc.check, got, pass)
			}
		})
	}
}

func locate(t *testing.T, text, path string) (int, int, bool) {
	t.Helper()
	res := manifest.Parse("<stdin>", []byte(text))
	o := res.Objects[len(res.Objects)-1]
	return o.Locate(path)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestCatalogueWellFormed lints the catalogue: unique IDs, metadata
// present, at least one framework control, and a test case per check.
func TestCatalogueWellFormed(t *testing.T) {
	cases := map[string]bool{}
	for _, c := range checkCases() {
		cases[c.check] = true
	}
	seen := map[string]bool{}
	for _, r := range Catalogue() {
		if seen[r.ID] {
			t.Errorf("duplicate check ID %s", r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Description == "" || r.Remediation == "" || len(r.References) == 0 || r.Severity == finding.Unknown {
			t.Errorf("%s: incomplete metadata: %+v", r.ID, r)
		}
		frameworks := map[finding.Framework]bool{}
		for _, c := range r.Controls {
			frameworks[c.Framework] = true
		}
		if len(frameworks) == 0 {
			t.Errorf("%s: no framework controls", r.ID)
		}
		// RBAC and NetworkPolicy checks have their cases in their packages.
		if !cases[r.ID] && !strings.HasPrefix(r.ID, "rbac-") && !strings.HasPrefix(r.ID, "netpol-") {
			t.Errorf("%s: no test case in checkCases", r.ID)
		}
	}
	for id := range cases {
		if !seen[id] {
			t.Errorf("test case for unknown check %s", id)
		}
	}
}

func TestSecretKind(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"DB_PASSWORD", "hunter2-prod", "a credential by its name"},
		{"db_passwd", "hunter2-prod", "a credential by its name"},
		{"GITHUB_TOKEN", "abcd1234efgh", "a credential by its name"},
		{"STRIPE_API_KEY", "pk_test_whatever", "a credential by its name"},
		{"DB_PASSWORD_FILE", "/run/secrets/db", ""},
		{"TOKEN_TTL", "3600s-long", ""},
		{"SECRET_NAME", "my-secret", ""},
		{"AWS_ACCESS_KEY_ID", "not-a-key", ""},
		{"PASSWORD", "changeme", "a credential by its name"},
		{"PASSWORD", "${DB_PASS}", ""},
		{"PASSWORD", "$(DB_PASS)", ""},
		{"PASSWORD", "true", ""},
		{"PASSWORD", "abc", ""},
		{"LOG_LEVEL", "debug", ""},
		{"ANYTHING", "AKIAIOSFODNN7EXAMPLE", "an AWS access key ID"},
		{"ANYTHING", "ghp_" + strings.Repeat("a", 36), "a GitHub token"},
		{"DATABASE_URL", "postgres://app:s3cret@db:5432/app", "a URL with a password"},
		{"DATABASE_URL", "postgres://db:5432/app", ""},
		{"CERT", "-----BEGIN RSA PRIVATE KEY-----\nMII", "a private key"},
	}
	for _, tt := range tests {
		if got := secretKind(tt.name, tt.value); got != tt.want {
			t.Errorf("secretKind(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestBadFieldTypeNamesFieldAndLine(t *testing.T) {
	text := strings.Replace(goodPod, "      allowPrivilegeEscalation: false\n", "      allowPrivilegeEscalation: false\n      privileged: \"yes\"\n", 1)
	rep := scanTextErrors(t, "restricted", text)
	if len(rep.Errors) != 1 {
		t.Fatalf("errors = %v", rep.Errors)
	}
	e := rep.Errors[0]
	want := "spec.containers[0].securityContext.privileged: want a boolean, found a string"
	if e.Line != 25 || !strings.Contains(e.Message, want) {
		t.Errorf("error = %s, want line 25 and %q", e, want)
	}
	if rep.Objects != 1 {
		t.Errorf("objects = %d", rep.Objects)
	}
}

// TestTemplateNotAnObject: a pod template of the wrong shape is an error at
// the template's line, and the object still gets its other checks.
func TestTemplateNotAnObject(t *testing.T) {
	text := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec:\n  template: [1]\n"
	rep := scanTextErrors(t, "restricted", text)
	if len(rep.Errors) != 1 || rep.Errors[0].Line != 5 || !strings.Contains(rep.Errors[0].Message, "spec.template: want an object, found a list") {
		t.Errorf("errors = %v", rep.Errors)
	}
	if len(pathsOf(rep, "k8s-default-namespace")) != 1 {
		t.Error("object checks did not run")
	}
}

// scanTextErrors scans text as stdin; input errors are in the report.
func scanTextErrors(t *testing.T, level, text string) *finding.Report {
	t.Helper()
	s, err := New(Options{PSSLevel: level, Stdin: strings.NewReader(text)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestRBACAcrossFiles: RBAC objects are judged together, so an aggregated
// ClusterRole sees the rules of a role in another file, and each finding
// lands in its own file's sorted results.
func TestRBACAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agg}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {agg: "yes"}}]
`)
	write("b.yaml", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: part, labels: {agg: "yes"}}
rules:
- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}
`)
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, filepath.Base(f.Location.File)+" "+f.CheckID()+" "+f.Location.Path)
	}
	want := []string{"a.yaml rbac-nodes-proxy aggregationRule", "b.yaml rbac-nodes-proxy rules[0].resources[0]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestKustomizeRoots: overlays are rendered, findings point into the
// files objects came from and name the overlay, and a root that fails to
// build is an error that hides nothing else.
func TestKustomizeRoots(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{"../source/kustomize/testdata"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].String(), "testdata/broken/kustomization.yaml: kustomize build:") {
		t.Errorf("errors = %v", rep.Errors)
	}
	var got []string
	for _, f := range rep.Findings {
		if f.CheckID() == "pss-privileged" || f.CheckID() == "pss-host-namespaces" {
			got = append(got, fmt.Sprintf("%s %s:%d %s", f.CheckID(), filepath.Base(f.Location.File), f.Location.Line, f.Location.Source))
		}
	}
	want := []string{
		"pss-host-namespaces deployment.yaml:9 kustomize ../source/kustomize/testdata/app/overlays/prod",
		"pss-privileged deployment.yaml:14 kustomize ../source/kustomize/testdata/app/base",
		"pss-privileged deployment.yaml:14 kustomize ../source/kustomize/testdata/app/overlays/prod",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got %q,\nwant %q", got, want)
	}
}

// TestNotesForNonWorkloads: custom resources and mamori's own policy
// documents are noted, each saying why nothing was checked.
func TestNotesForNonWorkloads(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fr := s.ScanFile("x.yaml", []byte(`apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: mamori.dev/v1alpha1
kind: Policy
metadata: {name: p}
`))
	var got []string
	for _, n := range fr.Notes {
		got = append(got, n.String())
	}
	want := []string{
		"x.yaml:1: custom resource example.com/v1 Widget: no built-in checks apply",
		"x.yaml:5: mamori Policy p: a policy document, not a workload (evaluate policies with --policy)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
