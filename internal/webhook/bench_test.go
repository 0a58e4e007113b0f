package webhook

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// BenchmarkReview is one admission request through the handler: decode,
// CEL policies, built-in checks and PSS, exceptions, encode. The loopback
// figures at a fixed rate come from hack/benchadmission.
func BenchmarkReview(b *testing.B) {
	h := testHandler(&testing.T{})
	benchHandler(b, h)
}

// BenchmarkReview50 is the setting: 50 CEL policies (those
// hack/benchadmission generates) plus the built-in checks and PSS
// restricted.
func BenchmarkReview50(b *testing.B) {
	set, err := policy.NewSet(policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if p := set.Load(context.Background(), []string{"testdata/bench"}); len(p) > 0 {
		b.Fatal(p)
	}
	sc, err := misconfig.New(misconfig.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{Policies: set, Scanner: sc})
	benchHandler(b, h)
}

// benchHandler posts the same hardened Deployment to h, once per iteration.
func benchHandler(b *testing.B, h http.Handler) {
	body := review(admissionv1.Create, deploymentKind, "deployments", "web",
		deployment("web", `{"team":"shop"}`, `{"owner":"a"}`, 3, hardenedPod), "", false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", "/validate", bytes.NewReader(body))
		w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
}

// BenchmarkReviewSignedPodCached is a pod review whose one image, signed
// and referenced by tag, has its tag resolution and verdict cached: what
// every admission after the first costs.
func BenchmarkReviewSignedPodCached(b *testing.B) {
	f := newImageFixture(b)
	h := f.handler(b, imagepolicy.Options{})
	img := f.tagged(f.signed["enforce"])
	body := reviewBody(admissionRequest(admissionv1.Create, podKind, "pods", "", "web", podObject("web", `{"containers":`+containers(img)+`}`), ""))
	if resp := postTo(b, h, "/validate", body); !resp.Allowed {
		b.Fatalf("signed pod denied: %+v", resp.Result)
	}
	before := f.requests.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", "/validate", bytes.NewReader(body))
		w := &recorder{header: http.Header{}, body: &bytes.Buffer{}, code: 200}
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatal(w.code)
		}
	}
	b.StopTimer()
	if n := f.requests.Load() - before; n != 0 {
		b.Fatalf("%d registry requests while cached", n)
	}
}
