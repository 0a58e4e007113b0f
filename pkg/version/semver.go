package version

import (
	"strings"

	"golang.org/x/mod/semver"
)

// semVer is a SemVer 2.0 version (https://semver.org). Our own: the
// libraries at hand either accept loose forms ("1.2", leading zeros) or
// order pre-release identifiers with overflow on long numbers.
type semVer struct {
	major, minor, patch string // digits, no leading zeros
	pre                 []string
}

// parseSemVer parses a SemVer 2.0 version; vOK tolerates a leading "v" as
// OSV SEMVER ranges and npm do.
func parseSemVer(s string, vOK bool) (parsed, string) {
	v, reason := splitSemVer(s, vOK)
	if reason != "" {
		return nil, reason
	}
	return v, ""
}

func splitSemVer(s string, vOK bool) (semVer, string) {
	if s == "" {
		return semVer{}, "empty version"
	}
	if vOK && s[0] == 'v' {
		s = s[1:]
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if reason := semVerIdents(s[i+1:], false); reason != "" {
			return semVer{}, "build metadata: " + reason
		}
		s = s[:i]
	}
	var v semVer
	core := s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		core = s[:i]
		pre := s[i+1:]
		if reason := semVerIdents(pre, true); reason != "" {
			return semVer{}, "pre-release: " + reason
		}
		v.pre = strings.Split(pre, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return semVer{}, "want MAJOR.MINOR.PATCH"
	}
	for _, p := range parts {
		if !allDigits(p) {
			return semVer{}, "version core part " + quote(p) + " is not a number"
		}
		if len(p) > 1 && p[0] == '0' {
			return semVer{}, "leading zero in " + quote(p)
		}
	}
	v.major, v.minor, v.patch = parts[0], parts[1], parts[2]
	return v, ""
}

// semVerIdents checks dot-separated identifiers [0-9A-Za-z-]+; numeric
// pre-release identifiers must not have leading zeros.
func semVerIdents(s string, pre bool) string {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return "empty identifier"
		}
		for i := 0; i < len(id); i++ {
			if !isAlnum(id[i]) && id[i] != '-' {
				return "invalid character in " + quote(id)
			}
		}
		if pre && len(id) > 1 && id[0] == '0' && allDigits(id) {
			return "leading zero in " + quote(id)
		}
	}
	return ""
}

func (v semVer) compare(o parsed) int {
	w := o.(semVer)
	for _, c := range [...]int{cmpDigits(v.major, w.major), cmpDigits(v.minor, w.minor), cmpDigits(v.patch, w.patch)} {
		if c != 0 {
			return c
		}
	}
	return comparePre(v.pre, w.pre)
}

// comparePre is SemVer 2.0 §11: a version without pre-release sorts after
// one with; identifiers compare numerically when both are numeric, numeric
// before alphanumeric, ASCII otherwise; a longer list wins a tie.
func comparePre(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		xn, yn := allDigits(x), allDigits(y)
		var c int
		switch {
		case xn && yn:
			c = cmpDigits(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

// goVersion is a Go module version as OSV writes it (no "v"), ordered by
// golang.org/x/mod/semver: pseudo-versions are pre-releases, and
// "+incompatible" is build metadata.
type goVersion string

func parseGo(s string) (parsed, string) {
	if s == "" {
		return nil, "empty version"
	}
	if s[0] == 'v' {
		return nil, "OSV Go versions have no leading \"v\""
	}
	v := "v" + s
	if !semver.IsValid(v) {
		return nil, "not a semantic version"
	}
	// x/mod/semver accepts the shorthands "v1" and "v1.2"; module versions
	// are always complete.
	core := strings.SplitN(strings.SplitN(s, "-", 2)[0], "+", 2)[0]
	if strings.Count(core, ".") != 2 {
		return nil, "want MAJOR.MINOR.PATCH"
	}
	if b := semver.Build(v); b != "" && b != "+incompatible" {
		return nil, "build suffix other than +incompatible"
	}
	return goVersion(v), ""
}

func (v goVersion) compare(o parsed) int { return semver.Compare(string(v), string(o.(goVersion))) }

func quote(s string) string { return "\"" + s + "\"" }
