package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/internal/webhook"
	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// imagePolicyDir writes a Policy and an ImageVerificationPolicy (for the
// images under host/team/) into one directory, with the key it names.
func imagePolicyDir(t *testing.T, host, imageName string) (string, *imagesig.Signer) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := imagesig.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cosign.pub": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"images.yaml": `apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: ` + imageName + `}
spec:
  title: Team images are signed
  images: ["` + host + `/team/**"]
  authorities:
  - {name: release-key, key: {file: cosign.pub}}
  signatures: {}
`,
		"labels.yaml": `apiVersion: mamori.dev/v1alpha1
kind: Policy
metadata: {name: team-label-required}
spec:
  title: Workloads name their owning team
  severity: MEDIUM
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
  - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
    message: the workload has no team label
`,
	}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, s
}

func TestWebhookManifestImages(t *testing.T) {
	dir, _ := imagePolicyDir(t, "registry.example.com", "signed-team-images")
	code, out, errOut := run(t, "", "webhook", "manifest", "--failure-policy", "Fail", "--policy", dir, "--mutate")
	if code != ExitClean {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	docs := strings.Split(out, "---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want the validating and the mutating configuration:\n%s", len(docs), out)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &vwc); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &mwc); err != nil {
		t.Fatal(err)
	}
	v, m := vwc.Webhooks[0], mwc.Webhooks[0]
	// The default --registry-timeout of 5s leaves the API server waiting 7s.
	if *v.TimeoutSeconds != 7 || *m.TimeoutSeconds != 7 {
		t.Errorf("timeouts %d, %d: want 7 (registry timeout 5s + 2s)", *v.TimeoutSeconds, *m.TimeoutSeconds)
	}
	if m.Name != "mutate.mamori.dev" || *m.ClientConfig.Service.Path != "/mutate" || *v.ClientConfig.Service.Path != "/validate" {
		t.Errorf("mutating webhook %s at %s", m.Name, *m.ClientConfig.Service.Path)
	}
	if *m.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy || *m.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		*m.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("mutating webhook reinvocation %s, side effects %s, failure policy %s", *m.ReinvocationPolicy, *m.SideEffects, *m.FailurePolicy)
	}
	resources := func(rules []admissionregistrationv1.RuleWithOperations) []string {
		var out []string
		for _, r := range rules {
			out = append(out, r.Resources...)
		}
		return out
	}
	for _, res := range []string{"pods", "pods/ephemeralcontainers", "deployments", "cronjobs", "replicationcontrollers"} {
		if !slices.Contains(resources(m.Rules), res) || !slices.Contains(resources(v.Rules), res) {
			t.Errorf("%s missing from the rules: validating %v, mutating %v", res, resources(v.Rules), resources(m.Rules))
		}
	}
	if slices.Contains(resources(m.Rules), "configmaps") {
		t.Errorf("mutating rules %v send more than pods and workloads", resources(m.Rules))
	}

	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"timeout below the registry timeout", []string{"--policy", dir, "--timeout", "5", "--registry-timeout", "5s"}, "want at least 7s"},
		{"mutate without image policies", []string{"--mutate"}, "no ImageVerificationPolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, "", append([]string{"webhook", "manifest", "--failure-policy", "Fail"}, tc.args...)...)
			if code != ExitError || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, stderr %q: want an error saying %q", code, errOut, tc.err)
			}
		})
	}
	// Without image policies nothing changes: 5s, no subresource.
	code, out, _ = run(t, "", "webhook", "manifest", "--failure-policy", "Fail")
	if code != ExitClean || !strings.Contains(out, "timeoutSeconds: 5") || strings.Contains(out, "ephemeralcontainers") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestWebhookRefusesSharedName(t *testing.T) {
	dir, _ := imagePolicyDir(t, "registry.example.com", "team-label-required")
	code, _, errOut := run(t, "", "webhook", "--self-signed", "--no-cluster", "--listen", "127.0.0.1:0", "--policy", dir)
	if code != ExitError || !strings.Contains(errOut, "ImageVerificationPolicy team-label-required: the name is taken by a Policy") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestWebhookRegistryCredentials: the webhook reads an image from a
// registry that needs a password with the credentials of the Docker config
// DOCKER_CONFIG names, and cannot without them.
func TestWebhookRegistryCredentials(t *testing.T) {
	var locked atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); locked.Load() && (!ok || u != "robot" || p != "s3cret") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	dir, signer := imagePolicyDir(t, host, "signed-team-images")

	push := func(repo string) name.Digest {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(host + "/" + repo + ":1.0")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
		h, _ := img.Digest()
		return tag.Context().Digest(h.String())
	}
	signed := push("team/app")
	if err := imagesig.NewClient(imagesig.ClientOptions{}).SignClassic(context.Background(), signed, signer); err != nil {
		t.Fatal(err)
	}
	push("team/unsigned")
	locked.Store(true)

	noCreds := t.TempDir()
	creds := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	if err := os.WriteFile(filepath.Join(creds, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dockerConfig, image string
		allowed                   bool
		message                   string
	}{
		{"signed, with credentials", creds, host + "/team/app:1.0", true, ""},
		{"unsigned, with credentials", creds, host + "/team/unsigned:1.0", false, "no signature verified for authority release-key: no signature is attached"},
		{"signed, without credentials", noCreds, host + "/team/app:1.0", false, "the registry could not be read (failurePolicy Fail)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", tc.dockerConfig)
			fl := webhookFlags{policies: []string{dir}, builtinMode: "enforce", enforceSeverity: "HIGH", registryTimeout: 30 * time.Second, imageCacheSize: 16}
			cfg, set, err := webhookConfig(context.Background(), &fl)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Images == nil || len(set.Policies) != 1 || len(cfg.Policies.Policies) != 1 {
				t.Fatalf("image engine %v, image policies %d, policies %d", cfg.Images, len(set.Policies), len(cfg.Policies.Policies))
			}
			pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"c","image":%q}]}}`, tc.image)
			resp, _ := webhook.New(cfg).Review(context.Background(), &admissionv1.AdmissionRequest{
				UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
				Name: "p", Namespace: "shop", Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(pod)},
			})
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			if resp.Allowed != tc.allowed || !strings.Contains(msg, tc.message) {
				b, _ := json.Marshal(resp)
				t.Errorf("allowed %v, want %v with %q: %s", resp.Allowed, tc.allowed, tc.message, b)
			}
		})
	}
}
