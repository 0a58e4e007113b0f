package githistory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxHeaderLine bounds every line that is not a hunk's content: commit
// headers and file headers hold a path and an author, far below it.
// Content lines of any length are streamed.
const maxHeaderLine = 64 << 10

// stopError marks the callback's error, which parse returns unwrapped.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

// parser reads the output of `git log -p --cc -U0` in the format of
// gitFormat. It holds one file's change at a time.
type parser struct {
	r    *bufio.Reader
	max  int64
	fn   func(Change) error
	line int // number of the line being read, 1-based

	commit     string
	author     string
	authorDate time.Time

	inFile  bool   // after a "diff " line of the current commit
	parents int    // 1 for "diff --git", 0 for a combined diff until its first hunk
	path    string // from the "+++" line; "" for /dev/null
	sawNew  bool   // the "+++" line was read
	inBody  bool   // a hunk was read: no more headers
	skip    bool   // gitlink or symlink: its "text" is no file content
	cur     Change
	size    int64 // added bytes kept in cur
	next    int   // the first line of the file after the last hunk
}

// parse reads a git log from r and calls fn for every file's change with
// added text. limit < 0 means no bound on the text of one change.
func parse(r io.Reader, limit int64, fn func(Change) error) error {
	p := &parser{r: bufio.NewReaderSize(r, maxHeaderLine), max: limit, fn: fn}
	err := p.run()
	var s stopError
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

func (p *parser) errorf(format string, args ...any) error {
	where := "before the first commit"
	if p.commit != "" {
		where = "commit " + p.commit
	}
	return fmt.Errorf("output line %d (%s): %s", p.line, where, fmt.Sprintf(format, args...))
}

// readLine returns the next line without its newline. A line longer than
// the buffer is an error: only hunk content may be that long, and hunks
// read their lines with readContent.
func (p *parser) readLine() ([]byte, error) {
	b, err := p.r.ReadSlice('\n')
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	p.line++
	switch {
	case err == bufio.ErrBufferFull:
		return nil, p.errorf("line longer than %d bytes outside a hunk", maxHeaderLine)
	case err != nil && err != io.EOF:
		return nil, p.errorf("%v", err)
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

func (p *parser) run() error {
	for {
		b, err := p.readLine()
		if err == io.EOF {
			return p.flush()
		}
		if err != nil {
			return err
		}
		switch {
		case len(b) > 0 && b[0] == 0:
			if err := p.flush(); err != nil {
				return err
			}
			if err := p.commitHeader(b[1:]); err != nil {
				return err
			}
		case p.commit == "":
			return p.errorf("expected a commit header, got %q", clip(b))
		case len(b) == 0:
			// git puts a blank line between a commit's header and its diff.
		case bytes.HasPrefix(b, []byte("diff ")):
			if err := p.fileHeader(b); err != nil {
				return err
			}
		case !p.inFile:
			return p.errorf("expected a diff, got %q", clip(b))
		case b[0] == '@':
			p.inBody = true
			if err := p.hunk(b); err != nil {
				return err
			}
		case b[0] == '\\':
			// "\ No newline at end of file" after a hunk's last line.
		case p.inBody && (b[0] == '+' || b[0] == '-' || b[0] == ' '):
			return p.errorf("diff line outside a hunk: %q", clip(b))
		case p.inBody:
			return p.errorf("file header line %q after the hunks", clip(b))
		case bytes.HasPrefix(b, []byte("+++ ")):
			if p.sawNew {
				return p.errorf("a second \"+++\" line %q", clip(b))
			}
			if err := p.newPath(b[4:]); err != nil {
				return err
			}
		case bytes.HasPrefix(b, []byte("--- ")):
			// The old name: the change is reported under the new one.
		case b[0] == '+' || b[0] == '-' || b[0] == ' ':
			return p.errorf("diff line outside a hunk: %q", clip(b))
		default:
			p.extendedHeader(b)
		}
	}
}

// commitHeader parses "<hash> <author date> <author>".
func (p *parser) commitHeader(b []byte) error {
	p.commit = "" // errors below name no half-read commit
	hash, rest, ok := strings.Cut(string(b), " ")
	if !isHash(hash) {
		return p.errorf("bad commit header %q: no commit hash", clip(b))
	}
	date, author, ok2 := strings.Cut(rest, " ")
	if !ok || !ok2 {
		return p.errorf("bad commit header %q: want hash, date and author", clip(b))
	}
	t, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return p.errorf("bad author date %q", clip([]byte(date)))
	}
	p.commit, p.author, p.authorDate = hash, author, t
	p.inFile = false
	return nil
}

// isHash reports whether s is a full SHA-1 or SHA-256 object name.
func isHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// fileHeader starts a file: "diff --git a/x b/y" or "diff --cc x". The
// path is taken from the "+++" line, which is unambiguous with spaces.
func (p *parser) fileHeader(b []byte) error {
	if err := p.flush(); err != nil {
		return err
	}
	switch {
	case bytes.HasPrefix(b, []byte("diff --git ")):
		p.parents = 1
	case bytes.HasPrefix(b, []byte("diff --cc ")), bytes.HasPrefix(b, []byte("diff --combined ")):
		p.parents = 0 // known from the first hunk header
	default:
		return p.errorf("unknown diff header %q", clip(b))
	}
	p.inFile, p.path, p.sawNew, p.inBody, p.skip = true, "", false, false, false
	p.cur = Change{Commit: p.commit, Author: p.author, AuthorDate: p.authorDate}
	p.size, p.next = 0, 1
	return nil
}

// extendedHeader notes the file modes of gitlinks and symlinks; other
// extended headers (index, similarity, rename, Binary files …) need no
// action, and unknown ones are let through for newer versions of git.
func (p *parser) extendedHeader(b []byte) {
	s := string(b)
	var mode string
	switch {
	case strings.HasPrefix(s, "new file mode "), strings.HasPrefix(s, "new mode "):
		mode = s[strings.LastIndexByte(s, ' ')+1:]
	case strings.HasPrefix(s, "index "): // index a..b 100644
		if f := strings.Fields(s); len(f) == 3 {
			mode = f[2]
		}
	case strings.HasPrefix(s, "mode "): // combined: mode 100644,100644..160000
		if i := strings.LastIndex(s, ".."); i >= 0 {
			mode = s[i+2:]
		}
	}
	if mode == "160000" || mode == "120000" {
		p.skip = true
	}
}

// newPath takes the file's name from a "+++ " line: "b/name", a quoted
// "\"b/name\"", or /dev/null. git ends the line with a tab when the name
// holds a space.
func (p *parser) newPath(b []byte) error {
	p.sawNew = true
	s := strings.TrimSuffix(string(b), "\t")
	if s == "/dev/null" {
		p.path = ""
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		u, err := unquote(s)
		if err != nil {
			return p.errorf("bad quoted file name %q: %v", clip(b), err)
		}
		s = u
	}
	name, ok := strings.CutPrefix(s, "b/")
	if !ok || name == "" {
		return p.errorf("bad file name %q: want b/<path>", clip(b))
	}
	p.path = name
	return nil
}

// hunk reads a hunk: its header "@@ -a,b +c,d @@" (one more @ and one
// more "-" range per parent for a merge's combined diff), then exactly the
// lines the header counts.
func (p *parser) hunk(head []byte) error {
	n, start, old, newCount, err := parseHunkHeader(head)
	if err != nil {
		return p.errorf("bad hunk header %q: %v", clip(head), err)
	}
	switch {
	case p.parents == 0 && n < 2:
		return p.errorf("hunk header %q in a combined diff names %d parent", clip(head), n)
	case p.parents == 0:
		p.parents = n
	case n != p.parents:
		return p.errorf("hunk header %q names %d parents, want %d", clip(head), n, p.parents)
	}
	if !p.sawNew {
		return p.errorf("hunk without a \"+++ b/<path>\" line before it")
	}
	// Hunks come in order, each after the last: Hunks never overlap.
	if newCount > 0 && start < p.next {
		return p.errorf("hunk %q starts before the end of the one before it (line %d)", clip(head), p.next)
	}
	if newCount > 0 {
		p.next = start + newCount
	} else {
		p.next = max(p.next, start+1)
	}
	keep := !p.skip && p.path != ""
	lineNo := start
	inRun := false // the last line was added and kept in the current Hunk
	for newCount > 0 || anyPositive(old) {
		chunk, more, err := p.readContent()
		if err != nil {
			return err
		}
		if len(chunk) == 0 && !more {
			// diff.suppressBlankEmpty prints an empty context line bare.
			chunk = bytes.Repeat([]byte{' '}, n)
		}
		if len(chunk) > 0 && chunk[0] == '\\' && !more {
			continue // "\ No newline at end of file"
		}
		if len(chunk) < n {
			return p.errorf("hunk line %q shorter than its %d columns", clip(chunk), n)
		}
		added, inResult := true, true
		for i, c := range chunk[:n] {
			switch c {
			case '+':
			case '-':
				added, inResult = false, false
			case ' ':
				added = false
			default:
				return p.errorf("bad hunk line %q: column %d is %q", clip(chunk), i+1, c)
			}
		}
		// A parent holds the line when it is removed from it ('-'), or
		// kept from it (' ' on a line the result has).
		for i, c := range chunk[:n] {
			if c == '-' || c == ' ' && inResult {
				if old[i] == 0 {
					return p.errorf("hunk has more lines than its header %q counts", clip(head))
				}
				old[i]--
			} else if c == '+' && !inResult {
				return p.errorf("bad hunk line %q: added and removed", clip(chunk))
			}
		}
		if inResult {
			if newCount == 0 {
				return p.errorf("hunk has more lines than its header %q counts", clip(head))
			}
			newCount--
		}
		if !added {
			if err := p.discard(more); err != nil {
				return err
			}
			inRun = false
			if inResult {
				lineNo++
			}
			continue
		}
		if keep {
			if !inRun {
				p.cur.Hunks = append(p.cur.Hunks, Hunk{Line: lineNo})
				inRun = true
			}
			if err := p.addLine(chunk[n:], more); err != nil {
				return err
			}
		} else if err := p.discard(more); err != nil {
			return err
		}
		lineNo++
	}
	return nil
}

func anyPositive(v []int) bool {
	for _, x := range v {
		if x > 0 {
			return true
		}
	}
	return false
}

// readContent returns the next line, or its first bufferful and
// more=true when it is longer, without the newline.
func (p *parser) readContent() (chunk []byte, more bool, err error) {
	b, err := p.r.ReadSlice('\n')
	if len(b) == 0 && err == io.EOF {
		return nil, false, p.errorf("output ends inside a hunk")
	}
	p.line++
	switch {
	case err == bufio.ErrBufferFull:
		return b, true, nil
	case err != nil && err != io.EOF:
		return nil, false, p.errorf("%v", err)
	}
	return bytes.TrimSuffix(b, []byte("\n")), false, nil
}

// discard skips the rest of a long line.
func (p *parser) discard(more bool) error {
	for more {
		b, err := p.r.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
		case err == nil || err == io.EOF && len(b) > 0:
			return nil
		case err == io.EOF:
			return p.errorf("output ends inside a hunk")
		default:
			return p.errorf("%v", err)
		}
	}
	return nil
}

// addLine appends an added line, read in chunks while more, to the
// current Hunk, within the change's bound.
func (p *parser) addLine(chunk []byte, more bool) error {
	for {
		p.addText(chunk)
		if !more {
			nl := [1]byte{'\n'}
			p.addText(nl[:])
			return nil
		}
		b, err := p.r.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			chunk = b
		case err == nil || err == io.EOF && len(b) > 0:
			chunk, more = bytes.TrimSuffix(b, []byte("\n")), false
		case err == io.EOF:
			return p.errorf("output ends inside a hunk")
		default:
			return p.errorf("%v", err)
		}
	}
}

// addText keeps what fits of b. Once over the bound, the text is cut and
// its last byte made a newline so that every line still ends in one.
func (p *parser) addText(b []byte) {
	if p.cur.Truncated {
		return
	}
	h := &p.cur.Hunks[len(p.cur.Hunks)-1]
	if p.max >= 0 && p.size+int64(len(b)) > p.max {
		b = b[:p.max-p.size]
		p.cur.Truncated = true
	}
	h.Text = append(h.Text, b...)
	p.size += int64(len(b))
	if p.cur.Truncated {
		if len(h.Text) == 0 {
			p.cur.Hunks = p.cur.Hunks[:len(p.cur.Hunks)-1]
		} else {
			h.Text[len(h.Text)-1] = '\n'
		}
	}
}

// flush hands the current file's change to fn when it added text.
func (p *parser) flush() error {
	if !p.inFile {
		return nil
	}
	p.inFile = false
	if len(p.cur.Hunks) == 0 {
		return nil
	}
	c := p.cur
	c.Path = p.path
	p.cur = Change{}
	if err := p.fn(c); err != nil {
		return stopError{err}
	}
	return nil
}

// parseHunkHeader parses "@@ -a,b +c,d @@ …" or its combined form
// "@@@ -a,b -c,d +e,f @@@ …", returning the number of parents, the new
// range's start and count, and each parent's line count. A count left out
// is 1.
func parseHunkHeader(b []byte) (parents, start int, old []int, newCount int, err error) {
	s := string(b)
	ats := 0
	for ats < len(s) && s[ats] == '@' {
		ats++
	}
	if ats < 2 {
		return 0, 0, nil, 0, errors.New("want @@")
	}
	parents = ats - 1
	f := strings.SplitN(s[ats:], " ", parents+3)
	// f[0] is the empty string before the first range, f[parents+2] the
	// closing @s and the function name git shows after them.
	if len(f) < parents+3 || f[0] != "" || !strings.HasPrefix(f[parents+2], s[:ats]) {
		return 0, 0, nil, 0, fmt.Errorf("want %d ranges between %s and %s", parents+1, s[:ats], s[:ats])
	}
	old = make([]int, parents)
	for i := range parents {
		r, ok := strings.CutPrefix(f[i+1], "-")
		if !ok {
			return 0, 0, nil, 0, fmt.Errorf("range %q: want -", f[i+1])
		}
		if _, old[i], err = parseRange(r); err != nil {
			return 0, 0, nil, 0, err
		}
	}
	r, ok := strings.CutPrefix(f[parents+1], "+")
	if !ok {
		return 0, 0, nil, 0, fmt.Errorf("range %q: want +", f[parents+1])
	}
	if start, newCount, err = parseRange(r); err != nil {
		return 0, 0, nil, 0, err
	}
	if newCount > 0 && start == 0 {
		return 0, 0, nil, 0, errors.New("added lines start at line 0")
	}
	return parents, start, old, newCount, nil
}

// parseRange parses "start[,count]".
func parseRange(s string) (start, count int, err error) {
	a, c, hasCount := strings.Cut(s, ",")
	start, err = atoi(a)
	if err != nil {
		return 0, 0, err
	}
	count = 1
	if hasCount {
		if count, err = atoi(c); err != nil {
			return 0, 0, err
		}
	}
	return start, count, nil
}

// atoi parses a line number or count: digits only, bounded.
func atoi(s string) (int, error) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return strconv.Atoi(s)
}

// clip shortens a line quoted in an error.
func clip(b []byte) []byte {
	const n = 80
	if len(b) > n {
		return append(b[:n:n], "…"...)
	}
	return b
}
