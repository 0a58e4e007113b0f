package manifest

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// maxSimpleKey is how far yaml.v3 looks for the ":" of an implicit key
// (YAML's 1024 characters, less a margin for multi-byte runes).
const maxSimpleKey = 1000

// errFallback means the document uses YAML outside the fast path's subset;
// yaml.v3 parses it instead. It is not a syntax error.
var errFallback = errors.New("outside the fast YAML subset")

// fastParse parses the block-style YAML that manifests are written in
// (block mappings and sequences, one-line plain, quoted and flow scalars,
// comments) into the same node tree yaml.v3 builds, several times faster.
// Anything else (anchors, tags, block scalars, multi-line scalars, odd
// indentation, errors) returns errFallback. FuzzFastParse checks it against
// yaml.v3.
func fastParse(data []byte) (*node, error) {
	if !printable(data) {
		return nil, errFallback // yaml.v3 names the bad character
	}
	p := fastParser{}
	if err := p.split(data); err != nil {
		return nil, err
	}
	doc := &node{kind: yaml.DocumentNode, line: 1, column: 1}
	if len(p.lines) == 0 {
		if p.explicit {
			return nil, errFallback // yaml.v3 gives "---" alone a null node
		}
		return doc, nil
	}
	// A line holds a key and a value, or a list item: two nodes a line is
	// close to exact for manifests.
	p.arena = make([]node, 0, 2*len(p.lines)+2)
	p.ptrs = make([]*node, 0, 2*len(p.lines)+2)
	root, err := p.block(p.lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.lines) {
		return nil, errFallback
	}
	doc.line, doc.column = root.line, root.column
	doc.content = []*node{root}
	return doc, nil
}

type fastLine struct {
	off    int    // offset of text in the document
	text   []byte // without line break
	indent int    // leading spaces
	num    int    // 1-based line number
	// colOff and colRunes cache the last column computed, so columns on a
	// long line (minified JSON) cost the distance from the last one, not
	// from the line's start.
	colOff, colRunes int
}

type fastParser struct {
	explicit bool // the document starts with "---"
	lines    []fastLine
	pos      int
	arena    []node
	ptrs     []*node // children slices are carved from here
	stack    []*node // children of the collections being parsed
	src      string  // the document, shared by the values cut from it
}

// str returns text[i:j] of line l without copying it again.
func (p *fastParser) str(l *fastLine, i, j int) string { return p.src[l.off+i : l.off+j] }

// children moves the nodes pushed on the stack since base into an exactly
// sized slice, so that collections never grow their content by doubling.
func (p *fastParser) children(base int) []*node {
	kids := p.stack[base:]
	if len(kids) == 0 {
		return nil
	}
	if cap(p.ptrs)-len(p.ptrs) < len(kids) {
		p.ptrs = make([]*node, 0, max(256, len(kids)))
	}
	n := len(p.ptrs)
	p.ptrs = append(p.ptrs, kids...)
	p.stack = p.stack[:base]
	return p.ptrs[n : n+len(kids) : n+len(kids)]
}

// node allocates nodes in blocks: one allocation for many nodes keeps the
// garbage collector's work proportional to documents, not fields.
func (p *fastParser) node(n node) *node {
	if len(p.arena) == cap(p.arena) {
		p.arena = make([]node, 0, 64+len(p.lines))
	}
	p.arena = append(p.arena, n)
	return &p.arena[len(p.arena)-1]
}

// split keeps the lines with content: blank and comment lines carry no
// nodes. A leading "---" line is dropped.
func (p *fastParser) split(data []byte) error {
	p.src = string(data)
	start := 0
	num := 0
	first := true
	p.lines = make([]fastLine, 0, bytes.Count(data, []byte("\n"))+1)
	for len(data) > 0 {
		num++
		var l []byte
		off := start
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
			start += i + 1
		} else {
			l, data = data, nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		ind := 0
		for ind < len(l) && l[ind] == ' ' {
			ind++
		}
		rest := l[ind:]
		if len(rest) == 0 || rest[0] == '#' {
			continue
		}
		if rest[0] == '\t' || bytes.IndexByte(l, '\r') >= 0 {
			return errFallback
		}
		if first && ind == 0 && rest[0] == '-' && bytes.HasPrefix(rest, []byte("---")) {
			first = false
			p.explicit = true
			if len(bytes.TrimSpace(rest[3:])) == 0 {
				continue
			}
			return errFallback
		}
		first = false
		if ind == 0 && (rest[0] == '%' || bytes.HasPrefix(rest, []byte("---")) || bytes.HasPrefix(rest, []byte("..."))) {
			return errFallback
		}
		p.lines = append(p.lines, fastLine{off: off, text: l, indent: ind, num: num})
	}
	return nil
}

func col(l *fastLine, i int) int32 {
	if i < l.colOff {
		l.colOff, l.colRunes = 0, 0
	}
	l.colRunes += utf8.RuneCount(l.text[l.colOff:i])
	l.colOff = i
	return int32(l.colRunes + 1)
}

func isSeqItem(rest []byte) bool {
	return len(rest) > 0 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}

// block parses the node that starts on the current line at indent.
func (p *fastParser) block(indent int) (*node, error) {
	l := &p.lines[p.pos]
	if l.indent != indent {
		return nil, errFallback
	}
	rest := l.text[indent:]
	if isSeqItem(rest) {
		return p.sequence(indent)
	}
	if _, _, ok, err := p.splitKey(l, indent); err != nil {
		return nil, err
	} else if ok {
		return p.mapping(indent)
	}
	// A lone scalar or flow collection must be the whole document.
	n, err := p.inline(l, indent)
	if err != nil {
		return nil, err
	}
	p.pos++
	return n, nil
}

func (p *fastParser) mapping(indent int) (*node, error) {
	m := p.node(node{kind: yaml.MappingNode, line: int32(p.lines[p.pos].num), column: col(&p.lines[p.pos], indent)})
	base := len(p.stack)
	defer func() { m.content = p.children(base) }()
	for p.pos < len(p.lines) {
		l := &p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent || isSeqItem(l.text[indent:]) {
			return nil, errFallback
		}
		key, valStart, ok, err := p.splitKey(l, indent)
		if err != nil || !ok {
			return nil, errFallback
		}
		val, err := p.value(l, valStart, indent, true)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, key, val)
	}
	return m, nil
}

func (p *fastParser) sequence(indent int) (*node, error) {
	s := p.node(node{kind: yaml.SequenceNode, line: int32(p.lines[p.pos].num), column: col(&p.lines[p.pos], indent)})
	base := len(p.stack)
	defer func() { s.content = p.children(base) }()
	for p.pos < len(p.lines) {
		l := &p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent || !isSeqItem(l.text[indent:]) {
			break
		}
		i := indent + 1
		for i < len(l.text) && l.text[i] == ' ' {
			i++
		}
		if i == len(l.text) || l.text[i] == '#' {
			item, err := p.value(l, indent+1, indent, false)
			if err != nil {
				return nil, err
			}
			p.stack = append(p.stack, item)
			continue
		}
		if isSeqItem(l.text[i:]) {
			return nil, errFallback // "- - x"
		}
		if _, _, ok, err := p.splitKey(l, i); err != nil {
			return nil, err
		} else if ok {
			// "- key: v": a mapping whose keys line up at column i.
			l.indent = i
			item, err := p.mapping(i)
			if err != nil {
				return nil, err
			}
			p.stack = append(p.stack, item)
			continue
		}
		item, err := p.inline(l, i)
		if err != nil {
			return nil, err
		}
		p.pos++
		if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
			return nil, errFallback // a multi-line scalar
		}
		p.stack = append(p.stack, item)
	}
	return s, nil
}

// value parses what follows "key:" (or a bare "-") at valStart on line l,
// whose parent collection is at indent, and advances past it.
func (p *fastParser) value(l *fastLine, valStart, indent int, inMapping bool) (*node, error) {
	i := valStart
	for i < len(l.text) && l.text[i] == ' ' {
		i++
	}
	if i < len(l.text) && l.text[i] != '#' {
		n, err := p.inline(l, i)
		if err != nil {
			return nil, err
		}
		p.pos++
		if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
			return nil, errFallback // a multi-line scalar, or an error
		}
		return n, nil
	}
	p.pos++
	if p.pos < len(p.lines) {
		next := &p.lines[p.pos]
		if next.indent > indent {
			return p.block(next.indent)
		}
		if inMapping && next.indent == indent && isSeqItem(next.text[indent:]) {
			return p.sequence(indent)
		}
	}
	// An empty value is null; yaml.v3 places it just after the indicator.
	return p.node(node{kind: yaml.ScalarNode, line: int32(l.num), column: col(l, valStart)}), nil
}

// splitKey finds "key:" at i on line l. ok is false when the line is not a
// mapping entry.
func (p *fastParser) splitKey(l *fastLine, i int) (key *node, valStart int, ok bool, err error) {
	t := l.text
	if i >= len(t) {
		return nil, 0, false, nil
	}
	switch t[i] {
	case '"', '\'':
		n, end, err := p.quoted(l, i)
		if err != nil {
			return nil, 0, false, err
		}
		if end-i > maxSimpleKey {
			return nil, 0, false, errFallback
		}
		j := end
		for j < len(t) && t[j] == ' ' {
			j++
		}
		if j < len(t) && t[j] == ':' && (j+1 == len(t) || t[j+1] == ' ') {
			return n, j + 1, true, nil
		}
		return nil, 0, false, nil
	case '[', '{', '&', '*', '!', '|', '>', '%', '@', '`', '?', ',', ']', '}', '#', ':':
		if t[i] == ':' || t[i] == '?' {
			return nil, 0, false, errFallback
		}
		return nil, 0, false, nil
	}
	for j := i; j < len(t); j++ {
		switch t[j] {
		case ':':
			if j+1 == len(t) || t[j+1] == ' ' {
				if j-i > maxSimpleKey {
					return nil, 0, false, errFallback
				}
				k := trimRight(t[i:j])
				if len(k) != j-i {
					return nil, 0, false, errFallback // "key :"
				}
				return p.plainNode(l, i, i+len(k)), j + 1, true, nil
			}
		case '#':
			if t[j-1] == ' ' {
				return nil, 0, false, nil
			}
		}
	}
	return nil, 0, false, nil
}

func trimRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// inline parses a one-line scalar or flow collection at i that runs to
// the end of the line (or to a comment).
func (p *fastParser) inline(l *fastLine, i int) (*node, error) {
	var n *node
	var end int
	var err error
	t := l.text
	switch t[i] {
	case '"', '\'':
		n, end, err = p.quoted(l, i)
	case '[', '{':
		n, end, err = p.flow(l, i)
	case '&', '*', '!', '|', '>', '%', '@', '`', '#', ',', ']', '}':
		return nil, errFallback
	default:
		return p.plain(l, i)
	}
	if err != nil {
		return nil, err
	}
	if !restIsComment(t[end:]) {
		return nil, errFallback
	}
	return n, nil
}

func restIsComment(b []byte) bool {
	for k, c := range b {
		if c == '#' {
			return k > 0
		}
		if c != ' ' {
			return false
		}
	}
	return true
}

func (p *fastParser) plain(l *fastLine, i int) (*node, error) {
	t := l.text
	if t[i] == '-' && (i+1 == len(t) || t[i+1] == ' ') || t[i] == '?' && (i+1 == len(t) || t[i+1] == ' ') || t[i] == ':' && (i+1 == len(t) || t[i+1] == ' ') {
		return nil, errFallback
	}
	end := len(t)
	for j := i; j < len(t); j++ {
		if t[j] == '#' && j > i && t[j-1] == ' ' {
			end = j
			break
		}
		if t[j] == ':' && (j+1 == len(t) || t[j+1] == ' ') {
			return nil, errFallback // "a: b: c" is an error yaml.v3 reports
		}
	}
	v := trimRight(t[i:end])
	return p.plainNode(l, i, i+len(v)), nil
}

// quoted parses a quoted scalar that ends on the same line.
func (p *fastParser) quoted(l *fastLine, i int) (*node, int, error) {
	t := l.text
	q := t[i]
	n := p.node(node{kind: yaml.ScalarNode, line: int32(l.num), column: col(l, i)})
	if q == '\'' {
		n.style = yaml.SingleQuotedStyle
		var b []byte
		for j := i + 1; j < len(t); j++ {
			if t[j] == '\'' {
				if j+1 < len(t) && t[j+1] == '\'' {
					b = append(b, '\'')
					j++
					continue
				}
				n.value = string(b)
				return n, j + 1, nil
			}
			b = append(b, t[j])
		}
		return nil, 0, errFallback
	}
	n.style = yaml.DoubleQuotedStyle
	var b []byte
	for j := i + 1; j < len(t); j++ {
		c := t[j]
		if c == '"' {
			n.value = string(b)
			return n, j + 1, nil
		}
		if c != '\\' {
			b = append(b, c)
			continue
		}
		j++
		if j >= len(t) {
			return nil, 0, errFallback
		}
		switch t[j] {
		case '\\', '"':
			b = append(b, t[j])
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case '0':
			b = append(b, 0)
		case 'u', 'x', 'U':
			size := map[byte]int{'x': 2, 'u': 4, 'U': 8}[t[j]]
			if j+size >= len(t) {
				return nil, 0, errFallback
			}
			r, err := strconv.ParseUint(string(t[j+1:j+1+size]), 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return nil, 0, errFallback
			}
			b = utf8.AppendRune(b, rune(r))
			j += size
		default:
			return nil, 0, errFallback
		}
	}
	return nil, 0, errFallback
}

// flow parses a flow sequence or mapping that closes on the same line.
func (p *fastParser) flow(l *fastLine, i int) (*node, int, error) {
	t := l.text
	open := t[i]
	n := p.node(node{kind: yaml.SequenceNode, style: yaml.FlowStyle, line: int32(l.num), column: col(l, i)})
	closer := byte(']')
	if open == '{' {
		n.kind, closer = yaml.MappingNode, '}'
	}
	j := skipSpaces(t, i+1)
	if j < len(t) && t[j] == closer {
		return n, j + 1, nil
	}
	for {
		if open == '{' {
			k, next, err := p.flowItem(l, j, true)
			if err != nil {
				return nil, 0, err
			}
			if next-j > maxSimpleKey {
				return nil, 0, errFallback
			}
			j = skipSpaces(t, next)
			if j >= len(t) || t[j] != ':' {
				return nil, 0, errFallback
			}
			j = skipSpaces(t, j+1)
			v, next, err := p.flowItem(l, j, false)
			if err != nil {
				return nil, 0, err
			}
			n.content = append(n.content, k, v)
			j = next
		} else {
			v, next, err := p.flowItem(l, j, false)
			if err != nil {
				return nil, 0, err
			}
			n.content = append(n.content, v)
			j = next
		}
		j = skipSpaces(t, j)
		if j >= len(t) {
			return nil, 0, errFallback
		}
		if t[j] == closer {
			return n, j + 1, nil
		}
		if t[j] != ',' {
			return nil, 0, errFallback
		}
		j = skipSpaces(t, j+1)
		if j >= len(t) || t[j] == closer || t[j] == ',' {
			return nil, 0, errFallback // trailing or empty entries
		}
	}
}

func skipSpaces(t []byte, j int) int {
	for j < len(t) && t[j] == ' ' {
		j++
	}
	return j
}

// flowItem parses one entry of a flow collection.
func (p *fastParser) flowItem(l *fastLine, j int, key bool) (*node, int, error) {
	t := l.text
	if j >= len(t) {
		return nil, 0, errFallback
	}
	switch t[j] {
	case '"', '\'':
		return p.quoted(l, j)
	case '[', '{':
		if key {
			return nil, 0, errFallback
		}
		return p.flow(l, j)
	case '&', '*', '!', '|', '>', '%', '@', '`', '#', ',', ']', '}', ':', '?', '-':
		if t[j] != '-' || j+1 >= len(t) || t[j+1] == ' ' {
			return nil, 0, errFallback
		}
	}
	k := j
	for ; k < len(t); k++ {
		c := t[k]
		if c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '#' {
			break
		}
		if c == ':' && (k+1 == len(t) || t[k+1] == ' ' || t[k+1] == ',' || t[k+1] == ']' || t[k+1] == '}') {
			break
		}
	}
	if k < len(t) && (t[k] == '[' || t[k] == '{' || t[k] == '#') {
		return nil, 0, errFallback
	}
	if k < len(t) && t[k] == ':' && !key {
		return nil, 0, errFallback // a single-pair mapping inside a sequence
	}
	v := trimRight(t[j:k])
	if len(v) == 0 || key && k-j > maxSimpleKey {
		return nil, 0, errFallback
	}
	return p.plainNode(l, j, j+len(v)), k, nil
}

// printable reports whether data has only the characters YAML allows
// (yaml.v3's is_printable) and no tabs, whose rules the fast path leaves to
// yaml.v3.
func printable(data []byte) bool {
	ascii := true
	for i, c := range data {
		if c >= 0x80 {
			ascii = false
			continue
		}
		if c < 0x20 && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return false // a lone CR breaks lines for yaml.v3
		}
	}
	if ascii {
		return true
	}
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		if r == 0x85 || r == 0x2028 || r == 0x2029 {
			return false // line breaks to yaml.v3
		}
		if r >= 0x80 && !(r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
		data = data[size:]
	}
	return true
}

// plainNode makes the plain scalar text[i:j] of line l. Like yaml.v3, it
// tags "<<" as a merge key.
func (p *fastParser) plainNode(l *fastLine, i, j int) *node {
	n := p.node(node{kind: yaml.ScalarNode, value: p.str(l, i, j), line: int32(l.num), column: col(l, i)})
	if n.value == "<<" {
		n.tag = "!!merge"
	}
	return n
}
