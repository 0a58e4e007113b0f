package output

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// Trace is what `mamori trace` shows: exec, open, connect or syscalls.
type Trace string

// Traces.
const (
	TraceExec     Trace = "exec"
	TraceOpen     Trace = "open"
	TraceConnect  Trace = "connect"
	TraceSyscalls Trace = "syscalls"
)

// Traces lists every trace, in a stable order.
var Traces = []Trace{TraceExec, TraceOpen, TraceConnect, TraceSyscalls}

// ParseTrace checks a trace name.
func ParseTrace(s string) (Trace, error) {
	if t := Trace(s); slices.Contains(Traces, t) {
		return t, nil
	}
	return "", fmt.Errorf("unknown trace %q (want exec, open, connect or syscalls)", s)
}

// Kinds are the event kinds the trace shows.
func (t Trace) Kinds() []event.Kind {
	switch t {
	case TraceExec:
		return []event.Kind{event.Exec}
	case TraceOpen:
		return []event.Kind{event.Open}
	case TraceConnect:
		return []event.Kind{event.Connect, event.Accept}
	case TraceSyscalls:
		return []event.Kind{event.Privilege, event.Namespace, event.Module, event.Ptrace, event.Memfd}
	}
	return nil
}

// Filter selects events. An empty field matches anything; Namespace, Pod,
// Container and Comm are globs (path.Match syntax: web-*), and a filter
// on namespace, pod or container never matches a host process.
type Filter struct {
	Kinds     []event.Kind
	Namespace string
	Pod       string
	Container string
	Comm      string
}

// Validate reports a malformed glob.
func (f *Filter) Validate() error {
	for _, g := range []struct{ name, glob string }{{"namespace", f.Namespace}, {"pod", f.Pod}, {"container", f.Container}, {"comm", f.Comm}} {
		if _, err := path.Match(g.glob, ""); err != nil {
			return fmt.Errorf("--%s %q: %w", g.name, g.glob, err)
		}
	}
	return nil
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *event.Event) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind) {
		return false
	}
	return globMatch(f.Namespace, e.PodNamespace()) && globMatch(f.Pod, e.PodName()) &&
		globMatch(f.Container, e.ContainerName()) && globMatch(f.Comm, e.Process.Comm)
}

func globMatch(glob, s string) bool {
	if glob == "" {
		return true
	}
	ok, _ := path.Match(glob, s)
	return ok && s != ""
}

// Format is how a Printer writes events.
type Format int

// Formats.
const (
	// Table writes aligned columns under a header.
	Table Format = iota
	// JSONFormat writes one event per line as JSON.
	JSONFormat
)

// PrinterOptions configure a Printer.
type PrinterOptions struct {
	Format Format
	// Secrets, when set, redacts process arguments.
	Secrets *secret.Engine
	// NoHeader leaves out the table's header line.
	NoHeader bool
}

// column is one table column; the last column of a trace has no width.
type column struct {
	name  string
	width int
	value func(e *event.Event) string
}

// commonColumns start every trace's table, as in Inspektor Gadget's trace gadgets.
var commonColumns = []column{
	{"TIME", 12, func(e *event.Event) string { return e.Time.Format("15:04:05.000") }},
	{"NAMESPACE", 16, func(e *event.Event) string { return e.PodNamespace() }},
	{"POD", 24, func(e *event.Event) string { return e.PodName() }},
	{"CONTAINER", 16, func(e *event.Event) string {
		if e.Host {
			return "<host>"
		}
		return e.ContainerName()
	}},
	{"PID", 7, func(e *event.Event) string { return strconv.FormatUint(uint64(e.Process.PID), 10) }},
	{"PPID", 7, func(e *event.Event) string { return strconv.FormatUint(uint64(e.Process.PPID), 10) }},
	{"COMM", 16, func(e *event.Event) string { return e.Process.Comm }},
}

// traceColumns follow the common ones.
func traceColumns(t Trace) []column {
	switch t {
	case TraceExec:
		return []column{
			{"UID", 6, func(e *event.Event) string { return strconv.FormatUint(uint64(e.Process.UID), 10) }},
			{"ARGS", 0, execArgs},
		}
	case TraceOpen:
		return []column{
			{"FLAGS", 24, func(e *event.Event) string {
				if e.File == nil {
					return ""
				}
				return OpenFlags(e.File.Flags)
			}},
			{"PATH", 0, func(e *event.Event) string {
				if e.File == nil {
					return ""
				}
				return e.File.Path
			}},
		}
	case TraceConnect:
		return []column{
			{"DIR", 8, func(e *event.Event) string {
				if e.Net == nil {
					return ""
				}
				return e.Net.Direction
			}},
			{"PROTO", 5, func(e *event.Event) string {
				if e.Net == nil {
					return ""
				}
				return e.Net.Protocol
			}},
			{"SRC", 24, func(e *event.Event) string {
				if e.Net == nil || e.Net.SrcAddr == "" {
					return ""
				}
				return net.JoinHostPort(e.Net.SrcAddr, strconv.Itoa(int(e.Net.SrcPort)))
			}},
			{"DST", 0, func(e *event.Event) string {
				if e.Net == nil {
					return ""
				}
				return net.JoinHostPort(e.Net.DstAddr, strconv.Itoa(int(e.Net.DstPort)))
			}},
		}
	case TraceSyscalls:
		return []column{
			{"KIND", 10, func(e *event.Event) string { return string(e.Kind) }},
			// A negative errno when the call failed: a denied setuid is
			// not an escalation, an attempt is still worth seeing.
			{"RET", 6, func(e *event.Event) string { return strconv.FormatInt(e.Ret, 10) }},
			{"DETAIL", 0, syscallDetail},
		}
	}
	return nil
}

// execArgs is argv, quoted where an argument would not read as one word,
// marked when an enforcing rule killed the process.
func execArgs(e *event.Event) string {
	args := e.Process.Args
	if len(args) == 0 && e.Process.Binary != "" {
		args = []string{e.Process.Binary}
	}
	var b strings.Builder
	if e.Killed != "" {
		b.WriteString("[killed by " + e.Killed + "] ")
	}
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' || !unicode.IsPrint(r) }) {
			a = strconv.Quote(a)
		}
		b.WriteString(a)
	}
	return b.String()
}

func syscallDetail(e *event.Event) string {
	switch {
	case e.Privilege != nil:
		p := e.Privilege
		s := p.Syscall
		if len(p.IDs) > 0 {
			s += fmt.Sprintf(" ids=%v", p.IDs)
		}
		if p.Syscall == "capset" {
			s += fmt.Sprintf(" effective=%#x permitted=%#x", p.Effective, p.Permitted)
		}
		if p.ToRoot {
			s += " to-root"
		}
		return s
	case e.Namespace != nil:
		n := e.Namespace
		s := n.Syscall
		if len(n.Namespaces) > 0 {
			s += " " + strings.Join(n.Namespaces, ",")
		} else if n.Flags != 0 {
			s += fmt.Sprintf(" flags=%#x", n.Flags)
		}
		if n.Source != "" || n.Target != "" {
			s += fmt.Sprintf(" %s -> %s", n.Source, n.Target)
		}
		if n.FSType != "" {
			s += " type=" + n.FSType
		}
		return s
	case e.Module != nil:
		if e.Module.Args != "" {
			return e.Module.Syscall + " args=" + e.Module.Args
		}
		return e.Module.Syscall
	case e.Ptrace != nil:
		return fmt.Sprintf("%s pid=%d", e.Ptrace.Request, e.Ptrace.TargetPID)
	case e.Memfd != nil:
		return fmt.Sprintf("memfd_create name=%q flags=%#x", e.Memfd.Name, e.Memfd.Flags)
	}
	return ""
}

// openFlagNames are Linux's open(2) flags (asm-generic values, as on
// x86-64), in the order strace prints them.
var openFlagNames = []struct {
	bit  uint32
	name string
}{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o100000, "O_LARGEFILE"}, {0o200000, "O_DIRECTORY"},
	{0o400000, "O_NOFOLLOW"}, {0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"},
	{0o4000000, "O_SYNC"}, {0o10000000, "O_PATH"},
}

// OpenFlags names open(2) flags: O_WRONLY|O_CREAT|O_TRUNC. Bits without
// a name are shown in octal.
func OpenFlags(f uint32) string {
	var parts []string
	switch f & 3 {
	case 0:
		parts = append(parts, "O_RDONLY")
	case 1:
		parts = append(parts, "O_WRONLY")
	case 2:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_ACCMODE")
	}
	rest := f &^ 3
	// O_SYNC includes O_DSYNC's bit; name it once.
	if rest&0o4010000 == 0o4010000 {
		rest &^= 0o10000
	}
	for _, n := range openFlagNames {
		if rest&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#o", rest))
	}
	return strings.Join(parts, "|")
}

// Printer writes events as `mamori trace` shows them.
type Printer struct {
	w       *bufio.Writer
	opts    PrinterOptions
	columns []column
	started bool
	line    []byte
}

// NewPrinter writes events of trace t to w. Print buffers; Flush writes.
func NewPrinter(w io.Writer, t Trace, o PrinterOptions) *Printer {
	return &Printer{w: bufio.NewWriter(w), opts: o, columns: append(slices.Clip(commonColumns), traceColumns(t)...)}
}

// Print writes e: a table row (the header first), or a JSON line. Every
// value is one line: control characters in arguments, paths or names are
// escaped, so a process cannot forge rows or drive the terminal.
func (p *Printer) Print(e *event.Event) error {
	e = RedactEvent(p.opts.Secrets, e)
	if p.opts.Format == JSONFormat {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		_, err = p.w.Write(append(b, '\n'))
		return err
	}
	if !p.started && !p.opts.NoHeader {
		p.row(func(c column) string { return c.name })
	}
	p.started = true
	p.row(func(c column) string { return c.value(e) })
	return nil
}

// Flush writes what Print buffered.
func (p *Printer) Flush() error { return p.w.Flush() }

func (p *Printer) row(value func(column) string) {
	line := p.line[:0]
	for i, c := range p.columns {
		v := sanitize(value(c))
		if v == "" {
			v = "-"
		}
		if c.width == 0 || i == len(p.columns)-1 {
			line = append(line, v...)
			break
		}
		n := utf8.RuneCountInString(v)
		if n > c.width {
			// Cut long values, marking the cut, so the columns stay aligned.
			r := []rune(v)
			v = string(r[:c.width-1]) + "…"
			n = c.width
		}
		line = append(line, v...)
		for range c.width - n + 1 {
			line = append(line, ' ')
		}
	}
	line = append(line, '\n')
	p.line = line
	_, _ = p.w.Write(line) // bufio keeps the error for Flush
}

// sanitize escapes what is not printable (newlines, terminal escapes,
// invalid UTF-8) as Go escapes.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
