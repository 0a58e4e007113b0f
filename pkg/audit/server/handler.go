// Package server is the endpoint of the API server's audit webhook backend
// (`mamori audit serve`): the API server POSTs batches of audit events as
// an audit.k8s.io/v1 EventList, the handler decodes them onto a bounded
// Queue, and the rule engine drains the queue.
//
// The answer to a batch means what the API server's webhook client needs
// it to mean: 200 once every event of it is queued; 429 with Retry-After
// when the queue stays full for Config.QueueWait, which the client retries
// with backoff, so a burst is slowed down rather than lost; 503 with
// Retry-After while shutting down. Requests that retrying cannot mend (bad
// JSON, a body over the limit) are answered 400 and 413.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Source is the source label of the events the endpoint receives.
const Source = "webhook"

// Config configures Handler.
type Config struct {
	// Queue receives the events; required.
	Queue *Queue
	// QueueWait is how long a request waits for room before it is
	// answered 429 with Retry-After (default 10s). Keep it below the
	// server's write timeout (15s).
	QueueWait time.Duration
	// MaxBodyBytes limits a request's body (default 64 MiB); a larger one
	// is answered 413 and counted.
	MaxBodyBytes int64
	// Decode decodes one item of the EventList (default json.Unmarshal).
	Decode func([]byte, *audit.Event) error
	// Metrics, if not nil, counts events, malformed items, drops and
	// request durations, and reports the queue's length and capacity.
	Metrics *Metrics
	// Logger logs drops (at most one line per 10s) and refused requests.
	Logger *slog.Logger
	// OnMalformed, if not nil, is told of each item that does not decode:
	// Pos.File is the remote address and the request's number, Pos.Line
	// the item's index + 1. The other items are still queued.
	OnMalformed func(audit.Malformed)
}

type handler struct {
	cfg   Config
	log   *slog.Logger
	drops *DropLog
	reqs  atomic.Uint64
	bufs  sync.Pool // *body
}

// body is a request's body and the bytes of its items, reused.
type body struct {
	buf   bytes.Buffer
	items [][]byte
}

// Handler serves the audit webhook: POST / and /audit take an EventList,
// GET /healthz answers ok.
func Handler(cfg Config) http.Handler {
	if cfg.Queue == nil {
		panic("server.Handler: Config.Queue is nil") // a programming error, not input
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 10 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if cfg.Decode == nil {
		cfg.Decode = func(b []byte, e *audit.Event) error { return json.Unmarshal(b, e) }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Metrics.WatchQueue(cfg.Queue)
	h := &handler{cfg: cfg, log: log, drops: NewDropLog(log, 10*time.Second)}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/audit", h.serveEvents)
	mux.HandleFunc("/{$}", h.serveEvents)
	return mux
}

func (h *handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := h.events(w, r)
	h.cfg.Metrics.request(code, time.Since(start))
}

// events answers the request and returns the status code it answered.
func (h *handler) events(w http.ResponseWriter, r *http.Request) int {
	fail := func(code int, format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
			h.log.Warn("audit webhook request refused", "remote", r.RemoteAddr, "code", code, "err", msg)
		}
		http.Error(w, msg, code)
		return code
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "method %s not allowed: POST an audit.k8s.io/v1 EventList", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return fail(http.StatusUnsupportedMediaType, "content type %q: want application/json", ct)
		}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return fail(http.StatusUnsupportedMediaType, "content encoding %q not supported", ce)
	}
	n := h.reqs.Add(1)
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.drop(DropBodyTooLarge, 1)
		return fail(http.StatusRequestEntityTooLarge, "body of %d bytes exceeds the limit of %d", r.ContentLength, h.cfg.MaxBodyBytes)
	}
	bd, _ := h.bufs.Get().(*body)
	if bd == nil {
		bd = new(body)
	}
	buf := &bd.buf
	defer func() {
		if buf.Cap() <= 4<<20 { // keep ordinary batches' buffers, not a rare giant's
			buf.Reset()
			clear(bd.items) // hold no bytes of the body
			bd.items = bd.items[:0]
			h.bufs.Put(bd)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.drop(DropBodyTooLarge, 1)
			return fail(http.StatusRequestEntityTooLarge, "body exceeds the limit of %d bytes", h.cfg.MaxBodyBytes)
		}
		return fail(http.StatusBadRequest, "read body: %v", err)
	}
	// The items are sub-slices of buf, which is reused: Decode copies
	// what it keeps. They are split out in one pass and decoded one by one
	// so that one bad item does not cost the others.
	kind, apiVersion, items, err := splitEventList(buf.Bytes(), bd.items[:0])
	bd.items = items
	if err != nil {
		return fail(http.StatusBadRequest, "decode EventList: %v", err)
	}
	if kind != "EventList" || apiVersion != "audit.k8s.io/v1" {
		return fail(http.StatusBadRequest, "got kind %q apiVersion %q: want an audit.k8s.io/v1 EventList", kind, apiVersion)
	}
	file := fmt.Sprintf("%s request %d", r.RemoteAddr, n)
	store := make([]audit.Event, len(items)) // one allocation for the batch
	evs := make([]*audit.Event, 0, len(items))
	for i, raw := range items {
		e := &store[len(evs)]
		pos := audit.Position{File: file, Line: i + 1}
		if err := h.cfg.Decode(raw, e); err != nil {
			*e = audit.Event{}
			h.cfg.Metrics.Malformed(Source)
			if h.cfg.OnMalformed != nil {
				h.cfg.OnMalformed(audit.Malformed{Pos: pos, Err: err})
			}
			continue
		}
		e.Pos = pos
		evs = append(evs, e)
	}
	if len(evs) > h.cfg.Queue.Cap() {
		h.drop(DropBodyTooLarge, len(evs))
		return fail(http.StatusRequestEntityTooLarge, "batch of %d events exceeds the queue's capacity of %d", len(evs), h.cfg.Queue.Cap())
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.QueueWait)
	defer cancel()
	switch err := h.cfg.Queue.Put(ctx, evs); {
	case err == nil:
		h.cfg.Metrics.Events(Source, len(evs))
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	case errors.Is(err, ErrClosed):
		h.drop(DropShutdown, len(evs))
		w.Header().Set("Retry-After", "1")
		return fail(http.StatusServiceUnavailable, "shutting down")
	case r.Context().Err() != nil:
		h.drop(DropClientGone, len(evs))
		return fail(http.StatusServiceUnavailable, "client gone")
	default:
		h.drop(DropQueueFull, len(evs))
		w.Header().Set("Retry-After", "1")
		return fail(http.StatusTooManyRequests, "audit queue full (%d events) for %s; retry", h.cfg.Queue.Cap(), h.cfg.QueueWait)
	}
}

func (h *handler) drop(reason string, n int) {
	h.cfg.Metrics.Dropped(reason, n)
	h.drops.Add(reason, n)
}
