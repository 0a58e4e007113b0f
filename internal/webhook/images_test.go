package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// imageFixture is an in-process registry on loopback with images signed by
// a key made for the test, the policies of testdata/images written beside
// that key, and registries that are down or never answer.
type imageFixture struct {
	// host is the registry's host:port; dead is that of a registry that
	// is down, hang of one that accepts connections and never answers.
	host, dead, hang string
	// requests counts what the registry serves.
	requests atomic.Int64
	dir      string
	client   *imagesig.Client
	signer   *imagesig.Signer
	keyID    string
	// signed and unsigned are images under enforce/, warn/ and audit/.
	signed, unsigned map[string]name.Digest
}

func newImageFixture(t testing.TB) *imageFixture {
	t.Helper()
	f := &imageFixture{dir: t.TempDir(), client: imagesig.NewClient(imagesig.ClientOptions{}),
		signed: map[string]name.Digest{}, unsigned: map[string]name.Digest{}}
	reg := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")

	down := httptest.NewServer(http.NotFoundHandler())
	f.dead = strings.TrimPrefix(down.URL, "http://")
	down.Close()

	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		<-stop
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(stop) })
	f.hang = strings.TrimPrefix(hang.URL, "http://")

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(f.dir, "cosign.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.keyID = imagesig.KeyID(key.Public())
	if f.signer, err = imagesig.NewSigner(key); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		f.signed[mode] = f.push(t, mode+"/app:1.0")
		f.sign(t, f.signed[mode])
		f.unsigned[mode] = f.push(t, mode+"/unsigned:1.0")
	}
	policies, err := os.ReadFile("testdata/images/policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policies = []byte(strings.NewReplacer("REGISTRY", f.host, "DEAD", f.dead, "HANG", f.hang).Replace(string(policies)))
	writeTestFile(t, filepath.Join(f.dir, "policies.yaml"), policies)
	return f
}

func writeTestFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// push writes a random image as repo:tag and returns its digest.
func (f *imageFixture) push(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(f.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(h.String())
}

// sign attaches a classic cosign signature by the fixture's key.
func (f *imageFixture) sign(t testing.TB, d name.Digest) {
	t.Helper()
	if err := f.client.SignClassic(context.Background(), d, f.signer); err != nil {
		t.Fatal(err)
	}
}

// tagged is an image's reference by tag, as a pod names it.
func (f *imageFixture) tagged(d name.Digest) string {
	return d.Context().String() + ":1.0"
}

// set loads the fixture's policies.
func (f *imageFixture) set(t testing.TB) *imagepolicy.Set {
	t.Helper()
	set, problems := imagepolicy.Load(context.Background(), []string{filepath.Join(f.dir, "policies.yaml")})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	return set
}

// handler is a webhook judging images only (no built-in checks, no CEL
// policies), with testdata/images/exceptions.yaml.
func (f *imageFixture) handler(t testing.TB, o imagepolicy.Options) *Handler {
	t.Helper()
	data, err := os.ReadFile("testdata/images/exceptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exc, problems := exception.Load("testdata/images/exceptions.yaml", data, "")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if o.Client == nil {
		o.Client = f.client
	}
	h := New(Config{Images: imagepolicy.NewEngine(f.set(t), o), Exceptions: exc,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }})
	h.SetReady()
	return h
}

// containers renders a container list with one container per image.
func containers(images ...string) string {
	var parts []string
	for i, img := range images {
		parts = append(parts, fmt.Sprintf(`{"name":"c%d","image":%q}`, i, img))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func podObject(name, spec string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"shop"},"spec":` + spec + `}`
}

func workloadObject(apiVersion, kind, name, templatePath, spec string) string {
	tmpl := `{"metadata":{"labels":{"app":"x"}},"spec":` + spec + `}`
	// templatePath is the pod template's path below spec, outermost first.
	segs := strings.Split(templatePath, ".")
	body := tmpl
	for i := len(segs) - 1; i >= 0; i-- {
		body = `{"` + segs[i] + `":` + body + `}`
	}
	return `{"apiVersion":"` + apiVersion + `","kind":"` + kind + `","metadata":{"name":"` + name + `","namespace":"shop"},"spec":` + body + `}`
}

var (
	podKind     = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	cronJobKind = metav1.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
)

// admissionRequest builds a request for an object in namespace shop.
func admissionRequest(op admissionv1.Operation, kind metav1.GroupVersionKind, resource, sub, name, obj, old string) *admissionv1.AdmissionRequest {
	req := &admissionv1.AdmissionRequest{
		UID: types.UID("uid-" + name), Kind: kind, Resource: metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: resource},
		SubResource: sub, Name: name, Namespace: "shop", Operation: op,
	}
	req.Object = runtime.RawExtension{Raw: []byte(obj)}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return req
}

func reviewBody(req *admissionv1.AdmissionRequest) []byte {
	b, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	return b
}

// postTo posts a review to path and returns the response.
func postTo(t testing.TB, h http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	req, _ := http.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
	h.ServeHTTP(w, req)
	if w.code != 200 {
		t.Fatalf("%s: status %d: %s", path, w.code, w.body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(w.body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("%s: response %v: %s", path, err, w.body)
	}
	return out.Response
}

func metricsText(t testing.TB, h http.Handler) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "/metrics", nil)
	w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
	h.ServeHTTP(w, req)
	return w.body.String()
}

func TestReviewImages(t *testing.T) {
	f := newImageFixture(t)
	h := f.handler(t, imagepolicy.Options{Timeout: 10 * time.Second})
	enforceSigned, enforceUnsigned := f.tagged(f.signed["enforce"]), f.tagged(f.unsigned["enforce"])
	deployment := func(spec string) string {
		return workloadObject("apps/v1", "Deployment", "web", "template", spec)
	}
	tests := []struct {
		name string
		req  *admissionv1.AdmissionRequest
		// deny and warn are substrings of the denial and of a warning;
		// annotations are key=substring.
		allowed     bool
		deny, warn  []string
		annotations []string
		// lacks are substrings no denial, warning or annotation has.
		lacks []string
		// path is where the first denied finding points.
		path string
	}{
		{name: "signed image admitted with what verified",
			req:     admissionRequest(admissionv1.Create, podKind, "pods", "", "signed", podObject("signed", `{"containers":`+containers(enforceSigned)+`}`), ""),
			allowed: true,
			annotations: []string{
				verifiedAnnotation + "=" + enforceSigned + " (" + shortDigest(f.signed["enforce"].DigestStr()) + "): signed-enforce classic signature by release-key key " + f.keyID[:12],
			}},
		{name: "unsigned image denied in enforce mode",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "unsigned", podObject("unsigned", `{"containers":`+containers(enforceUnsigned)+`}`), ""),
			deny: []string{"mamori denied Pod shop/unsigned: [signed-enforce] image " + enforceUnsigned + " (" + f.unsigned["enforce"].DigestStr() + "): " +
				"no signature verified for authority release-key: no signature is attached"},
			path: "spec.containers[0].image"},
		{name: "unsigned init container of a Deployment denied, signed container verified",
			req: admissionRequest(admissionv1.Create, deploymentKind, "deployments", "", "web",
				deployment(`{"initContainers":`+containers(enforceUnsigned)+`,"containers":`+containers(enforceSigned)+`}`), ""),
			deny:        []string{"mamori denied Deployment shop/web: [signed-enforce] image " + enforceUnsigned},
			annotations: []string{verifiedAnnotation + "=" + enforceSigned},
			path:        "spec.template.spec.initContainers[0].image"},
		{name: "unsigned CronJob container denied",
			req: admissionRequest(admissionv1.Create, cronJobKind, "cronjobs", "", "nightly",
				workloadObject("batch/v1", "CronJob", "nightly", "jobTemplate.spec.template", `{"containers":`+containers(enforceUnsigned)+`}`), ""),
			deny: []string{"[signed-enforce] image " + enforceUnsigned},
			path: "spec.jobTemplate.spec.template.spec.containers[0].image"},
		{name: "warn mode warns",
			req:     admissionRequest(admissionv1.Create, podKind, "pods", "", "warned", podObject("warned", `{"containers":`+containers(f.tagged(f.unsigned["warn"]))+`}`), ""),
			allowed: true,
			warn:    []string{"[signed-warn] image " + f.tagged(f.unsigned["warn"]) + " (sha256:"}},
		{name: "audit mode annotates",
			req:         admissionRequest(admissionv1.Create, podKind, "pods", "", "audited", podObject("audited", `{"containers":`+containers(f.tagged(f.unsigned["audit"]))+`}`), ""),
			allowed:     true,
			annotations: []string{"signed-audit=image " + f.tagged(f.unsigned["audit"])},
			lacks:       []string{verifiedAnnotation}},
		{name: "exception admits and says so",
			req:         admissionRequest(admissionv1.Create, podKind, "pods", "", "legacy", podObject("legacy", `{"containers":`+containers(enforceUnsigned)+`}`), ""),
			allowed:     true,
			annotations: []string{"excepted=signed-enforce by testdata/images/exceptions.yaml:2 (owner platform@example.com"}},
		{name: "registry down with failurePolicy Fail denies naming the error",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "down", podObject("down", `{"containers":`+containers(f.dead+"/fail/app:1.0")+`}`), ""),
			deny: []string{"[down-fail] image " + f.dead + "/fail/app:1.0: the registry could not be read (failurePolicy Fail): resolve " + f.dead + "/fail/app:1.0:",
				"connection refused"},
			path: "spec.containers[0].image"},
		{name: "registry down with failurePolicy Ignore admits with a warning",
			req:     admissionRequest(admissionv1.Create, podKind, "pods", "", "down", podObject("down", `{"containers":`+containers(f.dead+"/ignore/app:1.0")+`}`), ""),
			allowed: true,
			warn:    []string{"[down-ignore] image " + f.dead + "/ignore/app:1.0 admitted unverified: the registry could not be read (failurePolicy Ignore)"}},
		{name: "image no policy matches",
			req:     admissionRequest(admissionv1.Create, podKind, "pods", "", "other", podObject("other", `{"containers":`+containers(f.host+"/other/app:1.0")+`}`), ""),
			allowed: true, lacks: []string{verifiedAnnotation}},
		{name: "update keeping an image is not judged again",
			req: admissionRequest(admissionv1.Update, podKind, "pods", "", "kept",
				podObject("kept", `{"containers":`+containers(enforceUnsigned)+`}`), podObject("kept", `{"containers":`+containers(enforceUnsigned)+`}`)),
			allowed: true},
		{name: "update bringing an image is judged",
			req: admissionRequest(admissionv1.Update, podKind, "pods", "", "changed",
				podObject("changed", `{"containers":`+containers(enforceSigned, enforceUnsigned)+`}`), podObject("changed", `{"containers":`+containers(enforceSigned)+`}`)),
			deny: []string{"[signed-enforce] image " + enforceUnsigned}, lacks: []string{verifiedAnnotation},
			path: "spec.containers[1].image"},
		{name: "ephemeral container added by kubectl debug",
			req: admissionRequest(admissionv1.Update, podKind, "pods", "ephemeralcontainers", "debugged",
				podObject("debugged", `{"containers":`+containers(enforceSigned)+`,"ephemeralContainers":`+containers(enforceUnsigned)+`}`),
				podObject("debugged", `{"containers":`+containers(enforceSigned)+`}`)),
			deny: []string{"[signed-enforce] image " + enforceUnsigned},
			path: "spec.ephemeralContainers[0].image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := postTo(t, h, "/validate", reviewBody(tc.req))
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %s; warnings %q", resp.Allowed, tc.allowed, msg, resp.Warnings)
			}
			if !tc.allowed && resp.Result.Code != 403 {
				t.Errorf("code %d, want 403", resp.Result.Code)
			}
			for _, s := range tc.deny {
				if !strings.Contains(msg, s) {
					t.Errorf("denial lacks %q:\n%s", s, msg)
				}
			}
			warnings := strings.Join(resp.Warnings, "\n")
			for _, s := range tc.warn {
				if !strings.Contains(warnings, s) {
					t.Errorf("warnings lack %q: %q", s, resp.Warnings)
				}
			}
			for _, kv := range tc.annotations {
				k, v, _ := strings.Cut(kv, "=")
				if !strings.Contains(resp.AuditAnnotations[k], v) {
					t.Errorf("audit annotation %s = %q, want it to contain %q", k, resp.AuditAnnotations[k], v)
				}
			}
			all := fmt.Sprint(msg, resp.Warnings, resp.AuditAnnotations)
			for _, s := range tc.lacks {
				if strings.Contains(all, s) {
					t.Errorf("response has %q: %s", s, all)
				}
			}
			if tc.allowed && len(tc.warn) == 0 && len(resp.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", resp.Warnings)
			}
			if tc.path != "" {
				j, err := h.Judge(context.Background(), tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if len(j.Deny) == 0 || j.Deny[0].Location.Path != tc.path {
					t.Errorf("denials %+v, want the first at %s", j.Deny, tc.path)
				}
			}
		})
	}
	// Verifications are counted by result and cache; denials by policy.
	m := metricsText(t, h)
	for _, s := range []string{
		`mamori_webhook_image_verifications_total{cached="false",endpoint="validate",result="verified"}`,
		`mamori_webhook_image_verifications_total{cached="true",endpoint="validate",result="verified"}`,
		`mamori_webhook_image_verifications_total{cached="false",endpoint="validate",result="denied"}`,
		`mamori_webhook_image_verifications_total{cached="false",endpoint="validate",result="error"}`,
		`mamori_webhook_image_verification_duration_seconds_bucket{cached="true",endpoint="validate"`,
		`mamori_webhook_denials_total{check="signed-enforce"}`,
		`mamori_webhook_warnings_total{check="signed-warn"} 1`,
		`mamori_webhook_audit_violations_total{check="signed-audit"} 1`,
	} {
		if !strings.Contains(m, s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

// TestReviewImagesWithinDeadline: a registry that never answers, an engine
// timeout longer than the test, and the API server's timeout of 2s: the
// webhook answers with the policy's failurePolicy before the API server
// would give up.
func TestReviewImagesWithinDeadline(t *testing.T) {
	f := newImageFixture(t)
	h := f.handler(t, imagepolicy.Options{Timeout: time.Hour})
	img := f.hang + "/fail/app:1.0"
	body := reviewBody(admissionRequest(admissionv1.Create, podKind, "pods", "", "hung", podObject("hung", `{"containers":`+containers(img)+`}`), ""))
	resp := postTo(t, h, "/validate?timeout=2s", body)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "[down-fail] image "+img+": the registry could not be read (failurePolicy Fail)") ||
		!strings.Contains(resp.Result.Message, "deadline exceeded") {
		t.Errorf("allowed %v, result %+v", resp.Allowed, resp.Result)
	}
}

func TestMutate(t *testing.T) {
	f := newImageFixture(t)
	h := f.handler(t, imagepolicy.Options{Timeout: 10 * time.Second})
	signed := f.signed["enforce"]
	signedTag, pinned := f.tagged(signed), signed.Context().String()+"@"+signed.DigestStr()
	unsignedTag := f.tagged(f.unsigned["enforce"])
	warnSigned := f.tagged(f.signed["warn"])
	withTagAndDigest := signedTag + "@" + signed.DigestStr()
	tests := []struct {
		name string
		req  *admissionv1.AdmissionRequest
		// ops are the patch's operations, exactly.
		ops []patchOp
		// images are the container images at their JSON pointers after
		// the patch is applied.
		images map[string]string
	}{
		{name: "tagged verified image pinned",
			req:    admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(signedTag)+`}`), ""),
			ops:    []patchOp{{"replace", "/spec/containers/0/image", pinned}},
			images: map[string]string{"/spec/containers/0/image": pinned}},
		{name: "digest reference left alone",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(pinned)+`}`), "")},
		{name: "tag and digest left alone",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(withTagAndDigest)+`}`), "")},
		{name: "unverified image left alone",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(unsignedTag)+`}`), "")},
		{name: "verified image of a policy without mutateDigest left alone",
			req: admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(warnSigned)+`}`), "")},
		{name: "Deployment: init container and container pinned, the unverified one kept",
			req: admissionRequest(admissionv1.Create, deploymentKind, "deployments", "", "web",
				workloadObject("apps/v1", "Deployment", "web", "template", `{"initContainers":`+containers(signedTag)+`,"containers":`+containers(unsignedTag, signedTag)+`}`), ""),
			ops: []patchOp{
				{"replace", "/spec/template/spec/initContainers/0/image", pinned},
				{"replace", "/spec/template/spec/containers/1/image", pinned},
			},
			images: map[string]string{
				"/spec/template/spec/initContainers/0/image": pinned,
				"/spec/template/spec/containers/0/image":     unsignedTag,
				"/spec/template/spec/containers/1/image":     pinned,
			}},
		{name: "CronJob template pinned",
			req: admissionRequest(admissionv1.Create, cronJobKind, "cronjobs", "", "nightly",
				workloadObject("batch/v1", "CronJob", "nightly", "jobTemplate.spec.template", `{"containers":`+containers(signedTag)+`}`), ""),
			ops: []patchOp{{"replace", "/spec/jobTemplate/spec/template/spec/containers/0/image", pinned}}},
		{name: "ephemeral container pinned",
			req: admissionRequest(admissionv1.Update, podKind, "pods", "ephemeralcontainers", "p",
				podObject("p", `{"containers":`+containers(pinned)+`,"ephemeralContainers":`+containers(signedTag)+`}`),
				podObject("p", `{"containers":`+containers(pinned)+`}`)),
			ops: []patchOp{{"replace", "/spec/ephemeralContainers/0/image", pinned}}},
		{name: "update keeping a tag does not pin it",
			req: admissionRequest(admissionv1.Update, podKind, "pods", "", "p",
				podObject("p", `{"containers":`+containers(signedTag)+`}`), podObject("p", `{"containers":`+containers(signedTag)+`}`))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := postTo(t, h, "/mutate", reviewBody(tc.req))
			if !resp.Allowed || resp.Result != nil {
				t.Fatalf("mutate denied: %+v", resp.Result)
			}
			if resp.UID != tc.req.UID {
				t.Errorf("uid %q not echoed", resp.UID)
			}
			if len(tc.ops) == 0 {
				if resp.Patch != nil || resp.PatchType != nil {
					t.Fatalf("patch %s, want none", resp.Patch)
				}
				return
			}
			if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("patchType %v, want JSONPatch", resp.PatchType)
			}
			var ops []patchOp
			if err := json.Unmarshal(resp.Patch, &ops); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ops) != fmt.Sprint(tc.ops) {
				t.Errorf("patch %s\nwant %v", resp.Patch, tc.ops)
			}
			if !strings.Contains(resp.AuditAnnotations[pinnedAnnotation], " -> "+pinned) {
				t.Errorf("audit annotations %v", resp.AuditAnnotations)
			}
			// The patch applies to the object as the API server would.
			p, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Apply(tc.req.Object.Raw)
			if err != nil {
				t.Fatalf("apply %s: %v", resp.Patch, err)
			}
			for ptr, want := range tc.images {
				if got := pointerValue(t, out, ptr); got != want {
					t.Errorf("%s = %q after the patch, want %q", ptr, got, want)
				}
			}
		})
	}

	// The validating pass after the patch finds the verdict cached: no
	// registry request.
	req := admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers(signedTag)+`}`), "")
	resp := postTo(t, h, "/mutate", reviewBody(req))
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	if req.Object.Raw, err = p.Apply(req.Object.Raw); err != nil {
		t.Fatal(err)
	}
	before := f.requests.Load()
	if resp := postTo(t, h, "/validate", reviewBody(req)); !resp.Allowed || !strings.Contains(resp.AuditAnnotations[verifiedAnnotation], "[cached]") {
		t.Errorf("validating the pinned pod: allowed %v, annotations %v", resp.Allowed, resp.AuditAnnotations)
	}
	if n := f.requests.Load() - before; n != 0 {
		t.Errorf("validating the pinned pod made %d registry requests, want 0", n)
	}
	m := metricsText(t, h)
	for _, s := range []string{
		`mamori_webhook_mutations_total{kind="Pod",result="patched"}`,
		`mamori_webhook_mutations_total{kind="Pod",result="unchanged"}`,
		`mamori_webhook_image_verifications_total{cached="true",endpoint="validate",result="verified"} 1`,
		`mamori_webhook_image_verifications_total{cached="false",endpoint="mutate",result="verified"}`,
	} {
		if !strings.Contains(m, s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

// pointerValue returns the string at an RFC 6901 pointer in a JSON document.
func pointerValue(t *testing.T, doc []byte, ptr string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	for _, seg := range strings.Split(ptr, "/")[1:] {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		switch c := v.(type) {
		case map[string]any:
			v = c[seg]
		case []any:
			var i int
			fmt.Sscan(seg, &i)
			if i >= len(c) {
				return ""
			}
			v = c[i]
		default:
			return ""
		}
	}
	s, _ := v.(string)
	return s
}

func TestMutateWithoutImagePolicies(t *testing.T) {
	h := New(Config{})
	req := admissionRequest(admissionv1.Create, podKind, "pods", "", "p", podObject("p", `{"containers":`+containers("nginx:1.27")+`}`), "")
	if resp := postTo(t, h, "/mutate", reviewBody(req)); !resp.Allowed || resp.Patch != nil {
		t.Errorf("allowed %v, patch %s", resp.Allowed, resp.Patch)
	}
}

func TestJSONPointer(t *testing.T) {
	for _, tc := range []struct {
		segs []string
		want string
	}{
		{[]string{"spec", "containers", "0", "image"}, "/spec/containers/0/image"},
		{[]string{"metadata", "annotations", "example.com/key"}, "/metadata/annotations/example.com~1key"},
		{[]string{"a~b", "~/"}, "/a~0b/~0~1"},
		{[]string{""}, "/"},
	} {
		if got := jsonPointer(tc.segs...); got != tc.want {
			t.Errorf("jsonPointer(%q) = %q, want %q", tc.segs, got, tc.want)
		}
	}
}

func TestPinnedRef(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for image, want := range map[string]string{
		"nginx":                                "nginx@" + d,
		"nginx:1.27":                           "nginx@" + d,
		"docker.io/library/nginx:1.27":         "docker.io/library/nginx@" + d,
		"localhost:5000/app":                   "localhost:5000/app@" + d,
		"localhost:5000/app:1.0":               "localhost:5000/app@" + d,
		"registry.example.com:443/team/app:v2": "registry.example.com:443/team/app@" + d,
	} {
		if got := pinnedRef(image, d); got != want {
			t.Errorf("pinnedRef(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestImagesOf(t *testing.T) {
	for _, tc := range []struct {
		name, group, kind, obj string
		want                   []containerImage
		err                    string
	}{
		{name: "pod, every kind of container", kind: "Pod",
			obj: `{"spec":{"containers":[{"image":"a"}],"initContainers":[{"image":"b"},{"image":"c"}],"ephemeralContainers":[{"image":"d"}]}}`,
			want: []containerImage{
				{"b", "spec.initContainers[0].image", "/spec/initContainers/0/image"},
				{"c", "spec.initContainers[1].image", "/spec/initContainers/1/image"},
				{"a", "spec.containers[0].image", "/spec/containers/0/image"},
				{"d", "spec.ephemeralContainers[0].image", "/spec/ephemeralContainers/0/image"},
			}},
		{name: "StatefulSet", group: "apps", kind: "StatefulSet", obj: `{"spec":{"template":{"spec":{"containers":[{"image":"a"}]}}}}`,
			want: []containerImage{{"a", "spec.template.spec.containers[0].image", "/spec/template/spec/containers/0/image"}}},
		{name: "ReplicationController", kind: "ReplicationController", obj: `{"spec":{"template":{"spec":{"containers":[{"image":"a"}]}}}}`,
			want: []containerImage{{"a", "spec.template.spec.containers[0].image", "/spec/template/spec/containers/0/image"}}},
		{name: "Job", group: "batch", kind: "Job", obj: `{"spec":{"template":{"spec":{"containers":[{"image":"a"}]}}}}`,
			want: []containerImage{{"a", "spec.template.spec.containers[0].image", "/spec/template/spec/containers/0/image"}}},
		{name: "no template", group: "apps", kind: "Deployment", obj: `{"spec":{"replicas":1}}`},
		{name: "other kind", kind: "ConfigMap", obj: `{"data":{"containers":"x"}}`},
		{name: "container without image", kind: "Pod", obj: `{"spec":{"containers":[{"name":"x"}]}}`},
		{name: "containers not a list", kind: "Pod", obj: `{"spec":{"containers":"nope"}}`, err: "spec.containers: not a list"},
		{name: "container not an object", kind: "Pod", obj: `{"spec":{"containers":[1]}}`, err: "spec.containers[0]: not an object"},
		{name: "image not a string", kind: "Pod", obj: `{"spec":{"containers":[{"image":1}]}}`, err: "spec.containers[0].image: not a string"},
		{name: "template not an object", group: "apps", kind: "Deployment", obj: `{"spec":{"template":[]}}`, err: "spec.template: not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			if err := json.Unmarshal([]byte(tc.obj), &obj); err != nil {
				t.Fatal(err)
			}
			got, err := imagesOf(tc.group, tc.kind, obj)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// FuzzImagesOf feeds arbitrary objects to the container walk: it never
// panics, and every image it reports is where its JSON pointer says, so a
// patch replaces that image and no other field.
func FuzzImagesOf(f *testing.F) {
	f.Add([]byte(podObject("p", `{"containers":`+containers("nginx:1.27", "localhost:5000/a/b~c:1")+`,"initContainers":`+containers("x")+`}`)))
	f.Add([]byte(workloadObject("batch/v1", "CronJob", "c", "jobTemplate.spec.template", `{"ephemeralContainers":[{"image":"e"}]}`)))
	f.Add([]byte(`{"spec":{"containers":[{"image":1}]}}`))
	f.Add([]byte(`{"spec":{"template":{"spec":null}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		for _, key := range []string{"/Pod", "/PodTemplate", "/ReplicationController", "apps/Deployment", "apps/StatefulSet", "batch/Job", "batch/CronJob"} {
			group, kind, _ := strings.Cut(key, "/")
			imgs, err := imagesOf(group, kind, obj)
			if err != nil {
				continue
			}
			for _, c := range imgs {
				if got := pointerValue(t, data, c.Pointer); got != c.Image {
					t.Fatalf("%s: %s holds %q, reported %q", key, c.Pointer, got, c.Image)
				}
			}
		}
	})
}
