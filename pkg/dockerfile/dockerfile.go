// Package dockerfile lints Dockerfiles (and Containerfiles) for security
// and hygiene problems: images that run as root, unpinned or floating base
// images, downloads piped into a shell, credentials in ENV and ARG,
// package-manager misuse, and the like. Files are parsed with BuildKit's
// own parser, so line continuations, heredocs and the escape directive are
// read exactly as `docker build` reads them.
//
// Each finding names the instruction by a path that survives edits
// elsewhere in the file (stage[builder].RUN[2]), so its fingerprint stays
// stable when lines move. A comment line `# mamori:ignore=RULE[,RULE…]`
// directly above an instruction suppresses those rules for it.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// MaxSize is the largest Dockerfile LintFile reads. Real Dockerfiles are
// kilobytes; anything this large is not one.
const MaxSize = 4 << 20

// Options configure a Linter.
type Options struct {
	// Secret reports whether value, assigned to key in ENV, ARG (default) or LABEL, is a credential:
	// the title of the secret rule that matched and a redacted form of the value (never the value).
	// nil: no secret check. The lead wires mamori's secrets engine here.
	Secret func(key, value string) (title, redacted string, ok bool)
	// Redact, when set, rewrites a message so that no credential in it
	// (a URL's password, a token on a command line) shows: every message
	// quotes the Dockerfile, and the Dockerfile may hold one.
	Redact func(msg string) string
}

// Linter judges Dockerfiles. It is safe for concurrent use when
// Options.Secret is.
type Linter struct {
	opts  Options
	rules map[string]*finding.Rule
}

// New returns a Linter.
func New(opts Options) *Linter {
	return &Linter{opts: opts, rules: newRules()}
}

// IsDockerfile reports whether a file's base name is that of a Dockerfile:
// Dockerfile, Containerfile, *.Dockerfile, *.Containerfile, Dockerfile.*
// and Containerfile.* (Dockerfile.dev), in any letter case, but not a
// per-Dockerfile ignore file (Dockerfile.dockerignore).
func IsDockerfile(name string) bool {
	b := strings.ToLower(filepath.Base(name))
	if strings.HasSuffix(b, ".dockerignore") {
		return false
	}
	switch {
	case b == "dockerfile", b == "containerfile":
		return true
	case strings.HasSuffix(b, ".dockerfile"), strings.HasSuffix(b, ".containerfile"):
		return true
	case strings.HasPrefix(b, "dockerfile."), strings.HasPrefix(b, "containerfile."):
		return true
	}
	return false
}

// LintFile reads path (name is how it is shown) and checks for the .dockerignore itself.
func (l *Linter) LintFile(name, path string) ([]finding.Finding, []finding.Problem) {
	data, err := readCapped(path)
	if err != nil {
		return nil, []finding.Problem{{File: name, Message: err.Error()}}
	}
	return l.Lint(name, data, hasDockerignore(path))
}

func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("read Dockerfile: larger than %d MiB, not a Dockerfile", MaxSize>>20)
	}
	return data, nil
}

// hasDockerignore reports whether BuildKit would find an ignore file for
// the Dockerfile at path: <path>.dockerignore first, then .dockerignore in
// the same directory (the usual layout, where the directory is the
// context).
func hasDockerignore(path string) bool {
	for _, p := range []string{path + ".dockerignore", filepath.Join(filepath.Dir(path), ".dockerignore")} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Lint judges one Dockerfile. hasDockerignore says whether a .dockerignore (or <name>.dockerignore, as BuildKit reads) sits beside it.
func (l *Linter) Lint(name string, data []byte, hasDockerignore bool) ([]finding.Finding, []finding.Problem) {
	res, err := parse(data)
	if err != nil {
		return nil, []finding.Problem{parseProblem(name, err)}
	}
	f := &file{l: l, name: name, lines: splitLines(data), escape: res.EscapeToken, hasIgnore: hasDockerignore}
	f.build(res.AST)
	f.check()
	slices.SortFunc(f.findings, finding.Compare)
	slices.SortFunc(f.problems, func(a, b finding.Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Message, b.Message)
	})
	return f.findings, f.problems
}

// parse runs BuildKit's parser, turning a panic in it into an error: a
// linter must survive any input.
func parse(data []byte) (res *parser.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	return parser.Parse(bytes.NewReader(data))
}

func parseProblem(name string, err error) finding.Problem {
	p := finding.Problem{File: name}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		p.Line = le.Locations[0][0].Start.Line
		err = le.Unwrap()
	}
	if p.Line <= 0 {
		p.Line = 0
	}
	p.Message = "invalid Dockerfile: " + err.Error()
	return p
}

// splitLines splits data into lines without their line endings, dropping
// a UTF-8 byte-order mark as BuildKit does, so that columns match editors.
func splitLines(data []byte) []string {
	s := string(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines
}

// file is one Dockerfile being linted.
type file struct {
	l         *Linter
	name      string
	lines     []string
	escape    rune
	hasIgnore bool

	globals []*instr // ARGs before the first FROM
	stages  []*stage

	findings []finding.Finding
	problems []finding.Problem
	seen     map[string]bool // rule ID + path, one finding each
}

type stage struct {
	index   int
	name    string // as written; "" when unnamed
	lname   string // lower-case name, as BuildKit matches stage names
	from    *instr
	image   string // base image after ARG expansion; "" when not known
	base    *stage // the earlier stage this one is built FROM
	instrs  []*instr
	counts  map[string]int
	posix   bool // RUN shell-form commands run in a POSIX shell
	noCache bool // PIP_NO_CACHE_DIR is set in ENV
}

func (s *stage) display() string {
	if s.name != "" {
		return s.name
	}
	return "stage " + strconv.Itoa(s.index)
}

func (s *stage) pathName() string {
	if s.name != "" {
		return s.name
	}
	return strconv.Itoa(s.index)
}

type instr struct {
	node    *parser.Node
	cmd     string // lower-case instruction
	stage   *stage // nil for an ARG before the first FROM
	path    string
	line    int
	col     int
	ignores []string
}

func (in *instr) resource() finding.Resource {
	name := "(global)"
	if in.stage != nil {
		name = in.stage.display()
	}
	return finding.Resource{Kind: "Dockerfile", Name: name}
}

// args returns the instruction's arguments.
func (in *instr) args() []string {
	var a []string
	for n := in.node.Next; n != nil; n = n.Next {
		a = append(a, n.Value)
	}
	return a
}

func (in *instr) isJSON() bool { return in.node.Attributes["json"] }

// flag returns the value of --name=value among the instruction's flags.
func (in *instr) flag(name string) (string, bool) {
	for _, f := range in.node.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
		if f == "--"+name {
			return "", true
		}
	}
	return "", false
}

// build turns BuildKit's AST into stages of instructions, reporting what
// BuildKit would reject: unknown instructions, instructions before FROM,
// a file without FROM.
func (f *file) build(ast *parser.Node) {
	prevEnd := 0
	globalArgs := 0
	for _, n := range ast.Children {
		in := &instr{node: n, cmd: strings.ToLower(n.Value), line: n.StartLine}
		in.col = f.column(n.StartLine)
		in.ignores = f.ignoresBefore(n.StartLine, prevEnd)
		prevEnd = n.EndLine
		if _, ok := command.Commands[in.cmd]; !ok {
			f.problem(n.StartLine, fmt.Sprintf("unknown instruction %s", n.Value))
			continue
		}
		if in.cmd == command.From {
			f.addStage(in)
			continue
		}
		if len(f.stages) == 0 {
			if in.cmd != command.Arg {
				f.problem(n.StartLine, fmt.Sprintf("%s before the first FROM: only ARG may come before FROM", strings.ToUpper(in.cmd)))
				continue
			}
			in.path = "global.ARG[" + strconv.Itoa(globalArgs) + "]"
			globalArgs++
			f.globals = append(f.globals, in)
			continue
		}
		s := f.stages[len(f.stages)-1]
		in.stage = s
		in.path = "stage[" + s.pathName() + "]." + strings.ToUpper(in.cmd) + "[" + strconv.Itoa(s.counts[in.cmd]) + "]"
		s.counts[in.cmd]++
		s.instrs = append(s.instrs, in)
	}
	if len(f.stages) == 0 {
		f.problem(0, "no FROM instruction")
	}
}

func (f *file) addStage(in *instr) {
	s := &stage{index: len(f.stages), from: in, counts: map[string]int{}, posix: true}
	args := in.args()
	switch {
	case len(args) == 3 && strings.EqualFold(args[1], "as"):
		s.name = args[2]
		s.lname = strings.ToLower(args[2])
	case len(args) != 1:
		f.problem(in.line, "FROM requires one argument, or three: FROM image AS name")
	}
	in.stage = s
	in.path = "stage[" + s.pathName() + "].FROM"
	f.stages = append(f.stages, s)
}

func (f *file) problem(line int, msg string) {
	f.problems = append(f.problems, finding.Problem{File: f.name, Line: line, Message: msg})
}

// column is the 1-based column of the first non-blank character of line.
func (f *file) column(line int) int {
	if line < 1 || line > len(f.lines) {
		return 0
	}
	l := f.lines[line-1]
	return len(l) - len(strings.TrimLeftFunc(l, unicode.IsSpace)) + 1
}

const ignoreMarker = "mamori:ignore="

// ignoresBefore reads `# mamori:ignore=` comments in the block of comment
// lines directly above line (a blank line ends the block), after the
// previous instruction's last line.
func (f *file) ignoresBefore(line, prevEnd int) []string {
	var ids []string
	for k := line - 1; k > prevEnd && k >= 1 && k <= len(f.lines); k-- {
		l := strings.TrimSpace(f.lines[k-1])
		if !strings.HasPrefix(l, "#") {
			break
		}
		i := strings.Index(l, ignoreMarker)
		if i < 0 {
			continue
		}
		list := l[i+len(ignoreMarker):]
		if j := strings.IndexAny(list, " \t"); j >= 0 {
			list = list[:j] // the rest is a free-text reason
		}
		for id := range strings.SplitSeq(list, ",") {
			if id == "" {
				continue
			}
			if _, ok := f.l.rules[id]; !ok {
				f.problem(k, fmt.Sprintf("unknown rule %q in %s comment", id, strings.TrimSuffix(ignoreMarker, "=")))
				continue
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// report adds a finding about in at line:col, unless an ignore comment
// suppresses it or the same rule already fired at the same path.
func (f *file) report(ruleID string, in *instr, line, col int, sub, msg string) *finding.Finding {
	if slices.Contains(in.ignores, ruleID) {
		return nil
	}
	path := in.path + sub
	key := ruleID + "\x00" + path
	if f.seen[key] {
		return nil
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.seen[key] = true
	if line == 0 {
		line, col = in.line, in.col
	}
	r := f.l.rules[ruleID]
	res := in.resource()
	if f.l.opts.Redact != nil {
		msg = f.l.opts.Redact(msg)
	}
	f.findings = append(f.findings, finding.Finding{
		Rule:        r,
		Message:     msg,
		Resource:    res,
		Location:    finding.Location{File: f.name, Line: line, Column: col, Path: path},
		Fingerprint: finding.ComputeFingerprint(r.ID, f.name, res, path),
	})
	return &f.findings[len(f.findings)-1]
}

// reportAt adds a finding located at the instruction itself.
func (f *file) reportAt(ruleID string, in *instr, msg string) *finding.Finding {
	return f.report(ruleID, in, in.line, in.col, "", msg)
}
