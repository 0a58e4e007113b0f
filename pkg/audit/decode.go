package audit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// DecodeError is a syntax or type error in an event's JSON, at a byte
// offset of the input.
type DecodeError struct {
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

// DecodeEvent decodes one audit.k8s.io/v1 Event from data into e, with the
// result encoding/json.Unmarshal would give (a differential fuzz test holds
// it to that), several times faster: a single pass over the bytes, no
// reflection.
//
// The strings of e share one copy of data (one allocation, not one per
// field): a string kept from the event keeps that copy alive. The request
// and response bodies are copied too, so data may be reused once
// DecodeEvent returns. Like encoding/json, DecodeEvent decodes into what e
// holds already (give it a fresh or zeroed Event) and a JSON null leaves a
// string, struct or timestamp as it is.
func DecodeEvent(data []byte, e *Event) error {
	_, err := DecodeEventKind(data, e)
	return err
}

// DecodeEventKind is DecodeEvent that also returns the event's "kind"
// ("Event", or "EventList" for a list, which it does not decode: the
// caller reads its items), "" when the object has none.
func DecodeEventKind(data []byte, e *Event) (kind string, err error) {
	d := decoder{b: data}
	if !validJSON(data) {
		// Find the error's offset and text with a full scan, as
		// encoding/json checks the whole input before it decodes.
		return "", d.syntaxError()
	}
	d.s = string(data)
	d.skipWS()
	if d.peek() == 'n' {
		d.i += 4 // null: nothing to do
		return "", nil
	}
	if d.peek() != '{' {
		return "", d.typeError("an event object")
	}
	err = d.object(func(key []byte, raw bool) error {
		if raw && string(key) == "kind" {
			if d.peek() == '"' {
				k, err := d.str()
				kind = k
				return err
			}
		}
		return d.eventField(e, key)
	})
	return kind, err
}

// decoder scans b, which is known to be valid JSON: the decoding functions
// check types, not syntax.
type decoder struct {
	b     []byte
	s     string // b, as one string that unescaped strings are cut from
	i     int
	buf   []byte
	arena []byte
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether any of the 8 bytes in x is a quote, a backslash
// or a control character, or, with high, a non-ASCII byte.
func special(x uint64, high bool) bool {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	m := ((q - ones) &^ q) | ((bs - ones) &^ bs) | ((x - ones*0x20) &^ x)
	if high {
		m |= x
	}
	return m&highs != 0
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) skipWS() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) typeError(want string) error {
	what := "value"
	switch d.peek() {
	case '"':
		what = "string"
	case '{':
		what = "object"
	case '[':
		what = "array"
	case 't', 'f':
		what = "bool"
	case 'n':
		what = "null"
	default:
		what = "number"
	}
	return &DecodeError{Offset: d.i, Msg: fmt.Sprintf("want %s, got a %s", want, what)}
}

// object calls field for each key of the object at d.i with d.i at its
// value; field must consume the value. raw tells whether the key had no
// escapes (so key is exactly as written).
func (d *decoder) object(field func(key []byte, raw bool) error) error {
	d.i++ // {
	d.skipWS()
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		d.skipWS()
		key, raw := d.keyBytes()
		d.skipWS()
		d.i++ // :
		d.skipWS()
		if err := field(key, raw); err != nil {
			return err
		}
		d.skipWS()
		if d.b[d.i] == '}' {
			d.i++
			return nil
		}
		d.i++ // ,
	}
}

// keyBytes returns the unescaped key at d.i, valid until the next call.
func (d *decoder) keyBytes() ([]byte, bool) {
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		if j+8 <= len(d.b) && !special(binary.LittleEndian.Uint64(d.b[j:]), true) {
			j += 7
			continue
		}
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return d.b[start:j], true
		}
		if c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	d.buf = d.unquote(d.buf[:0])
	return d.buf, false
}

// str returns the string at d.i (which must be one).
func (d *decoder) str() (string, error) {
	if d.peek() != '"' {
		return "", d.typeError("a string")
	}
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		if j+8 <= len(d.b) && !special(binary.LittleEndian.Uint64(d.b[j:]), true) {
			j += 7
			continue
		}
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			return d.s[start:j], nil
		}
		if c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	// Escaped strings are unescaped into one arena, never changed once
	// written, that the strings share: one allocation for all of them.
	if d.arena == nil {
		d.arena = make([]byte, 0, 512)
	}
	n := len(d.arena)
	d.arena = d.unquote(d.arena)
	if len(d.arena) == n {
		return "", nil
	}
	return unsafe.String(&d.arena[n], len(d.arena)-n), nil
}

// strInto decodes a string into *p; null leaves it as it is.
func (d *decoder) strInto(p *string) error {
	if d.peek() == 'n' {
		d.i += 4
		return nil
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	*p = s
	return nil
}

// unquote appends the string at d.i to buf, unescaped as encoding/json
// does: bad UTF-8 and lone surrogates become U+FFFD.
func (d *decoder) unquote(buf []byte) []byte {
	b := d.b
	i := d.i + 1
	for {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return buf
		case c == '\\':
			switch b[i+1] {
			case '"', '\\', '/':
				buf = append(buf, b[i+1])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(b[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(b[i+2:])); dec != unicode.ReplacementChar {
							buf = utf8.AppendRune(buf, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				buf = utf8.AppendRune(buf, r)
				continue
			}
			i += 2
		case c < utf8.RuneSelf:
			j := i + 1
			for b[j] >= 0x20 && b[j] < utf8.RuneSelf && b[j] != '"' && b[j] != '\\' {
				j++
			}
			buf = append(buf, b[i:j]...)
			i = j
		default:
			r, n := utf8.DecodeRune(b[i:])
			buf = utf8.AppendRune(buf, r)
			i += n
		}
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skip passes over the value at d.i.
func (d *decoder) skip() {
	depth := 0
	for {
		switch c := d.b[d.i]; c {
		case '"':
			d.skipString()
		case '{', '[':
			depth++
			d.i++
		case '}', ']':
			depth--
			d.i++
		case 't', 'n':
			d.i += 4
		case 'f':
			d.i += 5
		case ' ', '\t', '\n', '\r', ',', ':':
			d.i++
			continue
		default: // number
			d.i++
			for d.i < len(d.b) {
				c := d.b[d.i]
				if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
					break
				}
				d.i++
			}
		}
		if depth == 0 {
			return
		}
	}
}

func (d *decoder) skipString() {
	i := d.i + 1
	for {
		if i+8 <= len(d.b) && !special(binary.LittleEndian.Uint64(d.b[i:]), false) {
			i += 8
			continue
		}
		switch d.b[i] {
		case '"':
			d.i = i + 1
			return
		case '\\':
			i += 2
		default:
			i++
		}
	}
}

// raw returns a copy of the value at d.i, as json.RawMessage keeps it.
func (d *decoder) raw() json.RawMessage {
	start := d.i
	d.skip()
	return append(json.RawMessage(nil), d.b[start:d.i]...)
}

// fieldName matches key against a struct's JSON names as encoding/json
// does: exactly, or else case-insensitively (with its Unicode folding).
func fieldName(key []byte, buf *[64]byte) []byte {
	out := buf[:0]
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(key[i:])
		out = utf8.AppendRune(out, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return out
}

// fold maps a key that is not exactly a field name to the field name it
// folds to, or "" for none.
func fold(key []byte, names []string) string {
	if len(key) > 64 {
		return ""
	}
	var buf [64]byte
	f := fieldName(key, &buf)
	for _, n := range names {
		if len(n) != len(f) {
			continue
		}
		eq := true
		for j := 0; j < len(n); j++ {
			c := n[j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != f[j] {
				eq = false
				break
			}
		}
		if eq {
			return n
		}
	}
	return ""
}

var eventNames = []string{"level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser", "sourceIPs",
	"userAgent", "objectRef", "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp",
	"stageTimestamp", "annotations"}

func (d *decoder) eventField(e *Event, key []byte) error {
	name := string(key)
	switch name {
	case "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser", "sourceIPs",
		"userAgent", "objectRef", "responseStatus", "requestObject", "responseObject", "requestReceivedTimestamp",
		"stageTimestamp", "annotations":
	default:
		name = fold(key, eventNames)
	}
	switch name {
	case "level":
		return d.strInto(&e.Level)
	case "auditID":
		return d.strInto(&e.AuditID)
	case "stage":
		return d.strInto(&e.Stage)
	case "requestURI":
		return d.strInto(&e.RequestURI)
	case "verb":
		return d.strInto(&e.Verb)
	case "userAgent":
		return d.strInto(&e.UserAgent)
	case "user":
		return d.user(&e.User)
	case "impersonatedUser":
		if d.peek() == 'n' {
			d.i += 4
			e.ImpersonatedUser = nil
			return nil
		}
		if e.ImpersonatedUser == nil {
			if d.peek() != '{' {
				return d.typeError("an object")
			}
			e.ImpersonatedUser = new(UserInfo)
		}
		return d.user(e.ImpersonatedUser)
	case "sourceIPs":
		return d.strings(&e.SourceIPs)
	case "objectRef":
		return d.objectRef(&e.ObjectRef)
	case "responseStatus":
		return d.status(&e.ResponseStatus)
	case "requestObject":
		e.RequestObject = d.raw()
		return nil
	case "responseObject":
		e.ResponseObject = d.raw()
		return nil
	case "requestReceivedTimestamp":
		return d.time(&e.RequestReceivedTimestamp)
	case "stageTimestamp":
		return d.time(&e.StageTimestamp)
	case "annotations":
		return d.stringMap(&e.Annotations)
	}
	d.skip()
	return nil
}

var userNames = []string{"username", "uid", "groups", "extra"}

func (d *decoder) user(u *UserInfo) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		return nil
	case '{':
	default:
		return d.typeError("an object")
	}
	return d.object(func(key []byte, _ bool) error {
		name := string(key)
		switch name {
		case "username", "uid", "groups", "extra":
		default:
			name = fold(key, userNames)
		}
		switch name {
		case "username":
			return d.strInto(&u.Username)
		case "uid":
			return d.strInto(&u.UID)
		case "groups":
			return d.strings(&u.Groups)
		case "extra":
			return d.extra(&u.Extra)
		}
		d.skip()
		return nil
	})
}

var refNames = []string{"resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"}

func (d *decoder) objectRef(p **ObjectReference) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		*p = nil
		return nil
	case '{':
	default:
		return d.typeError("an object")
	}
	if *p == nil {
		*p = new(ObjectReference)
	}
	r := *p
	return d.object(func(key []byte, _ bool) error {
		name := string(key)
		switch name {
		case "resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource":
		default:
			name = fold(key, refNames)
		}
		switch name {
		case "resource":
			return d.strInto(&r.Resource)
		case "namespace":
			return d.strInto(&r.Namespace)
		case "name":
			return d.strInto(&r.Name)
		case "uid":
			return d.strInto(&r.UID)
		case "apiGroup":
			return d.strInto(&r.APIGroup)
		case "apiVersion":
			return d.strInto(&r.APIVersion)
		case "resourceVersion":
			return d.strInto(&r.ResourceVersion)
		case "subresource":
			return d.strInto(&r.Subresource)
		}
		d.skip()
		return nil
	})
}

var statusNames = []string{"status", "message", "reason", "code"}

func (d *decoder) status(p **Status) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		*p = nil
		return nil
	case '{':
	default:
		return d.typeError("an object")
	}
	if *p == nil {
		*p = new(Status)
	}
	s := *p
	return d.object(func(key []byte, _ bool) error {
		name := string(key)
		switch name {
		case "status", "message", "reason", "code":
		default:
			name = fold(key, statusNames)
		}
		switch name {
		case "status":
			return d.strInto(&s.Status)
		case "message":
			return d.strInto(&s.Message)
		case "reason":
			return d.strInto(&s.Reason)
		case "code":
			return d.int32(&s.Code)
		}
		d.skip()
		return nil
	})
}

func (d *decoder) int32(p *int32) error {
	c := d.peek()
	if c == 'n' {
		d.i += 4
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		return d.typeError("a number")
	}
	start := d.i
	d.skip()
	num := d.b[start:d.i]
	// The common case: a short run of digits.
	if len(num) <= 9 {
		n, ok := int32(0), true
		for _, c := range num {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			n = n*10 + int32(c-'0')
		}
		if ok {
			*p = n
			return nil
		}
	}
	n, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		return &DecodeError{Offset: start, Msg: fmt.Sprintf("number %s is not an int32", num)}
	}
	*p = int32(n)
	return nil
}

// strings decodes an array of strings into *p the way encoding/json does:
// into the slice p holds, null elements leaving what is there.
func (d *decoder) strings(p *[]string) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		*p = nil
		return nil
	case '[':
	default:
		return d.typeError("an array")
	}
	d.i++
	s := *p
	n := 0
	d.skipWS()
	if d.peek() == ']' {
		d.i++
		*p = []string{}
		return nil
	}
	for {
		d.skipWS()
		if n >= cap(s) {
			s = append(s[:cap(s)], "")
		}
		if n >= len(s) {
			s = s[:n+1]
		}
		if err := d.strInto(&s[n]); err != nil {
			return err
		}
		n++
		d.skipWS()
		c := d.b[d.i]
		d.i++
		if c == ']' {
			break
		}
	}
	*p = s[:n]
	return nil
}

func (d *decoder) stringMap(p *map[string]string) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		*p = nil
		return nil
	case '{':
	default:
		return d.typeError("an object")
	}
	if *p == nil {
		*p = make(map[string]string, 4)
	}
	m := *p
	return d.object(func(key []byte, raw bool) error {
		k := d.mapKey(key, raw)
		var v string
		if err := d.strInto(&v); err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}

func (d *decoder) extra(p *map[string][]string) error {
	switch d.peek() {
	case 'n':
		d.i += 4
		*p = nil
		return nil
	case '{':
	default:
		return d.typeError("an object")
	}
	if *p == nil {
		*p = make(map[string][]string)
	}
	m := *p
	return d.object(func(key []byte, raw bool) error {
		k := d.mapKey(key, raw)
		var v []string
		if err := d.strings(&v); err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}

// mapKey makes a string of a key: a cut of d.s when it was not escaped.
func (d *decoder) mapKey(key []byte, raw bool) string {
	if raw {
		end := d.i
		// The key ends just before the colon (and any space) before d.i.
		for d.b[end-1] != '"' {
			end--
		}
		return d.s[end-1-len(key) : end-1]
	}
	return string(key)
}

// time decodes an RFC 3339 timestamp as time.Time.UnmarshalJSON does,
// the common shapes without its allocations.
func (d *decoder) time(p *time.Time) error {
	c := d.peek()
	if c == 'n' {
		d.i += 4
		return nil
	}
	if c != '"' {
		return d.typeError("a timestamp string")
	}
	start := d.i
	d.skipString()
	q := d.b[start:d.i]
	if t, ok := parseTime(q[1 : len(q)-1]); ok {
		*p = t
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(q); err != nil {
		return &DecodeError{Offset: start, Msg: err.Error()}
	}
	*p = t
	return nil
}

// parseTime parses "2006-01-02T15:04:05[.999999999](Z|±07:00)"; ok is
// false for anything else, which time.Time.UnmarshalJSON then judges.
func parseTime(s []byte) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	ok := true
	num := func(b []byte, lo, hi int) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(c-'0')
		}
		if n < lo || n > hi {
			ok = false
		}
		return n
	}
	year := num(s[0:4], 0, 9999)
	month := num(s[5:7], 1, 12)
	day := num(s[8:10], 1, 31)
	hour := num(s[11:13], 0, 23)
	minute := num(s[14:16], 0, 59)
	sec := num(s[17:19], 0, 59)
	if !ok || day > daysIn(month, year) {
		return time.Time{}, false
	}
	s = s[19:]
	nsec := 0
	if s[0] == '.' {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			nsec = nsec*10 + int(s[n]-'0')
			n++
		}
		digits := n - 1
		if digits == 0 || digits > 9 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
		s = s[n:]
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if len(s) == 1 && s[0] == 'Z' {
		return t, true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return time.Time{}, false
	}
	hh, mm := num(s[1:3], 0, 23), num(s[4:6], 0, 59)
	if !ok {
		return time.Time{}, false
	}
	off := (hh*60 + mm) * 60
	if s[0] == '-' {
		off = -off
	}
	t = t.Add(-time.Duration(off) * time.Second)
	// As time does: the local zone when its offset is the one given.
	if l := t.In(time.Local); zoneOffset(l) == off {
		return l, true
	}
	return t.In(time.FixedZone("", off)), true
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// syntaxError finds where data stops being valid JSON.
func (d *decoder) syntaxError() error {
	var v any
	err := json.Unmarshal(d.b, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		off := int(se.Offset)
		if strings.HasPrefix(se.Error(), "invalid character") {
			off-- // json counts the bad byte in; point at it
		}
		return &DecodeError{Offset: off, Msg: se.Error()}
	}
	if err == nil {
		return &DecodeError{Offset: 0, Msg: "invalid JSON"}
	}
	return &DecodeError{Offset: 0, Msg: err.Error()}
}

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// validJSON reports whether b is one JSON value with only space around it.
func validJSON(b []byte) bool {
	v := validator{b: b}
	v.ws()
	if !v.value(0) {
		return false
	}
	v.ws()
	return v.i == len(b)
}

type validator struct {
	b []byte
	i int
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '"':
		return v.str()
	case c == '{':
		if depth >= maxDepth {
			return false
		}
		v.i++
		v.ws()
		if v.i < len(v.b) && v.b[v.i] == '}' {
			v.i++
			return true
		}
		for {
			v.ws()
			if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
				return false
			}
			v.ws()
			if v.i >= len(v.b) || v.b[v.i] != ':' {
				return false
			}
			v.i++
			v.ws()
			if !v.value(depth + 1) {
				return false
			}
			v.ws()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ',':
				v.i++
			case '}':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == '[':
		if depth >= maxDepth {
			return false
		}
		v.i++
		v.ws()
		if v.i < len(v.b) && v.b[v.i] == ']' {
			v.i++
			return true
		}
		for {
			v.ws()
			if !v.value(depth + 1) {
				return false
			}
			v.ws()
			if v.i >= len(v.b) {
				return false
			}
			switch v.b[v.i] {
			case ',':
				v.i++
			case ']':
				v.i++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return v.num()
	}
	return false
}

func (v *validator) lit(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

func (v *validator) digits() int {
	n := 0
	for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
		v.i++
		n++
	}
	return n
}

func (v *validator) num() bool {
	if v.b[v.i] == '-' {
		v.i++
	}
	if v.i >= len(v.b) {
		return false
	}
	if v.b[v.i] == '0' {
		v.i++
	} else if v.digits() == 0 {
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

// plain marks the bytes a string may hold as they are.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

func (v *validator) str() bool {
	b := v.b
	i := v.i + 1
	for {
		for i+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[i:]), false) {
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '"':
			v.i = i + 1
			return true
		case '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:]) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			return false // a control character
		}
	}
}
