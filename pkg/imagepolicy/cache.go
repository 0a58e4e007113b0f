package imagepolicy

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// lru is a bounded least-recently-used map whose entries expire.
type lru[K comparable, V any] struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front: most recently used
	m   map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, ll: list.New(), m: make(map[K]*list.Element)}
}

// get returns the value unless it is absent or has expired at now.
func (c *lru[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.m[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[K, V])
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.m, k)
		return zero, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

// put stores the value until expires, evicting the least recently used
// entry when full.
func (c *lru[K, V]) put(k K, v V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		e := el.Value.(*lruEntry[K, V])
		e.val, e.expires = v, expires
		c.ll.MoveToFront(el)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, expires: expires})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*lruEntry[K, V]).key)
	}
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// group runs one call per key at a time: concurrent callers of a key wait
// for the call in flight and share its result.
type group[V any] struct {
	// timeout bounds each call, whoever started it.
	timeout time.Duration
	mu      sync.Mutex
	m       map[string]*call[V]
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
	// callers counts who waits for the call, the one who started it
	// included.
	callers int
}

// do runs fn for key unless a call for it is in flight, and waits for the
// result or for ctx to end, whichever is first. fn runs on its own
// goroutine with a context that has ctx's deadline but not its
// cancellation: a caller that gives up does not fail the others waiting,
// and a registry that hangs is still abandoned at the deadline.
func (g *group[V]) do(ctx context.Context, key string, fn func(context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*call[V])
	}
	c, ok := g.m[key]
	if ok {
		c.callers++
	} else {
		c = &call[V]{done: make(chan struct{}), callers: 1}
		g.m[key] = c
		// The call has its own budget: the first caller's deadline (which
		// may be short) must not end it for a caller that came with more.
		fctx := context.WithoutCancel(ctx)
		cancel := context.CancelFunc(func() {})
		if g.timeout > 0 {
			fctx, cancel = context.WithTimeout(fctx, g.timeout)
		} else if d, has := ctx.Deadline(); has {
			fctx, cancel = context.WithDeadline(fctx, d)
		}
		go func() {
			defer cancel()
			c.val, c.err = fn(fctx)
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// callers returns how many wait for the call for key in flight (0 when
// none is).
func (g *group[V]) callers(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.m[key]; ok {
		return c.callers
	}
	return 0
}
