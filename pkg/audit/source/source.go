package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Format is the shape of an input.
type Format string

// Input formats. FormatAuto detects the format of each file from its first
// bytes.
const (
	FormatAuto Format = "auto"
	FormatK8s  Format = "k8s"
	FormatGKE  Format = "gke"
	FormatEKS  Format = "eks"
)

// ParseFormat parses a --input-format value; "" is FormatAuto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatK8s, FormatGKE, FormatEKS:
		return f, nil
	}
	return "", fmt.Errorf("unknown input format %q (want auto, k8s, gke or eks)", s)
}

// DefaultMaxLineSize is the longest line read when Options.MaxLineSize is 0.
const DefaultMaxLineSize = 16 << 20

// Options says how to read inputs.
type Options struct {
	Format Format    // default auto
	Stdin  io.Reader // read for path "-"
	// OnMalformed is called for every line or event that cannot be read,
	// with its file:line; it may be nil.
	OnMalformed func(audit.Malformed)
	// MaxLineSize bounds a line (default 16 MiB); a longer line is one
	// Malformed and the stream goes on.
	MaxLineSize int
	// MaxDocumentSize bounds a whole-document input once decompressed
	// (default 1 GiB); a larger one is an error naming the file.
	MaxDocumentSize int64
}

// Stats counts what was read. Skipped counts the records of an export that
// are not audit events (the EKS authenticator's, the scheduler's).
type Stats struct {
	Events, Malformed, Lines, Skipped uint64
	Bytes                             int64
}

func (s *Stats) add(o Stats) {
	s.Events += o.Events
	s.Malformed += o.Malformed
	s.Lines += o.Lines
	s.Skipped += o.Skipped
	s.Bytes += o.Bytes
}

// stopError carries the error of fn, which ends the reading.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// Read reads each path in order ("-" is o.Stdin; a directory is an error
// naming it) and calls fn for every event in file order; fn owns the
// *audit.Event (a fresh one each call). It stops early only when ctx ends
// or fn returns an error (returned wrapped). A file that cannot be opened
// or read is reported as an error naming it after the other files are
// read: the result is errors.Join of such errors.
func Read(ctx context.Context, paths []string, o Options, fn func(*audit.Event) error) (Stats, error) {
	var total Stats
	var errs []error
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return total, errors.Join(append(errs, err)...)
		}
		st, err := readPath(ctx, p, o, fn)
		total.add(st)
		var stop stopError
		switch {
		case errors.As(err, &stop):
			return total, errors.Join(append(errs, fmt.Errorf("%s: %w", p, stop.err))...)
		case ctx.Err() != nil:
			return total, errors.Join(append(errs, ctx.Err())...)
		case err != nil:
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func readPath(ctx context.Context, path string, o Options, fn func(*audit.Event) error) (Stats, error) {
	if path == "-" {
		if o.Stdin == nil {
			return Stats{}, errors.New("-: no standard input")
		}
		return readStream(ctx, path, o.Stdin, o, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, err // names the path
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return Stats{}, err
	} else if fi.IsDir() {
		return Stats{}, fmt.Errorf("%s: is a directory", path)
	}
	return readStream(ctx, path, f, o, fn)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

const bufSize = 64 << 10

// readStream reads one input: gunzips it when it starts with gzip's magic,
// detects its format and reads it line by line or, for a JSON document
// (an EventList, gcloud's array, the AWS CLI's output), as a whole.
func readStream(ctx context.Context, name string, r io.Reader, o Options, fn func(*audit.Event) error) (st Stats, err error) {
	cr := &countingReader{r: r}
	rd := &reader{ctx: ctx, file: name, o: o, fn: fn}
	defer func() { st.Bytes = cr.n }()
	br := bufio.NewReaderSize(cr, bufSize)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return rd.st, fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, bufSize)
	}
	format, doc := detect(br, o.Format)
	rd.format = format
	if doc {
		err = rd.document(br)
	} else {
		err = rd.lines(br)
	}
	if err != nil {
		var stop stopError
		if errors.As(err, &stop) || ctx.Err() != nil {
			return rd.st, err
		}
		return rd.st, fmt.Errorf("%s: %w", name, err)
	}
	return rd.st, nil
}

// detect tells the format of an input from its first bytes, and whether
// it is one JSON document (rather than JSON lines).
func detect(br *bufio.Reader, forced Format) (Format, bool) {
	head, _ := br.Peek(bufSize)
	head = bytes.TrimLeft(head, " \t\r\n")
	format := forced
	if format == "" {
		format = FormatAuto
	}
	if len(head) == 0 {
		return orK8s(format), false
	}
	switch c := head[0]; {
	case c == '[':
		if format == FormatAuto {
			format = FormatGKE
		}
		return format, true
	case c >= '0' && c <= '9':
		if format == FormatAuto {
			format = FormatEKS // the S3 export: "<timestamp> <message>"
		}
		return format, false
	case c != '{':
		return orK8s(format), false
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	var probe struct {
		Kind         string          `json:"kind"`
		ProtoPayload json.RawMessage `json:"protoPayload"`
		LogEvents    json.RawMessage `json:"logEvents"`
		Events       json.RawMessage `json:"events"`
	}
	if json.Unmarshal(line, &probe) != nil {
		// Not a whole object on the first line: a pretty-printed document.
		if format == FormatAuto {
			switch {
			case bytes.Contains(head, []byte(`"protoPayload"`)):
				format = FormatGKE
			case bytes.Contains(head, []byte(`"logEvents"`)), bytes.Contains(head, []byte(`"logStreamName"`)),
				bytes.Contains(head, []byte(`"events"`)) && !bytes.Contains(head, []byte(`"EventList"`)):
				format = FormatEKS
			default:
				format = FormatK8s
			}
		}
		return format, true
	}
	switch {
	case probe.ProtoPayload != nil:
		if format == FormatAuto {
			format = FormatGKE
		}
		return format, false
	case probe.LogEvents != nil || probe.Events != nil:
		if format == FormatAuto {
			format = FormatEKS
		}
		return format, true
	}
	return orK8s(format), false
}

func orK8s(f Format) Format {
	if f == FormatAuto {
		return FormatK8s
	}
	return f
}

// reader reads one input.
type reader struct {
	ctx    context.Context
	file   string
	format Format
	o      Options
	fn     func(*audit.Event) error
	st     Stats
}

func (r *reader) event(e *audit.Event, line int) error {
	e.Pos = audit.Position{File: r.file, Line: line}
	r.st.Events++
	if err := r.fn(e); err != nil {
		return stopError{err}
	}
	return nil
}

func (r *reader) malformed(line int, err error) {
	r.st.Malformed++
	if r.o.OnMalformed != nil {
		r.o.OnMalformed(audit.Malformed{Pos: audit.Position{File: r.file, Line: line}, Err: err})
	}
}

// lines reads JSON lines with a reused buffer.
func (r *reader) lines(br *bufio.Reader) error {
	max := r.o.MaxLineSize
	if max <= 0 {
		max = DefaultMaxLineSize
	}
	var long []byte
	line := 0
	for {
		if line&1023 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		b, err := br.ReadSlice('\n')
		tooLong := false
		if err == bufio.ErrBufferFull {
			long = append(long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				if !tooLong && len(long)+len(b) > max+1 {
					tooLong, long = true, long[:0]
				}
				if !tooLong {
					long = append(long, b...)
				}
			}
			b = long
		}
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		line++
		r.st.Lines++
		if tooLong || len(bytes.TrimRight(b, "\r\n")) > max {
			r.malformed(line, fmt.Errorf("line longer than %d bytes", max))
		} else if herr := r.line(b, line); herr != nil {
			return herr
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// line handles one line of a line-oriented input.
func (r *reader) line(b []byte, line int) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch r.format {
	case FormatGKE:
		return r.gkeEntry(b, line)
	case FormatEKS:
		return r.eksLine(b, line)
	}
	return r.k8s(b, line)
}

// k8s handles one Event, or an EventList, starting at line.
func (r *reader) k8s(b []byte, line int) error {
	e := new(audit.Event)
	kind, err := audit.DecodeEventKind(b, e)
	if err != nil {
		r.malformed(line, err)
		return nil
	}
	switch kind {
	case "Event", "":
		return r.event(e, line)
	case "EventList":
		return r.eventList(b, line)
	}
	r.malformed(line, fmt.Errorf("kind %q is not an audit Event", kind))
	return nil
}

func (r *reader) eventList(b []byte, line int) error {
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		r.malformed(line, fmt.Errorf("EventList: %w", err))
		return nil
	}
	lc := lineCounter{b: b, line: line}
	for _, it := range list.Items {
		if err := r.k8sItem(it, lc.at(it)); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) k8sItem(b []byte, line int) error {
	e := new(audit.Event)
	kind, err := audit.DecodeEventKind(b, e)
	switch {
	case err != nil:
		r.malformed(line, err)
	case kind != "" && kind != "Event":
		r.malformed(line, fmt.Errorf("kind %q is not an audit Event", kind))
	default:
		return r.event(e, line)
	}
	return nil
}

// lineCounter finds the line of sub-slices of b, taken in order.
type lineCounter struct {
	b    []byte
	off  int // where line was counted to
	next int // where the next search starts
	line int
}

// at returns the line sub (a slice of lc.b, or of a copy of it at the same
// offsets) starts on.
func (lc *lineCounter) at(sub []byte) int {
	i := bytes.Index(lc.b[lc.next:], sub)
	if i < 0 {
		return lc.line
	}
	start := lc.next + i
	lc.line += bytes.Count(lc.b[lc.off:start], []byte("\n"))
	lc.off, lc.next = start, start+len(sub)
	return lc.line
}

// DefaultMaxDocumentSize bounds a whole-document input (EventList, gcloud
// array, AWS CLI output) once decompressed, when Options.MaxDocumentSize
// is 0.
const DefaultMaxDocumentSize = 1 << 30

// document reads a whole JSON document, or several one after another: an
// EventList, gcloud's array of log entries, the AWS CLI's output, Firehose
// records.
func (r *reader) document(br *bufio.Reader) error {
	// Documents are read whole: bound them, so a gzip bomb or a runaway
	// export fails with a message instead of taking the machine's memory.
	limit := r.o.MaxDocumentSize
	if limit <= 0 {
		limit = DefaultMaxDocumentSize
	}
	data, err := io.ReadAll(io.LimitReader(br, limit+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("document larger than %d bytes: split it, or convert it to JSON lines (jq -c '.items[]')", limit)
	}
	r.st.Lines += uint64(bytes.Count(data, []byte("\n")))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		r.st.Lines++
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	lc := lineCounter{b: data, line: 1}
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// Past a syntax error nothing can be trusted: report where it
			// is and stop reading this input.
			off := int(dec.InputOffset())
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = int(se.Offset)
			}
			r.malformed(1+bytes.Count(data[:min(off, len(data))], []byte("\n")), err)
			return nil
		}
		start := int(dec.InputOffset()) - len(v)
		lc.line += bytes.Count(data[lc.off:start], []byte("\n"))
		lc.off = start
		if err := r.value(v, lc.line); err != nil {
			return err
		}
	}
}

// value handles one top-level value of a document.
func (r *reader) value(v []byte, line int) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if v[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			r.malformed(line, err)
			return nil
		}
		lc := lineCounter{b: v, line: line}
		for _, it := range items {
			if err := r.record(it, lc.at(it)); err != nil {
				return err
			}
		}
		return nil
	}
	return r.record(v, line)
}

// record handles one object of a document.
func (r *reader) record(v []byte, line int) error {
	switch r.format {
	case FormatGKE:
		return r.gkeEntry(v, line)
	case FormatEKS:
		return r.eksDocument(v, line)
	}
	return r.k8s(v, line)
}
