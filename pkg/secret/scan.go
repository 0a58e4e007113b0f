package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/files"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// DefaultMaxFileSize bounds the files a scan reads: larger ones are
// noted and skipped (logs, dumps and bundles rarely hold a credential a
// person wrote, and cost the most time).
const DefaultMaxFileSize = 10 << 20

// Options configure a tree scan.
type Options struct {
	// Workers bounds how many files are scanned at once; zero means
	// GOMAXPROCS.
	Workers int
	// MaxFileSize bounds each file; zero means DefaultMaxFileSize.
	MaxFileSize int64
	// NoGitignore scans files .gitignore excludes.
	NoGitignore bool
	// All scans lock files and vendored trees too.
	All bool
	// Skip holds globs of paths not to scan.
	Skip []string
	// Stdin is read for the target "-".
	Stdin io.Reader
	// IgnoreFiles are exception files applying to everything scanned,
	// beside the .mamori-ignore.yaml files found in scanned trees.
	IgnoreFiles []string
	// Now is the day exceptions are judged on; nil means today.
	Now func() time.Time
}

// Scanner scans files and trees.
type Scanner struct {
	eng  *Engine
	opts Options
}

// NewScanner returns a Scanner using eng's rules.
func NewScanner(eng *Engine, opts Options) *Scanner {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	return &Scanner{eng: eng, opts: opts}
}

// Rules is the metadata of every rule the scanner reports under.
func (s *Scanner) Rules() []*finding.Rule {
	return append(s.eng.FindingRules(), KubernetesSecretRule())
}

// fileResult is what scanning one file yields.
type fileResult struct {
	findings []finding.Finding
	errors   []finding.Problem
	notes    []finding.Problem
	scanned  bool
	binary   bool
}

// Scan reads the targets (files, directories, "-" for stdin) and reports
// the secrets in them. Input problems are in the report; the error is for
// cancellation.
func (s *Scanner) Scan(ctx context.Context, targets []string) (*finding.Report, error) {
	type job struct {
		f   files.File
		idx int
	}
	var (
		mu       sync.Mutex
		results  []fileResult
		ignores  []files.File
		rep      = &finding.Report{Targets: targets, Rules: s.Rules(), ObjectNoun: "scanned file"}
		jobs     = make(chan job)
		wg       sync.WaitGroup
		walkErrs []finding.Problem
	)
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64<<10)
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain: the walk stops feeding
				}
				var r fileResult
				r, buf = s.scanFile(j.f, buf)
				mu.Lock()
				results[j.idx] = r
				mu.Unlock()
			}
		}()
	}
	add := func(f files.File) error {
		if path.Base(f.Name) == exception.FileName {
			ignores = append(ignores, f)
			return nil
		}
		mu.Lock()
		idx := len(results)
		results = append(results, fileResult{})
		mu.Unlock()
		select {
		case jobs <- job{f, idx}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	note := func(p finding.Problem) {
		mu.Lock()
		rep.Notes = append(rep.Notes, p)
		mu.Unlock()
	}
	var stdin []byte
	for _, t := range targets {
		if t == manifest.Stdin {
			if s.opts.Stdin == nil {
				walkErrs = append(walkErrs, finding.Problem{File: manifest.StdinName, Message: "standard input is not available here"})
				continue
			}
			data, err := io.ReadAll(io.LimitReader(s.opts.Stdin, s.opts.MaxFileSize+1))
			if err != nil {
				walkErrs = append(walkErrs, finding.Problem{File: manifest.StdinName, Message: err.Error()})
				continue
			}
			stdin = data
			continue
		}
		fi, err := os.Stat(t)
		if err != nil {
			walkErrs = append(walkErrs, finding.Problem{File: filepath.ToSlash(t), Message: describe(err)})
			continue
		}
		if !fi.IsDir() {
			if err := add(files.File{Name: filepath.ToSlash(t), Path: t, Size: fi.Size()}); err != nil {
				break
			}
			continue
		}
		err = files.Walk(ctx, t, files.Options{NoGitignore: s.opts.NoGitignore, All: s.opts.All, Skip: s.opts.Skip, MaxFileSize: s.opts.MaxFileSize}, add, files.Problems{
			Error: func(p finding.Problem) {
				mu.Lock()
				walkErrs = append(walkErrs, p)
				mu.Unlock()
			},
			Note: note,
		})
		if err != nil && ctx.Err() == nil {
			walkErrs = append(walkErrs, finding.Problem{File: filepath.ToSlash(t), Message: err.Error()})
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if stdin != nil {
		r := fileResult{}
		if int64(len(stdin)) > s.opts.MaxFileSize {
			r.notes = append(r.notes, finding.Problem{File: manifest.StdinName, Message: fmt.Sprintf("larger than --max-file-size (%d bytes): not scanned", s.opts.MaxFileSize)})
		} else {
			r = s.scanData(manifest.StdinName, stdin)
		}
		results = append(results, r)
	}
	rep.Errors = append(rep.Errors, walkErrs...)
	binary := 0
	for _, r := range results {
		rep.Files++
		if r.scanned {
			rep.Objects++
		}
		if r.binary {
			binary++
		}
		rep.Findings = append(rep.Findings, r.findings...)
		rep.Errors = append(rep.Errors, r.errors...)
		rep.Notes = append(rep.Notes, r.notes...)
	}
	if binary > 0 {
		rep.Notes = append(rep.Notes, finding.Problem{File: strings.Join(targets, " "), Message: fmt.Sprintf("%d binary files not scanned", binary)})
	}
	s.applyExceptions(rep, ignores)
	rep.Sort()
	return rep, nil
}

// scanFile reads one file into buf (grown as needed and returned for
// reuse) and scans it.
func (s *Scanner) scanFile(f files.File, buf []byte) (fileResult, []byte) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return fileResult{errors: []finding.Problem{{File: f.Name, Message: describe(err)}}}, buf
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fileResult{errors: []finding.Problem{{File: f.Name, Message: describe(err)}}}, buf
	}
	if fi.Size() > s.opts.MaxFileSize {
		return fileResult{notes: []finding.Problem{{File: f.Name, Message: fmt.Sprintf("%d bytes, larger than --max-file-size (%d): not scanned", fi.Size(), s.opts.MaxFileSize)}}}, buf
	}
	if int64(cap(buf)) < fi.Size()+1 {
		buf = make([]byte, 0, fi.Size()+1)
	}
	data := buf[:0]
	for {
		n, err := fh.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return fileResult{errors: []finding.Problem{{File: f.Name, Message: describe(err)}}}, buf
		}
		if len(data) == cap(data) {
			if int64(len(data)) > s.opts.MaxFileSize {
				return fileResult{notes: []finding.Problem{{File: f.Name, Message: fmt.Sprintf("grew past --max-file-size (%d bytes) while read: not scanned", s.opts.MaxFileSize)}}}, buf
			}
			data = slices.Grow(data, len(data))
			buf = data
		}
	}
	return s.scanData(f.Name, data), buf
}

// scanData scans the content of one file. data is not retained.
func (s *Scanner) scanData(name string, data []byte) fileResult {
	if files.IsBinary(data[:min(len(data), 8<<10)]) {
		return fileResult{binary: true}
	}
	r := fileResult{scanned: true}
	r.findings, r.errors = s.eng.FileFindings(name, data)
	return r
}

// FileFindings reports the secrets in one file's content. Kubernetes
// manifests get their findings at objects and fields; other files at
// line and column.
func (e *Engine) FileFindings(name string, data []byte) ([]finding.Finding, []finding.Problem) {
	matches := e.Scan(data)
	if !manifest.IsManifestName(name) || !looksLikeKubernetes(data) {
		out := make([]finding.Finding, 0, len(matches))
		for i := range matches {
			out = append(out, matches[i].Finding(name, finding.Resource{}, ""))
		}
		return out, nil
	}
	parsed := manifest.Parse(name, bytes.Clone(data))
	return e.manifestFindings(name, matches, parsed.Objects)
}

// looksLikeKubernetes is a cheap test before parsing a YAML or JSON file
// as manifests.
func looksLikeKubernetes(data []byte) bool {
	return bytes.Contains(data, []byte("apiVersion")) && bytes.Contains(data, []byte("kind"))
}

// manifestFindings merges the text matches of a manifest file with the
// objects' field matches: a text match inside an object is attributed to
// the object and the field it is in, and one secret found both ways is
// reported once, at its field.
func (e *Engine) manifestFindings(name string, text []Match, objs []*manifest.Object) ([]finding.Finding, []finding.Problem) {
	var out []finding.Finding
	var problems []finding.Problem
	type key struct {
		rule, path string
		obj        int
	}
	type lineKey struct {
		rule      string
		obj, line int
	}
	seen := map[key]bool{}
	seenLine := map[lineKey]bool{}
	for i, o := range objs {
		fm, err := e.ScanObject(o, ObjectOptions{Generic: true})
		if err != nil {
			problems = append(problems, finding.Problem{File: name, Line: o.Line, Message: fmt.Sprintf("%s: %v", o.Resource(), err)})
		}
		found := e.ObjectFindings(o, fm)
		for j, m := range fm {
			seen[key{m.ID(), m.Path, i}] = true
			seenLine[lineKey{m.ID(), i, found[j].Location.Line}] = true
		}
		out = append(out, found...)
	}
	// Objects in file order: each spans from its first line to the next
	// object's.
	fields := make([][]fieldLine, len(objs))
	for _, m := range text {
		oi := sort.Search(len(objs), func(i int) bool { return objs[i].Line > m.Line }) - 1
		if oi < 0 {
			out = append(out, m.Finding(name, finding.Resource{}, ""))
			continue
		}
		o := objs[oi]
		if fields[oi] == nil {
			fields[oi] = fieldLines(o)
		}
		p := fieldAt(fields[oi], m.Line)
		if seen[key{m.Rule.ID, p, oi}] || seenLine[lineKey{m.Rule.ID, oi, m.Line}] {
			continue // found in the field already (one-line JSON puts many fields on a line)
		}
		if m.Rule.Generic && o.Kind() == "SealedSecret" {
			continue // encrypted values, named like secrets
		}
		if o.Group() == "" && o.Kind() == "Secret" && (strings.HasPrefix(p, "data.") || strings.HasPrefix(p, "data['")) {
			continue // base64: the field scan judged the decoded value
		}
		seen[key{m.Rule.ID, p, oi}] = true
		f := m.Finding(name, o.Resource(), p)
		if p != "" {
			f.Message = fmt.Sprintf("%s in %s %s: %s", m.Rule.Title, o.Resource(), p, m.Redacted)
		}
		out = append(out, f)
	}
	return out, problems
}

// fieldLine is where a scalar field of an object starts.
type fieldLine struct {
	line int
	path string
}

// fieldLines lists the scalar fields of o by line (then document order).
func fieldLines(o *manifest.Object) []fieldLine {
	out := []fieldLine{}
	o.Strings(func(_, _ string, pathOf func() string) {
		p := pathOf()
		l, _, _ := o.Locate(p)
		out = append(out, fieldLine{l, p})
	})
	slices.SortStableFunc(out, func(a, b fieldLine) int { return a.line - b.line })
	return out
}

// fieldAt is the path of the field that line falls in: the last one that
// starts on or before it.
func fieldAt(fields []fieldLine, line int) string {
	i := sort.Search(len(fields), func(i int) bool { return fields[i].line > line })
	if i == 0 {
		return ""
	}
	return fields[i-1].path
}

// applyExceptions loads the ignore files found in the scanned trees (each
// scoped to its directory) and those named by IgnoreFiles.
func (s *Scanner) applyExceptions(rep *finding.Report, found []files.File) {
	set := &exception.Set{}
	load := func(name, p, base string) {
		loaded, errs := exception.LoadFile(name, p, base)
		rep.Errors = append(rep.Errors, errs...)
		set.Add(loaded)
	}
	for _, f := range found {
		load(f.Name, f.Path, path.Dir(f.Name))
	}
	for _, f := range s.opts.IgnoreFiles {
		load(filepath.ToSlash(f), f, "")
	}
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	set.Apply(rep, now())
}

// describe drops the path an *os.PathError repeats: problems name the
// file already.
func describe(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
