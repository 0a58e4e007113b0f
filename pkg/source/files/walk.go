package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Options tune Walk.
type Options struct {
	// NoGitignore turns off honouring gitignore rules (default: honoured):
	// every .gitignore in the tree, each scoped to its directory; the
	// .git/info/exclude of each repository in the tree; and, when the root
	// is inside a repository, the repository's info/exclude and the
	// .gitignore files of the root's parents up to the repository's top
	// (the nearest directory holding .git).
	NoGitignore bool
	// All turns off the default skips: lock files (IsLockFile), vendored
	// and dependency trees (IsVendorDir, and virtualenvs found by their
	// pyvenv.cfg), version-control directories other than .git, and binary
	// file names (IsBinaryName). .git is always skipped.
	All bool
	// Skip are extra globs in path.Match syntax, where a "**" element
	// matches any number of path elements. Each is matched against the
	// slash path relative to the root and against the base name; a
	// directory that matches is not entered.
	Skip []string
	// MaxFileSize: larger files are not read, and each gives a note. Zero
	// or less means no limit.
	MaxFileSize int64
}

// File is one file to read.
type File struct {
	// Name is the file as shown to users: the root joined with the slash
	// path relative to it (root "." gives "a/b.txt", not "./a/b.txt").
	Name string
	// Path is the OS path to open.
	Path string
	Size int64
}

// Problems receives what Walk meets besides files to read.
type Problems struct {
	// Error gets each path that could not be read: an unreadable
	// directory, a file that vanished, a .gitignore that cannot be read.
	// The scan is incomplete (finding.Report.Errors). When Error is nil,
	// Walk stops at the first such problem and returns it instead.
	Error func(finding.Problem)
	// Note gets each file skipped on purpose that a user may want to
	// know about: files over Options.MaxFileSize, special files (named
	// pipes, sockets, devices), symlinked .gitignore files
	// (finding.Report.Notes). When Note is nil, notes are dropped.
	Note func(finding.Problem)
}

// maxIgnoreSize bounds a .gitignore or info/exclude file read into memory.
const maxIgnoreSize = 16 << 20

// Walk calls fn for every file under root to read, in lexical order of
// directory entries (as filepath.WalkDir), and reports through problems
// what it cannot read or skips on purpose.
//
// What is not read, silently because it is expected: what the gitignore
// rules exclude (see Options.NoGitignore; git's exact rules, see
// ParseGitignore and Matcher; core.excludesFile and other user-level
// configuration are not read, so that a scan does not depend on who runs
// it); what the default skips and Options.Skip exclude; .git; and symbolic
// links. Symbolic links are not followed, neither to directories (loops)
// nor to files: a target inside the tree is read under its own name, a
// target outside it is not what was asked to be scanned (and git stores a
// link, not its target's content). A nested repository (a directory whose
// .git is a repository) is walked by its own rules only, as git does.
//
// Root itself is read whatever the rules say about it: a root that is a
// file is passed to fn (only the size limit applies), and a root directory
// that a parent's .gitignore excludes is walked. Root may be a symbolic
// link. A root that does not exist or is not a file or directory is an
// error.
//
// Walk reads ignore rules and .git files only, never the files it passes
// to fn: the reader decides on content, with IsBinary on the first 8 KiB.
//
// Walk stops at the first error fn returns and returns it, except that
// fs.SkipDir skips the rest of the file's directory and fs.SkipAll stops
// the walk with a nil error. It stops with ctx.Err() when ctx is done.
func Walk(ctx context.Context, root string, opts Options, fn func(File) error, problems Problems) error {
	skips, err := CompileSkip(opts.Skip)
	if err != nil {
		return err
	}
	w := &walker{ctx: ctx, opts: opts, fn: fn, problems: problems, skips: skips}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("walk %s: %w", root, cause(err))
	}
	w.root = path.Clean(filepath.ToSlash(root))
	switch {
	case fi.Mode().IsRegular():
		err = w.file(File{Name: w.root, Path: root, Size: fi.Size()})
	case fi.IsDir():
		r := rules{off: true}
		if !opts.NoGitignore {
			r, err = w.enclosing(root)
			if err != nil {
				return err
			}
		}
		err = w.dir(root, "", r)
	default:
		return fmt.Errorf("walk %s: not a regular file or directory (%s)", root, kind(fi.Mode()))
	}
	if errors.Is(err, fs.SkipAll) || errors.Is(err, fs.SkipDir) {
		return nil
	}
	return err
}

type walker struct {
	ctx      context.Context
	opts     Options
	skips    Skip
	fn       func(File) error
	problems Problems
	root     string // slash form of the root, for names
}

// rules are the gitignore rules in force in one directory.
type rules struct {
	off bool
	// ignores are lowest precedence first; their dirs, like repoRel, are
	// relative to the top of the repository (or of the walk).
	ignores []*Ignore
	repoRel string // the directory relative to that top
}

func (r rules) with(ig *Ignore) rules {
	if ig != nil && ig.Len() > 0 {
		r.ignores = append(slices.Clip(r.ignores), ig)
	}
	return r
}

// name is how rel is shown.
func (w *walker) name(rel string) string {
	switch {
	case rel == "":
		return w.root
	case w.root == ".":
		return rel
	case strings.HasSuffix(w.root, "/"):
		return w.root + rel
	}
	return w.root + "/" + rel
}

// dir walks the directory at osPath, rel from the root.
func (w *walker) dir(osPath, rel string, r rules) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(osPath)
	if err != nil {
		// ReadDir returns what it read before the error: walk that too.
		if err := w.fail(w.name(rel), "cannot read directory", err); err != nil {
			return err
		}
	}
	if rel != "" && !w.opts.All && has(entries, "pyvenv.cfg") {
		return nil // a Python virtualenv, whatever its name
	}
	if !r.off {
		if rel != "" && has(entries, ".git") {
			if gd := gitDir(osPath); gd != "" {
				// A nested repository: only its own rules apply.
				r = rules{}
				ig, err := w.readRules(filepath.Join(gd, "info", "exclude"), "", true)
				if err != nil {
					return err
				}
				r = r.with(ig)
			}
		}
		if e := find(entries, ".gitignore"); e != nil && !e.IsDir() {
			ig, err := w.readRules(filepath.Join(osPath, ".gitignore"), r.repoRel, false)
			if err != nil {
				return err
			}
			r = r.with(ig)
		}
	}
	for _, e := range entries {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		base := e.Name()
		if base == ".git" {
			continue
		}
		childRel := join(rel, base)
		isDir := e.IsDir()
		if w.skipped(childRel) {
			continue
		}
		if !r.off && len(r.ignores) > 0 {
			repoPath := childRel
			if r.repoRel != rel {
				repoPath = join(r.repoRel, base)
			}
			if excluded(r.ignores, repoPath, isDir) {
				continue
			}
		}
		if !w.opts.All && (isDir && IsVendorDir(base) || !isDir && (IsLockFile(base) || IsBinaryName(base))) {
			continue
		}
		t := e.Type()
		switch {
		case t&fs.ModeSymlink != 0:
			// Not followed: see Walk.
		case isDir:
			cr := r
			cr.repoRel = join(r.repoRel, base)
			if err := w.dir(filepath.Join(osPath, base), childRel, cr); err != nil {
				return err
			}
		case t.IsRegular():
			name := w.name(childRel)
			fi, err := e.Info()
			if err != nil {
				if err := w.fail(name, "cannot stat", err); err != nil {
					return err
				}
				continue
			}
			err = w.file(File{Name: name, Path: filepath.Join(osPath, base), Size: fi.Size()})
			if errors.Is(err, fs.SkipDir) {
				return nil
			}
			if err != nil {
				return err
			}
		default:
			w.note(w.name(childRel), fmt.Sprintf("not a regular file (%s): not read", kind(t)))
		}
	}
	return nil
}

func (w *walker) file(f File) error {
	if max := w.opts.MaxFileSize; max > 0 && f.Size > max {
		w.note(f.Name, fmt.Sprintf("%s, over the %s size limit: not read", byteSize(f.Size), byteSize(max)))
		return nil
	}
	return w.fn(f)
}

func (w *walker) skipped(rel string) bool { return w.skips.match(rel) }

// enclosing returns the rules in force at the root: those of the
// repository around it, if any.
func (w *walker) enclosing(root string) (rules, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return rules{}, w.fail(w.root, "cannot find the enclosing repository", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var down []string // directory names from the repository's top to the root
	top := abs
	for {
		if gitDir(top) != "" {
			break
		}
		parent := filepath.Dir(top)
		if parent == top {
			return rules{}, nil // not in a repository: the tree's own rules only
		}
		down = append(down, filepath.Base(top))
		top = parent
	}
	slices.Reverse(down)
	if len(down) > 0 && down[0] == ".git" {
		return rules{off: true}, nil // inside a repository's metadata: git has no rules there
	}
	var r rules
	ig, err := w.readRules(filepath.Join(gitDir(top), "info", "exclude"), "", true)
	if err != nil {
		return rules{}, err
	}
	r = r.with(ig)
	dir, rel := top, ""
	for _, name := range down {
		ig, err := w.readRules(filepath.Join(dir, ".gitignore"), rel, false)
		if err != nil {
			return rules{}, err
		}
		r = r.with(ig)
		dir, rel = filepath.Join(dir, name), join(rel, name)
	}
	r.repoRel = rel
	return r, nil
}

// readRules reads a gitignore file scoped to dir; a missing file gives no
// rules. In the working tree git does not follow a symlinked .gitignore,
// so neither does this unless follow is set (info/exclude).
func (w *walker) readRules(file, dir string, follow bool) (*Ignore, error) {
	shown := filepath.ToSlash(file)
	if rel, err := filepath.Rel(w.rootOS(), file); err == nil && filepath.IsLocal(rel) {
		shown = w.name(filepath.ToSlash(rel))
	}
	fi, err := os.Lstat(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) {
		return nil, nil
	}
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 && !follow {
		w.note(shown, "symbolic link: its rules are not applied (git does not follow it either)")
		return nil, nil
	}
	var data []byte
	if err == nil {
		data, err = readCapped(file, maxIgnoreSize)
	}
	if err != nil {
		return nil, w.fail(shown, "cannot read ignore rules", err)
	}
	return ParseGitignore(dir, data), nil
}

// rootOS is the root as an OS path, for naming files found under it.
func (w *walker) rootOS() string { return filepath.FromSlash(w.root) }

var errTooLarge = errors.New("file too large")

func readCapped(file string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: over %s", errTooLarge, byteSize(max))
	}
	return data, nil
}

// gitDir returns the git directory of the repository whose top is dir, or
// "" when dir is not the top of one: .git is a directory holding HEAD, or
// a file "gitdir: <path>" (submodules, worktrees). A linked worktree's
// commondir, where info/exclude lives, is followed.
func gitDir(dir string) string {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Lstat(dotGit)
	if err != nil {
		return ""
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(dotGit, "HEAD")); err != nil {
			return ""
		}
		return dotGit
	}
	if !fi.Mode().IsRegular() {
		return ""
	}
	data, err := readCapped(dotGit, 4096)
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	gd, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "gitdir:")
	if !ok {
		return ""
	}
	gd = strings.TrimSpace(gd)
	if !filepath.IsAbs(gd) {
		gd = filepath.Join(dir, gd)
	}
	if c, err := readCapped(filepath.Join(gd, "commondir"), 4096); err == nil {
		common := strings.TrimSpace(string(c))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gd, common)
		}
		return common
	}
	return gd
}

// fail reports a path that could not be read, or returns it as an error
// when no one listens.
func (w *walker) fail(name, what string, err error) error {
	err = cause(err)
	if w.problems.Error == nil {
		return fmt.Errorf("%s: %s: %w", name, what, err)
	}
	w.problems.Error(finding.Problem{File: name, Message: what + ": " + err.Error()})
	return nil
}

func (w *walker) note(name, msg string) {
	if w.problems.Note != nil {
		w.problems.Note(finding.Problem{File: name, Message: msg})
	}
}

// cause drops the operation and path of a *fs.PathError: Problems name
// the file themselves.
func cause(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func find(entries []fs.DirEntry, name string) fs.DirEntry {
	i, ok := slices.BinarySearchFunc(entries, name, func(e fs.DirEntry, n string) int { return strings.Compare(e.Name(), n) })
	if !ok {
		return nil
	}
	return entries[i]
}

func has(entries []fs.DirEntry, name string) bool { return find(entries, name) != nil }

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular file"
}

// byteSize renders n bytes for people: 512 B, 1.5 KiB, 10 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}
