package files

import (
	"bytes"
	"path"
	"strings"
)

// Ignore holds the rules of one .gitignore file (or of .git/info/exclude),
// compiled once.
type Ignore struct {
	// dir is the slash path the rules are relative to, "" for the top.
	dir      string
	patterns []pattern
}

// pattern is one compiled line, split the way git's dir.c splits it so
// that matching takes exactly git's paths (prefix compare, then wildmatch
// on the rest, which matters for "**" right after a literal).
type pattern struct {
	text    string // without "!", the trailing "/", and the leading "/" of anchored patterns
	prefix  int    // length of the literal start of text (git's nowildcardlen)
	line    int
	negate  bool // "!pattern": re-include
	dirOnly bool // "pattern/": directories only
	// basename: no "/" other than a trailing one, so the pattern matches
	// the last path element at any depth (git's PATTERN_FLAG_NODIR).
	basename bool
	// endsWith: "*literal", matched as a suffix.
	endsWith bool
	// suffix is literal text every match ends with: a cheap rejection
	// before wildmatch.
	suffix string
}

// ParseGitignore compiles the rules of a gitignore file. dir is the slash
// path, relative to the top of the tree the Matcher is used on, of the
// directory the file is in ("" for the top); the rules only apply below it.
//
// It follows git (gitignore(5), dir.c): a UTF-8 BOM is skipped; lines are
// split at "\n" with a "\r" before it dropped; blank lines and lines
// starting with "#" are skipped; trailing spaces are dropped unless
// escaped with "\"; "\#" and "\!" match a literal "#" or "!". Git reads
// patterns as C strings, so a NUL byte ends a line's pattern. Patterns git
// accepts but can never match (an unclosed "[") are kept and never match,
// as in git: there is no syntax error in a gitignore file.
func ParseGitignore(dir string, data []byte) *Ignore {
	ig := &Ignore{dir: path.Clean(strings.Trim(dir, "/"))}
	if ig.dir == "." {
		ig.dir = ""
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for n := 1; len(data) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		if p, ok := compile(trimTrailingSpaces(line), n); ok {
			ig.patterns = append(ig.patterns, p)
		}
	}
	return ig
}

// Dir returns the slash path the rules apply below ("" for the top).
func (ig *Ignore) Dir() string { return ig.dir }

// Len returns the number of rules.
func (ig *Ignore) Len() int { return len(ig.patterns) }

// trimTrailingSpaces drops trailing spaces that are not escaped, as git's
// trim_trailing_spaces does (spaces only, not tabs).
func trimTrailingSpaces(b []byte) []byte {
	lastSpace := -1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ':
			if lastSpace < 0 {
				lastSpace = i
			}
		case '\\':
			i++
			if i == len(b) {
				return b
			}
			lastSpace = -1
		default:
			lastSpace = -1
		}
	}
	if lastSpace >= 0 {
		return b[:lastSpace]
	}
	return b
}

// compile mirrors git's parse_path_pattern. A line that is empty after
// trimming never matches anything, so it is dropped.
func compile(b []byte, line int) (pattern, bool) {
	p := pattern{line: line}
	if len(b) > 0 && b[0] == '!' {
		p.negate = true
		b = b[1:]
	}
	if n := len(b); n > 0 && b[n-1] == '/' {
		p.dirOnly = true
		b = b[:n-1]
	}
	if len(b) == 0 {
		return p, false
	}
	p.basename = bytes.IndexByte(b, '/') < 0
	p.prefix = simpleLength(b)
	if b[0] == '*' && simpleLength(b[1:]) == len(b)-1 {
		p.endsWith = true
	}
	if !p.basename && b[0] == '/' {
		// match_pathname drops the anchoring slash before matching.
		b = b[1:]
		p.prefix--
	}
	p.text = string(b)
	p.suffix = literalSuffix(p.text)
	return p, true
}

// literalSuffix returns the literal text after the last wildcard, which
// the end of every match must equal. Patterns with classes or escapes
// get none (their literal ends are not simply the text after a special),
// and a leading "/" is dropped because "**/" may match nothing.
func literalSuffix(pat string) string {
	if strings.ContainsAny(pat, "[\\") {
		return ""
	}
	i := strings.LastIndexAny(pat, "*?")
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(pat[i+1:], "/")
}

// simpleLength is the length of the literal start of a pattern: up to the
// first of git's glob specials.
func simpleLength(b []byte) int {
	for i, c := range b {
		if isGlobSpecial(c) {
			return i
		}
	}
	return len(b)
}

func isGlobSpecial(c byte) bool { return c == '*' || c == '?' || c == '[' || c == '\\' }

// match reports whether the pattern matches rel, a slash path relative to
// the pattern's directory, whose last element starts at base.
func (p *pattern) match(rel string, base int, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	if p.basename {
		name := rel[base:]
		switch {
		case p.prefix == len(p.text):
			return name == p.text
		case p.endsWith:
			return strings.HasSuffix(name, p.text[1:])
		case !strings.HasPrefix(name, p.text[:p.prefix]) || !strings.HasSuffix(name, p.suffix):
			return false
		}
		return dowild(p.text, name, false) == wmMatch
	}
	// match_pathname: the literal prefix first, then wildmatch on the rest
	// as a pattern of its own.
	if p.prefix > 0 {
		if p.prefix > len(rel) || rel[:p.prefix] != p.text[:p.prefix] {
			return false
		}
		if p.prefix == len(p.text) {
			return len(rel) == p.prefix
		}
	}
	if !strings.HasSuffix(rel, p.suffix) {
		return false
	}
	return dowild(p.text[p.prefix:], rel[p.prefix:], true) == wmMatch
}

// Matcher stacks the Ignore rules that apply in a tree: the rules of
// deeper directories and of later arguments win, as git gives a
// directory's own .gitignore precedence over its parents' and
// .git/info/exclude the lowest precedence of all.
type Matcher struct {
	ignores []*Ignore
}

// NewMatcher stacks ignores, lowest precedence first: .git/info/exclude,
// then each .gitignore from the top down.
func NewMatcher(ignores ...*Ignore) *Matcher {
	return &Matcher{ignores: ignores}
}

// Ignored reports whether git ignores rel, a slash path relative to the
// top of the tree. As in git, a path is ignored when any directory above
// it is, whatever "!" rules say about the path itself.
func (m *Matcher) Ignored(rel string, isDir bool) bool {
	rel = strings.Trim(rel, "/")
	if rel == "" || rel == "." {
		return false
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && excluded(m.ignores, rel[:i], true) {
			return true
		}
	}
	return excluded(m.ignores, rel, isDir)
}

// excluded decides rel by itself, its parent directories aside: the last
// matching rule of the deepest Ignore with one decides.
func excluded(ignores []*Ignore, rel string, isDir bool) bool {
	base := strings.LastIndexByte(rel, '/') + 1
	for i := len(ignores) - 1; i >= 0; i-- {
		ig := ignores[i]
		sub := rel
		if ig.dir != "" {
			if len(rel) <= len(ig.dir) || rel[len(ig.dir)] != '/' || rel[:len(ig.dir)] != ig.dir {
				continue
			}
			sub = rel[len(ig.dir)+1:]
		}
		b := base - (len(rel) - len(sub))
		for j := len(ig.patterns) - 1; j >= 0; j-- {
			if p := &ig.patterns[j]; p.match(sub, b, isDir) {
				return !p.negate
			}
		}
	}
	return false
}

// Results of dowild, as in git's wildmatch.h.
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
)

// dowild is git's wildmatch (wildmatch.c) without WM_CASEFOLD. With
// pathname (WM_PATHNAME), "*", "?" and classes do not match "/" and "**"
// between slashes matches any number of directories. Each recursive call
// takes the rest of the pattern as a pattern of its own, as the C code
// does, because whether "**" is "leading" depends on where it starts.
func dowild(pat, text string, pathname bool) int {
	ti := 0
	for pi := 0; pi < len(pat); pi, ti = pi+1, ti+1 {
		pch := pat[pi]
		if ti >= len(text) && pch != '*' {
			return wmAbortAll
		}
		var tch byte
		if ti < len(text) {
			tch = text[ti]
		}
		switch pch {
		case '\\':
			// A trailing backslash matches nothing.
			pi++
			if pi >= len(pat) || tch != pat[pi] {
				return wmNoMatch
			}
		default:
			if tch != pch {
				return wmNoMatch
			}
		case '?':
			if pathname && tch == '/' {
				return wmNoMatch
			}
		case '*':
			matchSlash := !pathname
			pi++
			if pi < len(pat) && pat[pi] == '*' {
				prev := pi - 2
				for pi++; pi < len(pat) && pat[pi] == '*'; pi++ {
				}
				switch {
				case !pathname:
					matchSlash = true
				case (prev < 0 || pat[prev] == '/') &&
					(pi == len(pat) || pat[pi] == '/' || (pat[pi] == '\\' && pi+1 < len(pat) && pat[pi+1] == '/')):
					// "**/" may match no directory at all.
					if pi < len(pat) && pat[pi] == '/' && dowild(pat[pi+1:], text[ti:], pathname) == wmMatch {
						return wmMatch
					}
					matchSlash = true
				default:
					matchSlash = false
				}
			}
			if pi == len(pat) {
				// A trailing "**" matches everything, a trailing "*" only
				// what has no more slashes.
				if !matchSlash && strings.IndexByte(text[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && pat[pi] == '/' {
				// One "*" then "/" matches up to the next slash, which the
				// loop then consumes.
				k := strings.IndexByte(text[ti:], '/')
				if k < 0 {
					return wmNoMatch
				}
				ti += k
				continue
			}
			for ti < len(text) {
				// A literal after the star: skip to its first occurrence.
				if c := pat[pi]; !isGlobSpecial(c) {
					for ti < len(text) && (matchSlash || text[ti] != '/') && text[ti] != c {
						ti++
					}
					if ti >= len(text) || text[ti] != c {
						return wmNoMatch
					}
				}
				if m := dowild(pat[pi:], text[ti:], pathname); m != wmNoMatch {
					if !matchSlash || m != wmAbortToStarStar {
						return m
					}
				} else if !matchSlash && text[ti] == '/' {
					return wmAbortToStarStar
				}
				ti++
			}
			return wmAbortAll
		case '[':
			pi++
			pch = at(pat, pi)
			if pch == '^' {
				pch = '!'
			}
			negated := pch == '!'
			if negated {
				pi++
				pch = at(pat, pi)
			}
			var prev byte
			matched := false
			for {
				if pi >= len(pat) {
					return wmAbortAll
				}
				switch {
				case pch == '\\':
					pi++
					if pi >= len(pat) {
						return wmAbortAll
					}
					pch = pat[pi]
					if tch == pch {
						matched = true
					}
				case pch == '-' && prev != 0 && pi+1 < len(pat) && pat[pi+1] != ']':
					pi++
					pch = pat[pi]
					if pch == '\\' {
						pi++
						if pi >= len(pat) {
							return wmAbortAll
						}
						pch = pat[pi]
					}
					if tch <= pch && tch >= prev {
						matched = true
					}
					pch = 0 // so that prev becomes 0: no range right after a range
				case pch == '[' && at(pat, pi+1) == ':':
					pi += 2
					s := pi
					for pi < len(pat) && pat[pi] != ']' {
						pi++
					}
					if pi >= len(pat) {
						return wmAbortAll
					}
					if n := pi - s - 1; n < 0 || pat[pi-1] != ':' {
						// No ":]": a plain "[" in the set.
						pi = s - 2
						pch = '['
						if tch == pch {
							matched = true
						}
					} else {
						ok, valid := inClass(pat[s:s+n], tch)
						if !valid {
							return wmAbortAll
						}
						if ok {
							matched = true
						}
						pch = 0
					}
				case tch == pch:
					matched = true
				}
				prev = pch
				pi++
				pch = at(pat, pi)
				if pch == ']' {
					break
				}
			}
			if matched == negated || (pathname && tch == '/') {
				return wmNoMatch
			}
		}
	}
	if ti < len(text) {
		return wmNoMatch
	}
	return wmMatch
}

// at returns pat[i], or 0 past the end (the C string's terminator).
func at(pat string, i int) byte {
	if i < len(pat) {
		return pat[i]
	}
	return 0
}

// inClass tests c against a POSIX class by git's locale-independent ASCII
// ctype; valid is false for an unknown class name.
func inClass(class string, c byte) (ok, valid bool) {
	lower := c >= 'a' && c <= 'z'
	upper := c >= 'A' && c <= 'Z'
	digit := c >= '0' && c <= '9'
	switch class {
	case "alnum":
		return lower || upper || digit, true
	case "alpha":
		return lower || upper, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return c > 0x20 && c < 0x7f, true
	case "lower":
		return lower, true
	case "print":
		return c >= 0x20 && c < 0x7f, true
	case "punct":
		return c > 0x20 && c < 0x7f && !lower && !upper && !digit, true
	case "space":
		return c == ' ' || c == '\t' || c == '\n' || c == '\r', true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
