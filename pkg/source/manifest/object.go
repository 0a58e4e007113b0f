package manifest

import (
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Object is one Kubernetes object read from a manifest.
type Object struct {
	// File is the path of the manifest as the user named it.
	File string
	// Line and Column are where the object starts (1-based).
	Line, Column int

	apiVersion, kind, name, namespace string

	root       *node
	lineOffset int
	data       map[string]any

	// origin is the object this one was rendered from (by Kustomize), in
	// the file a person edits; source names the rendering.
	origin *Object
	source string
	// trace maps a field path to its line in a template (Helm), when the
	// object was rendered from one; file is the template.
	trace     func(path string) int
	traceFile string
}

// Trace makes o's positions those of the template file it was rendered
// from: line maps a field path to its line there (0 when it cannot be
// traced), source names the rendering.
func (o *Object) Trace(file, source string, line func(path string) int) {
	o.trace, o.traceFile, o.source = line, file, source
	o.File, o.Line, o.Column = file, max(line(""), 1), 0
}

// Relocate makes o's positions those of src, the object o was rendered
// from, and records what rendered it. Fields src lacks (added by a patch)
// point at their nearest ancestor in src.
func (o *Object) Relocate(src *Object, source string) {
	o.origin, o.source = src, source
	o.File, o.Line, o.Column = src.File, src.Line, src.Column
}

// APIVersion returns the object's apiVersion.
func (o *Object) APIVersion() string { return o.apiVersion }

// Kind returns the object's kind.
func (o *Object) Kind() string { return o.kind }

// Group returns the API group of the object's apiVersion ("" for core).
func (o *Object) Group() string {
	if i := strings.IndexByte(o.apiVersion, '/'); i >= 0 {
		return o.apiVersion[:i]
	}
	return ""
}

// Name returns metadata.name (or metadata.generateName).
func (o *Object) Name() string { return o.name }

// Namespace returns metadata.namespace.
func (o *Object) Namespace() string { return o.namespace }

// Data returns the object's content decoded as the API server would
// (unstructured: maps, lists, strings, int64, float64, bools). It is built
// on first use: checks that only need typed fields use Decode and never
// pay for it.
func (o *Object) Data() map[string]any {
	if o.data == nil {
		// Parse validated the tree against the same limits, so this cannot
		// fail; an empty map is the safe answer if it ever did.
		v, _ := (&decoder{}).value(o.root, 0)
		o.data, _ = v.(map[string]any)
		if o.data == nil {
			o.data = map[string]any{}
		}
	}
	return o.data
}

// Resource identifies the object in findings.
func (o *Object) Resource() finding.Resource {
	return finding.Resource{APIVersion: o.APIVersion(), Kind: o.Kind(), Namespace: o.Namespace(), Name: o.Name()}
}

// Locate returns the position of the field at path (see ParsePath). When the
// field itself is absent, it returns the position of its nearest present
// ancestor, and exact is false: a missing securityContext.runAsNonRoot points
// at the container that lacks it.
func (o *Object) Locate(path string) (line, col int, exact bool) {
	n := o.root
	line, col = int(n.line), int(n.column)
	exact = true
	for rest := path; rest != ""; {
		s, r, err := nextSegment(rest)
		if err != nil {
			return int(o.root.line) + o.lineOffset, int(o.root.column), false
		}
		rest = r
		if s.Key == "" && s.Index < 0 {
			continue
		}
		n = resolveAlias(n)
		var next, at *node
		switch {
		case s.Key != "" && n.kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.content); i += 2 {
				if keyString(n.content[i]) == s.Key {
					at, next = n.content[i], n.content[i+1]
				}
			}
		case s.Key == "" && n.kind == yaml.SequenceNode && s.Index < len(n.content):
			next = n.content[s.Index]
			at = next
		}
		if next == nil {
			exact = false
			break
		}
		line, col = int(at.line), int(at.column)
		n = next
	}
	return line + o.lineOffset, col, exact
}

// Location is Locate packaged as a finding.Location; for a rendered
// object, in the file it was rendered from.
func (o *Object) Location(path string) finding.Location {
	if o.origin != nil {
		l := o.origin.Location(path)
		l.Source = o.source
		return l
	}
	if o.trace != nil {
		return finding.Location{File: o.traceFile, Line: o.trace(path), Path: path, Source: o.source}
	}
	line, col, _ := o.Locate(path)
	return finding.Location{File: o.File, Line: line, Column: col, Path: path}
}

func resolveAlias(n *node) *node {
	for i := 0; n.kind == yaml.AliasNode && n.alias != nil && i < 100; i++ {
		n = n.alias
	}
	return n
}

// Segment is one step of a field path: a map key or a list index.
type Segment struct {
	Key   string
	Index int
}

// ParsePath splits a field path such as
// spec.containers[0].securityContext.privileged or
// metadata.annotations['a.b/c'] into segments.
func ParsePath(p string) ([]Segment, error) {
	var segs []Segment
	for p != "" {
		s, rest, err := nextSegment(p)
		if err != nil {
			return nil, err
		}
		if s.Key != "" || s.Index >= 0 {
			segs = append(segs, s)
		}
		p = rest
	}
	return segs, nil
}

// nextSegment reads the first segment of a path. A leading dot yields an
// empty segment (Key "" and Index -1) that callers skip.
func nextSegment(p string) (Segment, string, error) {
	switch p[0] {
	case '.':
		return Segment{Index: -1}, p[1:], nil
	case '[':
		if len(p) >= 3 && p[1] == '\'' {
			// Quoted keys may contain ']', so find the closing quote.
			q := strings.Index(p[2:], "']")
			if q < 0 {
				return Segment{}, "", errBadPath(p)
			}
			return Segment{Key: p[2 : 2+q], Index: -1}, p[q+4:], nil
		}
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return Segment{}, "", errBadPath(p)
		}
		n, err := strconv.Atoi(p[1:end])
		if err != nil || n < 0 {
			return Segment{}, "", errBadPath(p)
		}
		return Segment{Index: n}, p[end+1:], nil
	}
	end := strings.IndexAny(p, ".[")
	if end < 0 {
		end = len(p)
	}
	return Segment{Key: p[:end], Index: -1}, p[end:], nil
}

type pathError string

func (e pathError) Error() string { return "bad field path " + strconv.Quote(string(e)) }

func errBadPath(p string) error { return pathError(p) }

// Rendered names what rendered the object ("helm chart web", "kustomize
// overlays/prod"); it is empty for an object read as written.
func (o *Object) Rendered() string { return o.source }

// Strings calls fn with every scalar of the object (string, number or
// boolean, as written), the name it is assigned to (the map key, or for
// an item of a list of name/value pairs, such as a container's env, the
// item's name) and its field path. The path is built only when path is
// called: most scalars are judged by name and value alone. Aliases are
// followed once; merge keys and alias cycles are not walked twice.
func (o *Object) Strings(fn func(name, value string, path func() string)) {
	buf := make([]byte, 0, 128)
	pathOf := func() string { return string(buf) }
	var walk func(n *node, name string, depth int)
	walk = func(n *node, name string, depth int) {
		if depth > 64 {
			return
		}
		n = resolveAlias(n)
		switch n.kind {
		case yaml.ScalarNode:
			if n.tag == "!!null" || n.style == 0 && (n.value == "" || n.value == "~" || n.value == "null") {
				return
			}
			fn(name, n.value, pathOf)
		case yaml.MappingNode:
			// A {name: X, value: Y} item assigns Y to X.
			itemName := ""
			for i := 0; i+1 < len(n.content); i += 2 {
				if keyString(n.content[i]) == "name" && n.content[i+1].kind == yaml.ScalarNode {
					itemName = n.content[i+1].value
				}
			}
			mark := len(buf)
			for i := 0; i+1 < len(n.content); i += 2 {
				k := keyString(n.content[i])
				if k == "<<" {
					continue
				}
				child := k
				if k == "value" && itemName != "" {
					child = itemName
				}
				buf = appendKey(buf[:mark], k)
				walk(n.content[i+1], child, depth+1)
			}
			buf = buf[:mark]
		case yaml.SequenceNode:
			mark := len(buf)
			for i, c := range n.content {
				buf = append(buf[:mark], '[')
				buf = strconv.AppendInt(buf, int64(i), 10)
				buf = append(buf, ']')
				walk(c, name, depth+1)
			}
			buf = buf[:mark]
		}
	}
	walk(o.root, "", 0)
}

// appendKey appends k to a field path as Key renders it, without the
// leading dot at the start of the path.
func appendKey(buf []byte, k string) []byte {
	if strings.ContainsAny(k, ".[]'") || k == "" {
		return append(append(append(buf, "['"...), k...), "']"...)
	}
	if len(buf) > 0 {
		buf = append(buf, '.')
	}
	return append(buf, k...)
}
