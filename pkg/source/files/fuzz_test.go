package files

import (
	"os"
	"strings"
	"testing"
)

// FuzzGitignore parses any bytes as a .gitignore and matches any path: no
// panic, and two properties that hold for every input:
//   - the fast paths (literal prefix, suffix, exact compare) agree with
//     plain wildmatch on patterns where git's prefix split changes nothing
//     (no "**");
//   - a later line naming the path exactly (escaped) decides it: the path
//     is then ignored, and with "!" it is ignored only if a parent
//     directory is.
func FuzzGitignore(f *testing.F) {
	data, err := os.ReadFile("testdata/gitignore.txtar")
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{"a.log", "x/y/app.log", "excluded_dir/reinclude.txt", "a/x/y/b.txt", "#hash.txt", "sub/inner/local.txt",
		"prex/y/post.txt", "[a]", "e f/a*b", "!c"}
	i := 0
	for _, af := range parseArchive(f, data) {
		if strings.HasSuffix(af.name, ".gitignore") || strings.HasSuffix(af.name, "exclude") {
			f.Add(af.data, paths[i%len(paths)], i%2 == 0)
			i++
		}
	}
	f.Add([]byte("[[:alpha:]-z]\n**/\n\\\n[!]a]/**\n"), "a/b", true)

	f.Fuzz(func(t *testing.T, data []byte, rel string, isDir bool) {
		ig := ParseGitignore("", data)
		m := NewMatcher(ig)
		m.Ignored(rel, isDir) // any input: no panic
		if !validRel(rel) {
			return
		}
		base := strings.LastIndexByte(rel, '/') + 1
		for i := range ig.patterns {
			p := &ig.patterns[i]
			if strings.Contains(p.text, "**") {
				continue
			}
			var plain bool
			if p.basename {
				plain = dowild(p.text, rel[base:], false) == wmMatch
			} else {
				plain = dowild(p.text, rel, true) == wmMatch
			}
			if p.dirOnly && !isDir {
				plain = false
			}
			if got := p.match(rel, base, isDir); got != plain {
				t.Fatalf("pattern %q (line %d) on %q: fast path %v, wildmatch %v", p.text, p.line, rel, got, plain)
			}
		}
		parents := false
		for i := range len(rel) {
			if rel[i] == '/' && m.Ignored(rel[:i], true) {
				parents = true
			}
		}
		lit := escapeLiteral(rel)
		withIt := append(append(append([]byte{}, data...), '\n'), lit...)
		if !NewMatcher(ParseGitignore("", withIt)).Ignored(rel, isDir) {
			t.Fatalf("a last line %q does not ignore %q", lit, rel)
		}
		withNot := append(append(append([]byte{}, data...), "\n!"...), lit...)
		if got := NewMatcher(ParseGitignore("", withNot)).Ignored(rel, isDir); got != parents {
			t.Fatalf("a last line !%q: Ignored(%q) = %v, want %v (a parent is ignored: %v)", lit, rel, got, parents, parents)
		}
	})
}

// validRel reports whether rel is a path a walk can produce and a
// gitignore line can name.
func validRel(rel string) bool {
	if rel == "" || strings.ContainsAny(rel, "\x00\n\r") || strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, "/") || strings.Contains(rel, "//") {
		return false
	}
	for e := range strings.SplitSeq(rel, "/") {
		if e == "." || e == ".." {
			return false
		}
	}
	return true
}

// escapeLiteral writes a gitignore pattern that matches exactly rel.
func escapeLiteral(rel string) string {
	var b strings.Builder
	for i := 0; i < len(rel); i++ {
		switch c := rel[i]; c {
		case '*', '?', '[', '\\', '!', '#', ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
