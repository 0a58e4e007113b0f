package cli

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/report"
	"github.com/mamori-dev/mamori/pkg/secret"
	"github.com/mamori-dev/mamori/pkg/source/files"
)

// newSecretEngine compiles the built-in secret rules.
func newSecretEngine() (*secret.Engine, error) {
	return secret.New(secret.Builtin())
}

// newDockerfileLinter returns a linter whose ENV/ARG checks use eng.
func newDockerfileLinter(eng *secret.Engine) *dockerfile.Linter {
	return dockerfile.New(dockerfile.Options{
		Secret: func(key, value string) (string, string, bool) {
			ms := eng.ScanValue(key, []byte(value))
			if len(ms) == 0 {
				return "", "", false
			}
			return ms[0].Rule.Title, ms[0].Redacted, true
		},
		Redact: eng.RedactText,
	})
}

type scanSecretFlags struct {
	out            outputFlags
	git            bool
	rev            string
	noGitignore    bool
	all            bool
	skip           []string
	maxFileSize    int64
	workers        int
	ignoreFiles    []string
	showSuppressed bool
	now            string
}

func newScanSecret(stdio IO) *cobra.Command {
	var fl scanSecretFlags
	cmd := &cobra.Command{
		Use:   "secret PATH...",
		Short: "Scan files, directories (- for stdin) or a repository's history for leaked credentials",
		Example: `  mamori scan secret .
  mamori scan secret --git .                  # every commit reachable from HEAD
  mamori scan secret --git --rev main..HEAD . # the commits of a pull request
  mamori scan secret --format sarif -o secrets.sarif .`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScanSecret(cmd.Context(), stdio, &fl, args)
		},
	}
	fl.out.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&fl.git, "git", false, "scan the history of the repository at PATH (lines added by each commit, with the git binary) instead of its files")
	f.StringVar(&fl.rev, "rev", "", "with --git, the revision range to scan (default HEAD: every commit reachable from it)")
	f.BoolVar(&fl.noGitignore, "no-gitignore", false, "scan files that .gitignore excludes too")
	f.BoolVar(&fl.all, "all", false, "scan lock files and vendored trees (node_modules, vendor, …) too")
	f.StringSliceVar(&fl.skip, "skip", nil, "glob of files or directories not to scan (** allowed; repeatable)")
	f.Int64Var(&fl.maxFileSize, "max-file-size", secret.DefaultMaxFileSize, "largest file to read, in bytes; larger ones are noted and skipped")
	f.IntVar(&fl.workers, "workers", 0, "files scanned in parallel (0: one per CPU)")
	f.StringSliceVar(&fl.ignoreFiles, "ignorefile", nil, "exception file applying to everything scanned, beside the .mamori-ignore.yaml files found in scanned directories (repeatable)")
	f.BoolVar(&fl.showSuppressed, "show-suppressed", false, "list the findings exceptions suppressed, and by which entry")
	f.StringVar(&fl.now, "now", "", "judge exception expiry as on this date (YYYY-MM-DD)")
	_ = f.MarkHidden("now")
	return cmd
}

func runScanSecret(ctx context.Context, stdio IO, fl *scanSecretFlags, args []string) error {
	format, show, failOn, err := parseOutput(&fl.out)
	if err != nil {
		return err
	}
	now, err := parseNow(fl.now)
	if err != nil {
		return err
	}
	eng, err := newSecretEngine()
	if err != nil {
		return err
	}
	sc := secret.NewScanner(eng, secret.Options{
		Workers: fl.workers, MaxFileSize: fl.maxFileSize, NoGitignore: fl.noGitignore, All: fl.all,
		Skip: fl.skip, Stdin: stdio.In, IgnoreFiles: fl.ignoreFiles, Now: func() time.Time { return now },
	})
	var rep *finding.Report
	if fl.git {
		if len(args) != 1 {
			return fmt.Errorf("--git scans one repository, not %d paths", len(args))
		}
		rep, err = sc.ScanHistory(ctx, args[0], fl.rev)
	} else {
		if fl.rev != "" {
			return fmt.Errorf("--rev needs --git")
		}
		rep, err = sc.Scan(ctx, args)
	}
	if err != nil {
		return err
	}
	fl.out.showSuppressed = fl.showSuppressed
	return finishReport(stdio, &fl.out, format, show, failOn, rep, "scan secret")
}

type scanDockerfileFlags struct {
	out            outputFlags
	skip           []string
	ignoreFiles    []string
	showSuppressed bool
	now            string
}

func newScanDockerfile(stdio IO) *cobra.Command {
	var fl scanDockerfileFlags
	cmd := &cobra.Command{
		Use:   "dockerfile PATH...",
		Short: "Lint Dockerfiles (files, or directories searched for Dockerfile, *.Dockerfile, Containerfile)",
		Example: `  mamori scan dockerfile Dockerfile
  mamori scan dockerfile --format sarif -o dockerfile.sarif .`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScanDockerfile(cmd.Context(), stdio, &fl, args)
		},
	}
	fl.out.register(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&fl.skip, "skip", nil, "glob of files or directories not to scan (** allowed; repeatable)")
	f.StringSliceVar(&fl.ignoreFiles, "ignorefile", nil, "exception file applying to everything scanned, beside the .mamori-ignore.yaml files found in scanned directories (repeatable)")
	f.BoolVar(&fl.showSuppressed, "show-suppressed", false, "list the findings exceptions suppressed, and by which entry")
	f.StringVar(&fl.now, "now", "", "judge exception expiry as on this date (YYYY-MM-DD)")
	_ = f.MarkHidden("now")
	return cmd
}

func runScanDockerfile(ctx context.Context, stdio IO, fl *scanDockerfileFlags, args []string) error {
	format, show, failOn, err := parseOutput(&fl.out)
	if err != nil {
		return err
	}
	now, err := parseNow(fl.now)
	if err != nil {
		return err
	}
	eng, err := newSecretEngine()
	if err != nil {
		return err
	}
	lint := newDockerfileLinter(eng)
	rep := &finding.Report{Targets: args, Rules: dockerfile.Rules(), ObjectNoun: "Dockerfile"}
	var found, ignores []files.File
	for _, t := range args {
		fi, err := os.Stat(t)
		if err != nil {
			rep.Errors = append(rep.Errors, finding.Problem{File: filepath.ToSlash(t), Message: err.Error()})
			continue
		}
		if !fi.IsDir() {
			found = append(found, files.File{Name: filepath.ToSlash(t), Path: t})
			continue
		}
		err = files.Walk(ctx, t, files.Options{Skip: fl.skip}, func(f files.File) error {
			switch base := path.Base(f.Name); {
			case base == exception.FileName:
				ignores = append(ignores, f)
			case dockerfile.IsDockerfile(base):
				found = append(found, f)
			}
			return nil
		}, files.Problems{
			Error: func(p finding.Problem) { rep.Errors = append(rep.Errors, p) },
			Note:  func(p finding.Problem) { rep.Notes = append(rep.Notes, p) },
		})
		if err != nil {
			return err
		}
	}
	// BuildKit's parser is most of the cost: lint on every CPU.
	type result struct {
		findings []finding.Finding
		problems []finding.Problem
	}
	results := make([]result, len(found))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				results[i].findings, results[i].problems = lint.LintFile(found[i].Name, found[i].Path)
			}
		})
	}
	for i := range found {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, r := range results {
		rep.Files++
		if len(r.problems) == 0 || len(r.findings) > 0 {
			rep.Objects++
		}
		rep.Findings = append(rep.Findings, r.findings...)
		rep.Errors = append(rep.Errors, r.problems...)
	}
	set, problems := loadScopedIgnores(ignores, fl.ignoreFiles)
	rep.Errors = append(rep.Errors, problems...)
	set.Apply(rep, now)
	rep.Sort()
	fl.out.showSuppressed = fl.showSuppressed
	return finishReport(stdio, &fl.out, format, show, failOn, rep, "scan dockerfile")
}

// loadScopedIgnores loads ignore files found in scanned trees (each
// scoped to its directory) and those named with --ignorefile.
func loadScopedIgnores(found []files.File, named []string) (*exception.Set, []finding.Problem) {
	set := &exception.Set{}
	var problems []finding.Problem
	load := func(name, p, base string) {
		loaded, errs := exception.LoadFile(name, p, base)
		problems = append(problems, errs...)
		set.Add(loaded)
	}
	for _, f := range found {
		load(f.Name, f.Path, path.Dir(f.Name))
	}
	for _, f := range named {
		load(filepath.ToSlash(f), f, "")
	}
	return set, problems
}

// parseOutput checks the output flags before any work is done.
func parseOutput(o *outputFlags) (report.Format, map[finding.Severity]bool, finding.Severity, error) {
	format, err := report.ParseFormat(o.format)
	if err != nil {
		return "", nil, 0, err
	}
	show, err := parseSeverities(o.severity)
	if err != nil {
		return "", nil, 0, err
	}
	failOn, err := finding.ParseSeverity(o.failOn)
	if err != nil {
		return "", nil, 0, fmt.Errorf("--fail-on: %w", err)
	}
	return format, show, failOn, nil
}

func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--now: want YYYY-MM-DD: %w", err)
	}
	return t, nil
}

// finishReport filters by severity, writes the report, prints the summary
// and errors where the table does not, and turns the outcome into the
// exit code.
func finishReport(stdio IO, o *outputFlags, format report.Format, show map[finding.Severity]bool, failOn finding.Severity, rep *finding.Report, command string) error {
	if show != nil {
		rep.Findings = slices.DeleteFunc(rep.Findings, func(f finding.Finding) bool { return !show[f.Severity()] })
	}
	if err := writeReport(stdio, o, format, rep, command); err != nil {
		return err
	}
	if format != report.Table || o.output != "" {
		fmt.Fprintln(stdio.Err, report.Summary(rep))
		for _, p := range rep.Errors {
			fmt.Fprintln(stdio.Err, "error:", p.String())
		}
	}
	switch {
	case len(rep.Errors) > 0:
		return &exitError{ExitError}
	case o.exitCode != 0 && len(rep.Findings) > 0 && rep.HighestSeverity() >= failOn:
		return &exitError{o.exitCode}
	}
	return nil
}
