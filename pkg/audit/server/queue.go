package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Errors of the queue.
var (
	// ErrFull is returned by Put when its context ended before the batch
	// fitted.
	ErrFull = errors.New("audit queue full")
	// ErrClosed is returned by Put after Close, and by Get and Drain once
	// a closed queue is empty.
	ErrClosed = errors.New("audit queue closed")
)

// Queue is the bounded queue between the endpoint and the rule engine.
// Put is all-or-nothing: it waits (up to the ctx deadline) until the whole
// batch fits, so the HTTP answer means "queued". Waiting batches are let in
// first come, first served, so a stream of small batches cannot starve a
// big one.
type Queue struct {
	mu      sync.Mutex
	buf     []*audit.Event // ring
	head, n int
	waiters []*waiter // FIFO of Puts waiting for room
	closed  bool
	ready   chan struct{} // 1-buffered: something to Get
	done    chan struct{} // closed by Close
}

type waiter struct {
	evs    []*audit.Event
	queued chan error // 1-buffered: nil when let in, ErrClosed on Close
}

// NewQueue returns a queue that holds up to capacity events (at least 1).
func NewQueue(capacity int) *Queue {
	return &Queue{buf: make([]*audit.Event, max(capacity, 1)), ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// Cap is the queue's capacity.
func (q *Queue) Cap() int { return len(q.buf) }

// Len is how many events are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Put queues all of evs, or none: it waits until they fit, and returns
// ErrFull if ctx ends first, ErrClosed if the queue is (or gets) closed. A
// batch larger than the queue can never fit and is refused at once.
func (q *Queue) Put(ctx context.Context, evs []*audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if len(evs) > len(q.buf) {
		return fmt.Errorf("%w: batch of %d events exceeds the queue's capacity of %d", ErrFull, len(evs), len(q.buf))
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if len(q.waiters) == 0 && len(q.buf)-q.n >= len(evs) {
		q.push(evs)
		q.mu.Unlock()
		q.signal()
		return nil
	}
	w := &waiter{evs: evs, queued: make(chan error, 1)}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	select {
	case err := <-w.queued:
		return err
	case <-ctx.Done():
	}
	q.mu.Lock()
	select {
	case err := <-w.queued: // let in (or closed) just as ctx ended: that answer stands
		q.mu.Unlock()
		return err
	default:
	}
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	// The head may have been this waiter: the next ones may fit now.
	admitted := q.admit()
	q.mu.Unlock()
	if admitted {
		q.signal()
	}
	return ErrFull
}

// Get returns the next event, waiting for one until ctx ends. Once the
// queue is closed and empty it returns ErrClosed.
func (q *Queue) Get(ctx context.Context) (*audit.Event, error) {
	var one [1]*audit.Event
	if _, err := q.Drain(ctx, one[:]); err != nil {
		return nil, err
	}
	return one[0], nil
}

// Drain moves up to len(dst) events into dst, waiting for at least one
// until ctx ends, and returns how many it moved. Once the queue is closed
// and empty it returns ErrClosed: events queued before Close are still
// drained.
func (q *Queue) Drain(ctx context.Context, dst []*audit.Event) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	for {
		q.mu.Lock()
		if q.n > 0 {
			k := 0
			for k < len(dst) && q.n > 0 {
				dst[k] = q.buf[q.head]
				q.buf[q.head] = nil
				q.head = (q.head + 1) % len(q.buf)
				q.n--
				k++
			}
			q.admit()
			more := q.n > 0
			q.mu.Unlock()
			if more {
				q.signal() // for another consumer
			}
			return k, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return 0, ErrClosed
		}
		select {
		case <-q.ready:
		case <-q.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Close refuses further Puts (waiting ones get ErrClosed) and wakes the
// consumers; what is queued stays for them to drain.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for _, w := range q.waiters {
		w.queued <- ErrClosed
	}
	q.waiters = nil
	close(q.done)
}

// push appends evs; q.mu is held and they fit.
func (q *Queue) push(evs []*audit.Event) {
	for _, e := range evs {
		q.buf[(q.head+q.n)%len(q.buf)] = e
		q.n++
	}
}

// admit lets waiting batches in, in order, while the first fits; q.mu is
// held. It reports whether it let any in.
func (q *Queue) admit() bool {
	i := 0
	for i < len(q.waiters) && len(q.buf)-q.n >= len(q.waiters[i].evs) {
		w := q.waiters[i]
		q.push(w.evs)
		w.queued <- nil
		q.waiters[i] = nil
		i++
	}
	if i > 0 {
		q.waiters = append(q.waiters[:0], q.waiters[i:]...)
	}
	return i > 0
}

func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
