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
	// Data is the object's content, decoded as the API server would.
	Data map[string]any

	root       *yaml.Node
	lineOffset int
}

// APIVersion returns the object's apiVersion.
func (o *Object) APIVersion() string { s, _ := o.Data["apiVersion"].(string); return s }

// Kind returns the object's kind.
func (o *Object) Kind() string { s, _ := o.Data["kind"].(string); return s }

// Group returns the API group of the object's apiVersion ("" for core).
func (o *Object) Group() string {
	av := o.APIVersion()
	if i := strings.IndexByte(av, '/'); i >= 0 {
		return av[:i]
	}
	return ""
}

// Metadata returns the object's metadata map, or nil.
func (o *Object) Metadata() map[string]any { m, _ := o.Data["metadata"].(map[string]any); return m }

// Name returns metadata.name (or metadata.generateName).
func (o *Object) Name() string {
	m := o.Metadata()
	if s, _ := m["name"].(string); s != "" {
		return s
	}
	s, _ := m["generateName"].(string)
	return s
}

// Namespace returns metadata.namespace.
func (o *Object) Namespace() string { s, _ := o.Metadata()["namespace"].(string); return s }

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
	line, col = n.Line, n.Column
	segs, err := ParsePath(path)
	if err != nil {
		return line + o.lineOffset, col, false
	}
	exact = true
	for _, s := range segs {
		n = resolveAlias(n)
		var next, at *yaml.Node
		switch {
		case s.Key != "" && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if keyString(n.Content[i]) == s.Key {
					at, next = n.Content[i], n.Content[i+1]
				}
			}
		case s.Key == "" && n.Kind == yaml.SequenceNode && s.Index >= 0 && s.Index < len(n.Content):
			next = n.Content[s.Index]
			at = next
		}
		if next == nil {
			exact = false
			break
		}
		line, col = at.Line, at.Column
		n = next
	}
	return line + o.lineOffset, col, exact
}

// Location is Locate packaged as a finding.Location.
func (o *Object) Location(path string) finding.Location {
	line, col, _ := o.Locate(path)
	return finding.Location{File: o.File, Line: line, Column: col, Path: path}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
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
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, errBadPath(p)
			}
			inner := p[i+1 : i+end]
			if len(inner) >= 2 && inner[0] == '\'' {
				// Quoted keys may contain ']', so find the closing quote.
				q := strings.Index(p[i+2:], "']")
				if q < 0 {
					return nil, errBadPath(p)
				}
				segs = append(segs, Segment{Key: p[i+2 : i+2+q], Index: -1})
				i += q + 4
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, errBadPath(p)
			}
			segs = append(segs, Segment{Index: n})
			i += end + 1
		default:
			end := strings.IndexAny(p[i:], ".[")
			if end < 0 {
				end = len(p) - i
			}
			segs = append(segs, Segment{Key: p[i : i+end], Index: -1})
			i += end
		}
	}
	return segs, nil
}

type pathError string

func (e pathError) Error() string { return "bad field path " + strconv.Quote(string(e)) }

func errBadPath(p string) error { return pathError(p) }

// Key renders a map key as a path segment, quoting keys that contain
// separators.
func Key(k string) string {
	if strings.ContainsAny(k, ".[]'") || k == "" {
		return "['" + k + "']"
	}
	return "." + k
}
