package manifest

import (
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

// Stdin is the input name that reads standard input.
const Stdin = "-"

// StdinName is how standard input is named in findings.
const StdinName = "<stdin>"

// DefaultMaxFileSize bounds how much of one file is read.
const DefaultMaxFileSize = 64 << 20

// Input is one file to scan.
type Input struct {
	// Name is the path shown to the user (slash-separated).
	Name string
	// Rendered is set for a directory that is rendered as a whole (a
	// Kustomize root): it holds the marker file's name.
	Rendered string
	// Extra is set for a file that DiscoverOptions.Extra picked: not a
	// manifest, but something the caller also judges (a Dockerfile).
	Extra bool
	// path is where to read it; empty for stdin.
	path string
}

// Path returns where the input is on disk ("" for stdin).
func (in Input) Path() string { return in.path }

// DiscoverOptions tunes Discover.
type DiscoverOptions struct {
	// Skip holds glob patterns (path.Match syntax) matched against each
	// file's or directory's slash path and base name.
	Skip []string
	// Sidecars are base names of files that configure the scan of their
	// directory (such as .mamori-ignore.yaml): found while walking, they
	// are returned apart and not read as manifests.
	Sidecars []string
	// Renderers are base names of files that make their directory one
	// input rendered as a whole (kustomization.yaml). The directory's
	// other files are not read as manifests: they are its resources and
	// patches. Directories below it with a marker of their own are
	// rendered too.
	Renderers []string
	// Archives are file extensions of inputs rendered as a whole
	// (packaged Helm charts, .tgz).
	Archives []string
	// Absorbing are the Renderers whose roots render the roots nested in
	// them too (a Helm chart renders its subcharts).
	Absorbing []string
	// Extra picks files found while walking that are not manifests but
	// are inputs too, by base name (Dockerfiles); they are returned with
	// Input.Extra set. Files named explicitly are picked the same way.
	Extra func(name string) bool
}

// skippedDirs are never descended into: they hold no manifests, only noise.
var skippedDirs = []string{".git", ".hg", ".svn", "node_modules"}

// IsManifestName reports whether a file found while walking a directory is
// read as a manifest.
func IsManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Discover expands the user's targets into files: directories are walked
// recursively for *.yaml, *.yml and *.json; files named explicitly are read
// whatever their extension; "-" is standard input. Targets that do not
// exist are errors. The files are returned in a stable order.
func Discover(ctx context.Context, targets []string, opts DiscoverOptions) (inputs, sidecars []Input, errs []finding.Problem) {
	seen := map[string]bool{}
	add := func(in Input) {
		if !seen[in.Name] {
			seen[in.Name] = true
			inputs = append(inputs, in)
		}
	}
	for _, t := range targets {
		if t == Stdin {
			add(Input{Name: StdinName})
			continue
		}
		fi, err := os.Stat(t)
		if err != nil {
			errs = append(errs, finding.Problem{File: filepath.ToSlash(t), Message: describe(err)})
			continue
		}
		if !fi.IsDir() {
			extra := opts.Extra != nil && opts.Extra(filepath.Base(t))
			add(Input{Name: filepath.ToSlash(t), Rendered: archiveExt(t, opts.Archives), Extra: extra, path: t})
			continue
		}
		var found []Input
		var renderedRoots, absorbing []string
		under := func(slash string, roots []string) bool {
			return slices.ContainsFunc(roots, func(r string) bool { return strings.HasPrefix(slash, r+"/") })
		}
		err = filepath.WalkDir(t, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			slash := filepath.ToSlash(p)
			if err != nil {
				errs = append(errs, finding.Problem{File: slash, Message: describe(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if p != t && skipped(slash, d, opts.Skip) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if under(slash, absorbing) {
					return nil
				}
				for _, m := range opts.Renderers {
					if fi, err := os.Stat(filepath.Join(p, m)); err == nil && fi.Mode().IsRegular() {
						found = append(found, Input{Name: slash, Rendered: m, path: p})
						renderedRoots = append(renderedRoots, slash)
						if slices.Contains(opts.Absorbing, m) {
							absorbing = append(absorbing, slash)
						}
						break
					}
				}
				return nil
			}
			if d.Type().IsRegular() && slices.Contains(opts.Sidecars, d.Name()) {
				sidecars = append(sidecars, Input{Name: slash, path: p})
				return nil
			}
			if d.Type().IsRegular() && opts.Extra != nil && opts.Extra(d.Name()) {
				found = append(found, Input{Name: slash, Extra: true, path: p})
				return nil
			}
			if under(slash, renderedRoots) {
				return nil // a template, resource or patch of a rendered directory
			}
			if d.Type().IsRegular() && IsManifestName(p) {
				found = append(found, Input{Name: slash, path: p})
			}
			if ext := archiveExt(p, opts.Archives); d.Type().IsRegular() && ext != "" {
				found = append(found, Input{Name: slash, Rendered: ext, path: p})
			}
			return nil
		})
		if err != nil && !errors.Is(err, ctx.Err()) {
			errs = append(errs, finding.Problem{File: filepath.ToSlash(t), Message: describe(err)})
		}
		slices.SortFunc(found, func(a, b Input) int { return strings.Compare(a.Name, b.Name) })
		for _, in := range found {
			add(in)
		}
	}
	return inputs, sidecars, errs
}

func archiveExt(p string, exts []string) string {
	for _, e := range exts {
		if strings.HasSuffix(p, e) {
			return e
		}
	}
	return ""
}

func skipped(slash string, d fs.DirEntry, patterns []string) bool {
	if d.IsDir() && slices.Contains(skippedDirs, d.Name()) {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, slash); ok {
			return true
		}
		if ok, _ := path.Match(p, d.Name()); ok {
			return true
		}
	}
	return false
}

// Read returns the content of an input, refusing files larger than max
// bytes.
func Read(in Input, stdin io.Reader, max int64) ([]byte, error) {
	var r io.Reader = stdin
	size := int64(0)
	if in.path == "" && stdin == nil {
		return nil, errors.New("standard input is not available")
	}
	if in.path != "" {
		f, err := os.Open(in.path)
		if err != nil {
			return nil, errors.New(describe(err))
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			if fi.Size() > max {
				return nil, fmt.Errorf("file is %d bytes, over the %d byte limit (--max-file-size): skipped", fi.Size(), max)
			}
			size = fi.Size()
		}
		r = f
	}
	// Size the buffer from the file's size, as os.ReadFile does: growing it
	// by doubling costs more than reading.
	data := make([]byte, 0, size+1)
	lr := io.LimitReader(r, max+1)
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.New(describe(err))
		}
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("input is over the %d byte limit (--max-file-size): skipped", max)
	}
	return data, nil
}

// describe drops the path from an *fs.PathError: the problem already names
// the file.
func describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
