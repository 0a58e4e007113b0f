package files

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGitignore(t *testing.T) {
	ig := ParseGitignore("./a/b/", []byte("\xef\xbb\xbf# comment\n\n  \nx  \ny\\ \\ \nz\\\n\\#h\n\\!b\n!n/\n/r/s\n*.o\nfoo\x00bar\n!\n/\n"))
	type p struct {
		text                                string
		negate, dirOnly, basename, endsWith bool
		line                                int
	}
	want := []p{
		{text: "x", basename: true, line: 4},
		{text: `y\ \ `, basename: true, line: 5},
		{text: `z\`, basename: true, line: 6},
		{text: `\#h`, basename: true, line: 7},
		{text: `\!b`, basename: true, line: 8},
		{text: "n", negate: true, dirOnly: true, basename: true, line: 9},
		{text: "r/s", line: 10},
		{text: "*.o", basename: true, endsWith: true, line: 11},
		{text: "foo", basename: true, line: 12},
	}
	if ig.Dir() != "a/b" {
		t.Errorf("Dir() = %q, want a/b", ig.Dir())
	}
	if ig.Len() != len(want) {
		t.Fatalf("%d patterns, want %d: %+v", ig.Len(), len(want), ig.patterns)
	}
	for i, w := range want {
		g := ig.patterns[i]
		if got := (p{g.text, g.negate, g.dirOnly, g.basename, g.endsWith, g.line}); got != w {
			t.Errorf("pattern %d = %+v, want %+v", i, got, w)
		}
	}
}

// TestMatcher covers the rules of gitignore(5) one by one, with paths
// relative to the top of the tree; TestWalkMatchesGit checks the same
// against the real git.
func TestMatcher(t *testing.T) {
	type check struct {
		rel     string
		isDir   bool
		ignored bool
	}
	tests := []struct {
		name   string
		files  map[string]string // dir → gitignore content
		checks []check
	}{
		{"basename at any depth", map[string]string{"": "*.log\nsecret.env\n"}, []check{
			{"a.log", false, true}, {"x/y/a.log", false, true}, {"x/secret.env", false, true}, {"secret.env.example", false, false},
		}},
		{"anchored by a leading or middle slash", map[string]string{"": "/top.txt\ndoc/frotz\n"}, []check{
			{"top.txt", false, true}, {"x/top.txt", false, false}, {"doc/frotz", false, true}, {"a/doc/frotz", false, false},
		}},
		{"directories only", map[string]string{"": "build/\n"}, []check{
			{"build", true, true}, {"build", false, false}, {"x/build", true, true}, {"build/a.o", false, true},
		}},
		{"negation and order", map[string]string{"": "*.log\n!keep.log\nord\n!ord\nord\n"}, []check{
			{"a.log", false, true}, {"keep.log", false, false}, {"ord", false, true},
		}},
		{"no re-include under an excluded directory", map[string]string{"": "out/\n!out/keep.txt\n"}, []check{
			{"out/keep.txt", false, true}, {"out", true, true},
		}},
		{"wildcards", map[string]string{"": "f?o\n[a-c]x\n[!a-c]y\n[[:digit:]]z\n*.tar.*\n"}, []check{
			{"fao", false, true}, {"f/o", false, false}, {"bx", false, true}, {"dx", false, false},
			{"dy", false, true}, {"by", false, false}, {"7z", false, true}, {"a.tar.gz", false, true},
		}},
		{"double stars", map[string]string{"": "**/deep\nlogs/**\na/**/b\n"}, []check{
			{"deep", true, true}, {"x/y/deep", false, true}, {"logs/x/y", false, true}, {"logs", true, false},
			{"a/b", false, true}, {"a/x/y/b", false, true}, {"x/a/b", false, false},
		}},
		{"escapes and trailing spaces", map[string]string{"": "\\#h\n\\!b\nsp   \nesc\\ \n\\*\n"}, []check{
			{"#h", false, true}, {"!b", false, true}, {"sp", false, true}, {"sp ", false, false},
			{"esc ", false, true}, {"esc", false, false}, {"*", false, true}, {"x", false, false},
		}},
		{"deeper files win, scoped to their directory", map[string]string{"": "*.log\nlocal\n", "sub": "!*.log\n/anch\n", "sub/in": "!local\n"}, []check{
			{"a.log", false, true}, {"sub/a.log", false, false}, {"sub/x/a.log", false, false},
			{"sub/local", false, true}, {"sub/in/local", false, false}, {"sub/anch", false, true},
			{"sub/x/anch", false, false}, {"anch", false, false}, {"subx/anch", false, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ignores []*Ignore
			for _, dir := range []string{"", "sub", "sub/in"} {
				if data, ok := tt.files[dir]; ok {
					ignores = append(ignores, ParseGitignore(dir, []byte(data)))
				}
			}
			m := NewMatcher(ignores...)
			for _, c := range tt.checks {
				if got := m.Ignored(c.rel, c.isDir); got != c.ignored {
					t.Errorf("Ignored(%q, dir=%v) = %v, want %v", c.rel, c.isDir, got, c.ignored)
				}
			}
		})
	}
}

// TestMatcherNoAllocs: matching compiles nothing and copies nothing.
func TestMatcherNoAllocs(t *testing.T) {
	m := benchMatcher()
	paths := benchPaths(100)
	allocs := testing.AllocsPerRun(10, func() {
		for _, p := range paths {
			m.Ignored(p, false)
		}
	})
	if allocs != 0 {
		t.Errorf("Ignored allocates %.1f times per 100 paths, want 0", allocs)
	}
}

// benchMatcher stacks 200 patterns of the kinds real .gitignore files
// hold, in two files.
func benchMatcher() *Matcher {
	var top, sub strings.Builder
	kinds := []string{"*.ext%d", "build%d/", "/dist%d", "**/node%d", "docs/**/*.md%d", "[Bb]in%d/", "!keep%d.log",
		"file%d.txt", "a/b%d/c", "tmp%d*", "*~%d", "cache%d/**"}
	for i := range 200 {
		b := &top
		if i%4 == 0 {
			b = &sub
		}
		fmt.Fprintf(b, kinds[i%len(kinds)]+"\n", i)
	}
	return NewMatcher(ParseGitignore("", []byte(top.String())), ParseGitignore("src", []byte(sub.String())))
}

func benchPaths(n int) []string {
	dirs := []string{"src", "src/pkg/util", "docs/guide", "build3", "vendor/x/y", "a/b10", "test/fixtures/data"}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/file%d.%s", dirs[i%len(dirs)], i, []string{"go", "txt", "md", "log", "ext7"}[i%5])
	}
	return out
}

func BenchmarkMatcher(b *testing.B) {
	m := benchMatcher()
	paths := benchPaths(10000)
	b.ReportAllocs()
	ignored := 0
	for b.Loop() {
		for _, p := range paths {
			if m.Ignored(p, false) {
				ignored++
			}
		}
	}
	b.ReportMetric(float64(b.N*len(paths))/b.Elapsed().Seconds(), "paths/s")
	if ignored == 0 {
		b.Fatal("no path ignored: the benchmark measures nothing")
	}
}

func BenchmarkWalk(b *testing.B) {
	root := b.TempDir()
	// 5,000 files in 250 directories, 10 levels deep at most, with a
	// .gitignore in every tenth directory.
	n := 0
	for d := range 250 {
		dir := filepath.Join(root, fmt.Sprintf("d%d", d%10))
		for k := d; k >= 10; k /= 10 {
			dir = filepath.Join(dir, fmt.Sprintf("s%d", k%7))
		}
		dir = filepath.Join(dir, fmt.Sprintf("leaf%d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if d%10 == 0 {
			if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.tmp\n!keep.tmp\nout/\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			n++
		}
		for f := 0; n < 5000 && f < 20; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.%s", f, []string{"go", "yaml", "tmp", "json"}[f%4])), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte(benchIgnore), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	files := 0
	for b.Loop() {
		files += len(walkAll(b, root, Options{}).names)
	}
	b.ReportMetric(float64(files)/b.Elapsed().Seconds(), "files/s")
}

const benchIgnore = "*.log\n/dist\nnode_modules/\n**/cache\n*.swp\n.DS_Store\n"
