package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// maxDepth is encoding/json's nesting limit, kept so that a body the
// splitter accepts is one json.Unmarshal accepts.
const maxDepth = 10000

// splitEventList reads body as an EventList in one pass: it validates the
// whole body as JSON, decodes "kind" and "apiVersion", and appends the bytes
// of each element of "items" to items without decoding them. The element
// bytes are sub-slices of body.
//
// It accepts and rejects what json.Unmarshal into
//
//	struct{ Kind, APIVersion string; Items []json.RawMessage }
//
// accepts and rejects, with the same results: keys match case-insensitively,
// the last of repeated keys wins, a null leaves a string as it was and
// makes the items none, a value of the wrong type is an error.
func splitEventList(body []byte, items [][]byte) (kind, apiVersion string, _ [][]byte, err error) {
	s := splitter{b: body}
	s.ws()
	if s.i >= len(s.b) {
		return "", "", items, s.eof()
	}
	if s.b[s.i] == 'n' { // null: no list, which the kind check refuses
		if err := s.literal(); err != nil {
			return "", "", items, err
		}
		return "", "", items, s.end()
	}
	if s.b[s.i] != '{' {
		return "", "", items, s.errorf("want an object, got %s", s.what())
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return "", "", items, s.end()
	}
	for {
		key, esc, err := s.str()
		if err != nil {
			return "", "", items, err
		}
		if err := s.colon(); err != nil {
			return "", "", items, err
		}
		switch field(key, esc) {
		case fieldKind:
			if err := s.stringField(&kind); err != nil {
				return "", "", items, fmt.Errorf("kind: %w", err)
			}
		case fieldAPIVersion:
			if err := s.stringField(&apiVersion); err != nil {
				return "", "", items, fmt.Errorf("apiVersion: %w", err)
			}
		case fieldItems:
			if items, err = s.items(items[:0]); err != nil {
				return "", "", items, fmt.Errorf("items: %w", err)
			}
		default:
			if err := s.value(1); err != nil {
				return "", "", items, err
			}
		}
		s.ws()
		if s.i >= len(s.b) {
			return "", "", items, s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return kind, apiVersion, items, s.end()
		default:
			return "", "", items, s.errorf("want , or } after an object member, got %s", s.what())
		}
	}
}

const (
	fieldOther = iota
	fieldKind
	fieldAPIVersion
	fieldItems
)

// field says which field of the EventList a key names, matching as
// encoding/json does: exactly, else case-insensitively.
func field(key []byte, esc bool) int {
	switch string(key) {
	case "kind":
		return fieldKind
	case "apiVersion":
		return fieldAPIVersion
	case "items":
		return fieldItems
	}
	if !esc && ascii(key) {
		if len(key) > len("apiVersion") { // most keys: cheaper than folding
			return fieldOther
		}
		switch {
		case asciiEqualFold(key, "kind"):
			return fieldKind
		case asciiEqualFold(key, "apiVersion"):
			return fieldAPIVersion
		case asciiEqualFold(key, "items"):
			return fieldItems
		}
		return fieldOther
	}
	// Escapes and non-ASCII keys (the Kelvin sign folds to k) are rare:
	// let encoding/json match them, so that its folding is the rule.
	var m struct {
		Kind       *int `json:"kind"`
		APIVersion *int `json:"apiVersion"`
		Items      *int `json:"items"`
	}
	obj := make([]byte, 0, len(key)+5)
	obj = append(append(append(obj, `{"`...), key...), `":0}`...)
	if json.Unmarshal(obj, &m) != nil {
		return fieldOther // cannot happen: key is a valid string
	}
	switch {
	case m.Kind != nil:
		return fieldKind
	case m.APIVersion != nil:
		return fieldAPIVersion
	case m.Items != nil:
		return fieldItems
	}
	return fieldOther
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d := s[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// splitter scans b; i is the offset of the next byte.
type splitter struct {
	b     []byte
	i     int
	stack []byte // the open containers of value: '{' or '['
}

type splitError struct {
	off int
	msg string
}

func (e *splitError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }

func (s *splitter) errorf(format string, args ...any) error {
	return &splitError{off: s.i, msg: fmt.Sprintf(format, args...)}
}

func (s *splitter) eof() error { return s.errorf("unexpected end of JSON input") }

// what names the byte at i for an error.
func (s *splitter) what() string {
	if s.i >= len(s.b) {
		return "end of input"
	}
	return fmt.Sprintf("%q", s.b[s.i])
}

// end checks that only white space follows the top-level value.
func (s *splitter) end() error {
	s.ws()
	if s.i < len(s.b) {
		return s.errorf("invalid character %s after the top-level value", s.what())
	}
	return nil
}

func (s *splitter) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *splitter) colon() error {
	s.ws()
	if s.i >= len(s.b) {
		return s.eof()
	}
	if s.b[s.i] != ':' {
		return s.errorf("want : after an object key, got %s", s.what())
	}
	s.i++
	s.ws()
	return nil
}

// plain marks the bytes a string holds as they are: not '"', not '\\',
// not a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string at i and returns its bytes between the quotes, and
// whether it holds escapes. Like encoding/json it takes any byte of 0x20 or
// more, valid UTF-8 or not.
func (s *splitter) str() (raw []byte, esc bool, err error) {
	if s.i >= len(s.b) {
		return nil, false, s.eof()
	}
	if s.b[s.i] != '"' {
		return nil, false, s.errorf("want a string, got %s", s.what())
	}
	s.i++
	start := s.i
	b := s.b
	for i := s.i; i < len(b); {
		if i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8 // most of a body is long strings: skip them 8 bytes at a time
			continue
		}
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = len(b)
				return nil, false, s.eof()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) {
						s.i = len(b)
						return nil, false, s.eof()
					}
					if !isHex(b[k]) {
						s.i = k
						return nil, false, s.errorf("invalid character %s in \\u escape", s.what())
					}
				}
				i += 6
			default:
				s.i = i + 1
				return nil, false, s.errorf("invalid escape %s in a string", s.what())
			}
		default:
			s.i = i
			return nil, false, s.errorf("control character %s in a string", s.what())
		}
	}
	s.i = len(b)
	return nil, false, s.eof()
}

// special8 reports whether any of the 8 bytes in x is '"', '\\' or a
// control character, with the exact "has a zero byte" and "has a byte less
// than n" tests of Hacker's Delight (6-1).
func special8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lo * '"')
	bs := x ^ (lo * '\\')
	return ((q-lo)&^q|(bs-lo)&^bs|(x-lo*0x20)&^x)&hi != 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number scans the number at i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *splitter) number() error {
	b := s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		s.i = i
		return s.eof()
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		s.i = i
		return s.errorf("invalid character %s in a number", s.what())
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) {
			s.i = i
			return s.eof()
		}
		if !isDigit(b[i]) {
			s.i = i
			return s.errorf("invalid character %s after a decimal point", s.what())
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			s.i = i
			return s.eof()
		}
		if !isDigit(b[i]) {
			s.i = i
			return s.errorf("invalid character %s in an exponent", s.what())
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return nil
}

// literal scans true, false or null at i.
func (s *splitter) literal() error {
	var want string
	switch s.b[s.i] {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	default:
		want = "null"
	}
	for k := range len(want) {
		if s.i >= len(s.b) {
			return s.eof()
		}
		if s.b[s.i] != want[k] {
			return s.errorf("invalid character %s in literal %s", s.what(), want)
		}
		s.i++
	}
	return nil
}

// scalar scans the string, number or literal at i.
func (s *splitter) scalar() error {
	if s.i >= len(s.b) {
		return s.eof()
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't' || c == 'f' || c == 'n':
		return s.literal()
	case c == '-' || isDigit(c):
		return s.number()
	}
	return s.errorf("invalid character %s looking for the beginning of a value", s.what())
}

// value skips the value at i, within depth open containers, without
// recursion: nesting is bounded only by maxDepth.
func (s *splitter) value(depth int) error {
	s.stack = s.stack[:0]
	for {
		// A value begins at i.
		if s.i >= len(s.b) {
			return s.eof()
		}
		switch s.b[s.i] {
		case '{', '[':
			open := s.b[s.i]
			if depth+len(s.stack)+1 > maxDepth {
				return s.errorf("exceeded max depth")
			}
			s.stack = append(s.stack, open)
			s.i++
			s.ws()
			if s.i >= len(s.b) {
				return s.eof()
			}
			if c := s.b[s.i]; c == '}' && open == '{' || c == ']' && open == '[' {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				break
			}
			if open == '{' {
				if _, _, err := s.str(); err != nil {
					return err
				}
				if err := s.colon(); err != nil {
					return err
				}
			}
			continue
		default:
			if err := s.scalar(); err != nil {
				return err
			}
		}
		// A value ended: close containers until one has another element.
		for {
			if len(s.stack) == 0 {
				return nil
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.eof()
			}
			top := s.stack[len(s.stack)-1]
			c := s.b[s.i]
			if c == ',' {
				s.i++
				s.ws()
				if top == '{' {
					if _, _, err := s.str(); err != nil {
						return err
					}
					if err := s.colon(); err != nil {
						return err
					}
				}
				break
			}
			if c == '}' && top == '{' || c == ']' && top == '[' {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if top == '{' {
				return s.errorf("invalid character %s after an object member", s.what())
			}
			return s.errorf("invalid character %s after an array element", s.what())
		}
	}
}

// stringField decodes the value at i into *v as encoding/json decodes into
// a string field: a string replaces it, null leaves it.
func (s *splitter) stringField(v *string) error {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '"' {
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		if !esc && ascii(raw) {
			*v = string(raw)
			return nil
		}
		// Escapes, and invalid UTF-8 that becomes U+FFFD: rare.
		return json.Unmarshal(s.b[start:s.i], v)
	}
	if err := s.value(1); err != nil {
		return err
	}
	if string(s.b[start:s.i]) == "null" {
		return nil
	}
	return &splitError{off: start, msg: "want a string"}
}

// items appends the bytes of each element of the array at i to items; a
// null is no items.
func (s *splitter) items(items [][]byte) ([][]byte, error) {
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		if err := s.value(1); err != nil {
			return nil, err
		}
		if string(s.b[start:s.i]) == "null" {
			return nil, nil
		}
		return nil, &splitError{off: start, msg: "want an array of events"}
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return items, nil
	}
	for {
		at := s.i
		if err := s.value(2); err != nil {
			return nil, err
		}
		items = append(items, s.b[at:s.i])
		s.ws()
		if s.i >= len(s.b) {
			return nil, s.eof()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return items, nil
		default:
			return nil, s.errorf("invalid character %s after an array element", s.what())
		}
	}
}
