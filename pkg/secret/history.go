package secret

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/source/files"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/githistory"
)

// ScanHistory reports the secrets added by the commits of a repository
// (those reachable from HEAD, or rev): each at the commit that added it,
// with its author date, path and line in the file at that commit. Its
// fingerprint is the one a scan of the work tree gives the same secret in
// the same file, so that one exception covers both.
func (s *Scanner) ScanHistory(ctx context.Context, repo, rev string) (*finding.Report, error) {
	rep := &finding.Report{Targets: []string{repo}, Rules: s.Rules(), ObjectNoun: "commit"}
	commits := map[string]bool{}
	err := githistory.Walk(ctx, repo, githistory.Options{Rev: rev, MaxChangeBytes: s.opts.MaxFileSize}, func(c githistory.Change) error {
		commits[c.Commit] = true
		rep.Files++
		if !s.opts.All && skippedInTree(c.Path) || skippedByGlob(c.Path, s.opts.Skip) {
			return nil
		}
		if c.Truncated {
			rep.Notes = append(rep.Notes, finding.Problem{File: c.Path, Message: fmt.Sprintf("commit %.12s added more than --max-file-size (%d bytes): the rest not scanned", c.Commit, s.opts.MaxFileSize)})
		}
		for _, h := range c.Hunks {
			for _, m := range s.eng.Scan(h.Text) {
				m.Line += h.Line - 1
				f := m.Finding(c.Path, finding.Resource{}, "")
				f.Secret.Commit = c.Commit
				f.Secret.Author = c.Author
				f.Secret.Date = c.AuthorDate.Format(time.RFC3339)
				f.Message += fmt.Sprintf(" (commit %.12s, %s)", c.Commit, c.AuthorDate.Format(time.DateOnly))
				rep.Findings = append(rep.Findings, f)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Objects = len(commits) // those that added text
	// The repository's own ignore file, as checked out, covers its
	// history: its paths are the repository's.
	var ignores []files.File
	if _, err := os.Stat(filepath.Join(repo, exception.FileName)); err == nil {
		ignores = append(ignores, files.File{Name: exception.FileName, Path: filepath.Join(repo, exception.FileName)})
	}
	s.applyExceptions(rep, ignores)
	rep.Sort()
	return rep, nil
}

// skippedByGlob applies --skip globs to a repository path: a glob matches
// the path, its base name, or a directory it is under ("testdata/**").
func skippedByGlob(p string, globs []string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
		if ok, _ := path.Match(g, path.Base(p)); ok {
			return true
		}
		if dir, ok := strings.CutSuffix(g, "/**"); ok && (p == dir || strings.HasPrefix(p, dir+"/")) {
			return true
		}
	}
	return false
}
