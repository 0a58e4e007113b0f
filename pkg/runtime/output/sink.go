// Package output is where the runtime agent's alerts and events go: JSON
// lines to a stream or a rotating file, a webhook, several of those at
// once, a human-readable trace printer, and Prometheus metrics with a
// small /metrics and /healthz server.
//
// The sinks are pkg/alertsink's, shared with the audit-log alerts. A Sink
// never blocks the agent's event loop: each one has a bounded queue
// drained by its own goroutine, and an alert that finds the queue full is
// dropped, counted (Dropped, mamori_runtime_output_dropped_total) and
// logged. Process arguments and rule outputs are redacted with mamori's
// secret rules before they leave, as every other mamori output is.
package output

import (
	"io"
	"log/slog"
	"strings"

	"github.com/mamori-dev/mamori/pkg/alertsink"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// Errors a Sink returns from Write.
var (
	// ErrQueueFull means the alert was dropped: it has already been counted
	// and logged, so callers need not log it again.
	ErrQueueFull = alertsink.ErrQueueFull
	// ErrClosed means the sink was closed.
	ErrClosed = alertsink.ErrClosed
)

// DefaultQueueSize is the queue length of a sink whose Options leave it zero.
const DefaultQueueSize = alertsink.DefaultQueueSize

// The sinks are pkg/alertsink's, for runtime alerts.
type (
	// Sink receives alerts.
	Sink = alertsink.Sink[*event.Alert]
	// JSONLines writes one JSON alert per line to a stream or a file.
	JSONLines = alertsink.Stream[*event.Alert]
	// Webhook POSTs alerts as JSON arrays.
	Webhook = alertsink.Webhook[*event.Alert]
	// WebhookConfig says where and how alerts are POSTed.
	WebhookConfig = alertsink.WebhookConfig
	// Multi sends each alert to several sinks, each with its own queue.
	Multi = alertsink.Multi[*event.Alert]
)

// Options are what every sink shares.
type Options struct {
	// Name identifies the sink in logs and in the dropped metric's label
	// (default: the sink's kind, e.g. "file", "webhook").
	Name string
	// QueueSize bounds the alerts waiting for delivery (default DefaultQueueSize).
	QueueSize int
	// Logger receives drops and delivery errors (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, counts drops in mamori_runtime_output_dropped_total.
	Metrics *Metrics
	// Secrets, when set, redacts process arguments and rule outputs.
	Secrets *secret.Engine
}

// sinkOptions turns o into alertsink's: the redaction and the drop metric
// are the runtime's own.
func (o Options) sinkOptions() alertsink.Options[*event.Alert] {
	so := alertsink.Options[*event.Alert]{Name: o.Name, QueueSize: o.QueueSize, Logger: o.Logger}
	if o.Secrets != nil {
		so.Redact = func(a *event.Alert) *event.Alert { return redact(o.Secrets, a) }
	}
	if o.Metrics != nil {
		so.OnDrop = o.Metrics.outputDropped
	}
	return so
}

// NewJSONLines writes alerts to w, which it does not close.
func NewJSONLines(w io.Writer, o Options) *JSONLines {
	return alertsink.NewJSONLines(w, o.sinkOptions())
}

// OpenFile appends alerts to the file at path, creating it (mode 0600:
// alerts say what ran where) when missing. Reopen reopens it after a log
// rotator moved it away.
func OpenFile(path string, o Options) (*JSONLines, error) {
	return alertsink.OpenFile(path, o.sinkOptions())
}

// NewWebhook checks cfg and starts the sender. Bad configuration (a URL
// that is not http(s), an unreadable CA file) is an error now, not a
// stream of failed deliveries later.
func NewWebhook(cfg WebhookConfig, o Options) (*Webhook, error) {
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mamori-agent"
	}
	return alertsink.NewWebhook(cfg, o.sinkOptions())
}

// redact returns a copy of a whose process arguments and output carry no
// secret the rules find. The event is copied only as deep as it changes.
func redact(e *secret.Engine, a *event.Alert) *event.Alert {
	if e == nil || a == nil {
		return a
	}
	c := *a
	c.Output = e.RedactText(a.Output)
	c.ActionError = e.RedactText(a.ActionError)
	c.Event = RedactEvent(e, a.Event)
	return &c
}

// RedactEvent returns a copy of ev whose process and parent arguments
// carry no secret the rules find; ev itself is not changed. A nil engine
// returns ev.
func RedactEvent(e *secret.Engine, ev *event.Event) *event.Event {
	if e == nil || ev == nil {
		return ev
	}
	c := *ev
	c.Process.Args = redactArgs(e, ev.Process.Args)
	if ev.Parent != nil {
		p := *ev.Parent
		p.Args = redactArgs(e, p.Args)
		c.Parent = &p
	}
	if ev.Module != nil && ev.Module.Args != "" {
		m := *ev.Module
		m.Args = e.RedactText(m.Args)
		c.Module = &m
	}
	return &c
}

// redactArgs redacts each argument, and the value of a secret-named flag
// given as the next argument ("--password" "s3cret"), which no rule could
// see in either argument alone.
func redactArgs(e *secret.Engine, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = e.RedactText(a)
		if out[i] != a || i == 0 {
			continue
		}
		prev := args[i-1]
		if !strings.HasPrefix(prev, "-") || strings.Contains(prev, "=") {
			continue
		}
		if ms := e.ScanValue(strings.TrimLeft(prev, "-"), []byte(a)); len(ms) > 0 {
			out[i] = secret.Redact([]byte(a))
		}
	}
	return out
}
