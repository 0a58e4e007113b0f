package version

import (
	"strconv"
	"strings"
)

// dpkgVersion is a Debian version, epoch:upstream-revision, ordered as
// dpkg's verrevcmp orders it. Our own: knqyf263/go-deb-version accepts
// characters dpkg rejects ('_', non-ASCII letters) and overflows on long
// digit runs.
type dpkgVersion struct {
	epoch    int64
	upstream string
	revision string
}

// parseDpkg follows dpkg's parseversion (lib/dpkg/parsehelp.c).
func parseDpkg(s string) (parsed, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "empty version"
	}
	if strings.ContainsAny(s, " \t\n\r\v\f") {
		return nil, "version contains a space"
	}
	var v dpkgVersion
	if i := strings.IndexByte(s, ':'); i >= 0 {
		e := s[:i]
		if e == "" {
			return nil, "empty epoch"
		}
		if !allDigits(e) {
			return nil, "epoch is not a number"
		}
		n, err := strconv.ParseInt(e, 10, 32)
		if err != nil {
			return nil, "epoch is too big"
		}
		v.epoch = n
		s = s[i+1:]
		if s == "" {
			return nil, "nothing after the epoch's colon"
		}
	}
	v.upstream = s
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		v.upstream, v.revision = s[:i], s[i+1:]
	}
	if v.upstream == "" {
		return nil, "empty upstream version"
	}
	if !isDigit(v.upstream[0]) {
		return nil, "upstream version does not start with a digit"
	}
	for i := 0; i < len(v.upstream); i++ {
		if c := v.upstream[i]; !isAlnum(c) && !strings.ContainsRune(".-+~:", rune(c)) {
			return nil, "invalid character " + strconv.QuoteRune(rune(c)) + " in upstream version"
		}
	}
	for i := 0; i < len(v.revision); i++ {
		if c := v.revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return nil, "invalid character " + strconv.QuoteRune(rune(c)) + " in revision"
		}
	}
	return v, ""
}

func (v dpkgVersion) compare(o parsed) int {
	w := o.(dpkgVersion)
	if c := cmpInt(v.epoch, w.epoch); c != 0 {
		return c
	}
	if c := verrevcmp(v.upstream, w.upstream); c != 0 {
		return c
	}
	return verrevcmp(v.revision, w.revision)
}

// dpkgOrder is dpkg's order(): digits 0, letters themselves, '~' before
// everything (even the end of the string), other characters after letters.
func dpkgOrder(c int) int {
	switch {
	case c < 0: // end of string
		return 0
	case isDigit(byte(c)):
		return 0
	case isAlpha(byte(c)):
		return c
	case c == '~':
		return -1
	}
	return c + 256
}

// verrevcmp is dpkg's lib/dpkg/version.c verrevcmp.
func verrevcmp(a, b string) int {
	at := func(s string, i int) int {
		if i < len(s) {
			return int(s[i])
		}
		return -1
	}
	digitAt := func(s string, i int) bool { return i < len(s) && isDigit(s[i]) }
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(at(a, i)), dpkgOrder(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for digitAt(a, i) && digitAt(b, j) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if digitAt(a, i) {
			return 1
		}
		if digitAt(b, j) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}
