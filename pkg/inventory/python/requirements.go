package python

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// NewRequirements returns the analyzer of pip requirements files:
// requirements.txt, requirements-dev.txt, dev-requirements.txt,
// requirements/*.txt. Only exact pins (name==1.0, name===1.0, with extras,
// environment markers and hashes) give packages. Lines that name no
// exact version are skipped: ranges, URLs and paths, options such as
// -r/-c includes (not followed) and --index-url. A line that is none of
// these is an error naming the line.
func NewRequirements() inventory.Analyzer { return requirements{} }

type requirements struct{}

func (requirements) Name() string { return string(inventory.Pip) }

func (requirements) Wants(p string, _ inventory.FileInfo) bool {
	base := path.Base(p)
	if !strings.HasSuffix(base, ".txt") {
		return false
	}
	return strings.Contains(base, "requirements") || path.Base(path.Dir(p)) == "requirements"
}

var (
	// PEP 508 name, optional extras, then the rest.
	reqName = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$`)
	pinned  = regexp.MustCompile(`^===?\s*([^\s,;*]+)\s*$`)
	specOp  = regexp.MustCompile(`^(~=|==|!=|<=|>=|<|>|===)`)
)

func (requirements) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	g := newGraph(inventory.Pip, f.Path)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		logical string
		start   int
	)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if logical == "" {
			start = n
		}
		// A trailing backslash continues the line (pip joins before
		// stripping comments).
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			logical += s + " "
			continue
		}
		logical += line
		if err := requirement(g, logical, start); err != nil {
			return nil, err
		}
		logical = ""
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical != "" {
		if err := requirement(g, logical, start); err != nil {
			return nil, err
		}
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

// requirement reads one logical line.
func requirement(g *graph, line string, n int) error {
	if i := strings.Index(line, "#"); i == 0 || (i > 0 && (line[i-1] == ' ' || line[i-1] == '\t')) {
		line = line[:i]
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '-' {
		return nil // options: -r, -c, -e, --index-url, --hash on its own
	}
	// Per-requirement options (--hash=...) follow the requirement.
	if i := strings.Index(line, " --"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	spec, _, _ := strings.Cut(line, ";") // environment markers
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return fmt.Errorf("line %d: environment marker without a requirement: %q", n, line)
	}
	if strings.Contains(spec, "://") || strings.ContainsAny(spec[:1], "./~\\") {
		return nil // a URL or a path
	}
	m := reqName.FindStringSubmatch(spec)
	if m == nil {
		return fmt.Errorf("line %d: not a requirement: %q", n, line)
	}
	rest := strings.TrimSpace(m[3])
	switch {
	case rest == "":
		return nil // unpinned, or an archive file name
	case strings.ContainsAny(rest[:1], "@/\\:"):
		return nil // "name @ url", or a path
	case rest[0] == '(':
		rest = strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")")
	}
	if !specOp.MatchString(rest) {
		return fmt.Errorf("line %d: bad version specifier %q", n, rest)
	}
	if p := pinned.FindStringSubmatch(rest); p != nil {
		g.add(m[1], p[1], false)
	}
	return nil
}
