package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/mamori-dev/mamori/internal/testenv"
	"github.com/mamori-dev/mamori/pkg/imagepolicy"
)

// cluster is a real API server (envtest) for the end-to-end tests.
var cluster = testenv.NewShared()

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

// TestImageAdmissionE2E registers the webhook's validating and mutating
// configurations, as Configuration and MutatingConfiguration write them,
// with a real API server, and creates pods and a Deployment whose images
// are in an in-process registry: the API server calls the webhook over TLS
// on 127.0.0.1, and what it stores is read back.
func TestImageAdmissionE2E(t *testing.T) {
	ctx := t.Context()
	c := testenv.Client(t, cluster.Config(t))
	f := newImageFixture(t)
	h := f.handler(t, imagepolicy.Options{Timeout: 5 * time.Second})

	ss, err := NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := TLSConfig(nil)
	tlsCfg.GetCertificate = nil
	tlsCfg.Certificates = append(tlsCfg.Certificates, ss.Cert)
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// The API server keeps its HTTP/2 connection open: the server closes it
	// a second after its GOAWAY, so the grace is longer than that.
	go func() { done <- Serve(srvCtx, ln, h, tlsCfg, 5*time.Second, discard()) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "image-e2e-"}}
	if err := c.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), nsObj) })
	ns := nsObj.Name

	o := ManifestOptions{Name: "mamori-image-e2e", URL: "https://" + ln.Addr().String() + "/validate", CABundle: ss.CAPEM,
		TimeoutSeconds: 10, FailurePolicy: admissionregistrationv1.Fail, ImagePolicies: f.set(t), RegistryTimeout: 5 * time.Second}
	vwc, err := Configuration(o)
	if err != nil {
		t.Fatal(err)
	}
	mwc, err := MutatingConfiguration(o)
	if err != nil {
		t.Fatal(err)
	}
	// Only the test's namespace: the configurations' own selector excludes
	// the control plane's namespaces, which matters to a cluster, not here.
	only := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	vwc.Webhooks[0].NamespaceSelector, mwc.Webhooks[0].NamespaceSelector = only, only
	for _, obj := range []client.Object{vwc, mwc} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), obj) })
	}

	signed, unsigned := f.signed["enforce"], f.unsigned["enforce"]
	pinned := signed.Context().String() + "@" + signed.DigestStr()
	pod := func(name string, images ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		for i, img := range images {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
		}
		return p
	}

	// The configurations take about a second to be enforced.
	eventually(t, 20*time.Second, func() error {
		err := c.Create(ctx, pod("unsigned", f.tagged(unsigned)), client.DryRunAll)
		if err == nil {
			return errors.New("an unsigned image was admitted")
		}
		for _, s := range []string{"[signed-enforce] image " + f.tagged(unsigned), "no signature verified for authority release-key: no signature is attached"} {
			if !strings.Contains(err.Error(), s) {
				return fmt.Errorf("denial lacks %q: %w", s, err)
			}
		}
		return nil
	})

	t.Run("signed pod admitted and pinned", func(t *testing.T) {
		p := pod("signed", f.tagged(signed))
		if err := c.Create(ctx, p); err != nil {
			t.Fatalf("a signed image: %v", err)
		}
		var got corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Containers[0].Image; img != pinned {
			t.Errorf("stored image %s, want %s", img, pinned)
		}
	})

	t.Run("unsigned ephemeral container denied", func(t *testing.T) {
		var p corev1.Pod
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "signed"}, &p); err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: f.tagged(unsigned), TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}}}
		err := c.SubResource("ephemeralcontainers").Update(ctx, &p)
		if err == nil || !strings.Contains(err.Error(), "[signed-enforce] image "+f.tagged(unsigned)) {
			t.Errorf("an unsigned ephemeral container: %v", err)
		}
	})

	t.Run("Deployment template pinned", func(t *testing.T) {
		labels := map[string]string{"app": "web"}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod("", f.tagged(signed)).Spec},
		}}
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		var got appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Template.Spec.Containers[0].Image; img != pinned {
			t.Errorf("stored template image %s, want %s", img, pinned)
		}
	})

	t.Run("exception admits the unsigned image", func(t *testing.T) {
		if err := c.Create(ctx, pod("legacy", f.tagged(unsigned)), client.DryRunAll); err != nil {
			t.Errorf("an excepted pod: %v", err)
		}
		if err := c.Create(ctx, pod("not-legacy", f.tagged(unsigned)), client.DryRunAll); err == nil {
			t.Error("the exception admitted a pod it does not name")
		}
	})

	t.Run("unverified image not pinned", func(t *testing.T) {
		img := f.tagged(f.unsigned["warn"])
		p := pod("warned", img)
		if err := c.Create(ctx, p); err != nil {
			t.Fatalf("a warn-mode image: %v", err)
		}
		var got corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.Containers[0].Image != img {
			t.Errorf("stored image %s, want %s as written", got.Spec.Containers[0].Image, img)
		}
	})
}

// eventually retries f every 100ms until it succeeds or timeout passes.
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
