package alertsink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
)

// Encoder appends one alert's record, its final newline included, to b
// and returns the extended slice.
type Encoder[T any] func(b []byte, a T) ([]byte, error)

// JSON encodes an alert as one line of JSON.
func JSON[T any](b []byte, a T) ([]byte, error) {
	j, err := json.Marshal(a)
	if err != nil {
		return b, fmt.Errorf("encode alert: %w", err)
	}
	return append(append(b, j...), '\n'), nil
}

// Stream writes one record per alert to a stream (stdout) or a file.
type Stream[T any] struct {
	*queue[T]
	enc  Encoder[T]
	stop context.CancelFunc

	mu   sync.Mutex // guards buf, rec and f against Reopen
	buf  *bufio.Writer
	rec  []byte // the record being encoded, reused
	f    *os.File
	path string // "" for a stream
}

// JSONLines is the Stream that NewJSONLines and OpenFile return.
type JSONLines[T any] = Stream[T]

// NewJSONLines writes alerts as JSON lines to w, which it does not close.
func NewJSONLines[T any](w io.Writer, o Options[T]) *Stream[T] {
	return NewStream(w, JSON[T], o)
}

// NewStream writes alerts encoded by enc to w, which it does not close.
func NewStream[T any](w io.Writer, enc Encoder[T], o Options[T]) *Stream[T] {
	s := &Stream[T]{queue: newQueue("stdout", o), enc: enc, buf: bufio.NewWriter(w)}
	s.start()
	return s
}

// OpenFile appends alerts as JSON lines to the file at path, creating it
// (mode 0600: alerts say who did what where) when missing. Reopen reopens
// it after a log rotator moved it away.
func OpenFile[T any](path string, o Options[T]) (*Stream[T], error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	s := &Stream[T]{queue: newQueue("file", o), enc: JSON[T], buf: bufio.NewWriter(f), f: f, path: path}
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

func (s *Stream[T]) start() {
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.run(ctx)
}

// Write queues a; it never blocks unless Options.Block says so.
func (s *Stream[T]) Write(ctx context.Context, a T) error { return s.put(ctx, a) }

// Close writes what is queued (until ctx ends), flushes, and closes the
// file if the sink opened one.
func (s *Stream[T]) Close(ctx context.Context) error {
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
func (s *Stream[T]) Reopen() error {
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
	s.f = f
	s.buf.Reset(f)
	if err := old.Close(); err != nil {
		s.log.Warn("close rotated alert log", "path", s.path, "err", err)
	}
	return nil
}

func (s *Stream[T]) run(ctx context.Context) {
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

func (s *Stream[T]) writeOne(a T) error {
	rec, err := s.enc(s.rec[:0], s.redact(a))
	if err != nil {
		return err
	}
	if cap(rec) <= 64<<10 {
		s.rec = rec // keep the buffer, unless one huge alert grew it
	}
	if _, err := s.buf.Write(rec); err != nil {
		return fmt.Errorf("write %s: %w", s.name, err)
	}
	return nil
}
