package output

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// ProgramStats is what the kernel reports of one BPF program's cost
// (with kernel.bpf_stats_enabled=1): total run time and run count.
type ProgramStats struct {
	Name     string
	Runtime  time.Duration
	RunCount uint64
}

// MetricsSources are the values the metrics read at scrape time. Any may
// be nil; its metrics are then not exported.
type MetricsSources struct {
	// Lost returns the kernel's cumulative count of events lost per
	// sensor (ring buffer full), for mamori_runtime_events_lost_total.
	Lost func() map[string]uint64
	// Programs returns each BPF program's cost, for
	// mamori_runtime_bpf_run_seconds_total and mamori_runtime_bpf_runs_total.
	Programs func() []ProgramStats
	// ProcessCacheEntries returns the process cache's size.
	ProcessCacheEntries func() int
}

// Metrics are the runtime agent's Prometheus metrics. A nil *Metrics
// records nothing, so callers need not check.
type Metrics struct {
	events   *prometheus.CounterVec
	alerts   *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	degraded *prometheus.GaugeVec
}

// NewMetrics registers the runtime metrics with reg.
func NewMetrics(reg prometheus.Registerer, src MetricsSources) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_runtime_events_total",
			Help: "Runtime events received from the kernel, by kind and sensor.",
		}, []string{"kind", "sensor"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_runtime_alerts_total",
			Help: "Alerts raised by runtime rules, by rule, severity and action taken.",
		}, []string{"rule", "severity", "action"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_runtime_output_dropped_total",
			Help: "Alerts an output lost (queue full, delivery failed, closed before delivery), by sink.",
		}, []string{"sink"}),
		degraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mamori_runtime_enforcement_degraded",
			Help: "1 when an enforcing rule cannot enforce on this node and only monitors.",
		}, []string{"rule"}),
	}
	cs := []prometheus.Collector{m.events, m.alerts, m.dropped, m.degraded, &sourceCollector{src: src}}
	if src.ProcessCacheEntries != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mamori_runtime_process_cache_entries",
			Help: "Processes in the agent's process cache.",
		}, func() float64 { return float64(src.ProcessCacheEntries()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	return m, nil
}

// Event counts one event.
func (m *Metrics) Event(e *event.Event) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(string(e.Kind), e.Sensor).Inc()
}

// Alert counts one alert.
func (m *Metrics) Alert(a *event.Alert) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(a.Rule, a.Severity, a.Action).Inc()
}

// SetDegraded says whether rule, meant to enforce, is only monitoring.
func (m *Metrics) SetDegraded(rule string, degraded bool) {
	if m == nil {
		return
	}
	v := 0.0
	if degraded {
		v = 1
	}
	m.degraded.WithLabelValues(rule).Set(v)
}

func (m *Metrics) outputDropped(sink string, n int) {
	if m == nil {
		return
	}
	m.dropped.WithLabelValues(sink).Add(float64(n))
}

// Descriptions of the metrics read from MetricsSources at scrape time.
var (
	lostDesc = prometheus.NewDesc("mamori_runtime_events_lost_total",
		"Events the kernel could not hand to the agent (ring buffer full), by sensor.", []string{"sensor"}, nil)
	bpfSecondsDesc = prometheus.NewDesc("mamori_runtime_bpf_run_seconds_total",
		"CPU time spent in each BPF program, as the kernel reports it (kernel.bpf_stats_enabled).", []string{"program"}, nil)
	bpfRunsDesc = prometheus.NewDesc("mamori_runtime_bpf_runs_total",
		"Runs of each BPF program, as the kernel reports it (kernel.bpf_stats_enabled).", []string{"program"}, nil)
)

// sourceCollector exports the kernel's own cumulative counters as they
// are at scrape time: no deltas to track, nothing lost between scrapes.
type sourceCollector struct{ src MetricsSources }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.src.Lost != nil {
		ch <- lostDesc
	}
	if c.src.Programs != nil {
		ch <- bpfSecondsDesc
		ch <- bpfRunsDesc
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Lost != nil {
		for sensor, n := range c.src.Lost() {
			ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(n), sensor)
		}
	}
	if c.src.Programs != nil {
		for _, p := range c.src.Programs() {
			ch <- prometheus.MustNewConstMetric(bpfSecondsDesc, prometheus.CounterValue, p.Runtime.Seconds(), p.Name)
			ch <- prometheus.MustNewConstMetric(bpfRunsDesc, prometheus.CounterValue, float64(p.RunCount), p.Name)
		}
	}
}
