package githistory

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testRepo builds a real repository with the git binary. Every commit gets
// the next minute of a fixed clock, so log order is the order of creation.
type testRepo struct {
	t     testing.TB
	dir   string
	clock time.Time
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git binary")
	}
	r := &testRepo{t: t, dir: t.TempDir(), clock: time.Date(2024, 1, 2, 10, 0, 0, 0, time.FixedZone("", 2*3600))}
	r.git("init", "-q", "-b", "main")
	return r
}

// git runs git in the repository with a clean environment and returns
// its trimmed stdout.
func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	return r.gitEnv(nil, args...)
}

func (r *testRepo) gitEnv(extra []string, args ...string) string {
	r.t.Helper()
	out, err := r.tryGit(extra, args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tryGit runs git with extra environment variables and returns its
// trimmed stdout, or its stdout and stderr with the error.
func (r *testRepo) tryGit(extra []string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Ann Author", "-c", "user.email=ann@example.com", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = append(gitEnv(r.dir), extra...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return string(out) + errb.String(), err
	}
	return strings.TrimSpace(string(out)), nil
}

func (r *testRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// commit stages everything and commits it at the next minute, returning
// the full hash. The author's date is the same minute in UTC+2.
func (r *testRepo) commit(msg string, extra ...string) string {
	r.t.Helper()
	r.clock = r.clock.Add(time.Minute)
	date := r.clock.Format(time.RFC3339)
	r.git("add", "-A")
	r.gitEnv([]string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, append([]string{"commit", "-q", "--allow-empty", "-m", msg}, extra...)...)
	return r.git("rev-parse", "HEAD")
}

// date is the author date of the last commit as Walk reports it.
func (r *testRepo) date() string { return r.clock.Format(time.RFC3339) }

// change is a Change in a form tests compare and golden files hold.
type change struct {
	Commit    string `json:"commit"`
	Author    string `json:"author"`
	Date      string `json:"date"`
	Path      string `json:"path"`
	Hunks     []hunk `json:"hunks"`
	Truncated bool   `json:"truncated,omitempty"`
}

type hunk struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

func toChange(c Change) change {
	out := change{Commit: c.Commit, Author: c.Author, Date: c.AuthorDate.Format(time.RFC3339), Path: c.Path, Truncated: c.Truncated}
	for _, h := range c.Hunks {
		out.Hunks = append(out.Hunks, hunk{h.Line, string(h.Text)})
	}
	return out
}

// walkAll collects every change Walk reports.
func walkAll(t testing.TB, dir string, opts Options) []change {
	t.Helper()
	var got []change
	err := Walk(context.Background(), dir, opts, func(c Change) error {
		got = append(got, toChange(c))
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%s, %+v): %v", dir, opts, err)
	}
	return got
}

// ann is the author every test commit has.
const ann = "Ann Author <ann@example.com>"

// ch builds an expected change with one hunk per line/text pair.
func ch(commit, date, path string, hunks ...any) change {
	c := change{Commit: commit, Author: ann, Date: date, Path: path}
	for i := 0; i+1 < len(hunks); i += 2 {
		c.Hunks = append(c.Hunks, hunk{hunks[i].(int), hunks[i+1].(string)})
	}
	if len(hunks)%2 != 0 {
		panic(fmt.Sprintf("ch: odd hunks %v", hunks))
	}
	return c
}
