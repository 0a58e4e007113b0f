package version

import "math"

// apkVersion is an Alpine package version, ordered as apk-tools'
// src/version.c orders it (Gentoo style: digits, a letter, _suffixes,
// -rN). Our own: knqyf263/go-apk-version puts "1.0_alpha" after "1.0".
type apkVersion string

// apk token types, in apk-tools' order: a version whose next token has
// the higher type sorts first once all shared tokens are equal.
const (
	apkInvalid = iota - 1
	apkDigitOrZero
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkRevisionNo
	apkEnd
)

var (
	apkPreSuffixes  = [...]string{"alpha", "beta", "pre", "rc"}
	apkPostSuffixes = [...]string{"cvs", "svn", "git", "hg", "p"}
)

func parseApk(s string) (parsed, string) {
	if s == "" {
		return nil, "empty version"
	}
	t, rest := apkDigit, s
	for t != apkEnd && t != apkInvalid {
		_, t, rest = apkToken(t, rest)
	}
	if t == apkInvalid {
		return nil, "not an apk version (digits, a letter, _suffixes, -rN) at " + quote(rest)
	}
	return apkVersion(s), ""
}

// apkNext is apk-tools' next_token: what the next token is, from the
// separator that starts it.
func apkNext(t int, s string) (int, string) {
	n := apkInvalid
	switch {
	case s == "":
		n = apkEnd
	case (t == apkDigit || t == apkDigitOrZero) && 'a' <= s[0] && s[0] <= 'z':
		n = apkLetter
	case t == apkLetter && isDigit(s[0]):
		n = apkDigit
	case t == apkSuffix && isDigit(s[0]):
		n = apkSuffixNo
	default:
		switch s[0] {
		case '.':
			n = apkDigitOrZero
		case '_':
			n = apkSuffix
		case '-':
			if len(s) > 1 && s[1] == 'r' {
				n = apkRevisionNo
				s = s[1:]
			}
		}
		s = s[1:]
	}
	if n < t && !(n == apkDigitOrZero && t == apkDigit ||
		n == apkSuffix && t == apkSuffixNo ||
		n == apkDigit && t == apkLetter) {
		n = apkInvalid
	}
	return n, s
}

// apkToken is apk-tools' get_token: the value of the token of type t at
// the start of s, the next token's type and what follows.
func apkToken(t int, s string) (int64, int, string) {
	if s == "" {
		return 0, apkEnd, s
	}
	var v int64
	i, nt := 0, apkInvalid
	switch t {
	case apkDigitOrZero:
		if s[0] == '0' {
			// Leading zeros: all but the last become a negative
			// token, so "1.02" < "1.2" and "1.001" < "1.01".
			for i+1 < len(s) && s[i+1] == '0' {
				i++
			}
			nt = apkDigit
			v = -int64(i)
			break
		}
		fallthrough
	case apkDigit, apkSuffixNo, apkRevisionNo:
		for i < len(s) && isDigit(s[i]) {
			if v < (math.MaxInt64-9)/10 {
				v = v*10 + int64(s[i]-'0')
			}
			i++
		}
	case apkLetter:
		v = int64(s[0])
		i = 1
	case apkSuffix:
		found := false
		for k, suf := range apkPreSuffixes {
			if len(s) >= len(suf) && s[:len(suf)] == suf {
				v, i, found = int64(k-len(apkPreSuffixes)), len(suf), true
				break
			}
		}
		if !found {
			for k, suf := range apkPostSuffixes {
				if len(s) >= len(suf) && s[:len(suf)] == suf {
					v, i, found = int64(k), len(suf), true
					break
				}
			}
		}
		if !found {
			return -1, apkInvalid, s
		}
	default:
		return -1, apkInvalid, s
	}
	s = s[i:]
	switch {
	case s == "":
		t = apkEnd
	case nt != apkInvalid:
		t = nt
	default:
		t, s = apkNext(t, s)
	}
	return v, t, s
}

// compare is apk-tools' apk_version_compare for two valid versions.
func (v apkVersion) compare(o parsed) int {
	a, b := string(v), string(o.(apkVersion))
	at, bt := apkDigit, apkDigit
	var av, bv int64
	for at == bt && at != apkEnd && at != apkInvalid && av == bv {
		av, at, a = apkToken(at, a)
		bv, bt, b = apkToken(bt, b)
	}
	if av != bv {
		return cmpInt(av, bv)
	}
	if at == bt {
		return 0
	}
	// Equal so far: the longer version is newer unless what it has more
	// of is a pre-release suffix.
	if at == apkSuffix {
		if x, _, _ := apkToken(at, a); x < 0 {
			return -1
		}
	}
	if bt == apkSuffix {
		if x, _, _ := apkToken(bt, b); x < 0 {
			return 1
		}
	}
	return cmpInt(bt, at)
}
