package output

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

func TestMetrics(t *testing.T) {
	lost := map[string]uint64{"tp_btf/sched_process_exec": 3}
	cache := 0
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg, MetricsSources{
		Lost: func() map[string]uint64 { return lost },
		Programs: func() []ProgramStats {
			return []ProgramStats{{Name: "handle_exec", Runtime: 1500 * time.Millisecond, RunCount: 1200}}
		},
		ProcessCacheEntries: func() int { return cache },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range loadEvents(t) {
		m.Event(e)
	}
	for _, a := range alertsFor(t)[:3] {
		m.Alert(a)
	}
	m.Alert(&event.Alert{Rule: "drift-exec", Severity: "CRITICAL", Action: "kill-kernel"})
	m.SetDegraded("drift-exec", true)
	m.SetDegraded("shell-in-container", true)
	m.SetDegraded("shell-in-container", false)
	m.outputDropped("webhook", 7)
	// The kernel's counters are read at scrape time: a later value shows.
	lost["tp_btf/sched_process_exec"] = 5
	lost["fentry/tcp_connect"] = 1
	cache = 42

	want := `
# HELP mamori_runtime_alerts_total Alerts raised by runtime rules, by rule, severity and action taken.
# TYPE mamori_runtime_alerts_total counter
mamori_runtime_alerts_total{action="alert",rule="rule-0",severity="HIGH"} 1
mamori_runtime_alerts_total{action="alert",rule="rule-1",severity="HIGH"} 1
mamori_runtime_alerts_total{action="alert",rule="rule-2",severity="HIGH"} 1
mamori_runtime_alerts_total{action="kill-kernel",rule="drift-exec",severity="CRITICAL"} 1
# HELP mamori_runtime_bpf_run_seconds_total CPU time spent in each BPF program, as the kernel reports it (kernel.bpf_stats_enabled).
# TYPE mamori_runtime_bpf_run_seconds_total counter
mamori_runtime_bpf_run_seconds_total{program="handle_exec"} 1.5
# HELP mamori_runtime_bpf_runs_total Runs of each BPF program, as the kernel reports it (kernel.bpf_stats_enabled).
# TYPE mamori_runtime_bpf_runs_total counter
mamori_runtime_bpf_runs_total{program="handle_exec"} 1200
# HELP mamori_runtime_enforcement_degraded 1 when an enforcing rule cannot enforce on this node and only monitors.
# TYPE mamori_runtime_enforcement_degraded gauge
mamori_runtime_enforcement_degraded{rule="drift-exec"} 1
mamori_runtime_enforcement_degraded{rule="shell-in-container"} 0
# HELP mamori_runtime_events_lost_total Events the kernel could not hand to the agent (ring buffer full), by sensor.
# TYPE mamori_runtime_events_lost_total counter
mamori_runtime_events_lost_total{sensor="fentry/tcp_connect"} 1
mamori_runtime_events_lost_total{sensor="tp_btf/sched_process_exec"} 5
# HELP mamori_runtime_output_dropped_total Alerts an output lost (queue full, delivery failed, closed before delivery), by sink.
# TYPE mamori_runtime_output_dropped_total counter
mamori_runtime_output_dropped_total{sink="webhook"} 7
# HELP mamori_runtime_process_cache_entries Processes in the agent's process cache.
# TYPE mamori_runtime_process_cache_entries gauge
mamori_runtime_process_cache_entries 42
`
	names := []string{"mamori_runtime_alerts_total", "mamori_runtime_bpf_run_seconds_total", "mamori_runtime_bpf_runs_total",
		"mamori_runtime_enforcement_degraded", "mamori_runtime_events_lost_total", "mamori_runtime_output_dropped_total",
		"mamori_runtime_process_cache_entries"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Events by kind and sensor: the fixture has five execs.
	if got := testutil.ToFloat64(m.events.WithLabelValues("exec", "tp_btf/sched_process_exec")); got != 5 {
		t.Errorf("exec events %v, want 5", got)
	}
	// One series per kind and sensor: every kind, and namespace from two hooks.
	if n := testutil.CollectAndCount(m.events); n != len(event.Kinds)+1 {
		t.Errorf("%d event series, want %d", n, len(event.Kinds)+1)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// A second agent on the same registry is a clear error, not a panic.
	if _, err := NewMetrics(reg, MetricsSources{}); err == nil || !strings.Contains(err.Error(), "register runtime metrics") {
		t.Errorf("second NewMetrics: %v", err)
	}
	// Without sources, their metrics are left out; a nil *Metrics is a no-op.
	reg2 := prometheus.NewRegistry()
	if _, err := NewMetrics(reg2, MetricsSources{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := testutil.GatherAndCount(reg2, "mamori_runtime_events_lost_total", "mamori_runtime_process_cache_entries"); n != 0 {
		t.Errorf("%d series without sources", n)
	}
	var nilM *Metrics
	nilM.Event(&event.Event{})
	nilM.Alert(&event.Alert{})
	nilM.SetDegraded("r", true)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, MetricsSources{})
	if err != nil {
		t.Fatal(err)
	}
	m.SetDegraded("drift-exec", true)
	var healthErr atomic.Pointer[error]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Handler(reg, func() error {
			if p := healthErr.Load(); p != nil {
				return *p
			}
			return nil
		}))
	}()
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `mamori_runtime_enforcement_degraded{rule="drift-exec"} 1`) {
		t.Errorf("/metrics %d:\n%s", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	unhealthy := errors.New("sensor not attached")
	healthErr.Store(&unhealthy)
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "sensor not attached") {
		t.Errorf("/healthz when unhealthy: %d %q", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
	if err := ListenAndServe(t.Context(), "127.0.0.1:-1", Handler(reg, nil)); err == nil || !strings.Contains(err.Error(), "metrics server") {
		t.Errorf("ListenAndServe on a bad address: %v", err)
	}
}

func BenchmarkMetricsEvent(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry(), MetricsSources{})
	if err != nil {
		b.Fatal(err)
	}
	evs := loadEvents(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Event(evs[i%len(evs)])
	}
}
