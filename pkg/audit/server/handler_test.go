package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mamori-dev/mamori/internal/tlsserve"
	"github.com/mamori-dev/mamori/pkg/audit"
)

// lockedBuffer is a log sink the handler writes from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tlsServer serves h over TLS on loopback with a certificate of a CA made
// for the test, and returns a client trusting that CA.
func tlsServer(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	ss, err := tlsserve.NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = tlsserve.Config(nil)
	srv.TLS.Certificates = []tls.Certificate{ss.Cert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ss.CAPEM)
	return srv, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16,
	}}
}

type fixture struct {
	q         *Queue
	reg       *prometheus.Registry
	m         *Metrics
	log       *lockedBuffer
	mu        sync.Mutex
	malformed []audit.Malformed
	url       string
	client    *http.Client
}

func newFixture(t testing.TB, capacity int, tweak func(*Config)) *fixture {
	t.Helper()
	f := &fixture{q: NewQueue(capacity), reg: prometheus.NewRegistry(), log: &lockedBuffer{}}
	var err error
	if f.m, err = NewMetrics(f.reg); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Queue: f.q, Metrics: f.m, Logger: slog.New(slog.NewTextHandler(f.log, nil)),
		OnMalformed: func(m audit.Malformed) {
			f.mu.Lock()
			f.malformed = append(f.malformed, m)
			f.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, client := tlsServer(t, Handler(cfg))
	f.url, f.client = srv.URL, client
	return f
}

func (f *fixture) post(t testing.TB, path, contentType string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func drainAll(t testing.TB, q *Queue) []*audit.Event {
	t.Helper()
	var out []*audit.Event
	buf := make([]*audit.Event, 64)
	for q.Len() > 0 {
		n, err := q.Drain(context.Background(), buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
	}
	return out
}

func ids(evs []*audit.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.AuditID)
	}
	return strings.Join(s, ",")
}

// prefill fills the queue with n events named p0, p1...
func prefill(t testing.TB, q *Queue, n int) {
	t.Helper()
	evs := make([]*audit.Event, n)
	for i := range evs {
		evs[i] = &audit.Event{AuditID: "p" + string(rune('0'+i))}
	}
	if err := q.Put(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerQueuesBatch(t *testing.T) {
	for _, path := range []string{"/", "/audit"} {
		t.Run(path, func(t *testing.T) {
			f := newFixture(t, 10, nil)
			resp, body := f.post(t, path, "application/json; charset=utf-8", readTestdata(t, "eventlist.json"))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			evs := drainAll(t, f.q)
			if got := ids(evs); got != "a1,a2,a3" {
				t.Fatalf("queued %q, want a1,a2,a3", got)
			}
			e := evs[1]
			if e.Verb != "create" || e.Resource() != "pods" || !strings.Contains(string(e.RequestObject), `"privileged":true`) ||
				e.StageTimestamp.IsZero() || e.Pos.Line != 2 || !strings.Contains(e.Pos.File, "127.0.0.1:") || !strings.HasSuffix(e.Pos.File, " request 1") {
				t.Errorf("event decoded wrong: %+v", e)
			}
			if got := testutil.ToFloat64(f.m.events.WithLabelValues(Source)); got != 3 {
				t.Errorf("events_total %v, want 3", got)
			}
		})
	}
}

func TestHandlerFullAnswers429(t *testing.T) {
	f := newFixture(t, 4, func(c *Config) { c.QueueWait = 50 * time.Millisecond })
	prefill(t, f.q, 2)
	resp, body := f.post(t, "/", "application/json", readTestdata(t, "eventlist.json"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %d Retry-After %q: %s; want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if got := ids(drainAll(t, f.q)); got != "p0,p1" {
		t.Errorf("queue holds %q: a refused batch must queue nothing", got)
	}
	if got := testutil.ToFloat64(f.m.dropped.WithLabelValues(DropQueueFull)); got != 3 {
		t.Errorf("dropped{queue_full} %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.m.events.WithLabelValues(Source)); got != 0 {
		t.Errorf("events_total %v, want 0", got)
	}
	if log := f.log.String(); !strings.Contains(log, "queue_full=3") || !strings.Contains(log, "queue_full_total=3") {
		t.Errorf("drop not logged: %s", log)
	}
	// Room now: the retry is queued.
	if resp, body := f.post(t, "/", "application/json", readTestdata(t, "eventlist.json")); resp.StatusCode != 200 {
		t.Fatalf("retry: status %d: %s", resp.StatusCode, body)
	}
}

// waitWaiters waits until n Puts wait for room.
func waitWaiters(t testing.TB, q *Queue, n int) {
	t.Helper()
	for range 5000 {
		q.mu.Lock()
		k := len(q.waiters)
		q.mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %d waiting Puts", n)
}

func TestHandlerRoomFreedWhileWaiting(t *testing.T) {
	f := newFixture(t, 4, func(c *Config) { c.QueueWait = time.Minute })
	prefill(t, f.q, 3)
	done := make(chan int)
	go func() {
		resp, _ := f.post(t, "/", "application/json", readTestdata(t, "eventlist.json"))
		done <- resp.StatusCode
	}()
	waitWaiters(t, f.q, 1)
	buf := make([]*audit.Event, 2)
	if n, err := f.q.Drain(context.Background(), buf); err != nil || n != 2 {
		t.Fatalf("drain: %d %v", n, err)
	}
	if code := <-done; code != 200 {
		t.Fatalf("status %d after room was freed, want 200", code)
	}
	if got := ids(drainAll(t, f.q)); got != "p2,a1,a2,a3" {
		t.Errorf("queue holds %q", got)
	}
}

func TestHandlerMalformedItem(t *testing.T) {
	f := newFixture(t, 10, nil)
	resp, body := f.post(t, "/", "application/json", readTestdata(t, "malformed.json"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := ids(drainAll(t, f.q)); got != "m1,m4" {
		t.Errorf("queued %q, want m1,m4", got)
	}
	if len(f.malformed) != 2 {
		t.Fatalf("malformed %v, want 2", f.malformed)
	}
	for i, want := range []int{2, 3} {
		m := f.malformed[i]
		if m.Pos.Line != want || !strings.HasSuffix(m.Pos.File, " request 1") || m.Err == nil {
			t.Errorf("malformed[%d] = %v, want line %d of request 1", i, m, want)
		}
	}
	if got := testutil.ToFloat64(f.m.malformed.WithLabelValues(Source)); got != 2 {
		t.Errorf("malformed_total %v, want 2", got)
	}
}

func TestHandlerRefuses(t *testing.T) {
	big := readTestdata(t, "eventlist.json")
	tests := []struct {
		name, method, path, ctype, encoding string
		body                                []byte
		code                                int
		dropped                             string
	}{
		{name: "bad JSON", method: "POST", path: "/", ctype: "application/json", body: readTestdata(t, "truncated.json"), code: 400},
		{name: "not JSON", method: "POST", path: "/", ctype: "application/json", body: []byte("hello"), code: 400},
		{name: "wrong version", method: "POST", path: "/", ctype: "application/json", body: readTestdata(t, "wrongversion.json"), code: 400},
		{name: "not an EventList", method: "POST", path: "/", ctype: "application/json", body: []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1"}`), code: 400},
		{name: "items not events", method: "POST", path: "/", ctype: "application/json", body: []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}`), code: 400},
		{name: "body too large", method: "POST", path: "/", ctype: "application/json", body: append(big, bytes.Repeat([]byte(" "), 2000)...), code: 413, dropped: DropBodyTooLarge},
		{name: "wrong method", method: "GET", path: "/", code: 405},
		{name: "wrong method audit", method: "PUT", path: "/audit", ctype: "application/json", body: big, code: 405},
		{name: "text", method: "POST", path: "/", ctype: "text/plain", body: big, code: 415},
		{name: "gzip", method: "POST", path: "/", ctype: "application/json", encoding: "gzip", body: big, code: 415},
		{name: "unknown path", method: "POST", path: "/other", ctype: "application/json", body: big, code: 404},
		{name: "healthz", method: "GET", path: "/healthz", code: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 10, func(c *Config) { c.MaxBodyBytes = int64(len(big)) + 1000 })
			req, _ := http.NewRequest(tt.method, f.url+tt.path, bytes.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tt.code)
			}
			if tt.code == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			if f.q.Len() != 0 {
				t.Errorf("%d events queued from a refused request", f.q.Len())
			}
			if tt.dropped != "" {
				if got := testutil.ToFloat64(f.m.dropped.WithLabelValues(tt.dropped)); got != 1 {
					t.Errorf("dropped{%s} %v, want 1", tt.dropped, got)
				}
				if !strings.Contains(f.log.String(), tt.dropped+"=1") {
					t.Errorf("drop not logged: %s", f.log.String())
				}
			}
		})
	}
}

// A body over the limit without a Content-Length (chunked) is cut off
// while read.
func TestHandlerChunkedTooLarge(t *testing.T) {
	f := newFixture(t, 10, func(c *Config) { c.MaxBodyBytes = 100 })
	pr, pw := io.Pipe()
	go func() {
		pw.Write(readTestdata(t, "eventlist.json"))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", f.url+"/", pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

func TestDropLog(t *testing.T) {
	var buf lockedBuffer
	d := NewDropLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	d.Add(DropQueueFull, 400)
	d.Add(DropQueueFull, 400)
	d.Add(DropShutdown, 5)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "queue_full=400") {
		t.Fatalf("want one line for the first drop, got %q", lines)
	}
	d.Flush()
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "queue_full=400 shutdown=5 queue_full_total=800 shutdown_total=5") {
		t.Fatalf("flush: %q", lines)
	}
	d.Flush()
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Errorf("an empty flush logged: %q", buf.String())
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Event("x")
	m.Events("x", 3)
	m.Malformed("x")
	m.Alert(&audit.Alert{Rule: "r"})
	m.Suppressed("r")
	m.Dropped("x", 1)
	m.Lag(time.Second)
	m.WatchQueue(NewQueue(1))
	m.request(200, time.Second)
}

func TestMetricsExposed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueue(7)
	prefill(t, q, 2)
	m.WatchQueue(q)
	m.Alert(&audit.Alert{Rule: "exec", Severity: "high"})
	m.Suppressed("exec")
	m.Lag(1500 * time.Millisecond)
	m.Dropped("sink_slack", 4)
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`mamori_audit_queue_length 2`, `mamori_audit_queue_capacity 7`,
		`mamori_audit_alerts_total{rule="exec",severity="high"} 1`, `mamori_audit_suppressed_total{rule="exec"} 1`,
		`mamori_audit_lag_seconds 1.5`, `mamori_audit_dropped_total{reason="sink_slack"} 4`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice: no error")
	}
}
