package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cluster is the control plane this package's tests share.
var cluster = NewShared()

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

func TestAssets(t *testing.T) {
	full := t.TempDir()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(full, bin), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	tests := []struct {
		name              string
		dir, require      string
		wantDir           string
		wantSkip, wantErr bool
	}{
		{name: "unset skips", wantSkip: true},
		{name: "unset with require=0 skips", require: "0", wantSkip: true},
		{name: "unset with require=1 fails", require: "1", wantErr: true},
		{name: "binaries present", dir: full, wantDir: full},
		{name: "binaries present, required", dir: full, require: "1", wantDir: full},
		{name: "binaries missing fails", dir: empty, wantErr: true},
		{name: "directory missing fails", dir: filepath.Join(empty, "nope"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, skip, err := assets(tt.dir, tt.require)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if (skip != "") != tt.wantSkip {
				t.Fatalf("skip = %q, want skip %v", skip, tt.wantSkip)
			}
			if skip != "" && !strings.Contains(skip, "hack/envtest.sh") {
				t.Errorf("skip message %q does not say to run hack/envtest.sh", skip)
			}
			if err != nil && !strings.Contains(err.Error(), "hack/envtest.sh") {
				t.Errorf("error %q does not say to run hack/envtest.sh", err)
			}
			if dir != tt.wantDir {
				t.Errorf("dir = %q, want %q", dir, tt.wantDir)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 10}
	for i := range 10 {
		fmt.Fprintf(b, "line %d\n", i)
	}
	if got, want := b.String(), "line 9\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNamespaceAndDeployment(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := Client(t, cluster.Config(t))
	ns := namespace(t, c, "objects")

	want := deployment(ns, "web", 2)
	if err := c.Create(ctx, want); err != nil {
		t.Fatalf("creating the deployment: %v", err)
	}
	var got appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKeyFromObject(want), &got); err != nil {
		t.Fatalf("reading the deployment back: %v", err)
	}
	if got.UID == "" || *got.Spec.Replicas != 2 || got.Spec.Template.Spec.Containers[0].Image != "registry.example/web:1.0" {
		t.Errorf("read back %s/%s: uid %q, replicas %d, image %q", got.Namespace, got.Name,
			got.UID, *got.Spec.Replicas, got.Spec.Template.Spec.Containers[0].Image)
	}
	// Defaulting ran: the API server filled in the strategy.
	if got.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy = %q, want the default %q", got.Spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	}
	var n corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
		t.Fatalf("reading the namespace back: %v", err)
	}
}

func TestValidatingAdmissionPolicy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := Client(t, cluster.Config(t))
	ns := namespace(t, c, "vap")

	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "testenv-max-replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "object.spec.replicas <= 5",
				Message:    "testenv: at most 5 replicas",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "testenv-max-replicas"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), obj) })
	}

	// The API server picks policies up asynchronously: try until denied.
	eventually(t, 10*time.Second, func() error {
		err := c.Create(ctx, deployment(ns, "big", 6), client.DryRunAll)
		if err == nil {
			return errors.New("6 replicas admitted")
		}
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "at most 5 replicas") {
			t.Fatalf("6 replicas: unexpected error: %v", err)
		}
		return nil
	})
	tests := []struct {
		replicas int32
		denied   bool
	}{{1, false}, {5, false}, {6, true}, {50, true}}
	for _, tt := range tests {
		err := c.Create(ctx, deployment(ns, fmt.Sprintf("r%d", tt.replicas), tt.replicas))
		if denied := err != nil; denied != tt.denied {
			t.Errorf("%d replicas: error %v, want denied %v", tt.replicas, err, tt.denied)
		}
	}
	// Only the bound namespace is affected.
	other := namespace(t, c, "vap-unbound")
	if err := c.Create(ctx, deployment(other, "big", 6)); err != nil {
		t.Errorf("6 replicas outside the bound namespace: %v", err)
	}
}

// TestWebhook registers a validating webhook served on 127.0.0.1 by the test
// process and shows the API server calls it.
func TestWebhook(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := Client(t, cluster.Config(t))
	ns := namespace(t, c, "webhook")

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, fmt.Sprintf("bad review: %v", err), http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		var cm corev1.ConfigMap
		if err := json.Unmarshal(review.Request.Object.Raw, &cm); err == nil && cm.Labels["deny"] == "yes" {
			resp.Allowed = false
			resp.Result = &metav1.Status{Message: "testenv webhook says no"}
		}
		review.Response, review.Request = resp, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}))
	t.Cleanup(srv.Close)

	hook := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "testenv-deny-label"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny-label.testenv.mamori.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(srv.URL + "/validate"),
				CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"},
				},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	if err := c.Create(ctx, hook); err != nil {
		t.Fatalf("creating the webhook configuration: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), hook) })

	configMap := func(name, deny string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: map[string]string{"deny": deny},
		}}
	}
	eventually(t, 10*time.Second, func() error {
		err := c.Create(ctx, configMap("denied", "yes"), client.DryRunAll)
		if err == nil {
			return errors.New("admitted")
		}
		if !strings.Contains(err.Error(), "testenv webhook says no") {
			return fmt.Errorf("unexpected error: %w", err) // e.g. the webhook not reachable
		}
		return nil
	})
	if err := c.Create(ctx, configMap("allowed", "no")); err != nil {
		t.Errorf("a configmap the webhook allows: %v", err)
	}
}

// TestAPIServerArg starts a control plane of its own with audit logging and
// finds a request in the log.
func TestAPIServerArg(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	cfg := Start(t,
		APIServerArg("audit-policy-file", policy),
		APIServerArg("audit-log-path", logPath),
	)
	c := Client(t, cfg)
	ns := namespace(t, c, "audited")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "audited"}}
	if err := c.Create(t.Context(), cm); err != nil {
		t.Fatalf("creating a configmap: %v", err)
	}

	eventually(t, 10*time.Second, func() error {
		f, err := os.Open(logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Verb      string `json:"verb"`
				Stage     string `json:"stage"`
				ObjectRef struct {
					Resource  string `json:"resource"`
					Namespace string `json:"namespace"`
					Name      string `json:"name"`
				} `json:"objectRef"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				return fmt.Errorf("audit log line %q: %w", sc.Text(), err)
			}
			ref := ev.ObjectRef
			if ev.Verb == "create" && ev.Stage == "ResponseComplete" &&
				ref.Resource == "configmaps" && ref.Namespace == ns && ref.Name == cm.Name {
				return nil
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return fmt.Errorf("no audit event for creating configmap %s/%s in %s", ns, cm.Name, logPath)
	})
}

// namespace creates a namespace named after prefix and deletes it when the
// test ends.
func namespace(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	return ns.Name
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "registry.example/web:1.0",
				}}},
			},
		},
	}
}

// eventually calls f until it returns nil, failing t with f's last error
// after timeout.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
