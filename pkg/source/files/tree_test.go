package files

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// archiveFile is one file of a test tree.
type archiveFile struct {
	name string
	data []byte
}

// parseArchive reads a txtar-like archive: "-- name --" starts a file
// (name Go-quoted when it has spaces at its ends); text before the first
// header is a comment.
func parseArchive(t testing.TB, data []byte) []archiveFile {
	t.Helper()
	var out []archiveFile
	for line := range bytes.Lines(data) {
		s := strings.TrimSuffix(string(line), "\n")
		if name, ok := strings.CutPrefix(s, "-- "); ok && strings.HasSuffix(name, " --") {
			name = strings.TrimSuffix(name, " --")
			if strings.HasPrefix(name, `"`) {
				var err error
				if name, err = strconv.Unquote(name); err != nil {
					t.Fatalf("archive header %q: %v", s, err)
				}
			}
			out = append(out, archiveFile{name: name})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].data = append(out[len(out)-1].data, line...)
		}
	}
	return out
}

// writeTree builds an archive under dir. An empty file named .git makes its
// directory a git repository, created before the other files are written.
func writeTree(t testing.TB, dir string, files []archiveFile) {
	t.Helper()
	for _, f := range files {
		if filepath.Base(f.name) == ".git" {
			repo := filepath.Join(dir, filepath.Dir(f.name))
			if err := os.MkdirAll(repo, 0o755); err != nil {
				t.Fatal(err)
			}
			git(t, repo, "init", "-q")
		}
	}
	for _, f := range files {
		if filepath.Base(f.name) == ".git" {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// requireGit skips the test when git is not installed.
func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH: the comparison with git needs the real binary")
	}
}

// git runs git in dir, isolated from the user's and the system's
// configuration (no global excludes file, no templates).
func git(t testing.TB, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull, "HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "LC_ALL=C"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "LC_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return out
}

// gitUntracked lists the files under dir that git does not ignore
// (untracked, or tracked), as slash paths relative to dir, nested
// repositories expanded by their own rules.
func gitUntracked(t testing.TB, dir string) []string {
	t.Helper()
	out := []string{}
	for p := range bytes.SplitSeq(git(t, dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard"), []byte{0}) {
		name := string(p)
		switch {
		case name == "":
		case strings.HasSuffix(name, "/"): // a nested repository
			for _, n := range gitUntracked(t, filepath.Join(dir, filepath.FromSlash(name))) {
				out = append(out, name+n)
			}
		default:
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// walkResult is what Walk gave.
type walkResult struct {
	names         []string
	errors, notes []finding.Problem
}

func walkAll(t testing.TB, root string, opts Options) walkResult {
	t.Helper()
	var r walkResult
	err := Walk(context.Background(), root, opts, func(f File) error {
		r.names = append(r.names, f.Name)
		return nil
	}, Problems{
		Error: func(p finding.Problem) { r.errors = append(r.errors, p) },
		Note:  func(p finding.Problem) { r.notes = append(r.notes, p) },
	})
	if err != nil {
		t.Fatalf("Walk(%s): %v", root, err)
	}
	return r
}

// relNames strips root+"/" from names and sorts them.
func relNames(root string, names []string) []string {
	prefix := filepath.ToSlash(root) + "/"
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimPrefix(n, prefix))
	}
	slices.Sort(out)
	return out
}
