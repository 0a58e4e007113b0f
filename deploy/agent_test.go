package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/secret"
	"github.com/mamori-dev/mamori/pkg/source/helm"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

const (
	agentName      = "release-name-mamori-agent"
	agentIgnoreKey = "agent.mamori-ignore.yaml"
)

// agentChecks are the restricted checks the agent DaemonSet fails by
// design, and so the exceptions the chart carries for it: no more.
var agentChecks = []string{
	"k8s-dangerous-capabilities",
	"k8s-sensitive-host-path",
	"pss-capabilities-restricted",
	"pss-host-namespaces",
	"pss-restricted-volumes",
	"pss-run-as-non-root",
	"pss-run-as-user-root",
}

var agentValues = helm.Values{Set: []string{"agent.enabled=true"}}

// renderAgent renders the chart with vals and returns its objects and the
// agent's exception file, written where a scan can read it.
func renderAgent(t *testing.T, vals helm.Values) (*chartObjects, string) {
	t.Helper()
	objs, problems := helm.Render(chart, chart, vals)
	for _, p := range problems {
		t.Fatalf("render: %s", p)
	}
	c := decodeAll(t, objs)
	i := slices.IndexFunc(c.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Data[agentIgnoreKey] != "" })
	if i < 0 {
		t.Fatalf("no ConfigMap carries %s", agentIgnoreKey)
	}
	path := filepath.Join(t.TempDir(), agentIgnoreKey)
	if err := os.WriteFile(path, []byte(c.configMaps[i].Data[agentIgnoreKey]), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// scanChart scans the chart as `mamori scan config` does (restricted
// checks, secrets, Dockerfiles), with the given exception files.
func scanChart(t *testing.T, vals helm.Values, targets []string, ignore ...string) *finding.Report {
	t.Helper()
	eng, err := secret.New(secret.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	s, err := misconfig.New(misconfig.Options{Helm: vals, Secrets: eng, Dockerfiles: dockerfile.New(dockerfile.Options{}), IgnoreFiles: ignore})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(t.Context(), targets)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Errors {
		t.Errorf("scan error: %s", p)
	}
	return rep
}

// agentFindings are the check IDs of findings on the agent above LOW.
func agentFindings(fs []finding.Finding) []string {
	var ids []string
	for _, f := range fs {
		if f.Resource.Kind == "DaemonSet" && f.Resource.Name == agentName && f.Severity() > finding.Low && !slices.Contains(ids, f.CheckID()) {
			ids = append(ids, f.CheckID())
		}
	}
	slices.Sort(ids)
	return ids
}

// TestAgentPassesOnlyByItsException: the agent DaemonSet fails mamori's
// restricted checks (--fail-on HIGH would fail), and passes them only
// through the chart's own exception file, whose entries each cover one
// check, for this DaemonSet alone, with a reason, an owner and an expiry.
func TestAgentPassesOnlyByItsException(t *testing.T) {
	_, ignore := renderAgent(t, agentValues)

	// Without the exception the checks fire, some at HIGH or above.
	rep := scanChart(t, agentValues, []string{chart})
	if got := agentFindings(rep.Findings); !slices.Equal(got, agentChecks) {
		t.Errorf("without the exception the agent fails %v, want %v", got, agentChecks)
	}
	if !slices.ContainsFunc(rep.Findings, func(f finding.Finding) bool { return f.Severity() >= finding.High }) {
		t.Error("no HIGH finding without the exception: the checks are not judging the agent")
	}

	// With it: nothing above LOW anywhere; every suppression is the agent's.
	rep = scanChart(t, agentValues, []string{chart}, ignore)
	for _, f := range rep.Findings {
		line := fmt.Sprintf("%s %s %s: %s (%s)", f.Severity(), f.CheckID(), f.Resource, f.Message, f.Location)
		if f.Severity() > finding.Low {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
	var suppressed []string
	for _, s := range rep.Suppressed {
		if s.Finding.Resource.Kind != "DaemonSet" || s.Finding.Resource.Name != agentName {
			t.Errorf("the agent's exception suppressed %s on %s", s.Finding.CheckID(), s.Finding.Resource)
		}
		if !slices.Contains(suppressed, s.Exception.Check) {
			suppressed = append(suppressed, s.Exception.Check)
		}
	}
	slices.Sort(suppressed)
	if !slices.Equal(suppressed, agentChecks) {
		t.Errorf("suppressed by %v, want %v", suppressed, agentChecks)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n.Message, "unused") || strings.Contains(n.Message, "expired") {
			t.Errorf("note: %s", n)
		}
	}

	// The file itself: one well-formed, governed entry per check, scoped
	// to exactly this DaemonSet.
	data, err := os.ReadFile(ignore)
	if err != nil {
		t.Fatal(err)
	}
	set, problems := exception.Load(agentIgnoreKey, data, "")
	for _, p := range problems {
		t.Errorf("exception file: %s", p)
	}
	var checks []string
	for _, e := range set.Entries {
		checks = append(checks, e.Check)
		if len(e.Resources) != 1 || e.Resources[0] != (exception.Selector{Kind: "DaemonSet", Name: agentName}) || len(e.Paths)+len(e.Fingerprints) != 0 {
			t.Errorf("entry %s is scoped to %+v, want exactly the agent DaemonSet", e.Check, e.Resources)
		}
		if len(e.Reason) < 40 || e.Owner == "" || e.Expires.IsZero() {
			t.Errorf("entry %s: reason %q, owner %q, expires %v", e.Check, e.Reason, e.Owner, e.Expires)
		}
	}
	slices.Sort(checks)
	if !slices.Equal(checks, agentChecks) {
		t.Errorf("exception file covers %v, want %v", checks, agentChecks)
	}
}

// TestAgentExceptionScope: the exception covers nothing but the chart's
// agent. The same DaemonSet under another name fails as before, and an
// expired exception stops suppressing.
func TestAgentExceptionScope(t *testing.T) {
	objs, problems := helm.Render(chart, chart, agentValues)
	for _, p := range problems {
		t.Fatalf("render: %s", p)
	}
	_, ignore := renderAgent(t, agentValues)
	i := slices.IndexFunc(objs, func(o *manifest.Object) bool { return o.Kind() == "DaemonSet" })
	if i < 0 {
		t.Fatal("no DaemonSet rendered")
	}
	ds := objs[i].Data()
	ds["metadata"].(map[string]any)["name"] = "node-agent"
	b, err := yaml.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "node-agent.yaml")
	if err := os.WriteFile(other, b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := scanChart(t, helm.Values{}, []string{other}, ignore)
	var fired []string
	for _, f := range rep.Findings {
		if f.Resource.Name == "node-agent" && f.Severity() > finding.Low && !slices.Contains(fired, f.CheckID()) {
			fired = append(fired, f.CheckID())
		}
	}
	slices.Sort(fired)
	if !slices.Equal(fired, agentChecks) || len(rep.Suppressed) != 0 {
		t.Errorf("another DaemonSet: fired %v, %d suppressed; want %v, none", fired, len(rep.Suppressed), agentChecks)
	}

	expired := helm.Values{Set: []string{"agent.enabled=true", "agent.exception.expires=2020-01-01"}}
	_, ignore = renderAgent(t, expired)
	rep = scanChart(t, expired, []string{chart}, ignore)
	if got := agentFindings(rep.Findings); !slices.Equal(got, agentChecks) {
		t.Errorf("with an expired exception the agent fails %v, want %v", got, agentChecks)
	}
}

// TestAgentObjects checks what the agent needs, and no more: the node's
// name from the downward API, read-only host mounts, a root but not
// privileged container with exactly its capabilities, a probe, limits,
// every node, and read-only RBAC on pods.
func TestAgentObjects(t *testing.T) {
	c, _ := renderAgent(t, agentValues)
	ds := one(t, c.daemonSets)
	if ds.Name != agentName {
		t.Errorf("DaemonSet %s, want %s", ds.Name, agentName)
	}
	pod := ds.Spec.Template.Spec
	ctr := one(t, pod.Containers)
	if ctr.Args[0] != "agent" || !slices.Contains(ctr.Args, "--proc-root=/host/proc") || !slices.Contains(ctr.Args, "--metrics-addr=:9090") {
		t.Errorf("args %q", ctr.Args)
	}

	// NODE_NAME from spec.nodeName: the agent watches its own node's pods.
	i := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "NODE_NAME" })
	if i < 0 || ctr.Env[i].ValueFrom == nil || ctr.Env[i].ValueFrom.FieldRef == nil || ctr.Env[i].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME not from the downward API's spec.nodeName: %+v", ctr.Env)
	}

	if !pod.HostPID || pod.HostNetwork || pod.HostIPC {
		t.Errorf("hostPID %v, hostNetwork %v, hostIPC %v: want the PID namespace only", pod.HostPID, pod.HostNetwork, pod.HostIPC)
	}
	sc := ctr.SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Fatalf("securityContext %+v: want not privileged, no escalation, read-only root", sc)
	}
	wantCaps := []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_ADMIN", "KILL", "SYS_PTRACE"}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, wantCaps) {
		t.Errorf("capabilities %+v, want drop ALL, add %v", sc.Capabilities, wantCaps)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp %+v, want RuntimeDefault", sc.SeccompProfile)
	}

	// Host paths: exactly these, each mounted read-only.
	hostMounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		v := mountedVolume(pod, ctr, m.MountPath)
		if v == nil || v.HostPath == nil {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("host path %s mounted writable at %s", v.HostPath.Path, m.MountPath)
		}
		hostMounts[v.HostPath.Path] = m.MountPath
	}
	want := map[string]string{"/sys/kernel/btf": "/sys/kernel/btf", "/sys/fs/cgroup": "/sys/fs/cgroup", "/proc": "/host/proc", "/sys/kernel/tracing": "/sys/kernel/tracing"}
	if fmt.Sprint(hostMounts) != fmt.Sprint(want) {
		t.Errorf("host mounts %v, want %v", hostMounts, want)
	}

	p := ctr.ReadinessProbe
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" || containerPort(ctr, "metrics") != 9090 {
		t.Errorf("readiness probe %+v on port %d: want GET /healthz on metrics (9090)", p, containerPort(ctr, "metrics"))
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if _, ok := ctr.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := ctr.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}
	if !slices.ContainsFunc(pod.Tolerations, func(t corev1.Toleration) bool { return t.Operator == corev1.TolerationOpExists && t.Key == "" }) {
		t.Errorf("tolerations %+v: the agent does not run on every node", pod.Tolerations)
	}

	// RBAC: its own account, reading pods and nothing else.
	i = slices.IndexFunc(c.serviceAccounts, func(sa *corev1.ServiceAccount) bool { return sa.Name == pod.ServiceAccountName })
	if i < 0 || pod.ServiceAccountName != agentName {
		t.Fatalf("pods run as %q, which the chart does not create as the agent's", pod.ServiceAccountName)
	}
	if a := pod.AutomountServiceAccountToken; a == nil || *a {
		t.Error("agent pod does not set automountServiceAccountToken: false")
	}
	if v := mountedVolume(pod, ctr, "/var/run/secrets/kubernetes.io/serviceaccount"); v == nil || v.Projected == nil {
		t.Error("no projected token for the pod watch")
	}
	i = slices.IndexFunc(c.roles, func(r *rbacv1.ClusterRole) bool { return r.Name == agentName })
	if i < 0 {
		t.Fatal("no agent ClusterRole")
	}
	wantRules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}
	if fmt.Sprint(c.roles[i].Rules) != fmt.Sprint(wantRules) {
		t.Errorf("agent ClusterRole rules %+v, want %+v", c.roles[i].Rules, wantRules)
	}
	i = slices.IndexFunc(c.bindings, func(b *rbacv1.ClusterRoleBinding) bool { return b.RoleRef.Name == agentName })
	if i < 0 {
		t.Fatal("no binding of the agent ClusterRole")
	}
	if s := one(t, c.bindings[i].Subjects); s.Kind != "ServiceAccount" || s.Name != agentName || s.Namespace != namespace {
		t.Errorf("agent binding subject %+v", s)
	}

	// The release's default-deny leaves the agent its API server and metrics.
	podLabels := labels.Set(ds.Spec.Template.Labels)
	selects(t, "DaemonSet", ds.Spec.Selector, podLabels)
	i = slices.IndexFunc(c.netpols, func(p *networkingv1.NetworkPolicy) bool {
		s, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		return err == nil && !s.Empty() && s.Matches(podLabels)
	})
	if i < 0 {
		t.Fatal("no NetworkPolicy selects the agent pods")
	}
	np := c.netpols[i]
	if len(np.Spec.Ingress) == 0 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != 9090 || len(np.Spec.Egress) == 0 {
		t.Errorf("agent NetworkPolicy %+v: want metrics in and the API server out", np.Spec)
	}
	// Neither workload's selectors pick the other's pods.
	webhookPods := labels.Set(one(t, c.deployments).Spec.Template.Labels)
	if s, _ := metav1.LabelSelectorAsSelector(ds.Spec.Selector); s.Matches(webhookPods) {
		t.Error("the agent's selector matches the webhook's pods")
	}
	if s := labels.SelectorFromSet(one(t, c.services).Spec.Selector); s.Matches(podLabels) {
		t.Error("the webhook Service selects the agent pods")
	}

	// The webhook honours the agent's exceptions too: it is passed the file.
	d := one(t, c.deployments)
	wctr := d.Spec.Template.Spec.Containers[0]
	if !slices.Contains(wctr.Args, "--ignorefile=/exceptions/"+agentIgnoreKey) {
		t.Errorf("webhook args %q lack the agent's exception file", wctr.Args)
	}
	if v := mountedVolume(d.Spec.Template.Spec, wctr, "/exceptions"); v == nil || v.ConfigMap == nil {
		t.Error("no exceptions ConfigMap mounted in the webhook")
	}
}

// TestAgentWithUserExceptions: the user's exception file and the agent's
// live side by side in the ConfigMap, both passed to the webhook.
func TestAgentWithUserExceptions(t *testing.T) {
	c, _ := renderAgent(t, helm.Values{Files: []string{"testdata/every-option.yaml"}, Set: []string{"agent.enabled=true", "agent.exception.owner=sec@example.com"}})
	cm := one(t, c.configMaps[slices.IndexFunc(c.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Data[agentIgnoreKey] != "" }):][:1])
	if !strings.Contains(cm.Data[".mamori-ignore.yaml"], "node-agent") || !strings.Contains(cm.Data[agentIgnoreKey], `owner: "sec@example.com"`) {
		t.Errorf("exceptions ConfigMap %v", cm.Data)
	}
	args := one(t, c.deployments).Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--ignorefile=/exceptions/.mamori-ignore.yaml") || !slices.Contains(args, "--ignorefile=/exceptions/"+agentIgnoreKey) {
		t.Errorf("webhook args %q: want both exception files", args)
	}
}

// TestAgentOptions renders every agent option, and the schema's refusals.
func TestAgentOptions(t *testing.T) {
	c, ignore := renderAgent(t, helm.Values{Files: []string{"testdata/agent-options.yaml"}})
	ds := one(t, c.daemonSets)
	pod := ds.Spec.Template.Spec
	ctr := one(t, pod.Containers)
	for _, a := range []string{"--rules=/rules", "--metrics-addr=:9464", "--webhook-url=https://alerts.example/hook"} {
		if !slices.Contains(ctr.Args, a) {
			t.Errorf("args %q lack %s", ctr.Args, a)
		}
	}
	v := mountedVolume(pod, ctr, "/rules")
	if v == nil || v.ConfigMap == nil {
		t.Fatal("no rules ConfigMap mounted at /rules")
	}
	i := slices.IndexFunc(c.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == v.ConfigMap.Name })
	if i < 0 || !strings.Contains(c.configMaps[i].Data["shop-rules.yaml"], "shop-no-curl") {
		t.Errorf("ConfigMap %s lacks shop-rules.yaml", v.ConfigMap.Name)
	}
	if v := mountedVolume(pod, ctr, "/sys/kernel/tracing"); v == nil || v.HostPath == nil || v.HostPath.Path != "/sys/kernel/debug/tracing" {
		t.Errorf("tracefs volume %+v", v)
	}
	if p := ctr.ReadinessProbe; containerPort(ctr, "metrics") != 9464 || p.HTTPGet.Port.String() != "metrics" {
		t.Errorf("metrics port %d", containerPort(ctr, "metrics"))
	}
	if pod.PriorityClassName != "system-node-critical" || pod.NodeSelector["kubernetes.io/os"] != "linux" || ds.Spec.Template.Labels["team"] != "security" {
		t.Errorf("priorityClassName %q, nodeSelector %v, labels %v", pod.PriorityClassName, pod.NodeSelector, ds.Spec.Template.Labels)
	}
	data, _ := os.ReadFile(ignore)
	if !strings.Contains(string(data), `owner: "security@example.com"`) || !strings.Contains(string(data), `expires: "2027-06-30"`) {
		t.Errorf("exception file does not carry the owner and expiry set:\n%s", data)
	}

	for _, bad := range []struct{ set, want string }{
		{"agent.exception.expires=next-year", "expires"},
		{"agent.tracefsPath=/etc", "tracefsPath"},
		{"agent.metricsPort=0", "metricsPort"},
		{"agent.unknown=1", "unknown"},
	} {
		_, problems := helm.Render(chart, chart, helm.Values{Set: []string{"agent.enabled=true", bad.set}})
		if len(problems) == 0 || !strings.Contains(fmt.Sprint(problems), bad.want) {
			t.Errorf("--set %s: %v, want a schema error about %s", bad.set, problems, bad.want)
		}
	}
}
