package files

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/finding"
)

// skipTree holds what the default skips are about, and what they must not
// touch.
var skipTree = []archiveFile{
	{name: "main.go"}, {name: "README.md"}, {name: "docs/guide.md"}, {name: "docs/api/ref.md"},
	// lock files: skipped
	{name: "package-lock.json"}, {name: "web/yarn.lock"}, {name: "go.sum"}, {name: "Cargo.lock"},
	{name: "py/poetry.lock"}, {name: "py/Pipfile.lock"}, {name: "py/uv.lock"}, {name: "Gemfile.lock"},
	{name: "composer.lock"}, {name: "pnpm-lock.yaml"}, {name: "infra/.terraform.lock.hcl"},
	// near misses: read
	{name: "go.mod"}, {name: "package.json"}, {name: "Pipfile"}, {name: "my.lock"}, {name: "yarn.lock.bak"},
	// vendored trees: skipped
	{name: "vendor/github.com/x/y.go"}, {name: "web/node_modules/left-pad/index.js"},
	{name: "py/.venv/lib/site.py"}, {name: "py/env2/pyvenv.cfg"}, {name: "py/env2/lib/x.py"},
	{name: "lib/site-packages/requests/api.py"}, {name: "py/__pycache__/m.cpython-312.pyc"},
	{name: ".hg/store/data"}, {name: ".svn/entries"}, {name: "bower_components/jq/jq.js"},
	// not vendored: read
	{name: "pkg/vendor"}, {name: "third_party/lib.c"}, {name: "venv.md"}, {name: "infra/.terraform/terraform.tfstate"},
	// binary names: skipped
	{name: "img/logo.PNG"}, {name: "dist/app.tar.gz"}, {name: "fonts/a.woff2"}, {name: "bin/tool.exe"},
	{name: "lib/x.jar"}, {name: "docs/spec.pdf"},
	// key stores and text formats: read
	{name: "certs/client.p12"}, {name: "certs/server.key"}, {name: "img/icon.svg"}, {name: "noext"},
}

func TestWalkSkips(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, skipTree)
	if err := os.MkdirAll(filepath.Join(root, ".git", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".git", "config"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	every := make([]string, 0, len(skipTree))
	for _, f := range skipTree {
		every = append(every, f.name)
	}
	slices.Sort(every)
	read := []string{
		"README.md", "certs/client.p12", "certs/server.key", "docs/api/ref.md", "docs/guide.md",
		"go.mod", "img/icon.svg", "infra/.terraform/terraform.tfstate", "main.go", "my.lock", "noext",
		"package.json", "Pipfile", "pkg/vendor", "third_party/lib.c", "venv.md", "yarn.lock.bak",
	}
	slices.Sort(read)
	without := func(names []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
			return slices.ContainsFunc(drop, func(d string) bool { return n == d || strings.HasPrefix(n, d+"/") })
		})
	}
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults", Options{}, read},
		{"All reads everything but .git", Options{All: true}, every},
		{"Skip base name glob", Options{Skip: []string{"*.md"}}, without(read, "README.md", "docs/api/ref.md", "docs/guide.md", "venv.md")},
		{"Skip directory by name", Options{Skip: []string{"docs"}}, without(read, "docs")},
		{"Skip path glob", Options{Skip: []string{"docs/*.md"}}, without(read, "docs/guide.md")},
		{"Skip ** glob", Options{Skip: []string{"docs/**/*.md"}}, without(read, "docs/guide.md", "docs/api/ref.md")},
		{"Skip leading **", Options{Skip: []string{"**/api"}}, without(read, "docs/api")},
		{"Skip trailing **", Options{Skip: []string{"certs/**"}}, without(read, "certs")},
		{"Skip with All", Options{All: true, Skip: []string{"py", "*.lock"}}, without(every,
			"py", "web/yarn.lock", "Cargo.lock", "Gemfile.lock", "composer.lock", "my.lock")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.NoGitignore = true // hermetic: t.TempDir might sit in a repository
			got := walkAll(t, root, tt.opts)
			if len(got.errors)+len(got.notes) > 0 {
				t.Errorf("problems: %v %v", got.errors, got.notes)
			}
			if diff := cmp.Diff(tt.want, relNames(root, got.names)); diff != "" {
				t.Errorf("files read (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWalkSizeLimit(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, []archiveFile{
		{name: "small.txt", data: make([]byte, 100)},
		{name: "exact.txt", data: make([]byte, 1024)},
		{name: "big/dump.sql", data: make([]byte, 1536)},
		{name: "huge.json", data: make([]byte, 3<<20)},
	})
	got := walkAll(t, root, Options{MaxFileSize: 1024, NoGitignore: true})
	if diff := cmp.Diff([]string{"exact.txt", "small.txt"}, relNames(root, got.names)); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
	r := filepath.ToSlash(root)
	want := []finding.Problem{
		{File: r + "/big/dump.sql", Message: "1.5 KiB, over the 1 KiB size limit: not read"},
		{File: r + "/huge.json", Message: "3 MiB, over the 1 KiB size limit: not read"},
	}
	if diff := cmp.Diff(want, got.notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	// No limit: everything is read.
	if got := walkAll(t, root, Options{NoGitignore: true}); len(got.names) != 4 || len(got.notes) != 0 {
		t.Errorf("without a limit: read %v, notes %v", got.names, got.notes)
	}
}

func TestWalkNames(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: "a/b.txt"}, {name: "c.txt"}, {name: "a.txt"}})
	t.Chdir(root)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("sub", "s.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root string
		want []File
	}{
		// Lexical order of directory entries, as filepath.WalkDir: "a/b.txt" before "a.txt".
		{".", []File{{"a/b.txt", filepath.Join("a", "b.txt"), 0}, {"a.txt", "a.txt", 0}, {"c.txt", "c.txt", 0}, {"sub/s.txt", filepath.Join("sub", "s.txt"), 0}}},
		{"./sub/", []File{{"sub/s.txt", filepath.Join("sub", "s.txt"), 0}}},
		{"sub", []File{{"sub/s.txt", filepath.Join("sub", "s.txt"), 0}}},
		{"a/../sub", []File{{"sub/s.txt", filepath.Join("sub", "s.txt"), 0}}},
		{"c.txt", []File{{"c.txt", "c.txt", 0}}},
		{"./a/b.txt", []File{{"a/b.txt", "./a/b.txt", 0}}},
		{root + "/a", []File{{filepath.ToSlash(root) + "/a/b.txt", filepath.Join(root, "a", "b.txt"), 0}}},
	}
	for _, tt := range tests {
		var got []File
		err := Walk(context.Background(), tt.root, Options{NoGitignore: true}, func(f File) error {
			got = append(got, f)
			return nil
		}, Problems{})
		if err != nil {
			t.Errorf("Walk(%q): %v", tt.root, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Walk(%q) (-want +got):\n%s", tt.root, diff)
		}
	}
}

func TestWalkExplicitFile(t *testing.T) {
	// A file named as the root is read whatever the skips and rules say.
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: ".gitignore", data: []byte("*\n")}, {name: "go.sum", data: []byte("x")}})
	p := filepath.Join(root, "go.sum")
	got := walkAll(t, p, Options{Skip: []string{"go.sum"}})
	if !slices.Equal(got.names, []string{filepath.ToSlash(p)}) {
		t.Errorf("Walk(file) read %v", got.names)
	}
	if got := walkAll(t, p, Options{MaxFileSize: 0}); len(got.names) != 1 {
		t.Errorf("MaxFileSize 0 is no limit, read %v", got.names)
	}
}

func TestWalkSymlinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	outside := t.TempDir()
	writeTree(t, outside, []archiveFile{{name: "credentials", data: []byte("secret")}, {name: "rules", data: []byte("a.txt\n")}})
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: "a.txt"}, {name: "d/b.txt"}})
	for link, target := range map[string]string{
		"loop":          ".",                                   // a directory loop
		"d/up":          "..",                                  // another
		"creds":         filepath.Join(outside, "credentials"), // a file outside the tree
		"d/a-again.txt": filepath.Join(root, "a.txt"),          // a file inside it
		"dangling":      filepath.Join(root, "nowhere"),
		"d/.gitignore":  filepath.Join(outside, "rules"), // git does not follow it either
		"outside-dir":   outside,
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	got := walkAll(t, root, Options{})
	if diff := cmp.Diff([]string{"a.txt", "d/b.txt"}, relNames(root, got.names)); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
	wantNotes := []finding.Problem{{File: filepath.ToSlash(root) + "/d/.gitignore", Message: "symbolic link: its rules are not applied (git does not follow it either)"}}
	if diff := cmp.Diff(wantNotes, got.notes); diff != "" || len(got.errors) > 0 {
		t.Errorf("notes (-want +got):\n%s\nerrors: %v", diff, got.errors)
	}
	// A root that is a link is followed: the user named it.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	if got := walkAll(t, link, Options{}); len(got.names) != 2 {
		t.Errorf("Walk(link to root) read %v", got.names)
	}
}

func TestWalkSpecialFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system on Windows")
	}
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: "a.txt"}})
	fifo := filepath.Join(root, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := walkAll(t, root, Options{NoGitignore: true})
	if diff := cmp.Diff([]string{"a.txt"}, relNames(root, got.names)); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
	want := []finding.Problem{{File: filepath.ToSlash(fifo), Message: "not a regular file (named pipe): not read"}}
	if diff := cmp.Diff(want, got.notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	err := Walk(context.Background(), fifo, Options{}, func(File) error { return nil }, Problems{})
	if err == nil || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("Walk(fifo) = %v, want an error naming it", err)
	}
}

func TestWalkErrors(t *testing.T) {
	t.Run("missing root", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope")
		err := Walk(context.Background(), missing, Options{}, func(File) error { return nil }, Problems{})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Walk(missing) = %v, want not-exist naming it", err)
		}
	})
	t.Run("bad Skip pattern", func(t *testing.T) {
		err := Walk(context.Background(), t.TempDir(), Options{Skip: []string{"ok", "a/[x"}}, func(File) error { return nil }, Problems{})
		if err == nil || !strings.Contains(err.Error(), `"a/[x"`) {
			t.Errorf("Walk = %v, want an error naming the pattern", err)
		}
	})

	// Directories and files that vanish during the walk are reported with
	// their names, and the walk goes on.
	vanishing := func(t *testing.T) (root string, fn func(File) error) {
		root = t.TempDir()
		writeTree(t, root, []archiveFile{{name: "a/1.txt"}, {name: "a/2.txt"}, {name: "b/x.txt"}, {name: "c.txt"}})
		return root, func(f File) error {
			if strings.HasSuffix(f.Name, "a/1.txt") {
				for _, p := range []string{"a/2.txt", "b"} {
					if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	t.Run("reported", func(t *testing.T) {
		root, remove := vanishing(t)
		var names []string
		var errs []finding.Problem
		err := Walk(context.Background(), root, Options{NoGitignore: true}, func(f File) error {
			names = append(names, f.Name)
			return remove(f)
		}, Problems{Error: func(p finding.Problem) { errs = append(errs, p) }})
		if err != nil {
			t.Fatal(err)
		}
		r := filepath.ToSlash(root)
		want := []finding.Problem{
			{File: r + "/a/2.txt", Message: "cannot stat: no such file or directory"},
			{File: r + "/b", Message: "cannot read directory: no such file or directory"},
		}
		if diff := cmp.Diff(want, errs); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{r + "/a/1.txt", r + "/c.txt"}, names); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	t.Run("returned without an Error func", func(t *testing.T) {
		root, remove := vanishing(t)
		err := Walk(context.Background(), root, Options{NoGitignore: true}, remove, Problems{})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "a/2.txt: cannot stat") {
			t.Errorf("Walk = %v, want the vanished file's error", err)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 || runtime.GOOS == "windows" {
			t.Skip("root reads any directory: permissions cannot be tested")
		}
		root := t.TempDir()
		writeTree(t, root, []archiveFile{{name: "locked/x.txt"}, {name: "y.txt"}})
		locked := filepath.Join(root, "locked")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(locked, 0o755) })
		got := walkAll(t, root, Options{NoGitignore: true})
		want := []finding.Problem{{File: filepath.ToSlash(locked), Message: "cannot read directory: permission denied"}}
		if diff := cmp.Diff(want, got.errors); diff != "" {
			t.Errorf("errors (-want +got):\n%s", diff)
		}
	})
}

func TestWalkStops(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: "a/1"}, {name: "a/2"}, {name: "a/3"}, {name: "b/1"}, {name: "c"}})
	r := filepath.ToSlash(root) + "/"
	stopAt := func(at string, err error) ([]string, error) {
		var names []string
		werr := Walk(context.Background(), root, Options{NoGitignore: true}, func(f File) error {
			names = append(names, strings.TrimPrefix(f.Name, r))
			if names[len(names)-1] == at {
				return err
			}
			return nil
		}, Problems{})
		return names, werr
	}
	boom := errors.New("boom")
	tests := []struct {
		err     error
		want    []string
		wantErr error
	}{
		{boom, []string{"a/1", "a/2"}, boom},
		{fs.SkipDir, []string{"a/1", "a/2", "b/1", "c"}, nil},
		{fs.SkipAll, []string{"a/1", "a/2"}, nil},
	}
	for _, tt := range tests {
		names, err := stopAt("a/2", tt.err)
		if err != tt.wantErr || !slices.Equal(names, tt.want) {
			t.Errorf("fn returns %v: read %v, Walk = %v; want %v, %v", tt.err, names, err, tt.want, tt.wantErr)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Walk(ctx, root, Options{NoGitignore: true}, func(File) error {
		n++
		cancel()
		return nil
	}, Problems{})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("cancelled: read %d, Walk = %v; want 1, context.Canceled", n, err)
	}
}

// TestWalkGitignoreErrors: a .gitignore that cannot be read is an error
// naming it, and its rules are not applied (more is read, not less).
func TestWalkGitignoreErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, []archiveFile{{name: "a.txt"}, {name: "d/x.txt"}})
	if err := os.Mkdir(filepath.Join(root, "d", ".gitignore"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory named .gitignore holds no rules: it is walked.
	if err := os.WriteFile(filepath.Join(root, "d", ".gitignore", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := walkAll(t, root, Options{})
	if diff := cmp.Diff([]string{"a.txt", "d/.gitignore/f", "d/x.txt"}, relNames(root, got.names)); diff != "" || len(got.errors) > 0 {
		t.Errorf("files read (-want +got):\n%s\nerrors %v", diff, got.errors)
	}

	big := t.TempDir()
	writeTree(t, big, []archiveFile{{name: ".gitignore", data: make([]byte, maxIgnoreSize+1)}, {name: "a.txt"}})
	got = walkAll(t, big, Options{})
	want := []finding.Problem{{File: filepath.ToSlash(big) + "/.gitignore", Message: "cannot read ignore rules: file too large: over 16 MiB"}}
	if diff := cmp.Diff(want, got.errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".gitignore", "a.txt"}, relNames(big, got.names)); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
}

// TestSkipMatchesWalk: Skip.Skips leaves out exactly the files Walk does
// with the same globs, for paths that do not come from a walk.
func TestSkipMatchesWalk(t *testing.T) {
	dir := t.TempDir()
	paths := []string{"a.go", "testdata/x.env", "testdata/deep/y.env", "src/testdata/z.env", "src/gen/a.pb.go", "docs/readme.md", "build/out/app.js"}
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	globs := []string{"testdata", "*.pb.go", "build/**", "docs/*.md"}
	walked := map[string]bool{}
	err := Walk(context.Background(), dir, Options{Skip: globs}, func(f File) error {
		walked[strings.TrimPrefix(f.Name, filepath.ToSlash(dir)+"/")] = true
		return nil
	}, Problems{})
	if err != nil {
		t.Fatal(err)
	}
	skip, err := CompileSkip(globs)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if skip.Skips(p) == walked[p] {
			t.Errorf("%s: Skips %v, walked %v", p, skip.Skips(p), walked[p])
		}
	}
	if _, err := CompileSkip([]string{"[x"}); err == nil {
		t.Error("a malformed glob compiled")
	}
}
