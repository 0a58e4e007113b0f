package webhook

import (
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mamori-dev/mamori/pkg/imagepolicy"
)

// Metrics are the webhook's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	denials   *prometheus.CounterVec
	warnings  *prometheus.CounterVec
	audits    *prometheus.CounterVec
	malformed prometheus.Counter
	// Image verification, by endpoint (validate, mutate).
	images       *prometheus.CounterVec
	imageLatency *prometheus.HistogramVec
	mutations    *prometheus.CounterVec
}

// NewMetrics registers the webhook's metrics and the Go runtime's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_requests_total", Help: "Admission requests judged, by operation, kind and decision (allowed, denied, error).",
		}, []string{"operation", "kind", "decision", "dry_run"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mamori_webhook_request_duration_seconds",
			Help:    "Time from reading an admission request to writing its response.",
			Buckets: []float64{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}, []string{"decision"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_denials_total", Help: "Violations that denied a request, by check.",
		}, []string{"check"}),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_warnings_total", Help: "Violations returned as warnings, by check.",
		}, []string{"check"}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_audit_violations_total", Help: "Violations recorded as audit annotations, by check.",
		}, []string{"check"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mamori_webhook_malformed_requests_total", Help: "Requests answered 400 because they were not a valid AdmissionReview.",
		}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_image_verifications_total",
			Help: "Image verifications (one per image and matching ImageVerificationPolicy), by endpoint, result (verified, denied, error) and whether the verdict was cached.",
		}, []string{"endpoint", "result", "cached"}),
		imageLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mamori_webhook_image_verification_duration_seconds",
			Help:    "Time to verify the images of one request, by endpoint and whether every verdict was cached.",
			Buckets: []float64{0.00005, 0.0002, 0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"endpoint", "cached"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mamori_webhook_mutations_total", Help: "Requests to /mutate, by kind and result (patched, unchanged, error).",
		}, []string{"kind", "result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.denials, m.warnings, m.audits, m.malformed, m.images, m.imageLatency, m.mutations,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics live, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observe(op, kind, decision string, dryRun bool, d time.Duration) {
	m.requests.WithLabelValues(op, kind, decision, strconv.FormatBool(dryRun)).Inc()
	m.latency.WithLabelValues(decision).Observe(d.Seconds())
}

// observeImages counts the decisions of one request's image check and
// its latency.
func (m *Metrics) observeImages(endpoint string, decisions []imagepolicy.Decision, d time.Duration) {
	if len(decisions) == 0 {
		return
	}
	all := true
	for _, dec := range decisions {
		all = all && dec.Cached
		m.images.WithLabelValues(endpoint, imageResult(dec), strconv.FormatBool(dec.Cached)).Inc()
	}
	m.imageLatency.WithLabelValues(endpoint, strconv.FormatBool(all)).Observe(d.Seconds())
}

func statusError(code int32, reason, msg string) *metav1.Status {
	return &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReason(reason), Message: msg}
}
