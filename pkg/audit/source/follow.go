package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// FollowOptions says how to follow a file.
type FollowOptions struct {
	Options
	// FromStart reads the file from its start rather than its end.
	FromStart bool
	// PollInterval is how often the file is looked at (default 250ms).
	PollInterval time.Duration
	// OnRotate, if set, is called when the path names a new file: old is
	// where the old file went ("" when it was removed), new the path.
	OnRotate func(old, new string)
}

// Follow tails one file of JSON lines like `tail -F`: it starts at the end
// (or at the start with FromStart), reads lines as they are appended, and
// goes on across rotation (the path names a new file: it finishes the old
// one, then reads the new one from its start) and truncation (the file
// shrank: it restarts at 0). A partial last line is held until its newline
// arrives. It polls; memory stays flat (bounded buffers, nothing kept). It
// returns when ctx ends (with ctx's error) or fn returns an error.
func Follow(ctx context.Context, path string, o FollowOptions, fn func(*audit.Event) error) (Stats, error) {
	poll := o.PollInterval
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	max := o.MaxLineSize
	if max <= 0 {
		max = DefaultMaxLineSize
	}
	format := o.Format
	if format == "" || format == FormatAuto {
		format = FormatK8s
	}
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err
	}
	defer func() { f.Close() }()
	var off int64
	if !o.FromStart {
		if off, err = f.Seek(0, io.SeekEnd); err != nil {
			return Stats{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	fl := &follower{
		rd:  reader{ctx: ctx, file: path, format: format, o: o.Options, fn: fn},
		max: max,
	}
	chunk := make([]byte, bufSize)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		// Read all there is.
		for {
			n, err := f.Read(chunk)
			off += int64(n)
			fl.rd.st.Bytes += int64(n)
			if herr := fl.feed(chunk[:n]); herr != nil {
				return fl.rd.st, herr
			}
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return fl.rd.st, fmt.Errorf("%s: %w", path, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return fl.rd.st, err
		}
		cur, cerr := f.Stat()
		now, nerr := os.Stat(path)
		switch {
		case cerr == nil && nerr == nil && !os.SameFile(cur, now):
			// Rotated: the old file is read to its end; its last line
			// may lack a newline.
			if err := fl.flush(); err != nil {
				return fl.rd.st, err
			}
			nf, err := os.Open(path)
			if err != nil {
				break // not there yet: look again at the next tick
			}
			old := movedTo(path, cur)
			f.Close()
			f, off, fl.line = nf, 0, 0
			if o.OnRotate != nil {
				o.OnRotate(old, path)
			}
			continue
		case cerr == nil && cur.Size() < off:
			// Truncated (copytruncate): start again at 0.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fl.rd.st, fmt.Errorf("%s: %w", path, err)
			}
			off, fl.line, fl.partial, fl.tooLong = 0, 0, fl.partial[:0], false
			continue
		}
		select {
		case <-ctx.Done():
			return fl.rd.st, ctx.Err()
		case <-tick.C:
		}
	}
}

// movedTo finds where a rotated file went: a file of path's directory
// that is the same as fi.
func movedTo(path string, fi os.FileInfo) string {
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if info, err := os.Stat(p); err == nil && os.SameFile(info, fi) {
			return p
		}
	}
	return ""
}

// follower splits what is read into lines, holding a partial line.
type follower struct {
	rd      reader
	max     int
	partial []byte
	tooLong bool
	line    int
}

func (fl *follower) feed(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			fl.hold(b)
			return nil
		}
		part := b[:i]
		b = b[i+1:]
		if len(fl.partial) > 0 || fl.tooLong {
			fl.hold(part)
			part = fl.partial
		}
		if err := fl.emit(part); err != nil {
			return err
		}
	}
	return nil
}

func (fl *follower) hold(b []byte) {
	if fl.tooLong || len(fl.partial)+len(b) > fl.max {
		fl.tooLong, fl.partial = true, fl.partial[:0]
		return
	}
	fl.partial = append(fl.partial, b...)
}

func (fl *follower) emit(line []byte) error {
	fl.line++
	fl.rd.st.Lines++
	tooLong := fl.tooLong
	fl.tooLong = false
	defer func() {
		fl.partial = fl.partial[:0]
		// Give back a buffer a long line grew, to keep memory flat.
		if cap(fl.partial) > 1<<20 {
			fl.partial = nil
		}
	}()
	if tooLong {
		fl.rd.malformed(fl.line, fmt.Errorf("line longer than %d bytes", fl.max))
		return nil
	}
	return fl.rd.line(line, fl.line)
}

// flush ends the current file: a last line without a newline is a line.
func (fl *follower) flush() error {
	if len(fl.partial) == 0 && !fl.tooLong {
		return nil
	}
	return fl.emit(fl.partial)
}

// Expand replaces each path whose base name is X.log and that has rotated
// siblings X-<timestamp>.log or X-<timestamp>.log.gz (the API server's
// lumberjack names them X-2026-11-24T08-00-00.000.log) by the siblings,
// oldest first, and then the path. Other paths stay as they are.
func Expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		base := filepath.Base(p)
		stem, ok := strings.CutSuffix(base, ".log")
		if p == "-" || !ok {
			out = append(out, p)
			continue
		}
		dir := filepath.Dir(p)
		ents, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				out = append(out, p) // Read reports it
				continue
			}
			return nil, fmt.Errorf("expand %s: %w", p, err)
		}
		var rotated []string
		for _, e := range ents {
			name := e.Name()
			ts, ok := strings.CutPrefix(name, stem+"-")
			if !ok || e.IsDir() {
				continue
			}
			ts, ok = strings.CutSuffix(ts, ".log.gz")
			if !ok {
				ts, ok = strings.CutSuffix(ts, ".log")
			}
			if ok && isLumberjackTime(ts) {
				rotated = append(rotated, name)
			}
		}
		// The timestamps sort as strings.
		sort.Strings(rotated)
		for _, name := range rotated {
			out = append(out, filepath.Join(dir, name))
		}
		out = append(out, p)
	}
	return out, nil
}

// isLumberjackTime reports whether s is a time as lumberjack writes it in
// a backup's name: 2006-01-02T15-04-05.000.
func isLumberjackTime(s string) bool {
	_, err := time.Parse("2006-01-02T15-04-05.000", s)
	return err == nil
}
