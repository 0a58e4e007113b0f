// Package githistory reads what every commit of a git repository added, for
// secret scans of a repository's history.
//
// Walk streams `git log -p` from the git binary and hands each commit's
// added lines, file by file, to a callback. What it reports, and why:
//
//   - Only added lines ("+"), at their line numbers in the file as the
//     commit left it (-U0: no context lines are read or reported).
//   - Every commit reachable from the revision is walked, on every branch
//     merged into it; a commit on a branch not reachable is not.
//   - Merge commits are diffed with --cc (dense combined diff): only lines
//     that are in none of the parents are reported, such as a line written
//     while resolving a conflict. Lines a merge brings in from a side branch
//     were reported at the side branch's commit that added them, so each
//     secret is reported once, at the commit that introduced it. -m would
//     report a branch's lines again at the merge; --first-parent would
//     report them at the merge instead of where they were written.
//   - Renames are detected (-M): a renamed file reports only the lines the
//     rename changed. Copies are not detected: a secret copied into a new
//     file is a new place it leaks from and is reported there.
//   - Deleted files, mode-only changes, binary files ("Binary files …
//     differ"), submodules (gitlinks) and symbolic links add no text and
//     give no Change. Binary is git's verdict: a NUL in the first 8 KiB, or
//     the -diff/binary attribute in the work tree's .gitattributes or
//     info/attributes.
//   - A shallow clone is walked as far as it goes: its oldest commit looks
//     like a root commit, so every line of every file in it is reported
//     there, at that commit.
//
// git runs with the user's system and global configuration ignored and
// with flags that override every repository setting that would change the
// output (external diff drivers, textconv, signatures, context, prefixes,
// quoting, renames, colours, replace refs), so the same repository reads
// the same everywhere. Git's "dubious ownership" check is kept: a
// repository owned by another user is an error saying so.
package githistory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMaxChangeBytes is the bound on the added text of one file in one
// commit when Options.MaxChangeBytes is zero.
const DefaultMaxChangeBytes = 10 << 20

// Errors Walk wraps, for callers that explain them.
var (
	// ErrNoCommits is returned for a repository whose HEAD has no commit
	// yet.
	ErrNoCommits = errors.New("no commits")
	// ErrNotRepository is returned for a directory that is not the top of
	// a git work tree nor a git directory.
	ErrNotRepository = errors.New("not a git repository")
)

// Change is what one commit added to one file.
type Change struct {
	Commit     string    // full hash
	Author     string    // name <email>
	AuthorDate time.Time // with the author's time zone
	Path       string    // path in the repository after the commit (slash)
	Hunks      []Hunk
	// Truncated is set when the added text went beyond
	// Options.MaxChangeBytes and the rest was dropped.
	Truncated bool
}

// Hunk is a run of added lines.
type Hunk struct {
	// Line is the 1-based line of the first added line in the file at that
	// commit.
	Line int
	// Text is the added lines, each ending in \n (the diff's "+" removed;
	// a last line without a newline in the file gets one).
	Text []byte
}

// Options tune Walk.
type Options struct {
	// Rev is the revision range to scan, one git revision argument;
	// default "HEAD" (every commit reachable from HEAD). e.g. "main..HEAD"
	// for a pull request.
	Rev string
	// MaxChangeBytes bounds the added text read per file per commit;
	// beyond it the change is cut (the last line kept is cut short and
	// ends in \n) and Truncated set. Zero means DefaultMaxChangeBytes,
	// negative no bound.
	MaxChangeBytes int64
}

// gitFormat starts each commit with a line no patch line can begin with
// (a NUL), then the full hash, strict ISO 8601 author date and author.
const gitFormat = "--format=%x00%H %aI %an <%ae>"

// Walk calls fn for every change, newest commit first, streaming (never
// holding the whole log). fn's error stops the walk and is returned as is;
// so is ctx's error when ctx is done, which kills git. repo is the top of
// a work tree or a git directory (a bare repository); a directory inside a
// work tree is not one, so that a scan never silently widens to the
// repository around it.
func Walk(ctx context.Context, repo string, opts Options, fn func(Change) error) error {
	rev := opts.Rev
	if rev == "" {
		rev = "HEAD"
	}
	if strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, "\x00\n") {
		return fmt.Errorf("git history of %s: invalid revision %q", repo, rev)
	}
	limit := opts.MaxChangeBytes
	if limit == 0 {
		limit = DefaultMaxChangeBytes
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("git history of %s: the git binary is needed: %w", repo, err)
	}
	dir, err := repoDir(repo)
	if err != nil {
		return err
	}
	env := gitEnv(dir)

	if err := checkRepo(ctx, git, dir, env, repo, rev); err != nil {
		return err
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, git, logArgs(rev)...)
	cmd.Dir = dir
	cmd.Env = env
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	// A grandchild holding the pipe open must not hang Wait after a kill.
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git log in %s: %w", repo, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git log in %s: %w", repo, err)
	}
	var fnErr error
	perr := parse(stdout, limit, func(c Change) error {
		// git's output may be buffered well past the cancel.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if perr != nil {
		cancel() // stop git: nothing more will be read
	}
	werr := cmd.Wait()
	// git exiting by itself with an error (not killed by the cancel
	// above) explains a broken output better than the parser does.
	gitFailed := werr != nil && (perr == nil || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() >= 0)
	switch {
	case fnErr != nil:
		return fnErr
	case ctx.Err() != nil:
		return ctx.Err()
	case gitFailed:
		return fmt.Errorf("git log %s in %s: %w%s", rev, repo, werr, stderr.suffix())
	case perr != nil:
		return fmt.Errorf("git log %s in %s: %w", rev, repo, perr)
	}
	return nil
}

// logArgs is the git command line of Walk: see the package comment for
// the choices, each flag pinning what repository configuration could
// change.
func logArgs(rev string) []string {
	return []string{
		"--no-pager", "--no-replace-objects",
		"-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "color.ui=never",
		"log", "-p", "--cc", "-U0", "--inter-hunk-context=0",
		"--root", "--find-renames", "--diff-filter=d",
		"--no-color", "--no-ext-diff", "--no-textconv", "--no-show-signature", "--no-relative",
		"--diff-algorithm=myers", "--indent-heuristic",
		"--src-prefix=a/", "--dst-prefix=b/",
		"--submodule=short", "--ignore-submodules=all",
		"--encoding=UTF-8", gitFormat,
		"--end-of-options", rev, "--",
	}
}

// repoDir resolves repo to the absolute, symlink-free directory git runs
// in.
func repoDir(repo string) (string, error) {
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", fmt.Errorf("git history of %s: %w", repo, err)
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("git history of %s: %w", repo, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("git history of %s: %w", repo, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("git history of %s: %w (not a directory)", repo, ErrNotRepository)
	}
	return dir, nil
}

// gitEnv is the environment git runs in: the caller's without any GIT_*
// variable (GIT_DIR, GIT_DIFF_OPTS, GIT_CONFIG_PARAMETERS... would change
// what is read or how), no system or global configuration, English
// messages, and no search for a repository above dir.
func gitEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_ALL=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_OPTIONAL_LOCKS=0",
		"LC_ALL=C",
	)
	// The variable is a list separated by colons: a parent with one in
	// its name cannot be named, and checkRepo's prefix test still holds.
	if parent := filepath.Dir(dir); !strings.ContainsRune(parent, filepath.ListSeparator) {
		env = append(env, "GIT_CEILING_DIRECTORIES="+parent)
	}
	return env
}

// checkRepo tells apart the failures users meet most, with errors that
// say what is wrong rather than git's usage message.
func checkRepo(ctx context.Context, git, dir string, env []string, repo, rev string) error {
	var out bytes.Buffer
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, git, args...)
		cmd.Dir = dir
		cmd.Env = env
		var errb bytes.Buffer
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return strings.TrimSpace(errb.String()), err
	}
	msg, err := run("rev-parse", "--show-prefix")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("git history of %s: %w", repo, err)
		}
		if strings.Contains(msg, "dubious ownership") {
			return fmt.Errorf("git history of %s: the repository is owned by another user and git refuses it (add it to safe.directory in your git configuration if you trust it)", repo)
		}
		return fmt.Errorf("git history of %s: %w (the top of a work tree or a git directory is needed)", repo, ErrNotRepository)
	}
	if prefix := strings.TrimSpace(out.String()); prefix != "" {
		return fmt.Errorf("git history of %s: %w: it is the directory %s of a work tree (its top is needed)", repo, ErrNotRepository, prefix)
	}
	if rev != "HEAD" {
		return nil
	}
	// Exit 1 without a message is an unborn HEAD, a fresh repository.
	msg, err = run("rev-parse", "-q", "--verify", "HEAD^{commit}")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return fmt.Errorf("git history of %s: %w (HEAD is unborn)", repo, ErrNoCommits)
		}
		return fmt.Errorf("git history of %s: %w%s", repo, err, (&tailBuffer{b: []byte(msg)}).suffix())
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it: enough of git's
// stderr to explain a failure, bounded whatever git prints.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if t.max > 0 && len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// suffix renders the captured text for an error message.
func (t *tailBuffer) suffix() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + strings.ReplaceAll(s, "\n", "; ")
}
