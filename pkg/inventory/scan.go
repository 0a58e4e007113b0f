package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/package-url/packageurl-go"
)

// OpenFunc opens a file of a tree. The caller closes it.
type OpenFunc func() (*File, error)

// WalkFunc is called for each regular file of a tree; path is
// slash-separated and relative to the root.
type WalkFunc func(path string, info FileInfo, open OpenFunc) error

// Tree is a read-only file tree: a directory, a filesystem in a disk image.
type Tree interface {
	// Walk calls fn for every regular file, in lexical order. An error
	// reading one directory is reported through fn's caller as a Problem,
	// not by stopping the walk; an error fn returns stops it.
	Walk(ctx context.Context, fn WalkFunc, problem func(Problem)) error
}

// NewFile makes a File over r. close, if not nil, is called by Close.
func NewFile(path string, info FileInfo, r io.ReaderAt, localPath string, close func() error) *File {
	return &File{Path: path, Size: info.Size, Mode: info.Mode, ReaderAt: r, LocalPath: localPath, close: close}
}

// Close releases the file.
func (f *File) Close() error {
	if f.close == nil {
		return nil
	}
	return f.close()
}

// Dir is a directory on the local disk.
type Dir struct {
	Root string
	// Skip reports whether a directory (slash path relative to Root) is
	// left out, with everything under it.
	Skip func(path string) bool
}

// Walk walks the directory. Symbolic links are not followed.
func (d Dir) Walk(ctx context.Context, fn WalkFunc, problem func(Problem)) error {
	root := filepath.Clean(d.Root)
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if err != nil {
			if p == root {
				return err
			}
			problem(Problem{Path: rel, Err: err})
			if e != nil && e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			if p != root && d.Skip != nil && d.Skip(rel) {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			problem(Problem{Path: rel, Err: err})
			return nil
		}
		fi := FileInfo{Size: info.Size(), Mode: info.Mode()}
		return fn(rel, fi, func() (*File, error) {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			return NewFile(rel, fi, f, p, f.Close), nil
		})
	})
}

// RootfsSkip leaves out the pseudo filesystems of an OS root.
func RootfsSkip(path string) bool {
	switch path {
	case "proc", "sys", "dev", "run", "tmp":
		return true
	}
	return false
}

// Scanner runs analyzers over trees.
type Scanner struct {
	Analyzers []Analyzer
	// Workers bounds concurrent analyses; 0 means GOMAXPROCS.
	Workers int
}

// Scan inventories a tree. Files no analyzer wants are never opened.
// Problems with single files are collected in the inventory; the error is
// for failures that stop the whole scan (the root cannot be read, ctx).
func (s *Scanner) Scan(ctx context.Context, t Tree) (*Inventory, error) {
	var (
		mu  sync.Mutex
		inv = &Inventory{}
		res []fileResult
	)
	problem := func(p Problem) {
		mu.Lock()
		inv.Problems = append(inv.Problems, p)
		mu.Unlock()
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				r, err := s.analyze(ctx, j)
				mu.Lock()
				res = append(res, r...)
				if err != nil {
					inv.Problems = append(inv.Problems, err...)
				}
				mu.Unlock()
			}
		})
	}
	walkErr := t.Walk(ctx, func(path string, info FileInfo, open OpenFunc) error {
		var want []Analyzer
		for _, a := range s.Analyzers {
			if a.Wants(path, info) {
				want = append(want, a)
			}
		}
		if len(want) == 0 {
			return nil
		}
		select {
		case jobs <- job{path: path, analyzers: want, open: open}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, problem)
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, walkErr
	}
	Merge(inv, res)
	return inv, nil
}

type job struct {
	path      string
	analyzers []Analyzer
	open      OpenFunc
}

type fileResult struct {
	path     string
	analyzer string
	result   *Result
}

func (s *Scanner) analyze(ctx context.Context, j job) ([]fileResult, []Problem) {
	f, err := j.open()
	if err != nil {
		return nil, []Problem{{Path: j.path, Err: err}}
	}
	defer f.Close()
	var (
		out  []fileResult
		errs []Problem
	)
	for _, a := range j.analyzers {
		r, err := AnalyzeFile(ctx, a, f)
		if err != nil {
			errs = append(errs, Problem{Path: j.path, Analyzer: a.Name(), Err: err})
		}
		if r != nil {
			out = append(out, fileResult{path: j.path, analyzer: a.Name(), result: r})
		}
	}
	return out, errs
}

// AnalyzeFile runs one analyzer on one file, turning a panic in a parser
// into an error so that one bad file cannot stop a scan.
func AnalyzeFile(ctx context.Context, a Analyzer, f *File) (r *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("internal error in %s analyzer: %v", a.Name(), p)
		}
	}()
	return a.Analyze(ctx, f)
}

// Merge adds per-file results to inv in a stable order: the OS (the
// first os-release-like result by path order), then packages sorted by
// path, ecosystem, name and version, with OS package PURLs filled in.
func Merge(inv *Inventory, res []fileResult) {
	slices.SortFunc(res, func(a, b fileResult) int {
		return cmp.Or(strings.Compare(a.path, b.path), strings.Compare(a.analyzer, b.analyzer))
	})
	for _, r := range res {
		if PreferOS(r.result.OS, inv.OS) {
			inv.OS = r.result.OS
		}
	}
	for _, r := range res {
		inv.Packages = append(inv.Packages, r.result.Packages...)
		inv.AddLicenses(r.result.Licenses)
	}
	Finish(inv)
}

// OSRank orders descriptions of an OS when several files give one: a
// distroless marker beats the Debian beneath it, a description with an
// OSV ecosystem beats one without, and os-release beats the rest
// (debian_version alone gives "12.15" and no name).
func OSRank(o *OS) int {
	n := 0
	if o.Distroless {
		n += 4
	}
	if o.Ecosystem != "" {
		n += 2
	}
	if path.Base(o.Path) == "os-release" {
		n++
	}
	return n
}

// Finish fills OS package PURLs from the inventory's OS and sorts the
// packages. Image scans, which merge layers themselves, call it last.
func Finish(inv *Inventory) {
	for i := range inv.Packages {
		p := &inv.Packages[i]
		if p.Ecosystem == "" {
			p.Ecosystem = OSEcosystem(p.Type, inv.OS)
		}
		if p.PURL == "" {
			p.PURL = OSPURL(p, inv.OS)
		}
		if len(p.Licenses) == 0 && p.Type == Dpkg {
			p.Licenses = inv.Licenses[p.Name]
		}
	}
	slices.SortStableFunc(inv.Packages, func(a, b Package) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Ecosystem, b.Ecosystem),
			strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
	})
	slices.SortStableFunc(inv.Problems, func(a, b Problem) int { return strings.Compare(a.Path, b.Path) })
}

// OSPURL is the package URL of an OS package: pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.
// It is empty for packages of other types.
func OSPURL(p *Package, o *OS) string {
	var typ, ns string
	switch p.Type {
	case Dpkg:
		typ = packageurl.TypeDebian
	case Apk:
		typ = packageurl.TypeApk
	case RPM:
		typ = packageurl.TypeRPM
	default:
		return ""
	}
	var q packageurl.Qualifiers
	if p.Arch != "" {
		q = append(q, packageurl.Qualifier{Key: "arch", Value: p.Arch})
	}
	if o != nil {
		ns = o.Family
		if o.Distroless {
			ns = "debian"
		}
		if o.Version != "" {
			q = append(q, packageurl.Qualifier{Key: "distro", Value: ns + "-" + o.Version})
		}
	}
	if ns == "" {
		ns = map[Type]string{Dpkg: "debian", Apk: "alpine", RPM: "redhat"}[p.Type]
	}
	version := p.Version
	if p.Type == RPM {
		// The PURL spec carries the epoch as a qualifier.
		if i := strings.IndexByte(version, ':'); i > 0 {
			q = append(q, packageurl.Qualifier{Key: "epoch", Value: version[:i]})
			version = version[i+1:]
		}
	}
	if p.SourceName != "" && (p.SourceName != p.Name || p.SourceVersion != "" && p.SourceVersion != p.Version) {
		src := p.SourceName
		if p.SourceVersion != "" && p.SourceVersion != p.Version {
			src += "@" + p.SourceVersion
		}
		q = append(q, packageurl.Qualifier{Key: "upstream", Value: src})
	}
	slices.SortFunc(q, func(a, b packageurl.Qualifier) int { return strings.Compare(a.Key, b.Key) })
	return packageurl.NewPackageURL(typ, ns, p.Name, version, q, "").ToString()
}

// OSEcosystem is the OSV ecosystem (without release) of an OS package:
// the OS's own, else what the package manager implies.
func OSEcosystem(t Type, o *OS) string {
	if t != Dpkg && t != Apk && t != RPM {
		return ""
	}
	if o != nil && o.Ecosystem != "" {
		base, _, _ := strings.Cut(o.Ecosystem, ":")
		return base
	}
	switch t {
	case Dpkg:
		return EcoDebian
	case Apk:
		return EcoAlpine
	}
	return ""
}

// ErrTooLarge is returned by analyzers for files over their size cap.
var ErrTooLarge = errors.New("file too large")

// PreferOS reports whether o should replace cur as a tree's OS, by the
// rule Merge uses; image scans, which merge layers themselves, pick with
// it.
func PreferOS(o, cur *OS) bool {
	return o != nil && (cur == nil || OSRank(o) > OSRank(cur))
}
