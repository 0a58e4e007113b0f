// Package version compares package versions exactly as each ecosystem's own
// tools do: dpkg for Debian and Ubuntu, apk-tools for Alpine and Wolfi, rpm
// for the RPM distributions, PEP 440 for PyPI, SemVer 2.0 for npm,
// crates.io and OSV SEMVER ranges, Go module versions, Maven's
// ComparableVersion, Gem::Version, NuGet.Versioning and Composer.
//
// Ecosystems are named as OSV spells them; a release suffix ("Debian:12",
// "Alpine:v3.20", "Ubuntu:22.04:LTS") is ignored.
package version

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownEcosystem is returned for an ecosystem this package cannot order.
var ErrUnknownEcosystem = errors.New("unknown ecosystem")

// Error reports a version that does not parse in its ecosystem.
type Error struct {
	Ecosystem string
	Version   string
	Reason    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s version %q: %s", e.Ecosystem, e.Version, e.Reason)
}

// scheme is a version ordering shared by one or more ecosystems.
type scheme uint8

const (
	schemeNone scheme = iota
	schemeDpkg
	schemeApk
	schemeRPM
	schemePEP440
	schemeSemVer  // SemVer 2.0, strict
	schemeSemVerV // SemVer 2.0, a leading "v" tolerated (OSV SEMVER, npm)
	schemeGo
	schemeMaven
	schemeGem
	schemeNuGet
	schemeComposer
)

// schemes maps OSV ecosystem names (before any ':') to their ordering.
var schemes = map[string]scheme{
	"Debian":       schemeDpkg,
	"Ubuntu":       schemeDpkg,
	"Alpine":       schemeApk,
	"Wolfi":        schemeApk,
	"Chainguard":   schemeApk,
	"Red Hat":      schemeRPM,
	"Rocky Linux":  schemeRPM,
	"AlmaLinux":    schemeRPM,
	"Amazon Linux": schemeRPM,
	"openSUSE":     schemeRPM,
	"SUSE":         schemeRPM,
	"Mageia":       schemeRPM,
	"openEuler":    schemeRPM,
	"PyPI":         schemePEP440,
	"npm":          schemeSemVerV,
	"SEMVER":       schemeSemVerV,
	"crates.io":    schemeSemVer,
	"Go":           schemeGo,
	"Maven":        schemeMaven,
	"RubyGems":     schemeGem,
	"NuGet":        schemeNuGet,
	"Packagist":    schemeComposer,
}

// Base returns the ecosystem without its release suffix: "Debian:12" →
// "Debian", "Red Hat:enterprise_linux:9::appstream" → "Red Hat".
func Base(ecosystem string) string {
	if i := strings.IndexByte(ecosystem, ':'); i >= 0 {
		return ecosystem[:i]
	}
	return ecosystem
}

func lookup(ecosystem string) (scheme, error) {
	s, ok := schemes[Base(ecosystem)]
	if !ok {
		return schemeNone, fmt.Errorf("%w %q", ErrUnknownEcosystem, ecosystem)
	}
	return s, nil
}

// Supported reports whether Compare can order versions of the ecosystem.
func Supported(ecosystem string) bool {
	_, err := lookup(ecosystem)
	return err == nil
}

// parsed is one scheme's parsed version; compare is only ever called with
// another value of the same concrete type.
type parsed interface {
	compare(parsed) int
}

// Version is a parsed version of one ecosystem. The zero Version sorts
// before every parsed one.
type Version struct {
	scheme scheme
	raw    string
	p      parsed
}

// Parse parses v as a version of ecosystem.
func Parse(ecosystem, v string) (Version, error) {
	s, err := lookup(ecosystem)
	if err != nil {
		return Version{}, err
	}
	p, reason := parse(s, v)
	if reason != "" {
		return Version{}, &Error{Ecosystem: ecosystem, Version: v, Reason: reason}
	}
	return Version{scheme: s, raw: v, p: p}, nil
}

func parse(s scheme, v string) (parsed, string) {
	switch s {
	case schemeDpkg:
		return parseDpkg(v)
	case schemeApk:
		return parseApk(v)
	case schemeRPM:
		return parseRPM(v)
	case schemePEP440:
		return parsePEP440(v)
	case schemeSemVer:
		return parseSemVer(v, false)
	case schemeSemVerV:
		return parseSemVer(v, true)
	case schemeGo:
		return parseGo(v)
	case schemeMaven:
		return parseMaven(v)
	case schemeGem:
		return parseGem(v)
	case schemeNuGet:
		return parseNuGet(v)
	case schemeComposer:
		return parseComposer(v)
	}
	return nil, "no ordering for this ecosystem"
}

// String returns the version as it was given to Parse.
func (v Version) String() string { return v.raw }

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w.
// Versions of different orderings (or the zero Version) sort by ordering
// first, so that Compare stays a total order.
func (v Version) Compare(w Version) int {
	if v.scheme != w.scheme || v.p == nil || w.p == nil {
		switch {
		case v.scheme < w.scheme:
			return -1
		case v.scheme > w.scheme:
			return 1
		case v.p == nil && w.p == nil:
			return 0
		case v.p == nil:
			return -1
		case w.p == nil:
			return 1
		}
	}
	return sign(v.p.compare(w.p))
}

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b in
// ecosystem. It fails, naming the ecosystem and the version, when either
// version does not parse, and for an unknown ecosystem.
func Compare(ecosystem, a, b string) (int, error) {
	va, err := Parse(ecosystem, a)
	if err != nil {
		return 0, err
	}
	vb, err := Parse(ecosystem, b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// Valid returns nil if v is a version of ecosystem, or an *Error saying why
// not.
func Valid(ecosystem, v string) error {
	_, err := Parse(ecosystem, v)
	return err
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func cmpInt[T cmp.Ordered](a, b T) int { return cmp.Compare(a, b) }

// cmpDigits compares two runs of ASCII digits by value, whatever their
// length and leading zeros.
func cmpDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
