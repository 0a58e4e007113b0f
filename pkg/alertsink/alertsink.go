// Package alertsink delivers alerts of any type: JSON lines (or another
// line format) to a stream or a rotating file, a webhook, and several of
// those at once. The runtime agent's alerts and the audit-log alerts go
// out through it.
//
// A Sink never blocks its producer: each one has a bounded queue drained
// by its own goroutine, and an alert that finds the queue full is dropped,
// counted (Dropped, and Options.OnDrop for metrics) and logged, at most
// once per ten seconds. Options.Redact runs on the sink's goroutine before
// an alert is encoded, so secrets never leave and the producer does not
// pay for it.
package alertsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
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

// Sink receives alerts of type T.
type Sink[T any] interface {
	// Write queues a for delivery and returns at once. It never blocks
	// (unless Options.Block asks it to): when the queue is full the alert
	// is dropped and ErrQueueFull returned.
	Write(ctx context.Context, a T) error
	// Close stops accepting alerts and delivers those queued, giving up
	// (and counting them dropped) when ctx ends.
	Close(ctx context.Context) error
}

// Options are what every sink shares.
type Options[T any] struct {
	// Name identifies the sink in logs and in OnDrop (default: the sink's
	// kind, e.g. "file", "webhook", "stdout").
	Name string
	// QueueSize bounds the alerts waiting for delivery (default DefaultQueueSize).
	QueueSize int
	// Logger receives drops and delivery errors (default slog.Default()).
	Logger *slog.Logger
	// Redact, when set, returns the alert as it may leave: secrets
	// removed. It must not change its argument, which the producer (and
	// the other sinks of a Multi) still hold.
	Redact func(T) T
	// OnDrop, when set, is told of every n alerts the sink lost (queue
	// full, delivery failed, closed before delivery): a metrics hook. It
	// runs on the producer's or the sink's goroutine and must not block.
	OnDrop func(sink string, n int)
	// Block makes Write wait for room in the queue (or for its ctx)
	// instead of dropping: for a batch run over a file, where a complete
	// output matters more than a producer that never waits.
	Block bool
}

// dropLogEvery is how often, at most, a sink logs that it keeps dropping:
// one line per drop under a flood would be a flood of its own.
const dropLogEvery = 10 * time.Second

// queue is the bounded queue and drop accounting behind every sink.
type queue[T any] struct {
	name   string
	log    *slog.Logger
	redact func(T) T
	onDrop func(string, int)
	block  bool

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	ch     chan T
	done   chan struct{}

	dropped atomic.Uint64
	lastLog atomic.Int64 // unix nanoseconds of the last drop log line
}

func newQueue[T any](kind string, o Options[T]) *queue[T] {
	if o.Name == "" {
		o.Name = kind
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Redact == nil {
		o.Redact = func(a T) T { return a }
	}
	return &queue[T]{
		name: o.Name, log: o.Logger.With("sink", o.Name), redact: o.Redact, onDrop: o.OnDrop, block: o.Block,
		ch: make(chan T, o.QueueSize), done: make(chan struct{}),
	}
}

func (q *queue[T]) put(ctx context.Context, a T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- a:
		return nil
	default:
	}
	if !q.block {
		q.drop(1, "queue full")
		return ErrQueueFull
	}
	select {
	case q.ch <- a:
		return nil
	case <-ctx.Done():
		q.drop(1, "gave up waiting for room")
		return fmt.Errorf("%s: %w", q.name, ctx.Err())
	}
}

// drop counts n lost alerts and logs it, at most once per dropLogEvery
// (the total in the line says how many went since).
func (q *queue[T]) drop(n int, why string) {
	total := q.dropped.Add(uint64(n))
	if q.onDrop != nil {
		q.onDrop(q.name, n)
	}
	now := time.Now().UnixNano()
	last := q.lastLog.Load()
	if now-last < int64(dropLogEvery) || !q.lastLog.CompareAndSwap(last, now) {
		return
	}
	q.log.Warn("output dropped alerts", "reason", why, "dropped", n, "droppedTotal", total)
}

// close stops puts; the worker sees the channel closed once it is drained.
func (q *queue[T]) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
}

// wait waits for the worker to finish, or for ctx.
func (q *queue[T]) wait(ctx context.Context) error {
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
func (q *queue[T]) closeSink(ctx context.Context, stop context.CancelFunc) error {
	q.close()
	if err := q.wait(ctx); err != nil {
		stop()
		q.log.Warn("output closed before its queue was delivered", "queued", len(q.ch), "droppedTotal", q.dropped.Load())
		return fmt.Errorf("close %s: %w", q.name, err)
	}
	if n := q.dropped.Load(); n > 0 {
		q.log.Warn("output closed", "droppedTotal", n)
	}
	return nil
}

// Dropped is how many alerts the sink lost: queue full, delivery failed,
// or closed before delivery.
func (q *queue[T]) Dropped() uint64 { return q.dropped.Load() }

// Multi fans alerts out to several sinks. Each keeps its own queue, so a
// slow webhook never holds back the log file.
type Multi[T any] []Sink[T]

// Write hands a to every sink and joins their errors.
func (m Multi[T]) Write(ctx context.Context, a T) error {
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink, sharing ctx's deadline.
func (m Multi[T]) Close(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(m))
	for i, s := range m {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
