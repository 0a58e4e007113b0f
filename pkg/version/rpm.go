package version

import "strings"

// rpmVersion is an RPM [epoch:]version[-release], ordered as rpm orders it.
// Our own: knqyf263/go-rpm-version splits the release at the first '-'
// where rpm takes the last, and has no parse errors.
type rpmVersion struct {
	epoch   string // digits, leading zeros trimmed
	version string
	release string
}

// parseRPM follows rpm's parseEVR: an epoch only when the string starts
// with digits and a colon, the release after the last '-'.
func parseRPM(s string) (parsed, string) {
	if s == "" {
		return nil, "empty version"
	}
	if strings.ContainsAny(s, " \t\n\r\v\f") {
		return nil, "version contains a space"
	}
	var v rpmVersion
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == ':' {
		v.epoch = strings.TrimLeft(s[:i], "0")
		s = s[i+1:]
	}
	v.version = s
	if j := strings.LastIndexByte(s, '-'); j >= 0 {
		v.version, v.release = s[:j], s[j+1:]
		if v.release == "" {
			return nil, "empty release after '-'"
		}
	}
	if v.version == "" {
		return nil, "empty version"
	}
	if strings.ContainsRune(v.version, ':') {
		return nil, "':' in version (an epoch must be a number)"
	}
	return v, ""
}

func (v rpmVersion) compare(o parsed) int {
	w := o.(rpmVersion)
	if c := cmpDigits(v.epoch, w.epoch); c != 0 {
		return c
	}
	if c := rpmvercmp(v.version, w.version); c != 0 {
		return c
	}
	return rpmvercmp(v.release, w.release)
}

// rpmvercmp is rpm's rpmio/rpmvercmp.c, including '~' (sorts before
// anything, even the end) and '^' (sorts after the end, before anything
// else).
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	sep := func(c byte) bool { return !isAlnum(c) && c != '~' && c != '^' }
	for i < len(a) || j < len(b) {
		for i < len(a) && sep(a[i]) {
			i++
		}
		for j < len(b) && sep(b[j]) {
			j++
		}
		ac, bc := byte(0), byte(0)
		if i < len(a) {
			ac = a[i]
		}
		if j < len(b) {
			bc = b[j]
		}
		if ac == '~' || bc == '~' {
			if ac != '~' {
				return 1
			}
			if bc != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ac == '^' || bc == '^' {
			if ac == 0 {
				return -1
			}
			if bc == 0 {
				return 1
			}
			if ac != '^' {
				return 1
			}
			if bc != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if ac == 0 || bc == 0 {
			break
		}
		class := isAlpha
		isnum := isDigit(ac)
		if isnum {
			class = isDigit
		}
		ei, ej := i, j
		for ei < len(a) && class(a[ei]) {
			ei++
		}
		for ej < len(b) && class(b[ej]) {
			ej++
		}
		if ej == j { // b's segment is of the other kind: numbers are newer
			if isnum {
				return 1
			}
			return -1
		}
		sa, sb := a[i:ei], b[j:ej]
		var c int
		if isnum {
			c = cmpDigits(sa, sb)
		} else {
			c = strings.Compare(sa, sb)
		}
		if c != 0 {
			return c
		}
		i, j = ei, ej
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i < len(a):
		return 1
	}
	return -1
}
