package output

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// JSONLines writes one JSON alert per line to a stream (stdout) or a file.
type JSONLines struct {
	*queue
	stop context.CancelFunc

	mu   sync.Mutex // guards w, buf and f against Reopen
	w    io.Writer
	buf  *bufio.Writer
	f    *os.File // nil for a stream
	path string
}

// NewJSONLines writes alerts to w, which it does not close.
func NewJSONLines(w io.Writer, o Options) *JSONLines {
	s := &JSONLines{queue: newQueue("stdout", o), w: w, buf: bufio.NewWriter(w)}
	s.start()
	return s
}

// OpenFile appends alerts to the file at path, creating it (mode 0600:
// alerts say what ran where) when missing. Reopen reopens it after a log
// rotator moved it away.
func OpenFile(path string, o Options) (*JSONLines, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	s := &JSONLines{queue: newQueue("file", o), w: f, buf: bufio.NewWriter(f), f: f, path: path}
	s.start()
	return s, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open alert log: %w", err)
	}
	return f, nil
}

func (s *JSONLines) start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.run(ctx)
}

// Write queues a; it never blocks.
func (s *JSONLines) Write(_ context.Context, a *event.Alert) error { return s.put(a) }

// Close writes what is queued (until ctx ends), flushes, and closes the
// file if the sink opened one.
func (s *JSONLines) Close(ctx context.Context) error {
	if err := s.closeSink(ctx, s.stop); err != nil {
		return err // the worker may be stuck in a write: leave it the file
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if ferr := s.buf.Flush(); ferr != nil {
		err = fmt.Errorf("flush %s: %w", s.name, ferr)
	}
	if s.f != nil {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", s.path, cerr)
		}
		s.f = nil
	}
	return err
}

// Reopen flushes and closes the file and opens path again: the SIGHUP a
// log rotator sends after moving the file. A stream sink just flushes.
func (s *JSONLines) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.buf.Flush(); err != nil {
		s.log.Warn("flush before reopen", "err", err)
	}
	if s.f == nil {
		return nil
	}
	f, err := openAppend(s.path)
	if err != nil {
		return err // keep writing to the old file rather than nowhere
	}
	old := s.f
	s.f, s.w = f, f
	s.buf.Reset(f)
	if err := old.Close(); err != nil {
		s.log.Warn("close rotated alert log", "path", s.path, "err", err)
	}
	return nil
}

func (s *JSONLines) run(ctx context.Context) {
	defer close(s.done)
	for a := range s.ch {
		if ctx.Err() != nil {
			s.drop(1, "closed before delivery")
			continue
		}
		s.mu.Lock()
		err := s.writeOne(a)
		// Flush when the queue is empty: a line is out as soon as nothing
		// else waits, and a burst is written in large blocks.
		if err == nil && len(s.ch) == 0 {
			err = s.buf.Flush()
		}
		s.mu.Unlock()
		if err != nil {
			s.drop(1, err.Error())
		}
	}
}

func (s *JSONLines) writeOne(a *event.Alert) error {
	b, err := json.Marshal(redact(s.secrets, a))
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	if _, err := s.buf.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", s.name, err)
	}
	return nil
}
