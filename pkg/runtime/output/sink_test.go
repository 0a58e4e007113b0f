package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// alertsFor wraps the fixture events in alerts; the mysql one carries a
// password in its arguments and output.
func alertsFor(t testing.TB) []*event.Alert {
	t.Helper()
	var out []*event.Alert
	for i, e := range loadEvents(t) {
		out = append(out, &event.Alert{
			Time: e.Time, Rule: fmt.Sprintf("rule-%d", i), Title: "t", Severity: "HIGH", Action: "alert", Mode: "monitor",
			Output: "ran " + strings.Join(e.Process.Args, " "), Event: e,
		})
	}
	return out
}

const password = "S3cr3tP4ssw0rd!x9"

func readLines(t *testing.T, path string) []*event.Alert {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*event.Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a := new(event.Alert)
		if err := json.Unmarshal(sc.Bytes(), a); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// TestFileRedacts: the runtime's file sink redacts process arguments and
// rule outputs before they reach the disk, and leaves the caller's alert
// alone. (Rotation, modes and queueing are pkg/alertsink's, tested there.)
func TestFileRedacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s, err := OpenFile(path, Options{Secrets: secrets(t)})
	if err != nil {
		t.Fatal(err)
	}
	alerts := alertsFor(t)
	for _, a := range alerts[:3] {
		if err := s.Write(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	raw, _ := os.ReadFile(path)
	if len(got) != 3 || bytes.Contains(raw, []byte(password)) {
		t.Fatalf("%d alerts; password written: %v", len(got), bytes.Contains(raw, []byte(password)))
	}
	if got[1].Event.Process.Args[1] != "--password=S3cr…(17 chars)" || strings.Contains(got[1].Output, password) {
		t.Errorf("args %q, output %q: want redacted", got[1].Event.Process.Args, got[1].Output)
	}
	if alerts[1].Event.Process.Args[1] != "--password="+password {
		t.Error("redaction changed the caller's alert")
	}
}

// TestWebhook: the runtime's webhook names the agent, redacts process
// arguments and counts a failed delivery in the dropped metric. Retries,
// batches and TLS are pkg/alertsink's, tested there.
func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var agents, bodies []string
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		agents, bodies = append(agents, r.Header.Get("User-Agent")), append(bodies, string(body))
		mu.Unlock()
		if n.Add(1) > 1 {
			http.Error(w, "no", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, MetricsSources{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWebhook(WebhookConfig{URL: srv.URL}, Options{Metrics: m, Secrets: secrets(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	alerts := alertsFor(t)
	_ = w.Write(t.Context(), alerts[1])
	waitFor(t, func() bool { return n.Load() == 1 })
	_ = w.Write(t.Context(), alerts[1]) // refused with 403: dropped
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got []*event.Alert
	if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil || len(got) != 1 {
		t.Fatalf("first request %q: %v", bodies[0], err)
	}
	if fmt.Sprint(agents) != "[mamori-agent mamori-agent]" || strings.Contains(bodies[0], password) ||
		got[0].Event.Process.Args[1] != "--password=S3cr…(17 chars)" {
		t.Errorf("User-Agent %q, body %s", agents, bodies[0])
	}
	if d := testutil.ToFloat64(m.dropped.WithLabelValues("webhook")); d != 1 || w.Dropped() != 1 {
		t.Errorf("dropped metric %v, Dropped %d; want 1", d, w.Dropped())
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
	s := NewJSONLines(io.Discard, Options{Secrets: secrets(b), QueueSize: 1 << 16})
	alerts := alertsFor(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = s.Write(b.Context(), alerts[i%len(alerts)])
	}
	_ = s.Close(context.Background())
	b.ReportMetric(float64(s.Dropped()), "dropped")
}

func BenchmarkRedactAlert(b *testing.B) {
	eng := secrets(b)
	alerts := alertsFor(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = redact(eng, alerts[i%len(alerts)])
	}
}
