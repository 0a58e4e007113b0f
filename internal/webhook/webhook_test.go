package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

func testHandler(t *testing.T) *Handler {
	t.Helper()
	set, err := policy.NewSet(policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if problems := set.Load(context.Background(), []string{"testdata/policies"}); len(problems) > 0 {
		t.Fatal(problems)
	}
	data, err := os.ReadFile("testdata/exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exc, problems := exception.Load("testdata/exceptions.yaml", data, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	sc, err := misconfig.New(misconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Policies: set, Scanner: sc, Exceptions: exc,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }})
	h.SetReady()
	return h
}

const hardenedPod = `{"containers":[{"name":"app","image":"registry.example.com/app:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
 "securityContext":{"allowPrivilegeEscalation":false,"runAsNonRoot":true,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}},
 "resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"cpu":"100m","memory":"64Mi"}},
 "livenessProbe":{"httpGet":{"path":"/","port":8080}},"readinessProbe":{"httpGet":{"path":"/","port":8080}}}],
 "serviceAccountName":"app","automountServiceAccountToken":false}`

func deployment(name string, labels, annotations string, replicas int, podSpec string) string {
	return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `","namespace":"shop","labels":` + labels +
		`,"annotations":` + annotations + `},"spec":{"replicas":` + itoa(replicas) + `,"selector":{"matchLabels":{"app":"x"}},
		"template":{"metadata":{"labels":{"app":"x"}},"spec":` + podSpec + `}}}`
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func review(op admissionv1.Operation, kind metav1.GroupVersionKind, resource string, name string, obj, old string, dryRun bool) []byte {
	req := &admissionv1.AdmissionRequest{
		UID: types.UID("uid-" + name), Kind: kind, Resource: metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: resource},
		Name: name, Namespace: "shop", Operation: op, DryRun: &dryRun,
	}
	if obj != "" {
		req.Object = runtime.RawExtension{Raw: []byte(obj)}
	}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	b, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	return b
}

var deploymentKind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

func TestReview(t *testing.T) {
	h := testHandler(t)
	insecurePod := `{"containers":[{"name":"app","image":"nginx","securityContext":{"privileged":true}}]}`
	tests := []struct {
		name          string
		body          []byte
		allowed       bool
		denyHas       []string
		denyLacks     []string
		warnings      []string
		annotations   []string
		noAnnotations bool
	}{
		{name: "clean", body: review(admissionv1.Create, deploymentKind, "deployments", "web",
			deployment("web", `{"team":"shop"}`, `{"owner":"a"}`, 2, hardenedPod), "", false), allowed: true, noAnnotations: true},
		{name: "enforce denies with every violated rule", body: review(admissionv1.Create, deploymentKind, "deployments", "api",
			deployment("api", `{}`, `{"owner":"a"}`, 2, insecurePod), "", false),
			denyHas: []string{"mamori denied Deployment shop/api", "[team-label-required] the workload has no team label", "[pss-privileged]"},
			// MEDIUM and LOW built-in findings warn rather than deny.
			denyLacks: []string{"k8s-image-digest"}, warnings: []string{"[k8s-image-digest]"}},
		{name: "warn mode gives warnings", body: review(admissionv1.Create, deploymentKind, "deployments", "big",
			deployment("big", `{"team":"shop"}`, `{"owner":"a"}`, 9, hardenedPod), "", false),
			allowed: true, warnings: []string{"[replicas-warn] replicas 9 > 5"}},
		{name: "audit mode gives audit annotations", body: review(admissionv1.Create, deploymentKind, "deployments", "anon",
			deployment("anon", `{"team":"shop"}`, `{}`, 1, hardenedPod), "", false),
			allowed: true, annotations: []string{"owner-annotation=no owner annotation"}},
		{name: "live exception admits and says so", body: review(admissionv1.Create, deploymentKind, "deployments", "legacy",
			deployment("legacy", `{}`, `{"owner":"a"}`, 1, hardenedPod), "", false),
			allowed: true, annotations: []string{"excepted=team-label-required by testdata/exceptions.yaml:2"}},
		{name: "expired exception no longer admits", body: review(admissionv1.Create, deploymentKind, "deployments", "old",
			deployment("old", `{}`, `{"owner":"a"}`, 1, hardenedPod), "", false),
			denyHas: []string{"[team-label-required]"}},
		{name: "dry run is judged the same", body: review(admissionv1.Create, deploymentKind, "deployments", "api",
			deployment("api", `{}`, `{"owner":"a"}`, 1, hardenedPod), "", true),
			denyHas: []string{"[team-label-required]"}},
		{name: "delete judged on the old object", body: review(admissionv1.Delete, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", "settings", "",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","namespace":"shop","labels":{"protected":"true"}}}`, false),
			denyHas: []string{"[no-delete-protected] protected ConfigMaps cannot be deleted"}},
		{name: "delete of an unprotected object", body: review(admissionv1.Delete, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", "tmp", "",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"tmp","namespace":"shop"}}`, false), allowed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, h, tc.body, http.StatusOK)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v; result %+v warnings %v", resp.Allowed, tc.allowed, resp.Result, resp.Warnings)
			}
			if resp.UID != types.UID("uid-"+nameOf(t, tc.body)) {
				t.Errorf("uid %q not echoed", resp.UID)
			}
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
				if !tc.allowed && resp.Result.Code != 403 {
					t.Errorf("code %d, want 403", resp.Result.Code)
				}
			}
			for _, s := range tc.denyHas {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
			for _, s := range tc.denyLacks {
				if strings.Contains(msg, s) {
					t.Errorf("message has %q: %s", s, msg)
				}
			}
			for _, s := range tc.warnings {
				if !containsPrefix(resp.Warnings, s) {
					t.Errorf("warnings lack %q: %v", s, resp.Warnings)
				}
			}
			for _, kv := range tc.annotations {
				k, v, _ := strings.Cut(kv, "=")
				if !strings.Contains(resp.AuditAnnotations[k], v) {
					t.Errorf("audit annotation %s = %q, want it to contain %q", k, resp.AuditAnnotations[k], v)
				}
			}
			if tc.noAnnotations && len(resp.AuditAnnotations) > 0 {
				t.Errorf("unexpected audit annotations %v", resp.AuditAnnotations)
			}
		})
	}
	// Denials and warnings are counted by check.
	rec := &bytes.Buffer{}
	srvReq, _ := http.NewRequest("GET", "/metrics", nil)
	w := &recorder{header: http.Header{}, body: rec}
	h.ServeHTTP(w, srvReq)
	for _, s := range []string{
		`mamori_webhook_denials_total{check="team-label-required"} 3`,
		`mamori_webhook_warnings_total{check="replicas-warn"} 1`,
		`mamori_webhook_requests_total{decision="denied",dry_run="true",kind="Deployment",operation="CREATE"} 1`,
		`mamori_webhook_request_duration_seconds_bucket{decision="allowed"`,
	} {
		if !strings.Contains(rec.String(), s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

func nameOf(t *testing.T, body []byte) string {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Request.Name
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

type recorder struct {
	header http.Header
	body   *bytes.Buffer
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

func post(t *testing.T, h http.Handler, body []byte, wantCode int) *admissionv1.AdmissionResponse {
	t.Helper()
	req, _ := http.NewRequest("POST", "/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
	h.ServeHTTP(w, req)
	if w.code != wantCode {
		t.Fatalf("status %d, want %d: %s", w.code, wantCode, w.body)
	}
	if wantCode != 200 {
		return nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.body.Bytes(), &out); err != nil {
		t.Fatalf("response: %v: %s", err, w.body)
	}
	if out.Response == nil {
		t.Fatalf("no response: %s", w.body)
	}
	return out.Response
}

func TestMalformedReviews(t *testing.T) {
	h := testHandler(t)
	for name, body := range map[string]string{
		"not JSON":          `{"apiVersion":`,
		"no request":        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		"wrong version":     `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`,
		"array":             `[1,2,3]`,
		"object not object": `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":"nope"}}`,
	} {
		t.Run(name, func(t *testing.T) { post(t, h, []byte(body), http.StatusBadRequest) })
	}
	// An object the engine cannot read is an error answer naming the
	// field, not a crash and not a silent pass.
	for name, obj := range map[string]string{
		"missing pod spec": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","labels":{"team":"t"}},"spec":{"replicas":"many"}}`,
		"containers":       `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","labels":{"team":"t"}},"spec":{"template":{"spec":{"containers":"nope"}}}}`,
	} {
		resp := post(t, h, review(admissionv1.Create, deploymentKind, "deployments", "x", obj, "", false), 200)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "mamori could not judge") || !strings.Contains(resp.Result.Message, name) {
			t.Errorf("%s: unreadable object: allowed=%v result=%+v", name, resp.Allowed, resp.Result)
		}
	}
}

// FuzzReview feeds arbitrary bodies to the handler: it must answer, never
// panic.
func FuzzReview(f *testing.F) {
	h := testHandler(&testing.T{})
	f.Add(review(admissionv1.Create, deploymentKind, "deployments", "web", deployment("web", `{}`, `{}`, 1, hardenedPod), "", false))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":{"kind":"Pod"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", "/validate", bytes.NewReader(body))
		w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
		h.ServeHTTP(w, req)
		if w.code != 200 && w.code != 400 {
			t.Fatalf("status %d", w.code)
		}
	})
}

func TestServeTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first, err := NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(s *SelfSigned) {
		if err := os.WriteFile(certFile, s.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, s.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(first)
	r, err := NewCertReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, 20*time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := testHandler(t)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, TLSConfig(r.GetCertificate), time.Second, discard()) }()
	client := func(ca []byte) *http.Client {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	url := "https://" + ln.Addr().String()
	get := func(c *http.Client, path string) (int, string, error) {
		resp, err := c.Get(url + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, _, err := get(client(first.CAPEM), "/healthz"); err != nil || code != 200 {
		t.Fatalf("healthz: %d %v", code, err)
	}
	// Rotate: the new certificate is served without a restart, and a
	// client trusting only the old CA is refused.
	second, err := NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write(second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := client(second.CAPEM)
		c.Transport.(*http.Transport).DisableKeepAlives = true
		if code, _, err := get(c, "/readyz"); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotated certificate not served within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	old := client(first.CAPEM)
	if _, _, err := get(old, "/healthz"); err == nil {
		t.Error("old CA still accepted after rotation")
	}
	// A broken pair is not loaded; the last good one stays.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(); err == nil {
		t.Error("reload of a broken pair succeeded")
	}
	if code, _, err := get(client(second.CAPEM), "/healthz"); err != nil || code != 200 {
		t.Errorf("after a bad rotation: %d %v", code, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestReadyz(t *testing.T) {
	h := New(Config{})
	req, _ := http.NewRequest("GET", "/readyz", nil)
	w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
	h.ServeHTTP(w, req)
	if w.code != http.StatusServiceUnavailable {
		t.Errorf("readyz before ready: %d", w.code)
	}
}

func TestConfigurationIsSafe(t *testing.T) {
	set, _ := policy.NewSet(policy.Options{})
	if p := set.Load(context.Background(), []string{"testdata/policies"}); len(p) > 0 {
		t.Fatal(p)
	}
	vwc, err := Configuration(ManifestOptions{Name: "mamori", Namespace: "mamori-system", Service: "mamori",
		TimeoutSeconds: 5, FailurePolicy: "Fail", Builtin: true, Policies: set})
	if err != nil {
		t.Fatal(err)
	}
	wh := vwc.Webhooks[0]
	if *wh.SideEffects != "None" || *wh.TimeoutSeconds != 5 || *wh.FailurePolicy != "Fail" {
		t.Errorf("unsafe webhook: %+v", wh)
	}
	ex := wh.NamespaceSelector.MatchExpressions[0]
	for _, ns := range []string{"kube-system", "mamori-system", "kube-node-lease"} {
		if !strings.Contains(strings.Join(ex.Values, ","), ns) || ex.Operator != "NotIn" {
			t.Errorf("%s not excluded: %+v", ns, ex)
		}
	}
	for _, r := range wh.Rules {
		for _, res := range r.Resources {
			if res == "*" || res == "leases" || res == "events" {
				t.Errorf("rule sends %s to the webhook", res)
			}
		}
	}
	if _, err := Configuration(ManifestOptions{Name: "m", URL: "https://x", TimeoutSeconds: 60, FailurePolicy: "Fail", Builtin: true}); err == nil {
		t.Error("timeout 60 accepted")
	}
	if _, err := Configuration(ManifestOptions{Name: "m", URL: "https://x", TimeoutSeconds: 5, FailurePolicy: "Sometimes", Builtin: true}); err == nil {
		t.Error("bad failure policy accepted")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
