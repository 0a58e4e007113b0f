package version

import (
	"regexp"
	"strings"
)

// composerVersion is a Packagist version normalised as Composer's
// VersionParser::normalize does ("v1.2" → "1.2.0.0", "1.0RC1" →
// "1.0.0.0-RC1") and ordered by PHP's version_compare, as Composer's
// Comparator does. Our own: no Go library does either.
type composerVersion struct {
	norm   string
	branch bool     // "dev-<name>": orders only against itself
	tokens []string // version_compare's canonical parts
}

const composerModifier = `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?`

var (
	composerClassical = regexp.MustCompile(`(?i)^v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + composerModifier + `$`)
	composerDate      = regexp.MustCompile(`(?i)^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})` + composerModifier + `$`)
	composerDevSuffix = regexp.MustCompile(`(?i)^(.*?)[.-]?dev$`)
	composerBranch    = regexp.MustCompile(`(?i)^v?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?$`)
	composerAlias     = regexp.MustCompile(`^([^,\s]+) +as +([^,\s]+)$`)
	composerFlag      = regexp.MustCompile(`(?i)@(?:stable|RC|beta|alpha|dev)$`)
	composerBuild     = regexp.MustCompile(`^([^,\s+]+)\+[^\s]+$`)
)

func parseComposer(s string) (parsed, string) {
	n, ok := composerNormalize(s)
	if !ok {
		return nil, "not a Composer version"
	}
	v := composerVersion{norm: n, branch: strings.HasPrefix(n, "dev-")}
	v.tokens = phpCanonical(n)
	return v, ""
}

// composerNormalize is composer/semver's VersionParser::normalize.
func composerNormalize(version string) (string, bool) {
	version = strings.TrimSpace(version)
	if m := composerAlias.FindStringSubmatch(version); m != nil {
		version = m[1]
	}
	if loc := composerFlag.FindStringIndex(version); loc != nil {
		version = version[:loc[0]]
	}
	switch version {
	case "master", "trunk", "default":
		version = "dev-" + version
	}
	if len(version) >= 4 && strings.EqualFold(version[:4], "dev-") {
		return "dev-" + version[4:], true
	}
	if m := composerBuild.FindStringSubmatch(version); m != nil {
		version = m[1]
	}
	var m []string
	var index int
	if m = composerClassical.FindStringSubmatch(version); m != nil {
		version = m[1] + or(m[2], ".0") + or(m[3], ".0") + or(m[4], ".0")
		index = 5
	} else if m = composerDate.FindStringSubmatch(version); m != nil {
		version = strings.Map(func(r rune) rune {
			if r < '0' || r > '9' {
				return '.'
			}
			return r
		}, m[1])
		index = 2
	}
	if m != nil {
		if m[index] != "" {
			if m[index] == "stable" {
				return version, true
			}
			version += "-" + composerStability(m[index]) + strings.TrimLeft(m[index+1], ".-")
		}
		if m[index+2] != "" {
			version += "-dev"
		}
		return version, true
	}
	if m := composerDevSuffix.FindStringSubmatch(version); m != nil {
		if n := composerNormalizeBranch(m[1]); !strings.Contains(n, "dev-") {
			return n, true
		}
	}
	return "", false
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func composerStability(s string) string {
	s = strings.ToLower(s)
	switch s {
	case "a":
		return "alpha"
	case "b":
		return "beta"
	case "p", "pl":
		return "patch"
	case "rc":
		return "RC"
	}
	return s
}

func composerNormalizeBranch(name string) string {
	name = strings.TrimSpace(name)
	m := composerBranch.FindStringSubmatch(name)
	if m == nil {
		return "dev-" + name
	}
	var b strings.Builder
	for i := 1; i < 5; i++ {
		if m[i] == "" {
			b.WriteString(".x")
			continue
		}
		b.WriteString(strings.NewReplacer("*", "x", "X", "x").Replace(m[i]))
	}
	return strings.ReplaceAll(b.String(), "x", "9999999") + "-dev"
}

// phpCanonical is php_canonicalize_version split on '.': '-', '_', '+'
// and other non-alphanumerics separate, and so does every change between
// digits and non-digits.
func phpCanonical(s string) []string {
	var toks []string
	start := -1
	for i := 0; i <= len(s); i++ {
		boundary := i == len(s) || !isAlnum(s[i])
		if !boundary && start >= 0 && isDigit(s[i]) != isDigit(s[i-1]) {
			boundary = true
		}
		if boundary && start >= 0 {
			toks = append(toks, s[start:i])
			start = -1
		}
		if i < len(s) && isAlnum(s[i]) && start < 0 {
			start = i
		}
	}
	return toks
}

// phpSpecial is compare_special_version_forms' order; a number counts as
// "#", anything unknown as -1, below "dev".
func phpSpecial(t string) int {
	if isDigit(t[0]) {
		return 4
	}
	for _, f := range [...]struct {
		name  string
		order int
	}{{"dev", 0}, {"alpha", 1}, {"a", 1}, {"beta", 2}, {"b", 2}, {"RC", 3}, {"rc", 3}, {"#", 4}, {"pl", 5}, {"p", 5}} {
		if strings.HasPrefix(t, f.name) {
			return f.order
		}
	}
	return -1
}

func (v composerVersion) compare(o parsed) int {
	w := o.(composerVersion)
	if v.branch && w.branch {
		// Composer never orders two branches; equal only when identical.
		return strings.Compare(v.norm, w.norm)
	}
	return phpVersionCompare(v.tokens, w.tokens)
}

// phpVersionCompare is PHP's php_version_compare over canonical parts.
func phpVersionCompare(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		var c int
		if isDigit(x[0]) && isDigit(y[0]) {
			c = cmpDigits(x, y)
		} else {
			c = cmpInt(phpSpecial(x), phpSpecial(y))
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case len(a) > len(b):
		if isDigit(a[len(b)][0]) {
			return 1
		}
		return cmpInt(phpSpecial(a[len(b)]), 4)
	case len(b) > len(a):
		if isDigit(b[len(a)][0]) {
			return -1
		}
		return cmpInt(4, phpSpecial(b[len(a)]))
	}
	return 0
}
