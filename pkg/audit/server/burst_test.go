package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	auditwebhook "k8s.io/apiserver/plugin/pkg/audit/webhook"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/audittest"
)

const (
	burstEvents  = 50_000
	burstClients = 8
	burstBatch   = 400 // the API server's default --audit-webhook-batch-max-size
	burstQueue   = 10_000
)

var burstStart = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// statusCounter counts the answers of a handler by status code.
type statusCounter struct {
	h       http.Handler
	tooMany atomic.Int64
	first   chan struct{} // closed at the first 429
	once    sync.Once
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &codeWriter{ResponseWriter: w, code: 200}
	s.h.ServeHTTP(cw, r)
	if cw.code == http.StatusTooManyRequests {
		s.tooMany.Add(1)
		s.once.Do(func() { close(s.first) })
	}
}

// apiServerEvents is the audit mix as the API server holds it before its
// webhook backend encodes it.
func apiServerEvents(t testing.TB, n int) []*auditinternal.Event {
	t.Helper()
	lines := audittest.Mix(n, 10, burstStart)
	out := make([]*auditinternal.Event, n)
	seen := make(map[string]bool, n)
	for i, l := range lines {
		var v1 auditv1.Event
		if err := json.Unmarshal(l, &v1); err != nil {
			t.Fatalf("mix line %d: %v", i+1, err)
		}
		out[i] = new(auditinternal.Event)
		if err := k8saudit.Scheme.Convert(&v1, out[i], nil); err != nil {
			t.Fatal(err)
		}
		if seen[string(v1.AuditID)] {
			t.Fatalf("mix repeats auditID %s", v1.AuditID)
		}
		seen[string(v1.AuditID)] = true
	}
	return out
}

// webhookKubeconfig is the --audit-webhook-config-file of an API server
// sending to url with the client certificate of pki.
func webhookKubeconfig(t testing.TB, url string, serverCA []byte, pki *clientPKI) string {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mamori
  cluster:
    server: %s/audit
    certificate-authority-data: %s
users:
- name: kube-apiserver
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: audit
  context: {cluster: mamori, user: kube-apiserver}
current-context: audit
`, url, b64(serverCA), b64(pki.certPEM), b64(pki.keyPEM))
	name := filepath.Join(t.TempDir(), "audit-webhook.kubeconfig")
	if err := os.WriteFile(name, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestBurst sends 50,000 events from 8 concurrent API-server webhook
// clients (k8s.io/apiserver's own backend, retrying as it does) in batches
// of 400 into a queue of 10,000. Every event must reach the consumer
// exactly once; a slow consumer makes the endpoint answer 429, which the
// clients retry; a fast one never fills the queue.
func TestBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("burst of 50,000 events")
	}
	evs := apiServerEvents(t, burstEvents)
	pki := newClientPKI(t)
	for _, tc := range []struct {
		name    string
		slow    bool
		want429 bool
	}{
		{"slow consumer", true, true},
		{"fast consumer", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(burstQueue)
			// A short wait so that the slow consumer's backlog turns into
			// 429s rather than long-held requests.
			h := &statusCounter{h: Handler(Config{Queue: q, QueueWait: 20 * time.Millisecond}), first: make(chan struct{})}
			s := startServe(t, h, pki.caPEM)
			backend, err := auditwebhook.NewBackend(webhookKubeconfig(t, s.url, s.ss.CAPEM, pki), auditv1.SchemeGroupVersion,
				wait.Backoff{Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 30}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]int, burstEvents)
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				if tc.slow {
					// Stalled (a slow rule, a blocked sink) until the
					// queue overflows, then slow-ish.
					select {
					case <-h.first:
					case <-time.After(time.Minute):
					}
				}
				buf := make([]*audit.Event, 100)
				for {
					n, err := q.Drain(context.Background(), buf)
					if err != nil {
						return
					}
					for _, e := range buf[:n] {
						got[e.AuditID]++
					}
					if tc.slow {
						time.Sleep(5 * time.Millisecond) // ≤ 20,000 events/s
					}
				}
			}()
			start := time.Now()
			batches := make(chan []*auditinternal.Event)
			var failed atomic.Int64
			var wg sync.WaitGroup
			for range burstClients {
				wg.Go(func() {
					for b := range batches {
						if !backend.ProcessEvents(b...) {
							failed.Add(int64(len(b)))
						}
					}
				})
			}
			for i := 0; i < len(evs); i += burstBatch {
				batches <- evs[i:min(i+burstBatch, len(evs))]
			}
			close(batches)
			wg.Wait()
			q.Close()
			<-consumed
			elapsed := time.Since(start)
			if n := failed.Load(); n > 0 {
				t.Fatalf("the API server's client gave up on %d events", n)
			}
			if len(got) != burstEvents {
				t.Fatalf("%d distinct events arrived, want %d", len(got), burstEvents)
			}
			for _, e := range evs {
				if c := got[string(e.AuditID)]; c != 1 {
					t.Fatalf("event %s arrived %d times", e.AuditID, c)
				}
			}
			n429 := h.tooMany.Load()
			t.Logf("%d events in %v, %d answers 429", burstEvents, elapsed.Round(time.Millisecond), n429)
			if tc.want429 && n429 == 0 {
				t.Error("the slow consumer never filled the queue: the test did not exercise 429")
			}
			if !tc.want429 && n429 > 0 {
				t.Errorf("%d answers 429 with a fast consumer", n429)
			}
		})
	}
}

// BenchmarkEndpoint is events/s through the endpoint: 8 clients post
// EventLists of 400 events of the audit mix over TLS on loopback, a
// consumer drains the queue of 10,000. Items are decoded by
// audit.DecodeEvent, as `mamori audit serve` does.
func BenchmarkEndpoint(b *testing.B) {
	lines := audittest.Mix(20*burstBatch, 11, burstStart)
	var bodies [][]byte
	for i := 0; i < len(lines); i += burstBatch {
		var buf bytes.Buffer
		buf.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
		buf.Write(bytes.Join(lines[i:i+burstBatch], []byte(",")))
		buf.WriteString("]}")
		bodies = append(bodies, buf.Bytes())
	}
	q := NewQueue(burstQueue)
	srv, client := tlsServer(b, Handler(Config{Queue: q, Decode: audit.DecodeEvent}))
	var consumed atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]*audit.Event, 512)
		for {
			n, err := q.Drain(context.Background(), buf)
			if err != nil {
				return
			}
			consumed.Add(int64(n))
		}
	}()
	batches := (b.N + burstBatch - 1) / burstBatch
	var next atomic.Int64
	var n429 atomic.Int64
	b.SetBytes(int64(len(bodies[0])) / burstBatch)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range burstClients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(batches) {
					return
				}
				for {
					resp, err := client.Post(srv.URL+"/", "application/json", bytes.NewReader(bodies[i%int64(len(bodies))]))
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
					n429.Add(1)
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	q.Close()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(consumed.Load())/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(n429.Load()), "429s")
}
