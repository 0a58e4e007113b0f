package manifest

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Result is what one manifest file yields.
type Result struct {
	Objects []*Object
	// Errors are documents that could not be read: the scan of this file is
	// incomplete.
	Errors []finding.Problem
	// Notes are documents skipped on purpose (not Kubernetes objects) and
	// oddities that do not stop the scan (duplicate keys).
	Notes []finding.Problem
}

func (r *Result) errorf(file string, line int, format string, args ...any) {
	r.Errors = append(r.Errors, finding.Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (r *Result) notef(file string, line int, format string, args ...any) {
	r.Notes = append(r.Notes, finding.Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Parse reads every document of a manifest file. A bad document is reported
// in Result.Errors with its line and does not stop the documents after it.
// Parse never panics on any input.
func Parse(file string, data []byte) (res Result) {
	if isBinary(data) {
		res.notef(file, 0, "binary file, not a manifest: skipped")
		return res
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for _, doc := range splitDocuments(data) {
		parseDocument(file, doc, &res)
	}
	return res
}

type document struct {
	data []byte
	line int // 0-based line of data's first line in the file
}

// splitDocuments cuts a stream at lines that start with "---", as kubectl's
// YAML reader does. Each chunk keeps its separator line, so yaml.v3 sees an
// explicit document start and line numbers stay exact after adding the
// chunk's offset.
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine, line := 0, 0, 0
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		if i > start && isSeparator(data[i:next]) {
			docs = append(docs, document{data[start:i], startLine})
			start, startLine = i, line
		}
		line++
		i = next
	}
	if start < len(data) {
		docs = append(docs, document{data[start:], startLine})
	}
	return docs
}

func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r'
}

var errLine = regexp.MustCompile(`^yaml: line (\d+): `)

func parseDocument(file string, doc document, res *Result) {
	root, err := parseYAML(doc.data)
	if err != nil {
		line, msg := errorLine(doc.data, err)
		res.errorf(file, doc.line+line, "invalid YAML: %s", msg)
		return
	}
	if root.kind == 0 || len(root.content) == 0 {
		return // empty document: comments only, or a trailing separator
	}
	top := root.content[0]
	d := &decoder{}
	if err := d.check(top, 0); err != nil {
		line, msg := doc.line+int(top.line), err.Error()
		if le, ok := err.(*lineError); ok {
			line, msg = doc.line+le.line, le.msg
		}
		res.errorf(file, line, "%s", msg)
		return
	}
	for _, w := range d.warnings {
		res.notef(file, doc.line+w.line, "%s", w.msg)
	}
	addObject(file, top, doc.line, res)
}

// parseYAML parses one document: by the fast path when it can, by yaml.v3
// otherwise.
func parseYAML(data []byte) (*node, error) {
	if n, err := fastParse(data); err == nil {
		return n, nil
	}
	var root yaml.Node
	if err := safeUnmarshal(data, &root); err != nil {
		return nil, err
	}
	return fromYAML(&root, map[*yaml.Node]*node{}), nil
}

// addObject records n as an object, expanding kind: List.
func addObject(file string, n *node, lineOffset int, res *Result) {
	n = resolveAlias(n)
	line := lineOffset + int(n.line)
	if n.kind != yaml.MappingNode {
		if !(n.kind == yaml.ScalarNode && scalar(n) == nil) {
			res.notef(file, line, "not a Kubernetes object (a YAML %s, not a mapping): skipped", kindName(n))
		}
		return
	}
	apiVersion, kind := stringAt(n, "apiVersion"), stringAt(n, "kind")
	if apiVersion == "" || kind == "" {
		res.notef(file, line, "not a Kubernetes object (no apiVersion or kind): skipped")
		return
	}
	if items := mappingValue(n, "items"); items != nil && items.kind == yaml.SequenceNode && strings.HasSuffix(kind, "List") {
		for _, it := range items.content {
			addObject(file, it, lineOffset, res)
		}
		return
	}
	o := &Object{File: file, Line: line, Column: int(n.column), apiVersion: apiVersion, kind: kind, root: n, lineOffset: lineOffset}
	if md := mappingValue(n, "metadata"); md != nil && !(md.kind == yaml.ScalarNode && scalar(md) == nil) {
		if md.kind != yaml.MappingNode {
			res.errorf(file, line, "%s: metadata is not a mapping", kind)
			return
		}
		o.name = stringAt(md, "name")
		if o.name == "" {
			o.name = stringAt(md, "generateName")
		}
		o.namespace = stringAt(md, "namespace")
	}
	res.Objects = append(res.Objects, o)
}

// stringAt returns the string value of key in mapping n, "" when absent
// or not a string.
func stringAt(n *node, key string) string {
	v := mappingValue(n, key)
	if v == nil || v.kind != yaml.ScalarNode {
		return ""
	}
	s, _ := scalar(v).(string)
	return s
}

// mappingValue returns the value of key in mapping n as Data would have
// it: the last explicit entry, else the merged mappings', later ones first.
func mappingValue(n *node, key string) *node {
	n = resolveAlias(n)
	if n.kind != yaml.MappingNode {
		return nil
	}
	var found *node
	merges := false
	for i := 0; i+1 < len(n.content); i += 2 {
		k := n.content[i]
		if k.tag == "!!merge" {
			merges = true
			continue
		}
		if keyString(k) == key {
			found = n.content[i+1]
		}
	}
	if found != nil || !merges {
		return resolveAliasOrNil(found)
	}
	for i := len(n.content) - 2; i >= 0; i -= 2 {
		if n.content[i].tag != "!!merge" {
			continue
		}
		m := resolveAlias(n.content[i+1])
		srcs := []*node{m}
		if m.kind == yaml.SequenceNode {
			srcs = m.content
		}
		for j := len(srcs) - 1; j >= 0; j-- {
			if v := mappingValue(srcs[j], key); v != nil {
				return v
			}
		}
	}
	return nil
}

func resolveAliasOrNil(n *node) *node {
	if n == nil {
		return nil
	}
	return resolveAlias(n)
}

func kindName(n *node) string {
	switch n.kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "value"
}

// safeUnmarshal turns a panic inside the YAML parser into an error: one
// hostile file must not take the whole scan down.
func safeUnmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

// errorLine finds the line of a syntax error. yaml.v3 reports the line of
// the enclosing context, often one off; the first line-prefix of the document
// that fails with the same message ends on the line at fault. Only broken
// documents pay for this search.
func errorLine(data []byte, err error) (int, string) {
	msg, reported := splitYAMLError(err)
	ends := []int{}
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	failsSame := func(k int) bool { // k lines
		var n yaml.Node
		err := safeUnmarshal(data[:ends[k-1]], &n)
		if err == nil {
			return false
		}
		m, _ := splitYAMLError(err)
		return m == msg
	}
	lo, hi := 1, len(ends)
	if !failsSame(hi) {
		if reported == 0 {
			reported = firstContentLine(data)
		}
		return reported, msg
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if failsSame(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, msg
}

func splitYAMLError(err error) (msg string, line int) {
	msg = err.Error()
	if m := errLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return msg[len(m[0]):], line
	}
	return strings.TrimPrefix(msg, "yaml: "), 0
}

// firstContentLine is the 1-based line of the first line that is neither
// blank, a comment nor a separator: where an error without a line most
// likely is.
func firstContentLine(data []byte) int {
	line := 1
	for len(data) > 0 {
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && !isSeparator(l) {
			return line
		}
		line++
	}
	return 1
}

// isBinary reports whether data looks like a binary file: a NUL byte or
// invalid UTF-8 in its first 8 KiB.
func isBinary(data []byte) bool {
	head := data
	if len(head) > 8192 {
		head = head[:8192]
		// Do not cut a multi-byte rune in half.
		for i := 0; i < 3 && len(head) > 0 && !utf8.Valid(head); i++ {
			head = head[:len(head)-1]
		}
	}
	return bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(head)
}
