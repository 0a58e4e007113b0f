package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/secret"
	"github.com/mamori-dev/mamori/pkg/source/helm"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

const (
	chart = "charts/mamori"
	// namespace is the release namespace helm.Render renders with.
	namespace = "default"
)

// renderings are the value sets the chart is held to.
var renderings = []struct {
	name        string
	vals        helm.Values
	certManager bool
	// more checks what the values switched on.
	more func(t *testing.T, c *chartObjects)
}{
	{name: "default values"},
	{name: "cert-manager", vals: helm.Values{Set: []string{"certManager.enabled=true"}}, certManager: true},
	{name: "every option", vals: helm.Values{Files: []string{"testdata/every-option.yaml"}}, more: func(t *testing.T, c *chartObjects) {
		pod := c.deployments[0].Spec.Template.Spec
		ctr := pod.Containers[0]
		if !strings.Contains(ctr.Image, "@sha256:") {
			t.Errorf("image %s not pinned by digest", ctr.Image)
		}
		if !slices.Contains(ctr.Args, "--ignorefile=/exceptions/.mamori-ignore.yaml") {
			t.Errorf("args %q lack the exception file", ctr.Args)
		}
		for dir, file := range map[string]string{"/policies": "team-label.yaml", "/exceptions": ".mamori-ignore.yaml"} {
			v := mountedVolume(pod, ctr, dir)
			if v == nil || v.ConfigMap == nil {
				t.Errorf("no ConfigMap mounted at %s", dir)
				continue
			}
			i := slices.IndexFunc(c.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == v.ConfigMap.Name })
			if i < 0 || !strings.Contains(c.configMaps[i].Data[file], "\n") {
				t.Errorf("ConfigMap %s mounted at %s lacks %s", v.ConfigMap.Name, dir, file)
			}
		}
		if v := mountedVolume(pod, ctr, "/tls"); v.Secret.SecretName != "mamori-serving-cert" {
			t.Errorf("TLS secret %s, want tls.existingSecret", v.Secret.SecretName)
		}
		if len(c.webhooks[0].Webhooks[0].ClientConfig.CABundle) == 0 {
			t.Error("webhook.caBundle not rendered")
		}
	}},
	{name: "image verification", certManager: true, vals: helm.Values{Set: []string{
		"certManager.enabled=true", "imageVerification.mutateDigests=true", "imageVerification.dockerConfigSecret=regcred",
		"imageVerification.registryEgress.enabled=true", "imageVerification.registryTimeoutSeconds=5", "webhook.timeoutSeconds=7",
	}}, more: checkImageVerification},
}

// checkImageVerification checks what the imageVerification values render:
// the mutating webhook beside the validating one, the registry
// credentials, the egress to registries.
func checkImageVerification(t *testing.T, c *chartObjects) {
	vwc := c.webhooks[0]
	v := vwc.Webhooks[0]
	mwc := one(t, c.mutating)
	m := one(t, mwc.Webhooks)
	if mwc.Name != vwc.Name || m.Name != "mutate.mamori.dev" {
		t.Errorf("mutating webhook %s/%s", mwc.Name, m.Name)
	}
	if ref := m.ClientConfig.Service; ref == nil || ref.Path == nil || *ref.Path != "/mutate" || ref.Name != v.ClientConfig.Service.Name || *ref.Port != *v.ClientConfig.Service.Port {
		t.Errorf("mutating clientConfig.service %+v, want the validating webhook's service at /mutate", ref)
	}
	if mwc.Annotations["cert-manager.io/inject-ca-from"] == "" || mwc.Annotations["cert-manager.io/inject-ca-from"] != vwc.Annotations["cert-manager.io/inject-ca-from"] {
		t.Errorf("mutating webhook's CA injection %q, validating's %q", mwc.Annotations["cert-manager.io/inject-ca-from"], vwc.Annotations["cert-manager.io/inject-ca-from"])
	}
	if deref(m.ReinvocationPolicy) != admissionv1.IfNeededReinvocationPolicy || deref(m.SideEffects) != admissionv1.SideEffectClassNone ||
		deref(m.TimeoutSeconds) != deref(v.TimeoutSeconds) || deref(m.FailurePolicy) != deref(v.FailurePolicy) || deref(m.MatchPolicy) != admissionv1.Equivalent {
		t.Errorf("mutating webhook reinvocation %v, sideEffects %v, timeout %v, failurePolicy %v, matchPolicy %v: want IfNeeded, None and the validating webhook's",
			deref(m.ReinvocationPolicy), deref(m.SideEffects), deref(m.TimeoutSeconds), deref(m.FailurePolicy), deref(m.MatchPolicy))
	}
	if fmt.Sprint(m.NamespaceSelector) != fmt.Sprint(v.NamespaceSelector) {
		t.Errorf("mutating namespaceSelector %v, validating %v", m.NamespaceSelector, v.NamespaceSelector)
	}
	var resources []string
	for _, r := range m.Rules {
		resources = append(resources, r.Resources...)
	}
	for _, res := range []string{"pods", "pods/ephemeralcontainers", "replicationcontrollers", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"} {
		if !slices.Contains(resources, res) {
			t.Errorf("mutating rules %v lack %s", resources, res)
		}
	}

	pod := c.deployments[0].Spec.Template.Spec
	ctr := pod.Containers[0]
	if !slices.Contains(ctr.Args, "--registry-timeout=5s") {
		t.Errorf("args %q lack --registry-timeout=5s", ctr.Args)
	}
	if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "DOCKER_CONFIG" && e.Value == "/docker" }) {
		t.Errorf("env %v: want DOCKER_CONFIG=/docker", ctr.Env)
	}
	vol := mountedVolume(pod, ctr, "/docker")
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "regcred" || len(vol.Secret.Items) != 1 ||
		vol.Secret.Items[0].Key != ".dockerconfigjson" || vol.Secret.Items[0].Path != "config.json" {
		t.Errorf("volume at /docker %+v: want Secret regcred's .dockerconfigjson as config.json", vol)
	}
	if !slices.ContainsFunc(c.netpols, func(p *networkingv1.NetworkPolicy) bool {
		return slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
			return len(r.To) == 0 && len(r.Ports) == 1 && r.Ports[0].Port.IntValue() == 443
		})
	}) {
		t.Error("no egress to registries on 443")
	}
}

// TestChartRefusesShortTimeout: a webhook timeout that leaves no room for
// the registry timeout is refused at render time.
func TestChartRefusesShortTimeout(t *testing.T) {
	_, problems := helm.Render(chart, chart, helm.Values{Set: []string{"imageVerification.registryTimeoutSeconds=4", "webhook.timeoutSeconds=5"}})
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "webhook.timeoutSeconds 5 must be at least imageVerification.registryTimeoutSeconds 4 + 2") {
		t.Errorf("problems %v: want the timeouts refused", problems)
	}
}

// TestChartScansClean scans the chart as `mamori scan config --fail-on HIGH`
// would: no HIGH or CRITICAL finding, and nothing the scanner could not read.
func TestChartScansClean(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			eng, err := secret.New(secret.Builtin())
			if err != nil {
				t.Fatal(err)
			}
			s, err := misconfig.New(misconfig.Options{Helm: r.vals, Secrets: eng, Dockerfiles: dockerfile.New(dockerfile.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := s.Scan(t.Context(), []string{chart})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Errors {
				t.Errorf("scan error: %s", p)
			}
			// The chart was rendered and its workload judged, not skipped.
			if rep.Kinds["apps/Deployment"] != 1 || rep.Kinds["networking.k8s.io/NetworkPolicy"] == 0 {
				t.Errorf("scanned kinds %v: want the chart's Deployment and NetworkPolicies", rep.Kinds)
			}
			for _, f := range rep.Findings {
				line := fmt.Sprintf("%s %s %s: %s (%s)", f.Severity(), f.CheckID(), f.Resource, f.Message, f.Location)
				if f.Severity() >= finding.High {
					t.Error(line)
				} else {
					t.Log(line)
				}
			}
		})
	}
}

// TestImageDockerfile lints the Dockerfile mamori's image is built from:
// nothing above LOW (its bases are not pinned by digest until a release
// pins them), and a non-root final stage.
func TestImageDockerfile(t *testing.T) {
	found, problems := dockerfile.New(dockerfile.Options{}).LintFile("Dockerfile", "../Dockerfile")
	for _, p := range problems {
		t.Errorf("Dockerfile: %s", p)
	}
	for _, f := range found {
		line := fmt.Sprintf("%s %s: %s (%s)", f.Severity(), f.CheckID(), f.Message, f.Location)
		if f.Severity() > finding.Low {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
}

// TestChartObjects checks what the chart renders: every built-in object
// decodes strictly into its API type (a misspelt field fails), and the
// objects fit together as the webhook needs.
func TestChartObjects(t *testing.T) {
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			objs, problems := helm.Render(chart, chart, r.vals)
			for _, p := range problems {
				t.Fatalf("render: %s", p)
			}
			c := decodeAll(t, objs)

			// The Deployment: two spread, hardened replicas serving HTTPS on 8443.
			d := one(t, c.deployments)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
				t.Errorf("Deployment replicas %v, want 2", deref(d.Spec.Replicas))
			}
			pod := d.Spec.Template
			if len(pod.Spec.TopologySpreadConstraints) == 0 && pod.Spec.Affinity == nil {
				t.Error("replicas are not spread across nodes")
			}
			ctr := one(t, pod.Spec.Containers)
			if !slices.Contains(ctr.Args, "--listen=:8443") || !slices.Contains(ctr.Args, "--tls-cert-file=/tls/tls.crt") {
				t.Errorf("container args %q", ctr.Args)
			}
			port := containerPort(ctr, "https")
			if port != 8443 {
				t.Errorf("container port https = %d, want 8443", port)
			}
			for name, p := range map[string]*corev1.Probe{"startup": ctr.StartupProbe, "liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
					t.Errorf("%s probe %+v: want an HTTPS httpGet", name, p)
				}
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
				if _, ok := ctr.Resources.Requests[res]; !ok {
					t.Errorf("no %s request", res)
				}
				if _, ok := ctr.Resources.Limits[res]; !ok {
					t.Errorf("no %s limit", res)
				}
			}
			// No automounted token, but the one the webhook needs to read Namespaces.
			if a := pod.Spec.AutomountServiceAccountToken; a == nil || *a {
				t.Error("pod does not set automountServiceAccountToken: false")
			}
			if v := mountedVolume(pod.Spec, ctr, "/var/run/secrets/kubernetes.io/serviceaccount"); v == nil || v.Projected == nil ||
				!slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil }) {
				t.Error("no projected service account token mounted where client-go looks for it")
			}
			tls := mountedVolume(pod.Spec, ctr, "/tls")
			if tls == nil || tls.Secret == nil {
				t.Fatal("no secret mounted at /tls")
			}

			// Service, PDB and NetworkPolicy select the pods; the Service reaches 8443.
			svc := one(t, c.services)
			podLabels := labels.Set(pod.Labels)
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
				t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
			}
			sp := one(t, svc.Spec.Ports)
			if sp.Port != 443 || sp.TargetPort.String() != "https" {
				t.Errorf("Service port %d -> %s, want 443 -> https", sp.Port, sp.TargetPort.String())
			}
			selects(t, "PodDisruptionBudget", one(t, c.pdbs).Spec.Selector, podLabels)
			if !slices.ContainsFunc(c.netpols, func(p *networkingv1.NetworkPolicy) bool {
				s, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
				return err == nil && !s.Empty() && s.Matches(podLabels)
			}) {
				t.Error("no NetworkPolicy selects the webhook pods")
			}

			// The service account may read Namespaces and ServiceAccounts, and nothing else.
			sa := one(t, c.serviceAccounts)
			if pod.Spec.ServiceAccountName != sa.Name {
				t.Errorf("pod runs as %q, chart's ServiceAccount is %q", pod.Spec.ServiceAccountName, sa.Name)
			}
			binding := one(t, c.bindings)
			if s := one(t, binding.Subjects); s.Kind != "ServiceAccount" || s.Name != sa.Name || s.Namespace != namespace {
				t.Errorf("ClusterRoleBinding subject %+v", s)
			}
			role := one(t, c.roles)
			// Namespaces and ServiceAccounts: the webhook is ready once it has cached both.
			want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "serviceaccounts"}, Verbs: []string{"get", "list", "watch"}}}
			if binding.RoleRef.Name != role.Name || fmt.Sprint(role.Rules) != fmt.Sprint(want) {
				t.Errorf("ClusterRoleBinding %s -> %s, ClusterRole %s rules %+v: want %+v", binding.Name, binding.RoleRef.Name, role.Name, role.Rules, want)
			}

			// The webhook: side-effect free, bounded, calling the Service,
			// never judging the control plane's namespaces nor its own.
			vwc := one(t, c.webhooks)
			wh := one(t, vwc.Webhooks)
			if vwc.Name != "mamori" || wh.Name != "validate.mamori.dev" {
				t.Errorf("webhook %s/%s, want mamori/validate.mamori.dev", vwc.Name, wh.Name)
			}
			if wh.SideEffects == nil || *wh.SideEffects != admissionv1.SideEffectClassNone {
				t.Errorf("sideEffects %v, want None", deref(wh.SideEffects))
			}
			if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds < 1 || *wh.TimeoutSeconds > 30 {
				t.Errorf("timeoutSeconds %v, want 1-30", deref(wh.TimeoutSeconds))
			}
			if wh.FailurePolicy == nil || *wh.FailurePolicy != admissionv1.Fail {
				t.Errorf("failurePolicy %v, want the default Fail", deref(wh.FailurePolicy))
			}
			if !slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) || wh.MatchPolicy == nil || *wh.MatchPolicy != admissionv1.Equivalent {
				t.Errorf("admissionReviewVersions %v, matchPolicy %v: want [v1], Equivalent", wh.AdmissionReviewVersions, deref(wh.MatchPolicy))
			}
			if ref := wh.ClientConfig.Service; ref == nil || ref.Name != svc.Name || ref.Namespace != namespace ||
				ref.Path == nil || *ref.Path != "/validate" || ref.Port == nil || *ref.Port != sp.Port {
				t.Errorf("clientConfig.service %+v, want %s/%s:%d/validate", ref, namespace, svc.Name, sp.Port)
			}
			nsSel, err := metav1.LabelSelectorAsSelector(wh.NamespaceSelector)
			if err != nil {
				t.Fatalf("namespaceSelector: %v", err)
			}
			for _, ns := range []string{"kube-system", "kube-node-lease", namespace} {
				if nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}) {
					t.Errorf("namespace %s is not excluded (namespaceSelector %s)", ns, nsSel)
				}
			}
			if !nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"}) {
				t.Errorf("namespace shop is excluded (namespaceSelector %s)", nsSel)
			}

			// Image verification: the registry timeout leaves the API
			// server's timeout 2s; the mutating webhook only when asked.
			var registryTimeout int32
			for _, a := range ctr.Args {
				if v, ok := strings.CutPrefix(a, "--registry-timeout="); ok {
					fmt.Sscanf(v, "%ds", &registryTimeout)
				}
			}
			if registryTimeout < 1 || wh.TimeoutSeconds == nil || *wh.TimeoutSeconds < registryTimeout+2 {
				t.Errorf("--registry-timeout %ds, timeoutSeconds %v: want a registry timeout 2s below it", registryTimeout, deref(wh.TimeoutSeconds))
			}
			if mutating := slices.Contains(r.vals.Set, "imageVerification.mutateDigests=true"); mutating != (len(c.mutating) > 0) {
				t.Errorf("%d MutatingWebhookConfigurations, imageVerification.mutateDigests %v", len(c.mutating), mutating)
			}

			if r.more != nil {
				r.more(t, c)
			}

			// TLS: cert-manager's Certificate fills the mounted secret and the caBundle.
			inject := vwc.Annotations["cert-manager.io/inject-ca-from"]
			if !r.certManager {
				if inject != "" || len(c.certificates) != 0 {
					t.Errorf("cert-manager objects or annotation without certManager.enabled")
				}
				return
			}
			if len(wh.ClientConfig.CABundle) != 0 {
				t.Error("caBundle set beside cert-manager's injection")
			}
			i := slices.IndexFunc(c.certificates, func(o *manifest.Object) bool { return namespace+"/"+o.Name() == inject })
			if i < 0 {
				t.Fatalf("inject-ca-from %q names no rendered Certificate", inject)
			}
			spec, _ := c.certificates[i].Data()["spec"].(map[string]any)
			if spec["secretName"] != tls.Secret.SecretName {
				t.Errorf("Certificate secretName %v, pods mount %s", spec["secretName"], tls.Secret.SecretName)
			}
			host := svc.Name + "." + namespace + ".svc"
			if dns, _ := spec["dnsNames"].([]any); !slices.Contains(dns, any(host)) {
				t.Errorf("Certificate dnsNames %v lack %s", dns, host)
			}
		})
	}
}

// chartObjects are the rendered objects by kind.
type chartObjects struct {
	deployments     []*appsv1.Deployment
	daemonSets      []*appsv1.DaemonSet
	services        []*corev1.Service
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceAccounts []*corev1.ServiceAccount
	roles           []*rbacv1.ClusterRole
	bindings        []*rbacv1.ClusterRoleBinding
	webhooks        []*admissionv1.ValidatingWebhookConfiguration
	mutating        []*admissionv1.MutatingWebhookConfiguration
	configMaps      []*corev1.ConfigMap
	certificates    []*manifest.Object // cert-manager's; no Go types here
}

func decodeAll(t *testing.T, objs []*manifest.Object) *chartObjects {
	t.Helper()
	c := &chartObjects{}
	for _, o := range objs {
		switch o.APIVersion() + " " + o.Kind() {
		case "apps/v1 Deployment":
			c.deployments = append(c.deployments, decode[appsv1.Deployment](t, o))
		case "apps/v1 DaemonSet":
			c.daemonSets = append(c.daemonSets, decode[appsv1.DaemonSet](t, o))
		case "v1 Service":
			c.services = append(c.services, decode[corev1.Service](t, o))
		case "policy/v1 PodDisruptionBudget":
			c.pdbs = append(c.pdbs, decode[policyv1.PodDisruptionBudget](t, o))
		case "networking.k8s.io/v1 NetworkPolicy":
			c.netpols = append(c.netpols, decode[networkingv1.NetworkPolicy](t, o))
		case "v1 ServiceAccount":
			c.serviceAccounts = append(c.serviceAccounts, decode[corev1.ServiceAccount](t, o))
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			c.roles = append(c.roles, decode[rbacv1.ClusterRole](t, o))
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
			c.bindings = append(c.bindings, decode[rbacv1.ClusterRoleBinding](t, o))
		case "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration":
			c.webhooks = append(c.webhooks, decode[admissionv1.ValidatingWebhookConfiguration](t, o))
		case "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration":
			c.mutating = append(c.mutating, decode[admissionv1.MutatingWebhookConfiguration](t, o))
		case "v1 ConfigMap":
			c.configMaps = append(c.configMaps, decode[corev1.ConfigMap](t, o))
		case "cert-manager.io/v1 Certificate":
			c.certificates = append(c.certificates, o)
		case "cert-manager.io/v1 Issuer":
		default:
			t.Errorf("%s: unexpected %s %s %s", o.File, o.APIVersion(), o.Kind(), o.Name())
		}
		if o.Namespace() != "" {
			t.Errorf("%s %s sets metadata.namespace %q: helm install -n decides it", o.Kind(), o.Name(), o.Namespace())
		}
	}
	return c
}

// decode reads o into its API type as the API server would, but failing on
// fields the type lacks (the server would drop or reject them).
func decode[T any](t *testing.T, o *manifest.Object) *T {
	t.Helper()
	b, err := json.Marshal(o.Data())
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: %s %s: %v", o.File, o.Kind(), o.Name(), err)
	}
	return v
}

// one returns the only element of list, failing the test otherwise.
func one[T any](t *testing.T, list []T) T {
	t.Helper()
	if len(list) != 1 {
		var zero T
		t.Fatalf("got %d %T, want 1", len(list), zero)
	}
	return list[0]
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, pod labels.Set) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(pod) {
		t.Errorf("%s selector %v (%v) does not select the pods %v", what, sel, err, pod)
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// mountedVolume returns the volume c mounts at path.
func mountedVolume(spec corev1.PodSpec, c corev1.Container, path string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") == path {
			for i := range spec.Volumes {
				if spec.Volumes[i].Name == m.Name {
					return &spec.Volumes[i]
				}
			}
		}
	}
	return nil
}

// deref is what p points to, for messages.
func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}
