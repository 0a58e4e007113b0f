package files

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWalkMatchesGit builds a tree exercising every gitignore rule and
// checks that Walk reads exactly the files git does not ignore.
func TestWalkMatchesGit(t *testing.T) {
	requireGit(t)
	data, err := os.ReadFile("testdata/gitignore.txtar")
	if err != nil {
		t.Fatal(err)
	}
	archive := parseArchive(t, data)
	root := t.TempDir()
	writeTree(t, root, archive)
	want := gitUntracked(t, root)

	// The fixture must exercise the rules, not merely agree with git: pin
	// a few of git's decisions.
	for _, name := range []string{"#notignored.txt", "keep.log", "x/build", "x/anchored.txt", "a/doc/frotz",
		"foo12.txt", "dclass.txt", "aneg.txt", "xstar.txt", "endspace", "x/logs/a.txt", "x/a/b.txt",
		"override.info", "sub/x.log", "sub/inner/local.txt", "sub/deeper/sub_anchored.txt",
		"only/foo/bar/kept.txt", "nested/n.log", "nested/n.tmp", "nested/d/n.log"} {
		if !slices.Contains(want, name) {
			t.Errorf("fixture: git ignores %s, the fixture expects it read", name)
		}
	}
	for _, name := range []string{"#hash.txt", "!bang.txt", "trailing.txt", "endspace ", "app.log", "x/y/app.log",
		"excluded_dir/reinclude.txt", "build/out.bin", "anchored.txt", "doc/frotz", "x/y/z.tmp", "foo1.txt",
		"aclass.txt", "dneg.txt", "file1.cfg", "*star.txt", "deep/target.txt", "x/deep/target.txt",
		"x/y/cache/c.txt", "logs/x/b.txt", "a/b.txt", "a/x/y/b.txt", "prex/y/post.txt", "ord.txt", "other.info",
		"excluded_by_info.txt", "sub/local.txt", "sub/sub_anchored.txt", "sub/only_dir/f.txt", "only/foo/gone.txt",
		"only/gone.txt", "nested/n.ign", "nested/n.nex"} {
		if slices.Contains(want, name) {
			t.Errorf("fixture: git does not ignore %s, the fixture expects it ignored", name)
		}
	}

	t.Run("root", func(t *testing.T) {
		got := walkAll(t, root, Options{All: true})
		if len(got.errors)+len(got.notes) > 0 {
			t.Errorf("problems: %v %v", got.errors, got.notes)
		}
		if diff := cmp.Diff(want, relNames(root, got.names)); diff != "" {
			t.Errorf("Walk vs git ls-files (-git +Walk):\n%s", diff)
		}
	})
	t.Run("inside repository", func(t *testing.T) {
		// The parents' .gitignore files and info/exclude still apply.
		for _, sub := range []string{"sub", "sub/inner", "x/y", "only/foo", "nested/d"} {
			dir := filepath.Join(root, filepath.FromSlash(sub))
			want := gitUntracked(t, dir)
			got := walkAll(t, dir, Options{All: true})
			if diff := cmp.Diff(want, relNames(dir, got.names)); diff != "" {
				t.Errorf("%s: Walk vs git ls-files (-git +Walk):\n%s", sub, diff)
			}
		}
	})
	t.Run("Matcher", func(t *testing.T) {
		var ignores []*Ignore
		for _, f := range []string{".git/info/exclude", ".gitignore", "sub/.gitignore", "sub/inner/.gitignore", "only/.gitignore"} {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.ToSlash(filepath.Dir(f))
			if f == ".git/info/exclude" {
				dir = ""
			}
			ignores = append(ignores, ParseGitignore(dir, b))
		}
		m := NewMatcher(ignores...)
		all := walkAll(t, root, Options{All: true, NoGitignore: true})
		for _, name := range relNames(root, all.names) {
			if strings.HasPrefix(name, "nested/") {
				continue
			}
			if got, want := m.Ignored(name, false), !slices.Contains(want, name); got != want {
				t.Errorf("Ignored(%q) = %v, git says %v", name, got, want)
			}
		}
	})
	t.Run("NoGitignore", func(t *testing.T) {
		var all []string
		for _, f := range archive {
			if !strings.Contains("/"+f.name+"/", "/.git/") {
				all = append(all, f.name)
			}
		}
		slices.Sort(all)
		got := walkAll(t, root, Options{All: true, NoGitignore: true})
		if diff := cmp.Diff(all, relNames(root, got.names)); diff != "" {
			t.Errorf("NoGitignore (-tree +Walk):\n%s", diff)
		}
	})
}

// TestGitignoreCRLF checks CRLF line ends and a BOM, which editors on
// Windows write.
func TestGitignoreCRLF(t *testing.T) {
	requireGit(t)
	root := t.TempDir()
	writeTree(t, root, []archiveFile{
		{name: ".git"},
		{name: ".gitignore", data: []byte("\xef\xbb\xbf*.q\r\n!k.q\r\n\r\nd/\r\nlast\r")},
		{name: "x.q"}, {name: "k.q"}, {name: "d/f"}, {name: "last"}, {name: "kept"},
	})
	want := gitUntracked(t, root)
	if diff := cmp.Diff(want, relNames(root, walkAll(t, root, Options{}).names)); diff != "" {
		t.Errorf("Walk vs git (-git +Walk):\n%s", diff)
	}
	if !slices.Equal(want, []string{".gitignore", "k.q", "kept"}) {
		t.Errorf("git reads %v: the fixture does not test what it means to", want)
	}
}

// TestGitignoreRandomVsGit compares Walk with git on random gitignore
// files made of the pieces where matchers go wrong.
func TestGitignoreRandomVsGit(t *testing.T) {
	requireGit(t)
	rounds := 80
	if testing.Short() {
		rounds = 20
	}
	elems := []string{"a", "b", "ab", "a.b", "x1", "[a]", "a*b", "!c", "#d", "e f", "a\\b", "B"}
	dirs := []string{"a", "ab", "d", "x1"}
	var names []string
	for _, e := range elems {
		if !slices.Contains(dirs, e) {
			names = append(names, e)
		}
		for _, d := range dirs {
			names = append(names, d+"/"+e+".t")
			for _, d2 := range dirs[:2] {
				names = append(names, d+"/"+d2+"/"+e)
			}
		}
	}
	root := t.TempDir()
	files := []archiveFile{{name: ".git"}}
	for _, n := range names {
		files = append(files, archiveFile{name: n})
	}
	writeTree(t, root, files)

	tokens := []string{"a", "b", "ab", ".", ".t", "*", "*", "**", "?", "/", "/", "[a-b]", "[!a]", "[^b]", "[[:alpha:]]",
		"[[:digit:]]", "[a-]", "[]a]", "\\*", "\\", "x1", "d", "e f", "#", "[", "]", "-", "!", " ", "\\ ", "B", "[[:bogus:]]"}
	rng := rand.New(rand.NewPCG(7, 7))
	line := func() string {
		var b strings.Builder
		if rng.IntN(5) == 0 {
			b.WriteString("!")
		}
		if rng.IntN(4) == 0 {
			b.WriteString("/")
		}
		for range 1 + rng.IntN(4) {
			b.WriteString(tokens[rng.IntN(len(tokens))])
		}
		if rng.IntN(4) == 0 {
			b.WriteString("/")
		}
		return b.String()
	}
	gitignore := func() []byte {
		var lines []string
		for range 1 + rng.IntN(6) {
			lines = append(lines, line())
		}
		eol := "\n"
		if rng.IntN(6) == 0 {
			eol = "\r\n"
		}
		return []byte(strings.Join(lines, eol) + eol)
	}
	for i := range rounds {
		top, sub := gitignore(), gitignore()
		if err := os.WriteFile(filepath.Join(root, ".gitignore"), top, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "d", ".gitignore"), sub, 0o644); err != nil {
			t.Fatal(err)
		}
		want := gitUntracked(t, root)
		got := relNames(root, walkAll(t, root, Options{All: true}).names)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: .gitignore %q, d/.gitignore %q: Walk vs git (-git +Walk):\n%s", i, top, sub, diff)
		}
	}
}

// TestWalkWorktree: a linked worktree's .git is a "gitdir:" file, and its
// info/exclude is the main repository's (the common directory).
func TestWalkWorktree(t *testing.T) {
	requireGit(t)
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: ".git"}, {name: "README"}, {name: ".gitignore", data: []byte("*.log\n")}})
	git(t, root, "add", "README", ".gitignore")
	git(t, root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
	git(t, root, "worktree", "add", "-q", "wt")
	writeTree(t, root, []archiveFile{
		{name: ".git/info/exclude", data: []byte("*.x\n")},
		{name: "wt/a.x"}, {name: "wt/b.y"}, {name: "wt/c.log"}, {name: "top.x"}, {name: "top.y"},
	})
	want := gitUntracked(t, root)
	if !slices.Equal(want, []string{".gitignore", "README", "top.y", "wt/.gitignore", "wt/README", "wt/b.y"}) {
		t.Fatalf("git reads %v: the fixture does not test what it means to", want)
	}
	if diff := cmp.Diff(want, relNames(root, walkAll(t, root, Options{}).names)); diff != "" {
		t.Errorf("Walk(repository) vs git (-git +Walk):\n%s", diff)
	}
	wt := filepath.Join(root, "wt")
	if diff := cmp.Diff(gitUntracked(t, wt), relNames(wt, walkAll(t, wt, Options{}).names)); diff != "" {
		t.Errorf("Walk(worktree) vs git (-git +Walk):\n%s", diff)
	}
}
