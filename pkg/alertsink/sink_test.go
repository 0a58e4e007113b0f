package alertsink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/secret"
)

// alert stands for any alert type: the sinks know nothing of it.
type alert struct {
	Rule   string `json:"rule"`
	Output string `json:"output"`
}

// testAlerts are testdata/alerts.jsonl; rule-1 carries a password.
func testAlerts(t testing.TB) []*alert {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*alert
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		a := new(alert)
		if err := json.Unmarshal(sc.Bytes(), a); err != nil {
			t.Fatalf("testdata/alerts.jsonl:%d: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

const password = "S3cr3tP4ssw0rd!x9"

// redactor redacts an alert's output with mamori's secret rules, copying it.
func redactor(t testing.TB) func(*alert) *alert {
	t.Helper()
	e, err := secret.New(secret.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	return func(a *alert) *alert {
		c := *a
		c.Output = e.RedactText(a.Output)
		return &c
	}
}

// drops counts what OnDrop is told, per sink.
type drops struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *drops) add(sink string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[sink] += n
}

func (d *drops) get(sink string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[sink]
}

func readLines(t *testing.T, path string) []*alert {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a := new(alert)
		if err := json.Unmarshal(sc.Bytes(), a); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	s, err := OpenFile(path, Options[*alert]{Redact: redactor(t)})
	if err != nil {
		t.Fatal(err)
	}
	alerts := testAlerts(t)
	for _, a := range alerts[:3] {
		if err := s.Write(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	// A rotator moves the file away, then signals: the lines written
	// before stay in the moved file, the rest go to a new one.
	waitFor(t, func() bool { return len(readLines(t, path)) == 3 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts[3:5] {
		if err := s.Write(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	old, cur := readLines(t, path+".1"), readLines(t, path)
	if len(old) != 3 || len(cur) != 2 || old[0].Rule != "rule-0" || cur[0].Rule != "rule-3" {
		t.Fatalf("rotated file has %d alerts, new file %d", len(old), len(cur))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("alert log mode %v (%v), want 0600", st.Mode(), err)
	}
	raw, _ := os.ReadFile(path + ".1")
	if bytes.Contains(raw, []byte(password)) {
		t.Error("password written to the alert log")
	}
	if want := "ran mysql --password=S3cr…(17 chars) -h db"; old[1].Output != want {
		t.Errorf("output %q, want %q", old[1].Output, want)
	}
	if !strings.Contains(alerts[1].Output, password) {
		t.Error("redaction changed the caller's alert")
	}
	if err := s.Write(t.Context(), alerts[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "missing", "x.jsonl"), Options[*alert]{}); err == nil || !strings.Contains(err.Error(), "missing/x.jsonl") {
		t.Errorf("OpenFile in a missing directory: %v", err)
	}
}

// TestJSONLinesGolden: one JSON document per line, the alert's own JSON.
func TestJSONLinesGolden(t *testing.T) {
	var b bytes.Buffer
	s := NewJSONLines(&b, Options[*alert]{})
	for _, a := range testAlerts(t) {
		if err := s.Write(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestEncodeError: an alert that cannot be encoded is dropped and counted;
// the ones after it still go out.
func TestEncodeError(t *testing.T) {
	var b bytes.Buffer
	var d drops
	enc := func(buf []byte, a *alert) ([]byte, error) {
		if a.Rule == "rule-2" {
			return buf, errors.New("cannot encode rule-2")
		}
		return JSON(buf, a)
	}
	s := NewStream(&b, enc, Options[*alert]{OnDrop: d.add, Logger: slog.New(slog.DiscardHandler)})
	for _, a := range testAlerts(t) {
		_ = s.Write(t.Context(), a)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 4 || strings.Contains(b.String(), "rule-2") || s.Dropped() != 1 || d.get("stdout") != 1 {
		t.Errorf("%d lines, dropped %d, OnDrop %d:\n%s", n, s.Dropped(), d.get("stdout"), b.String())
	}
}

// stalledWriter blocks every Write until released.
type stalledWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	buf     bytes.Buffer
}

func newStalledWriter() *stalledWriter {
	return &stalledWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return w.buf.Write(p)
}

// TestQueueFullDrops: a stalled output never stalls Write; what does not
// fit is dropped, counted, reported to OnDrop and logged.
func TestQueueFullDrops(t *testing.T) {
	var logs bytes.Buffer
	var d drops
	w := newStalledWriter()
	s := NewJSONLines(w, Options[*alert]{Name: "stdout", QueueSize: 2, OnDrop: d.add, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	a := testAlerts(t)[0]
	if err := s.Write(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	<-w.entered // the worker holds one alert, stuck in the writer
	full := 0
	for range 12 {
		if err := s.Write(t.Context(), a); errors.Is(err, ErrQueueFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full != 10 || s.Dropped() != 10 {
		t.Errorf("%d ErrQueueFull, Dropped %d: want 10 beyond the queue of 2", full, s.Dropped())
	}
	if got := d.get("stdout"); got != 10 {
		t.Errorf("OnDrop told of %d, want 10", got)
	}
	// One log line for the flood, not ten.
	if n := strings.Count(logs.String(), "output dropped alerts"); n != 1 || !strings.Contains(logs.String(), "sink=stdout") {
		t.Errorf("drop log:\n%s", logs.String())
	}
	close(w.release)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(w.buf.String(), "\n"); n != 3 {
		t.Errorf("%d alerts written, want the 3 queued", n)
	}
}

// TestBlock: with Block, a full queue makes Write wait rather than drop,
// until its context ends.
func TestBlock(t *testing.T) {
	w := newStalledWriter()
	var d drops
	s := NewJSONLines(w, Options[*alert]{QueueSize: 1, Block: true, OnDrop: d.add, Logger: slog.New(slog.DiscardHandler)})
	a := testAlerts(t)[0]
	_ = s.Write(t.Context(), a)
	<-w.entered
	if err := s.Write(t.Context(), a); err != nil { // fills the queue
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, a); !errors.Is(err, context.Canceled) || s.Dropped() != 1 || d.get("stdout") != 1 {
		t.Errorf("Write on a full queue with its context done: %v, dropped %d", err, s.Dropped())
	}
	done := make(chan error, 1)
	go func() { done <- s.Write(t.Context(), a) }()
	select {
	case err := <-done:
		t.Fatalf("Write returned %v with the queue full; want it to wait", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(w.buf.String(), "\n"); n != 3 || s.Dropped() != 1 {
		t.Errorf("%d alerts written, dropped %d; want 3 and 1", n, s.Dropped())
	}
}

// TestCloseGivesUp: Close returns when its context ends, even with the
// writer stalled, and counts what was left.
func TestCloseGivesUp(t *testing.T) {
	w := newStalledWriter()
	s := NewJSONLines(w, Options[*alert]{QueueSize: 4, Logger: slog.New(slog.DiscardHandler)})
	a := testAlerts(t)[0]
	_ = s.Write(t.Context(), a)
	<-w.entered // the first alert is stuck in the writer, two wait behind it
	for range 2 {
		_ = s.Write(t.Context(), a)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v, want context.Canceled", err)
	}
	close(w.release)
	// The worker, released, drops what was still queued.
	waitFor(t, func() bool { return s.Dropped() == 2 })
}

// hook is a webhook receiver on loopback.
type hook struct {
	mu       sync.Mutex
	batches  [][]*alert
	auth     []string
	agents   []string
	attempts atomic.Int32
	status   func(attempt int32) int
	delay    time.Duration
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.attempts.Add(1)
	body, _ := io.ReadAll(r.Body) // read first: the server then notices a client that gave up
	if h.delay > 0 {
		select {
		case <-time.After(h.delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	if h.status != nil {
		if code := h.status(n); code != http.StatusOK {
			http.Error(w, "not now", code)
			return
		}
	}
	var batch []*alert
	if err := json.Unmarshal(body, &batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.batches = append(h.batches, batch)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.agents = append(h.agents, r.Header.Get("User-Agent")+" "+r.Header.Get("X-Cluster"))
	h.mu.Unlock()
}

func (h *hook) authHeaders() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auth...)
}

func (h *hook) received() (alerts []*alert, raw string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.batches {
		alerts = append(alerts, b...)
	}
	j, _ := json.Marshal(alerts)
	return alerts, string(j)
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name         string
		hook         *hook
		cfg          WebhookConfig
		alerts       int
		wantAlerts   int
		wantDropped  uint64
		wantAttempts int32 // exact, when not zero
	}{
		{name: "delivered", hook: &hook{}, alerts: 5, wantAlerts: 5},
		{name: "5xx retried", hook: &hook{status: func(n int32) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}}, cfg: WebhookConfig{MaxBatch: 100}, alerts: 1, wantAlerts: 1, wantAttempts: 3},
		{name: "429 retried", hook: &hook{status: func(n int32) int {
			if n == 1 {
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		}}, alerts: 1, wantAlerts: 1, wantAttempts: 2},
		{name: "retries exhausted", hook: &hook{status: func(int32) int { return http.StatusInternalServerError }},
			cfg: WebhookConfig{Retries: 2}, alerts: 1, wantDropped: 1, wantAttempts: 3},
		{name: "4xx not retried", hook: &hook{status: func(int32) int { return http.StatusForbidden }},
			alerts: 1, wantDropped: 1, wantAttempts: 1},
		{name: "timeout", hook: &hook{delay: time.Minute}, cfg: WebhookConfig{Timeout: 20 * time.Millisecond, Retries: -1},
			alerts: 1, wantDropped: 1, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.hook)
			defer srv.Close()
			cfg := tt.cfg
			cfg.URL = srv.URL + "/alerts"
			cfg.BearerToken = "t0ken"
			cfg.Headers = map[string]string{"X-Cluster": "prod"}
			cfg.Backoff, cfg.MaxBackoff = time.Millisecond, 2*time.Millisecond
			var d drops
			w, err := NewWebhook(cfg, Options[*alert]{OnDrop: d.add, Redact: redactor(t), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			all := testAlerts(t)
			for i := range tt.alerts {
				if err := w.Write(t.Context(), all[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, raw := tt.hook.received()
			if len(got) != tt.wantAlerts || w.Dropped() != tt.wantDropped {
				t.Errorf("received %d alerts, dropped %d; want %d, %d", len(got), w.Dropped(), tt.wantAlerts, tt.wantDropped)
			}
			if d := d.get("webhook"); d != int(tt.wantDropped) {
				t.Errorf("OnDrop told of %d, want %d", d, tt.wantDropped)
			}
			if tt.wantAttempts != 0 && tt.hook.attempts.Load() != tt.wantAttempts {
				t.Errorf("%d requests, want %d", tt.hook.attempts.Load(), tt.wantAttempts)
			}
			for _, a := range tt.hook.authHeaders() {
				if a != "Bearer t0ken" {
					t.Errorf("Authorization %q", a)
				}
			}
			for _, a := range tt.hook.agents {
				if a != "mamori prod" {
					t.Errorf("User-Agent and X-Cluster %q, want \"mamori prod\"", a)
				}
			}
			if strings.Contains(raw, password) {
				t.Error("password sent to the webhook")
			}
			for i, a := range got {
				if a.Rule != fmt.Sprintf("rule-%d", i) {
					t.Errorf("alert %d is %s: order lost", i, a.Rule)
				}
			}
		})
	}
}

// TestWebhookBatches: alerts queued while a request is in flight go out
// together in the next one, at most MaxBatch at a time.
func TestWebhookBatches(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	h := &hook{}
	var first atomic.Bool
	first.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.Swap(false) {
			close(entered)
			<-release
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookConfig{URL: srv.URL, MaxBatch: 4}, Options[*alert]{})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlerts(t)[0]
	_ = w.Write(t.Context(), a)
	<-entered // the first request is in flight
	for range 9 {
		_ = w.Write(t.Context(), a)
	}
	close(release)
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.batches {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[1 4 4 1]" {
		t.Errorf("batch sizes %v, want [1 4 4 1]", sizes)
	}
}

func TestWebhookTLS(t *testing.T) {
	h := &hook{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake error is expected
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testAlerts(t)[0]

	w, err := NewWebhook(WebhookConfig{URL: srv.URL, CAFile: ca, BearerTokenFile: token}, Options[*alert]{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(t.Context(), a)
	waitFor(t, func() bool { got, _ := h.received(); return len(got) == 1 })
	// A rotated token is used from the next request.
	if err := os.WriteFile(token, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = w.Write(t.Context(), a)
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if auth := h.authHeaders(); fmt.Sprint(auth) != "[Bearer first Bearer second]" || w.Dropped() != 0 {
		t.Errorf("Authorization headers %q, dropped %d", auth, w.Dropped())
	}

	// Without the CA the server's certificate is not trusted.
	w, err = NewWebhook(WebhookConfig{URL: srv.URL, Retries: -1}, Options[*alert]{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(t.Context(), a)
	_ = w.Close(t.Context())
	if w.Dropped() != 1 {
		t.Errorf("untrusted server: dropped %d, want 1", w.Dropped())
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	_ = os.WriteFile(empty, nil, 0o600)
	for _, tt := range []struct {
		cfg  WebhookConfig
		want string
	}{
		{WebhookConfig{URL: "ftp://x/y"}, `webhook URL "ftp://x/y"`},
		{WebhookConfig{URL: "http://"}, `webhook URL "http://"`},
		{WebhookConfig{URL: "https://h", CAFile: filepath.Join(dir, "nope.pem")}, "nope.pem: no such file"},
		{WebhookConfig{URL: "https://h", CAFile: notPEM}, "ca.txt: no PEM certificate"},
		{WebhookConfig{URL: "https://h", BearerTokenFile: empty}, "empty is empty"},
		{WebhookConfig{URL: "https://h", BearerToken: "a", BearerTokenFile: empty}, "not both"},
	} {
		if _, err := NewWebhook(tt.cfg, Options[*alert]{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewWebhook(%+v) = %v, want an error with %q", tt.cfg, err, tt.want)
		}
	}
}

func TestMulti(t *testing.T) {
	var a, b bytes.Buffer
	m := Multi[*alert]{NewJSONLines(&a, Options[*alert]{Name: "a"}), NewJSONLines(&b, Options[*alert]{Name: "b"})}
	for _, al := range testAlerts(t)[:4] {
		if err := m.Write(t.Context(), al); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Count(a.String(), "\n") != 4 || a.String() != b.String() {
		t.Errorf("sinks got %d and %d lines", strings.Count(a.String(), "\n"), strings.Count(b.String(), "\n"))
	}
	err := m.Write(t.Context(), testAlerts(t)[0])
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

// waitFor polls cond: delivery is asynchronous by design.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition not met in 10s")
}

func BenchmarkJSONLinesWrite(b *testing.B) {
	s := NewJSONLines(io.Discard, Options[*alert]{QueueSize: 1 << 16, Redact: redactor(b)})
	alerts := testAlerts(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = s.Write(b.Context(), alerts[i%len(alerts)])
	}
	_ = s.Close(context.Background())
	b.ReportMetric(float64(s.Dropped()), "dropped")
}
