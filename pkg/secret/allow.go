package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"unsafe"
)

// unsafeString views b as a string for read-only comparisons that must
// not allocate; b must not change while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s []byte) float64 {
	if len(s) == 0 {
		return 0
	}
	var counts [256]int
	for _, b := range s {
		counts[b]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// placeholderWords mark documentation values and templates, matched
// case-insensitively anywhere in a candidate.
var placeholderWords = [...]string{
	"example", "xxxx", "****", "....", "${", "{{", "$(", "%(", "<", ">",
	"placeholder", "changeme", "change_me", "change-me", "replace_me", "replaceme",
	"your_", "your-", "yourtoken", "yoursecret", "yourpassword", "dummy", "sample",
	"redacted", "notreal", "not_real", "not-a-real", "fake_", "fakekey", "insert_",
	"0123456789", "123456789", "abcdefghij", "abcd1234", "1234abcd",
}

// isPlaceholder reports whether a candidate is a documentation value, a
// template or a mask: it contains a placeholder word, or one character
// makes up most of it (AKIAXXXXXXXXXXXXXXXX, ghp_000…).
func isPlaceholder(s []byte) bool {
	var low [256]byte
	l := low[:0]
	if len(s) <= len(low) {
		for _, b := range s {
			l = append(l, lower(b))
		}
	} else {
		l = bytes.ToLower(s)
	}
	for _, w := range placeholderWords {
		if strings.Contains(unsafeString(l), w) {
			return true
		}
	}
	var counts [256]int
	top := 0
	for _, b := range l {
		counts[b]++
		top = max(top, counts[b])
	}
	return len(l) >= 8 && top*10 >= len(l)*6
}

// testKeys are the SHA-256 digests of credentials published in vendors'
// documentation as test values (kept as digests so that the source of
// mamori itself holds none of them).
var testKeys = map[string]string{
	"2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326": "Stripe docs secret key",
	"b1471f544ceeea31333bde7e1ecbaad6eac0d4a749412ad29bd66ef895b81c6b": "Stripe docs publishable key",
	"f2d6ca16515033e5dce14eba840b979d27b5cbae24bb3e5bf484339667f86397": "Stripe docs secret key",
	"5895b89c8fb33402a5bfc23aad5aaf863fbb438a51e1a0bb02b0ce618c8fdf9d": "Stripe docs publishable key",
	"7f75367e7881255134e1375e723d1dea8ad5f6a4fdb79d938df1f1754a830606": "jwt.io sample token",
	"c794fa6d20c64efb9adf980ae93af472a1679775862d421ffe55d4a57fad5b3e": "jwt.io sample token (admin)",
}

// knownTestKey reports whether s is a documented test credential.
func knownTestKey(s []byte) bool {
	sum := sha256.Sum256(s)
	_, ok := testKeys[hex.EncodeToString(sum[:])]
	return ok
}

// genericValue judges a value assigned to a secret-named key: it must
// look like a credential, not code, a reference or prose.
func genericValue(s []byte) bool {
	if len(s) < 8 {
		return false
	}
	switch s[0] {
	case '$', '%', '@', '#', '&', '*', '/', '.':
		// $VAR, %(name)s, @secret_ref, #anchor, /path, ./file
		return false
	}
	// Code: a function call or member access such as getPassword(),
	// os.environ["X"], config.db.password, process.env.TOKEN.
	if bytes.ContainsAny(s, "()[]") {
		return false
	}
	if identifierPath(s) {
		return false
	}
	var lowerc, upperc, digit, other bool
	uppers := 0
	for _, b := range s {
		switch {
		case 'a' <= b && b <= 'z':
			lowerc = true
		case 'A' <= b && b <= 'Z':
			upperc = true
			uppers++
		case '0' <= b && b <= '9':
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, ok := range []bool{lowerc, upperc, digit, other} {
		if ok {
			classes++
		}
	}
	// A word or words (snake_case, kebab-case, camelCase) is a name, not a
	// credential; credentials mix classes and have entropy.
	if !digit && !(upperc && lowerc && other) {
		// Without digits, only random mixed case passes: camelCase
		// names have a capital per word, random text about every other
		// letter.
		if !(upperc && lowerc && len(s) >= 16 && uppers*4 >= len(s)) {
			return false
		}
	}
	h := entropy(s)
	if len(s) < 16 {
		// Short values must look made by a password generator: both
		// cases and a digit or symbol. Hashed CSS classes and ids
		// (css-ix0a6u7) have one case.
		return upperc && lowerc && classes >= 3 && h >= 2.8
	}
	return classes >= 2 && h >= 3.5
}

// identifierPath reports whether s is a dotted path of identifiers
// (settings.db.password, self.token): code, not a value.
func identifierPath(s []byte) bool {
	dots := 0
	start := true
	for _, b := range s {
		switch {
		case b == '.':
			if start {
				return false
			}
			dots++
			start = true
		case b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z':
			start = false
		case '0' <= b && b <= '9':
			if start {
				return false
			}
		default:
			return false
		}
	}
	return dots > 0 && !start
}

// notSecretSuffixes end key names that hold something about a secret, not
// the secret: its file, its name, its length, its hash.
var notSecretSuffixes = [...]string{
	"name", "names", "ref", "file", "path", "dir", "url", "uri", "endpoint", "id", "type", "kind",
	"hash", "digest", "sha", "sha1", "sha256", "md5", "checksum", "fingerprint", "length", "len", "size",
	"count", "env", "var", "header", "field", "format", "policy", "provider", "mode", "version",
	"enabled", "required", "expiry", "expires", "ttl", "timeout", "prefix", "pattern", "regex",
	"selector", "template", "label", "keyref", "source", "store", "manager",
	"arn", "issuer", "audience", "izer",
}

// secretKey reports whether a key name matched by a generic rule names a
// secret itself rather than something about one (password_file,
// secretName, token_ttl).
func secretKey(key []byte) bool {
	for len(key) > 0 && (key[len(key)-1] == '.' || key[len(key)-1] == '_' || key[len(key)-1] == '-') {
		key = key[:len(key)-1]
	}
	var buf [64]byte
	k := buf[:0]
	if len(key) > len(buf) {
		key = key[len(key)-len(buf):]
	}
	for _, b := range key {
		k = append(k, lower(b))
	}
	for _, s := range notSecretSuffixes {
		if strings.HasSuffix(unsafeString(k), s) {
			return false
		}
	}
	return true
}
