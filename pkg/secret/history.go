package secret

import (
	"context"
	"fmt"
	"time"

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
		if !s.opts.All && skippedInTree(c.Path) {
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
		return nil, fmt.Errorf("git history of %s: %w", repo, err)
	}
	rep.Objects = len(commits) // those that added text
	s.applyExceptions(rep, nil)
	rep.Sort()
	return rep, nil
}
