package secret

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	skip, err := files.CompileSkip(s.opts.Skip)
	if err != nil {
		return nil, err
	}
	commits := map[string]bool{}
	err = githistory.Walk(ctx, repo, githistory.Options{Rev: rev, MaxChangeBytes: s.opts.MaxFileSize}, func(c githistory.Change) error {
		commits[c.Commit] = true
		rep.Files++
		if !s.opts.All && skippedInTree(c.Path) || skip.Skips(c.Path) {
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
