// Package output is where the runtime agent's alerts and events go: JSON
// lines to a stream or a rotating file, a webhook, several of those at
// once, a human-readable trace printer, and Prometheus metrics with a
// small /metrics and /healthz server.
//
// A Sink never blocks the agent's event loop: each one has a bounded
// queue drained by its own goroutine, and an alert that finds the queue
// full is dropped, counted (Dropped, mamori_runtime_output_dropped_total)
// and logged. Process arguments and rule outputs are redacted with mamori's
// secret rules before they leave, as every other mamori output is.
package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// Errors a Sink returns from Write.
var (
	// ErrQueueFull means the alert was dropped: it has already been counted
	// and logged, so callers need not log it again.
	ErrQueueFull = errors.New("output queue full: alert dropped")
	// ErrClosed means the sink was closed.
	ErrClosed = errors.New("output closed")
)

// DefaultQueueSize is the queue length of a sink whose Options leave it zero.
const DefaultQueueSize = 4096

// Sink receives alerts.
type Sink interface {
	// Write queues a for delivery and returns at once. It never blocks:
	// when the queue is full the alert is dropped and ErrQueueFull returned.
	Write(ctx context.Context, a *event.Alert) error
	// Close stops accepting alerts and delivers those queued, giving up
	// (and counting them dropped) when ctx ends.
	Close(ctx context.Context) error
}

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

// dropLogEvery is how often, at most, a sink logs that it keeps dropping:
// one line per drop under a flood would be a flood of its own.
const dropLogEvery = 10 * time.Second

// queue is the bounded queue and drop accounting behind every sink.
type queue struct {
	name    string
	log     *slog.Logger
	metrics *Metrics
	secrets *secret.Engine

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	ch     chan *event.Alert
	done   chan struct{}

	dropped atomic.Uint64
	lastLog atomic.Int64 // unix nanoseconds of the last drop log line
}

func newQueue(kind string, o Options) *queue {
	if o.Name == "" {
		o.Name = kind
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &queue{
		name: o.Name, log: o.Logger.With("sink", o.Name), metrics: o.Metrics, secrets: o.Secrets,
		ch: make(chan *event.Alert, o.QueueSize), done: make(chan struct{}),
	}
}

func (q *queue) put(a *event.Alert) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- a:
		return nil
	default:
		q.drop(1, "queue full")
		return ErrQueueFull
	}
}

// drop counts n lost alerts and logs it, at most once per dropLogEvery
// (the total in the line says how many went since).
func (q *queue) drop(n int, why string) {
	total := q.dropped.Add(uint64(n))
	q.metrics.outputDropped(q.name, n)
	now := time.Now().UnixNano()
	last := q.lastLog.Load()
	if now-last < int64(dropLogEvery) || !q.lastLog.CompareAndSwap(last, now) {
		return
	}
	q.log.Warn("runtime output dropped alerts", "reason", why, "dropped", n, "droppedTotal", total)
}

// close stops puts; the worker sees the channel closed once it is drained.
func (q *queue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
}

// wait waits for the worker to finish, or for ctx.
func (q *queue) wait(ctx context.Context) error {
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closeSink is the Close of a sink whose worker watches stop for giving
// up. When ctx ends first the worker is told to drop (and count) what is
// left, and closeSink returns without waiting for a write stuck on a
// stalled writer.
func (q *queue) closeSink(ctx context.Context, stop context.CancelFunc) error {
	q.close()
	if err := q.wait(ctx); err != nil {
		stop()
		q.log.Warn("runtime output closed before its queue was delivered", "queued", len(q.ch), "droppedTotal", q.dropped.Load())
		return fmt.Errorf("close %s: %w", q.name, err)
	}
	if n := q.dropped.Load(); n > 0 {
		q.log.Warn("runtime output closed", "droppedTotal", n)
	}
	return nil
}

// Dropped is how many alerts the sink lost: queue full, delivery failed,
// or closed before delivery.
func (q *queue) Dropped() uint64 { return q.dropped.Load() }

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

// Multi fans alerts out to several sinks. Each keeps its own queue, so a
// slow webhook never holds back the log file.
type Multi []Sink

// Write hands a to every sink and joins their errors.
func (m Multi) Write(ctx context.Context, a *event.Alert) error {
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink, sharing ctx's deadline.
func (m Multi) Close(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(m))
	for i, s := range m {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
