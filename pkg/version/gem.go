package version

import "strings"

// gemVersion is a Gem::Version reduced to its canonical segments. Our own:
// aquasecurity/go-gem-version predates RubyGems' treatment of '-'.
type gemVersion []gemSeg

type gemSeg struct {
	num   string // digits without leading zeros, when str is ""
	str   string
	isStr bool
}

// parseGem follows Gem::Version.new: ANCHORED_VERSION_PATTERN, blank
// means "0", and '-' starts a pre-release ("1.0.0-beta.1" is
// "1.0.0.beta.1", "1.0.0-1" is "1.0.0.pre.1").
func parseGem(s string) (parsed, string) {
	s = strings.Trim(s, " \t\n\r\v\f")
	if s == "" {
		s = "0"
	}
	if reason := gemSyntax(s); reason != "" {
		return nil, reason
	}
	var segs []gemSeg
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			segs = append(segs, gemSeg{num: strings.TrimLeft(s[i:j], "0")})
			i = j
		case isAlpha(c):
			j := i
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			segs = append(segs, gemSeg{str: s[i:j], isStr: true})
			i = j
		case c == '-' && i+1 < len(s) && isDigit(s[i+1]):
			segs = append(segs, gemSeg{str: "pre", isStr: true})
			i++
		default:
			i++
		}
	}
	return canonicalGem(segs), ""
}

func gemSyntax(s string) string {
	// [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?
	if !isDigit(s[0]) {
		return "does not start with a digit"
	}
	release, pre, hasPre := strings.Cut(s, "-")
	for i, p := range strings.Split(release, ".") {
		if p == "" {
			return "empty segment"
		}
		for j := 0; j < len(p); j++ {
			if !isAlnum(p[j]) {
				return "invalid character " + quote(p[j:j+1])
			}
			if i == 0 && !isDigit(p[j]) {
				return "first segment is not a number"
			}
		}
	}
	if hasPre {
		for _, p := range strings.Split(pre, ".") {
			if p == "" {
				return "empty pre-release segment"
			}
			for j := 0; j < len(p); j++ {
				if !isAlnum(p[j]) && p[j] != '-' {
					return "invalid character " + quote(p[j:j+1])
				}
			}
		}
	}
	return ""
}

// canonicalGem is Gem::Version#canonical_segments: trailing zeros dropped
// from the numeric release and from the pre-release part; a "pre" that
// only marks a lettered pre-release ("1.0.0.pre.beta") is dropped too.
func canonicalGem(segs []gemSeg) gemVersion {
	split := len(segs)
	for i, s := range segs {
		if s.isStr {
			split = i
			break
		}
	}
	trim := func(p []gemSeg) []gemSeg {
		for len(p) > 0 && !p[len(p)-1].isStr && p[len(p)-1].num == "" {
			p = p[:len(p)-1]
		}
		return p
	}
	out := append([]gemSeg(nil), trim(segs[:split])...)
	pre := trim(segs[split:])
	for i, s := range pre {
		if s.isStr && s.str == "pre" && i+1 < len(pre) && pre[i+1].isStr {
			continue
		}
		out = append(out, s)
	}
	return out
}

// compare is Gem::Version#<=>: missing segments are 0, a string sorts
// before a number.
func (v gemVersion) compare(o parsed) int {
	w := o.(gemVersion)
	zero := gemSeg{}
	for i := 0; i < len(v) || i < len(w); i++ {
		a, b := zero, zero
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		switch {
		case a.isStr && !b.isStr:
			return -1
		case !a.isStr && b.isStr:
			return 1
		case a.isStr:
			if c := strings.Compare(a.str, b.str); c != 0 {
				return c
			}
		default:
			if c := cmpDigits(a.num, b.num); c != 0 {
				return c
			}
		}
	}
	return 0
}
