package githistory

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWalkHistory covers what a linear history reports: added files,
// modified lines at their new line numbers, several hunks, renames with
// and without changes, deletions, binary files, mode changes, odd names,
// a last line without a newline and CRLF lines.
func TestWalkHistory(t *testing.T) {
	r := newRepo(t)
	r.write("f.txt", "a\nb\nc\nd\ne\n")
	r.write("sp ace ü.txt", "x\n")
	r.write("new\nline.txt", "nl\n")
	r.write("tab\tquote\".txt", "q\n")
	r.write("bin.dat", "\x00\x01secret=1\n")
	c1, d1 := r.commit("add"), r.date()

	r.write("f.txt", "a\nB\nc\nd\nE\nf\n") // line 2 changed, line 5 changed and 6 added
	r.write("bin.dat", "\x00\x02secret=2\n")
	if err := os.Chmod(filepath.Join(r.dir, "sp ace ü.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	c2, d2 := r.commit("modify"), r.date()

	r.git("mv", "f.txt", "g.txt")
	r.git("rm", "-q", "new\nline.txt")
	r.commit("rename and delete")

	r.git("mv", "g.txt", "h.txt")
	r.write("h.txt", "a\nB\nc\nd\nE\nf\nsecret=3\n")
	c4, d4 := r.commit("rename and modify"), r.date()

	r.write("last.txt", "one\ntwo")
	r.write("crlf.txt", "a\r\nb\r\n")
	r.write("dir/sub/x.txt", "deep\n")
	c5, d5 := r.commit("no newline, crlf"), r.date()

	want := []change{
		ch(c5, d5, "crlf.txt", 1, "a\r\nb\r\n"),
		ch(c5, d5, "dir/sub/x.txt", 1, "deep\n"),
		ch(c5, d5, "last.txt", 1, "one\ntwo\n"),
		ch(c4, d4, "h.txt", 7, "secret=3\n"),
		ch(c2, d2, "f.txt", 2, "B\n", 5, "E\nf\n"),
		ch(c1, d1, "f.txt", 1, "a\nb\nc\nd\ne\n"),
		ch(c1, d1, "new\nline.txt", 1, "nl\n"),
		ch(c1, d1, "sp ace ü.txt", 1, "x\n"),
		ch(c1, d1, "tab\tquote\".txt", 1, "q\n"),
	}
	got := walkAll(t, r.dir, Options{})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if d1 != "2024-01-02T10:01:00+02:00" {
		t.Errorf("author date %s: the clock moved", d1)
	}

	// A bare clone reads the same.
	bare := filepath.Join(t.TempDir(), "bare.git")
	r.git("clone", "-q", "--bare", r.dir, bare)
	if diff := cmp.Diff(want, walkAll(t, bare, Options{})); diff != "" {
		t.Errorf("bare clone (-want +got):\n%s", diff)
	}
}

// TestWalkMerge checks that each line is reported once, at the commit that
// wrote it: side-branch commits are walked, and a merge reports only the
// lines written while resolving it (a conflict resolution and a file added
// in the merge), not what it brought in from either side.
func TestWalkMerge(t *testing.T) {
	r := newRepo(t)
	r.write("f.txt", "a\nb\nc\n")
	base, dBase := r.commit("base"), r.date()

	r.git("checkout", "-q", "-b", "side")
	r.write("f.txt", "a\nSIDE\nc\n")
	r.write("side.txt", "token=side\n")
	side, dSide := r.commit("side"), r.date()

	r.git("checkout", "-q", "main")
	r.write("f.txt", "a\nMAIN\nc\n")
	mainC, dMain := r.commit("main"), r.date()

	if out, err := r.tryGit(nil, "merge", "-q", "side"); err == nil || !strings.Contains(out, "CONFLICT") {
		t.Fatalf("merge did not conflict: %v\n%s", err, out)
	}
	r.write("f.txt", "a\nMAIN\nRESOLVED\nSIDE\nc\n")
	r.write("evil.txt", "token=merge\n")
	merge, dMerge := r.commit("merge"), r.date()

	want := []change{
		ch(merge, dMerge, "evil.txt", 1, "token=merge\n"),
		ch(merge, dMerge, "f.txt", 3, "RESOLVED\n"),
		ch(mainC, dMain, "f.txt", 2, "MAIN\n"),
		ch(side, dSide, "f.txt", 2, "SIDE\n"),
		ch(side, dSide, "side.txt", 1, "token=side\n"),
		ch(base, dBase, "f.txt", 1, "a\nb\nc\n"),
	}
	if diff := cmp.Diff(want, walkAll(t, r.dir, Options{})); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}

	// A clean merge adds nothing of its own.
	r.git("checkout", "-q", "-b", "side2", base)
	r.write("other.txt", "o\n")
	side2, dSide2 := r.commit("side2"), r.date()
	r.git("checkout", "-q", "main")
	r.gitEnv([]string{"GIT_AUTHOR_DATE=2024-02-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-02-01T00:00:00Z"}, "merge", "-q", "--no-ff", "--no-edit", "side2")
	if n := r.git("rev-list", "--count", "--merges", merge+"..HEAD"); n != "1" {
		t.Fatalf("%s merges after the first, want 1", n)
	}
	got := walkAll(t, r.dir, Options{Rev: merge + "..HEAD"})
	want = []change{ch(side2, dSide2, "other.txt", 1, "o\n")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clean merge (-want +got):\n%s", diff)
	}
}

// TestWalkRev checks that a branch HEAD does not reach is not scanned and
// that a range scans only its commits.
func TestWalkRev(t *testing.T) {
	r := newRepo(t)
	r.write("a.txt", "1\n")
	c1, d1 := r.commit("1"), r.date()
	r.write("a.txt", "1\n2\n")
	c2, d2 := r.commit("2"), r.date()
	r.write("a.txt", "1\n2\n3\n")
	c3, d3 := r.commit("3"), r.date()

	r.git("checkout", "-q", "-b", "hidden")
	r.write("hidden.txt", "not on HEAD\n")
	hidden, dHidden := r.commit("hidden"), r.date()
	r.git("checkout", "-q", "main")

	all := []change{
		ch(c3, d3, "a.txt", 3, "3\n"),
		ch(c2, d2, "a.txt", 2, "2\n"),
		ch(c1, d1, "a.txt", 1, "1\n"),
	}
	for _, tc := range []struct {
		rev  string
		want []change
	}{
		{"", all},
		{"HEAD", all},
		{"main", all},
		{c1 + ".." + c3, all[:2]},
		{c2 + "..HEAD", all[:1]},
		{"main..hidden", []change{ch(hidden, dHidden, "hidden.txt", 1, "not on HEAD\n")}},
		{"HEAD..HEAD", nil},
	} {
		got := walkAll(t, r.dir, Options{Rev: tc.rev})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Rev %q (-want +got):\n%s", tc.rev, diff)
		}
	}
}

// TestWalkSkips checks the files that add no text: binary, submodule,
// symbolic link, deletion, mode change.
func TestWalkSkips(t *testing.T) {
	r := newRepo(t)
	r.write("keep.txt", "k\n")
	r.write("gone.txt", "g\n")
	r.write("mode.sh", "m\n")
	r.commit("1")

	r.write("bin.png", "\x89PNG\r\n\x1a\n\x00\x00token=1\n")
	if err := os.Symlink("token=2", filepath.Join(r.dir, "link")); err != nil {
		t.Fatal(err)
	}
	sub := newRepo(t)
	sub.write("s.txt", "token=4\n")
	sub.commit("sub")
	if err := os.Rename(sub.dir, filepath.Join(r.dir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.dir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(r.dir, "mode.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("keep.txt", "k\ntoken=3\n")
	c2, d2 := r.commit("2"), r.date()
	if files := r.git("show", "--format=", "--name-only", "HEAD"); !strings.Contains(files, "sub") || !strings.Contains(files, "link") || !strings.Contains(files, "bin.png") {
		t.Fatalf("commit lacks the skipped files: %q", files)
	}

	got := walkAll(t, r.dir, Options{Rev: "HEAD~1..HEAD"})
	want := []change{ch(c2, d2, "keep.txt", 2, "token=3\n")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestWalkTruncate checks MaxChangeBytes: the text is cut within the bound
// on any byte, lines still end in \n, and long lines stream through.
func TestWalkTruncate(t *testing.T) {
	r := newRepo(t)
	long := strings.Repeat("x", 200<<10) // longer than the reader's buffer
	r.write("a.txt", "aaaa\nbbbb\ncccc\n")
	r.write("long.txt", "head\n"+long+"\ntail\n")
	c, d := r.commit("1"), r.date()

	for _, tc := range []struct {
		max  int64
		want []change
	}{
		{7, []change{
			{Commit: c, Author: ann, Date: d, Path: "a.txt", Hunks: []hunk{{1, "aaaa\nb\n"}}, Truncated: true},
			{Commit: c, Author: ann, Date: d, Path: "long.txt", Hunks: []hunk{{1, "head\nx\n"}}, Truncated: true},
		}},
		{5, []change{
			{Commit: c, Author: ann, Date: d, Path: "a.txt", Hunks: []hunk{{1, "aaaa\n"}}, Truncated: true},
			{Commit: c, Author: ann, Date: d, Path: "long.txt", Hunks: []hunk{{1, "head\n"}}, Truncated: true},
		}},
		{15, []change{
			ch(c, d, "a.txt", 1, "aaaa\nbbbb\ncccc\n"),
			{Commit: c, Author: ann, Date: d, Path: "long.txt", Hunks: []hunk{{1, "head\n" + strings.Repeat("x", 9) + "\n"}}, Truncated: true},
		}},
		{100 << 10, []change{
			ch(c, d, "a.txt", 1, "aaaa\nbbbb\ncccc\n"),
			{Commit: c, Author: ann, Date: d, Path: "long.txt", Hunks: []hunk{{1, "head\n" + long[:100<<10-6] + "\n"}}, Truncated: true},
		}},
		{-1, []change{
			ch(c, d, "a.txt", 1, "aaaa\nbbbb\ncccc\n"),
			ch(c, d, "long.txt", 1, "head\n"+long+"\ntail\n"),
		}},
		{0, []change{ // the default bound is far above
			ch(c, d, "a.txt", 1, "aaaa\nbbbb\ncccc\n"),
			ch(c, d, "long.txt", 1, "head\n"+long+"\ntail\n"),
		}},
	} {
		got := walkAll(t, r.dir, Options{MaxChangeBytes: tc.max})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("MaxChangeBytes %d (-want +got):\n%s", tc.max, diff)
		}
		for _, g := range got {
			n := 0
			for _, h := range g.Hunks {
				n += len(h.Text)
			}
			if tc.max > 0 && int64(n) > tc.max {
				t.Errorf("MaxChangeBytes %d: %s kept %d bytes", tc.max, g.Path, n)
			}
		}
	}
}

// TestWalkHostileConfig checks that repository configuration, attributes
// and environment variables that would change git's output do not change
// what Walk reads.
func TestWalkHostileConfig(t *testing.T) {
	r := newRepo(t)
	r.write("a b.txt", "one\ntwo\n")
	r.write("ü.txt", "u\n")
	c1, d1 := r.commit("1"), r.date()
	r.git("mv", "a b.txt", "c.txt")
	r.write("c.txt", "one\ntwo\nthree\n")
	c2, d2 := r.commit("2"), r.date()
	want := []change{
		ch(c2, d2, "c.txt", 3, "three\n"),
		ch(c1, d1, "a b.txt", 1, "one\ntwo\n"),
		ch(c1, d1, "ü.txt", 1, "u\n"),
	}

	for _, kv := range [][2]string{
		{"diff.external", "echo EXTERNAL"},
		{"diff.noprefix", "true"},
		{"diff.mnemonicPrefix", "true"},
		{"diff.context", "7"},
		{"diff.interHunkContext", "9"},
		{"diff.renames", "false"},
		{"diff.algorithm", "patience"},
		{"diff.relative", "true"},
		{"diff.submodule", "diff"},
		{"diff.suppressBlankEmpty", "true"},
		{"diff.up.textconv", "tr a-z A-Z"},
		{"core.quotePath", "true"},
		{"color.ui", "always"},
		{"color.diff", "always"},
		{"log.showRoot", "false"},
		{"log.showSignature", "true"},
		{"log.decorate", "full"},
		{"format.pretty", "oneline"},
		{"i18n.logOutputEncoding", "ISO-8859-1"},
		{"core.pager", "false"},
	} {
		r.git("config", kv[0], kv[1])
	}
	r.write(".git/info/attributes", "*.txt diff=up\n")
	t.Setenv("GIT_DIFF_OPTS", "--unified=5")
	t.Setenv("GIT_EXTERNAL_DIFF", "false")
	t.Setenv("GIT_DIR", t.TempDir())
	t.Setenv("GIT_CONFIG_PARAMETERS", "'diff.noprefix'='true'")
	t.Setenv("LC_ALL", "de_DE.UTF-8")

	if diff := cmp.Diff(want, walkAll(t, r.dir, Options{})); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestWalkShallow checks that a shallow clone is walked as far as it goes,
// its oldest commit reporting every file it holds.
func TestWalkShallow(t *testing.T) {
	r := newRepo(t)
	r.write("a.txt", "1\n")
	r.commit("1")
	r.write("a.txt", "1\n2\n")
	r.write("b.txt", "b\n")
	c2, d2 := r.commit("2"), r.date()
	r.write("a.txt", "1\n2\n3\n")
	c3, d3 := r.commit("3"), r.date()

	shallow := filepath.Join(t.TempDir(), "shallow")
	r.git("clone", "-q", "--depth", "2", "file://"+r.dir, shallow)
	want := []change{
		ch(c3, d3, "a.txt", 3, "3\n"),
		ch(c2, d2, "a.txt", 1, "1\n2\n"),
		ch(c2, d2, "b.txt", 1, "b\n"),
	}
	if diff := cmp.Diff(want, walkAll(t, shallow, Options{})); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestWalkErrors checks that each failure is an error saying what is wrong
// with which path.
func TestWalkErrors(t *testing.T) {
	r := newRepo(t)
	r.write("sub/a.txt", "a\n")
	r.write("a:b/sub/a.txt", "a\n") // no GIT_CEILING_DIRECTORIES can name a:b
	r.commit("1")
	empty := newRepo(t)
	plain := t.TempDir()
	file := filepath.Join(plain, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		dir   string
		rev   string
		is    error
		wants []string
	}{
		{"empty repository", empty.dir, "", ErrNoCommits, []string{empty.dir, "no commits"}},
		{"not a repository", plain, "", ErrNotRepository, []string{plain, "not a git repository"}},
		{"inside a work tree", filepath.Join(r.dir, "sub"), "", ErrNotRepository, []string{filepath.Join(r.dir, "sub"), "not a git repository"}},
		{"inside a work tree, no ceiling", filepath.Join(r.dir, "a:b", "sub"), "", ErrNotRepository, []string{filepath.Join(r.dir, "a:b", "sub"), "directory a:b/sub/ of a work tree"}},
		{"missing", filepath.Join(plain, "nope"), "", os.ErrNotExist, []string{filepath.Join(plain, "nope")}},
		{"a file", file, "", ErrNotRepository, []string{file, "not a directory"}},
		{"unknown revision", r.dir, "nosuch", nil, []string{r.dir, "nosuch", "bad revision"}},
		{"option as revision", r.dir, "--output=/tmp/x", nil, []string{"invalid revision", "--output"}},
		{"range in an empty repository", empty.dir, "main..HEAD", nil, []string{empty.dir, "main..HEAD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			err := Walk(context.Background(), tc.dir, Options{Rev: tc.rev}, func(Change) error { called = true; return nil })
			if err == nil {
				t.Fatal("no error")
			}
			if called {
				t.Error("fn called")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestWalkNoGit checks the error when git is not installed.
func TestWalkNoGit(t *testing.T) {
	r := newRepo(t)
	r.write("a.txt", "a\n")
	r.commit("1")
	t.Setenv("PATH", t.TempDir())
	err := Walk(context.Background(), r.dir, Options{}, func(Change) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "git binary") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("error %v, want one saying the git binary is not found", err)
	}
}

// TestWalkStop checks that fn's error and ctx's cancellation stop the walk
// (and git) at once and are returned as they are.
func TestWalkStop(t *testing.T) {
	r := newRepo(t)
	for i := range 20 {
		r.write("a.txt", strings.Repeat("line\n", i+1))
		r.commit("c")
	}
	stop := errors.New("stop")
	n := 0
	err := Walk(context.Background(), r.dir, Options{}, func(Change) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("fn error: got %v after %d calls, want %v after 1", err, n, stop)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = Walk(ctx, r.dir, Options{}, func(Change) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Errorf("cancel: got %v after %d calls, want context.Canceled after 3", err, n)
	}
	if err := Walk(ctx, r.dir, Options{}, func(Change) error { t.Error("fn called"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: got %v", err)
	}
}

// TestWalkCorrupt checks that git failing halfway (a blob is missing) is
// an error carrying git's own message, after the changes read before it.
func TestWalkCorrupt(t *testing.T) {
	r := newRepo(t)
	r.write("a.txt", "a\n")
	r.commit("1")
	r.write("b.txt", "b\n")
	r.commit("2")
	blob := r.git("rev-parse", "HEAD~1:a.txt")
	if err := os.Remove(filepath.Join(r.dir, ".git", "objects", blob[:2], blob[2:])); err != nil {
		t.Fatal(err)
	}
	var paths []string
	err := Walk(context.Background(), r.dir, Options{}, func(c Change) error {
		paths = append(paths, c.Path)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), r.dir) || !strings.Contains(err.Error(), "fatal: ") || !strings.Contains(err.Error(), blob[:7]) {
		t.Errorf("error %v, want git's message about %s", err, blob)
	}
	if len(paths) != 1 || paths[0] != "b.txt" {
		t.Errorf("changes before the failure: %q, want [b.txt]", paths)
	}
}
