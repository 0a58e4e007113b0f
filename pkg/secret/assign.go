package secret

import "bytes"

// maxGenericValue bounds a generic rule's value, as its pattern does.
const maxGenericValue = 200

// maxKey bounds the name characters on either side of a generic keyword.
const maxKey = 64

func keyChar(b byte) bool {
	return b == '_' || b == '.' || b == '-' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// valueChar reports whether b continues a generic value. Brackets end
// one: a credential rarely holds them, code always does (cfg.Token},
// Rule{).
func valueChar(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', ';', ',', '(', ')', '{', '}', '[', ']', '<', '>':
		return false
	}
	return true
}

// escapedBreak reports whether data[j:] starts with a line break or tab
// written as an escape in a string literal ("a: b\nc: d"), which ends a
// value as the real one would.
func escapedBreak(data []byte, j int) bool {
	return data[j] == '\\' && j+1 < len(data) && (data[j+1] == 'n' || data[j+1] == 'r' || data[j+1] == 't')
}

// assignment is the generic rules' matcher, what their pattern says done
// by hand around one keyword occurrence (the pattern with its leading
// unbounded key class costs the regexp engine a pass per byte): the key
// is the run of name characters around the keyword, then an optional
// closing quote, an assignment (:=, =>, =, :), an optional opening quote,
// and the value up to a space, quote, ';' or ','.
func (e *Engine) assignment(r *Rule, data []byte, ks, ke int) (Match, bool) {
	if !wordEnds(data, ke) {
		return Match{}, false
	}
	// Keys are short: a run of name characters longer than maxKey around
	// the keyword is text (base64, minified code), and bounding the walk
	// keeps a long run with many keywords linear.
	for n := 0; ks > 0 && keyChar(data[ks-1]); n++ {
		if n == maxKey {
			return Match{}, false
		}
		ks--
	}
	for n := 0; ke < len(data) && keyChar(data[ke]); n++ {
		if n == maxKey {
			return Match{}, false
		}
		ke++
	}
	if ks > 0 && !keyBoundary(data[ks-1]) {
		// Inside a value: arn:…:secret:prod/db, ghcr.io/x/external-secrets:v1.
		return Match{}, false
	}
	j := ke
	if j < len(data) && (data[j] == '"' || data[j] == '\'') {
		j++
	}
	for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
		j++
	}
	switch {
	case bytes.HasPrefix(data[j:], []byte(":=")), bytes.HasPrefix(data[j:], []byte("=>")):
		j += 2
	case j < len(data) && (data[j] == '=' || data[j] == ':'):
		j++
	default:
		return Match{}, false
	}
	for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
		j++
	}
	if j < len(data) && (data[j] == '"' || data[j] == '\'' || data[j] == '`') {
		j++
	}
	s := j
	for j < len(data) && j-s < maxGenericValue && valueChar(data[j]) && !escapedBreak(data, j) {
		j++
	}
	if j-s < 8 || !secretKey(data[ks:ke]) || !e.accept(r, data[s:j]) {
		return Match{}, false
	}
	return Match{Rule: r, Start: s, End: j}, true
}

// wordEnds reports whether the secret word whose keyword ends at ke ends
// there too (after its usual completions: passw-ord, token-s), so that the
// key names a secret: db_password, apiToken, SECRET_KEY, secretkey; not
// tokenbucket, secretary or passwordless. A camelCase capital, a digit or
// a separator ends a word; so does the end of the text.
func wordEnds(data []byte, ke int) bool {
	for _, tail := range [...]string{"ord", "d", "s"} {
		if hasFoldPrefix(data[ke:], tail) && (ke+len(tail) >= len(data) || !isLowerASCII(data[ke+len(tail)])) {
			ke += len(tail)
			break
		}
	}
	if ke >= len(data) || !isLowerASCII(data[ke]) {
		return true
	}
	for _, next := range [...]string{"key", "token", "value", "pass", "pwd"} {
		if hasFoldPrefix(data[ke:], next) {
			return true
		}
	}
	return false
}

func isLowerASCII(b byte) bool { return 'a' <= b && b <= 'z' }

// hasFoldPrefix reports whether b starts with the lower-case ASCII word w,
// in any case.
func hasFoldPrefix(b []byte, w string) bool {
	if len(b) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if lower(b[i]) != w[i] {
			return false
		}
	}
	return true
}

// keyBoundary reports whether b may come just before a key: the start of
// a line or word, a quote, an opening bracket, a separator, a shell $ or
// a query string's ? and &. Not ':', '/' or '@', which put the "key"
// inside a value.
func keyBoundary(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '{', '[', '(', ',', ';', '$', '?', '&', '|', '-', '*', '#', '!', '<', '>', '=':
		return true
	}
	return false
}
