package server

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Reasons of mamori_audit_dropped_total.
const (
	// DropQueueFull is a batch answered 429: the API server retries it,
	// but that delivery attempt was refused.
	DropQueueFull = "queue_full"
	// DropBodyTooLarge is a request whose body exceeded MaxBodyBytes; its
	// events were not read, so it counts 1.
	DropBodyTooLarge = "body_too_large"
	// DropShutdown is a batch refused because the queue was closed.
	DropShutdown = "shutdown"
	// DropClientGone is a batch whose client went away while it waited for
	// room.
	DropClientGone = "client_gone"
)

// Metrics are the Prometheus metrics of audit-log threat detection, shared
// by `audit serve` and `audit scan --follow`. A nil *Metrics records
// nothing.
type Metrics struct {
	events    *prometheus.CounterVec
	malformed *prometheus.CounterVec
	alerts    *prometheus.CounterVec
	supp      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	lag       prometheus.Gauge
	duration  *prometheus.HistogramVec
	queue     atomic.Pointer[Queue]
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_audit_events_total", Help: "Audit events read, by source (webhook, or a file).",
		}, []string{"source"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_audit_malformed_total", Help: "Audit events that could not be read, by source.",
		}, []string{"source"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_audit_alerts_total", Help: "Alerts raised, by rule and severity.",
		}, []string{"rule", "severity"}),
		supp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_audit_suppressed_total", Help: "Alerts suppressed (deduplicated or excepted), by rule.",
		}, []string{"rule"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_audit_dropped_total",
			Help: "Audit events dropped or refused, by reason: queue_full (429 answered; the API server retries), " +
				"body_too_large (requests), shutdown, client_gone, or an output sink's.",
		}, []string{"reason"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mamori_audit_lag_seconds", Help: "Now less the stage timestamp of the last event the engine processed.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mamori_audit_request_duration_seconds", Help: "Time to answer an audit webhook request, by HTTP code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"code"}),
	}
	qlen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mamori_audit_queue_length", Help: "Audit events queued for the rule engine.",
	}, func() float64 {
		if q := m.queue.Load(); q != nil {
			return float64(q.Len())
		}
		return 0
	})
	qcap := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mamori_audit_queue_capacity", Help: "Capacity of the audit event queue.",
	}, func() float64 {
		if q := m.queue.Load(); q != nil {
			return float64(q.Cap())
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.events, m.malformed, m.alerts, m.supp, m.dropped, m.lag, m.duration, qlen, qcap} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register audit metrics: %w", err)
		}
	}
	return m, nil
}

// MetricsHandler serves the metrics of g (a *prometheus.Registry) at
// /metrics, on the endpoint's listener or a separate one.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// WatchQueue makes the queue gauges report q. Handler calls it.
func (m *Metrics) WatchQueue(q *Queue) {
	if m != nil {
		m.queue.Store(q)
	}
}

// Event counts an event read from source.
func (m *Metrics) Event(source string) { m.Events(source, 1) }

// Events counts n events read from source.
func (m *Metrics) Events(source string, n int) {
	if m != nil && n > 0 {
		m.events.WithLabelValues(source).Add(float64(n))
	}
}

// Malformed counts an event of source that could not be read.
func (m *Metrics) Malformed(source string) {
	if m != nil {
		m.malformed.WithLabelValues(source).Inc()
	}
}

// Alert counts a raised alert.
func (m *Metrics) Alert(a *audit.Alert) {
	if m != nil {
		m.alerts.WithLabelValues(a.Rule, a.Severity).Inc()
	}
}

// Suppressed counts a suppressed alert of rule.
func (m *Metrics) Suppressed(rule string) {
	if m != nil {
		m.supp.WithLabelValues(rule).Inc()
	}
}

// Dropped counts n events dropped or refused for reason. It only counts:
// log drops with a DropLog.
func (m *Metrics) Dropped(reason string, n int) {
	if m != nil && n > 0 {
		m.dropped.WithLabelValues(reason).Add(float64(n))
	}
}

// Lag sets how far behind the engine is: now less the stage timestamp of
// the last event it processed.
func (m *Metrics) Lag(d time.Duration) {
	if m != nil {
		m.lag.Set(d.Seconds())
	}
}

func (m *Metrics) request(code int, d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues(strconv.Itoa(code)).Observe(d.Seconds())
	}
}

// DropLog logs drops without flooding the log: at most one line per
// interval, with the drops since the last line and the totals. Drops held
// back are logged when the interval has passed, not only at the next drop.
type DropLog struct {
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	last    time.Time
	pending map[string]int
	total   map[string]int
	timer   *time.Timer
}

// NewDropLog logs to log at most once per every (10s if 0).
func NewDropLog(log *slog.Logger, every time.Duration) *DropLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	return &DropLog{log: log, every: every, pending: map[string]int{}, total: map[string]int{}}
}

// Add records n events dropped for reason.
func (d *DropLog) Add(reason string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending[reason] += n
	d.total[reason] += n
	if wait := d.every - time.Since(d.last); wait > 0 {
		if d.timer == nil {
			d.timer = time.AfterFunc(wait, d.Flush)
		}
		return
	}
	d.flushLocked()
}

// Flush logs the drops held back, if any.
func (d *DropLog) Flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flushLocked()
}

func (d *DropLog) flushLocked() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if len(d.pending) == 0 {
		return
	}
	attrs := make([]any, 0, 2*len(d.pending)+2*len(d.total))
	for _, r := range slices.Sorted(maps.Keys(d.pending)) {
		attrs = append(attrs, r, d.pending[r])
	}
	for _, r := range slices.Sorted(maps.Keys(d.total)) {
		attrs = append(attrs, r+"_total", d.total[r])
	}
	d.log.Warn("audit events dropped or refused", attrs...)
	clear(d.pending)
	d.last = time.Now()
}
