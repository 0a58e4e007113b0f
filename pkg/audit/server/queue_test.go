package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

func batch(prefix string, n int) []*audit.Event {
	evs := make([]*audit.Event, n)
	for i := range evs {
		evs[i] = &audit.Event{AuditID: prefix + string(rune('0'+i))}
	}
	return evs
}

func TestQueueAllOrNothing(t *testing.T) {
	q := NewQueue(5)
	if err := q.Put(context.Background(), batch("a", 3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Put(ctx, batch("b", 3)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put over capacity: %v, want ErrFull", err)
	}
	if q.Len() != 3 {
		t.Fatalf("Len %d after a refused Put, want 3", q.Len())
	}
	if err := q.Put(context.Background(), batch("c", 6)); !errors.Is(err, ErrFull) {
		t.Fatalf("batch larger than the queue: %v", err)
	}
	if got := ids(drainAll(t, q)); got != "a0,a1,a2" {
		t.Fatalf("drained %q", got)
	}
}

// Waiting batches get in first come, first served, and a waiter whose
// context ends steps aside for the next.
func TestQueueWaitersInOrder(t *testing.T) {
	q := NewQueue(4)
	if err := q.Put(context.Background(), batch("a", 4)); err != nil {
		t.Fatal(err)
	}
	res := make(chan string, 3)
	put := func(ctx context.Context, prefix string, n int) {
		if err := q.Put(ctx, batch(prefix, n)); err != nil {
			res <- prefix + ":" + err.Error()
			return
		}
		res <- prefix
	}
	go put(context.Background(), "b", 3)
	waitWaiters(t, q, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go put(ctx, "c", 4)
	waitWaiters(t, q, 2)
	go put(context.Background(), "d", 1)
	waitWaiters(t, q, 3)
	// Room for 1: d fits but must not pass b.
	if _, err := q.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitWaiters(t, q, 3)
	// Room for 3: b gets in; c (4) does not fit; d waits behind c.
	buf := make([]*audit.Event, 2)
	if n, _ := q.Drain(context.Background(), buf); n != 2 {
		t.Fatalf("drained %d", n)
	}
	if got := <-res; got != "b" {
		t.Fatalf("first let in: %s, want b", got)
	}
	waitWaiters(t, q, 2)
	// Room for 1: d would fit, c (4) does not, and d stays behind c.
	if e, _ := q.Get(context.Background()); e.AuditID != "a3" {
		t.Fatalf("got %s, want a3", e.AuditID)
	}
	waitWaiters(t, q, 2)
	cancel() // c gives up; d gets in
	got := map[string]bool{<-res: true, <-res: true}
	if !got["d"] || !got["c:"+ErrFull.Error()] {
		t.Fatalf("results %v, want d queued and c full", got)
	}
	if s := ids(drainAll(t, q)); s != "b0,b1,b2,d0" {
		t.Fatalf("queue order %q", s)
	}
}

func TestQueueClose(t *testing.T) {
	q := NewQueue(2)
	if err := q.Put(context.Background(), batch("a", 2)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() { errc <- q.Put(context.Background(), batch("b", 1)) }()
	waitWaiters(t, q, 1)
	q.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Put on Close: %v", err)
	}
	if err := q.Put(context.Background(), batch("c", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	// What was queued is still drained, then ErrClosed.
	if got := ids(drainAll(t, q)); got != "a0,a1" {
		t.Fatalf("drained after Close: %q", got)
	}
	if _, err := q.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get on a closed empty queue: %v", err)
	}
	// A consumer blocked on an empty queue is woken by Close.
	q2 := NewQueue(1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		q2.Close()
	}()
	if _, err := q2.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Get on Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewQueue(1).Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with an ended ctx: %v", err)
	}
}
