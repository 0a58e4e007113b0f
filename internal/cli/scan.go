package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/compliance"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/report"
	"github.com/mamori-dev/mamori/pkg/source/helm"
)

// outputFlags are shared by every command that writes a report.
type outputFlags struct {
	format   string
	output   string
	severity []string
	exitCode int
	failOn   string
	color    string
	// showSuppressed is set by commands that apply exceptions.
	showSuppressed bool
}

func (o *outputFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "table", "output format: table, json, sarif or junit")
	f.StringVarP(&o.output, "output", "o", "", "write the report to this file instead of standard output")
	f.StringSliceVarP(&o.severity, "severity", "s", nil, "report only these severities (comma-separated, e.g. CRITICAL,HIGH)")
	f.IntVar(&o.exitCode, "exit-code", ExitFindings, "exit code when findings reach --fail-on (0 never fails on findings)")
	f.StringVar(&o.failOn, "fail-on", "LOW", "lowest severity that fails the scan with --exit-code")
	f.StringVar(&o.color, "color", "auto", "colour in table output: auto (only on a terminal, unless NO_COLOR is set), always or never")
}

type scanConfigFlags struct {
	out            outputFlags
	pssLevel       string
	pssVersion     string
	skip           []string
	maxFileSize    int64
	workers        int
	ignoreFiles    []string
	showSuppressed bool
	compliance     string
	helmValues     []string
	helmSet        []string
	helmSetString  []string
	policies       []string
}

func newScan(stdio IO) *cobra.Command {
	scan := &cobra.Command{Use: "scan", Short: "Scan inputs for security problems"}
	var fl scanConfigFlags
	config := &cobra.Command{
		Use:   "config PATH...",
		Short: "Scan Kubernetes manifests (YAML/JSON files and directories, - for stdin) and Dockerfiles for misconfigurations and secrets",
		Example: `  mamori scan config examples/
  kubectl get deploy -A -o yaml | mamori scan config -
  mamori scan config --format sarif --output mamori.sarif k8s/
  mamori scan config --severity CRITICAL,HIGH --fail-on HIGH deploy/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScanConfig(cmd, stdio, &fl, args)
		},
	}
	fl.out.register(config)
	f := config.Flags()
	f.StringVar(&fl.pssLevel, "pss-level", "restricted", "Pod Security Standards level: baseline or restricted")
	f.StringVar(&fl.pssVersion, "pss-version", "latest", "Pod Security Standards version: latest or a Kubernetes minor version such as v1.31")
	f.StringSliceVar(&fl.skip, "skip", nil, "glob of files or directories not to scan (matched against the path and the base name; repeatable)")
	f.Int64Var(&fl.maxFileSize, "max-file-size", 64<<20, "largest file to read, in bytes")
	f.IntVar(&fl.workers, "workers", 0, "files scanned in parallel (0: one per CPU)")
	f.StringSliceVar(&fl.ignoreFiles, "ignorefile", nil, "exception file applying to everything scanned, beside the .mamori-ignore.yaml files found in scanned directories (repeatable)")
	f.BoolVar(&fl.showSuppressed, "show-suppressed", false, "list the findings exceptions suppressed, and by which entry")
	f.StringArrayVar(&fl.helmValues, "values", nil, "Helm values file for the charts scanned, as helm -f takes it (repeatable)")
	f.StringArrayVar(&fl.helmSet, "set", nil, "Helm value for the charts scanned, as helm --set takes it: k=v,k2=v2 (repeatable)")
	f.StringArrayVar(&fl.helmSetString, "set-string", nil, "Helm string value for the charts scanned, as helm --set-string takes it (repeatable)")
	f.StringArrayVar(&fl.policies, "policy", nil, "file or directory of mamori CEL policies (kind: Policy) to evaluate beside the built-in checks (repeatable)")
	f.StringVar(&fl.compliance, "compliance", "", "print a per-control report for a framework instead of the findings: "+strings.Join(compliance.Names(), ", "))
	scan.AddCommand(config, newScanSecret(stdio), newScanDockerfile(stdio))
	scan.AddCommand(newScanArtifacts(stdio)...)
	return scan
}

func runScanConfig(cmd *cobra.Command, stdio IO, fl *scanConfigFlags, args []string) error {
	format, show, failOn, err := parseOutput(&fl.out)
	if err != nil {
		return err
	}
	if fl.compliance != "" {
		if format != report.Table && format != report.JSON {
			return fmt.Errorf("--compliance writes table or json, not %s", format)
		}
		if level, ok := strings.CutPrefix(fl.compliance, "pss-"); ok {
			// The profile is the checks the evaluator runs at that level.
			if cmd.Flags().Changed("pss-level") && fl.pssLevel != level {
				return fmt.Errorf("--compliance %s contradicts --pss-level %s", fl.compliance, fl.pssLevel)
			}
			fl.pssLevel = level
		}
	}
	policies, problems, err := loadPolicies(cmd.Context(), fl.policies)
	if err != nil {
		return err
	}
	eng, err := newSecretEngine()
	if err != nil {
		return err
	}
	scanner, err := misconfig.New(misconfig.Options{
		Policies: policies, Secrets: eng, Dockerfiles: newDockerfileLinter(eng),
		PSSLevel: fl.pssLevel, PSSVersion: fl.pssVersion, Workers: fl.workers,
		MaxFileSize: fl.maxFileSize, Skip: fl.skip, Stdin: stdio.In, IgnoreFiles: fl.ignoreFiles,
		Helm: helm.Values{Files: fl.helmValues, Set: fl.helmSet, SetString: fl.helmSetString},
	})
	if err != nil {
		return err
	}
	rep, err := scanner.Scan(cmd.Context(), args)
	if err != nil {
		return err
	}
	// A policy that does not load leaves the scan incomplete, like a
	// manifest that does not parse.
	rep.Errors = append(problems, rep.Errors...)
	if show != nil {
		kept := rep.Findings[:0]
		for _, f := range rep.Findings {
			if show[f.Severity()] {
				kept = append(kept, f)
			}
		}
		rep.Findings = kept
	}
	fl.out.showSuppressed = fl.showSuppressed
	if fl.compliance != "" {
		res, err := compliance.Report(fl.compliance, rep.Rules, rep, func(id string) bool { return misconfig.Applies(id, rep.Kinds) })
		if err != nil {
			return err
		}
		if err := writeCompliance(stdio, &fl.out, format, res); err != nil {
			return err
		}
		fmt.Fprintln(stdio.Err, report.Summary(rep))
	} else if err := writeReport(stdio, &fl.out, format, rep, "scan config"); err != nil {
		return err
	}
	if fl.compliance == "" && (format != report.Table || fl.out.output != "") {
		// The table ends with the summary already; other formats get it on stderr.
		fmt.Fprintln(stdio.Err, report.Summary(rep))
	}
	for _, p := range rep.Errors {
		if fl.compliance != "" || format != report.Table || fl.out.output != "" {
			fmt.Fprintln(stdio.Err, "error:", p.String())
		}
	}
	switch {
	case len(rep.Errors) > 0:
		return &exitError{ExitError}
	case fl.out.exitCode != 0 && rep.HighestSeverity() >= failOn:
		return &exitError{fl.out.exitCode}
	}
	return nil
}

func writeCompliance(stdio IO, o *outputFlags, format report.Format, res *compliance.Result) error {
	w, _, done, err := openOutput(stdio, o)
	if err != nil {
		return err
	}
	if format == report.JSON {
		err = res.WriteJSON(w)
	} else {
		err = res.WriteTable(w)
	}
	return errors.Join(err, done())
}

// openOutput returns where a report goes: --output's file or stdout, and
// whether that is a terminal. done closes the file.
func openOutput(stdio IO, o *outputFlags) (w io.Writer, tty bool, done func() error, err error) {
	if o.output == "" {
		return stdio.Out, stdio.OutIsTTY, func() error { return nil }, nil
	}
	f, err := os.Create(o.output)
	if err != nil {
		return nil, false, nil, fmt.Errorf("--output: %w", err)
	}
	return f, false, f.Close, nil
}

func parseSeverities(list []string) (map[finding.Severity]bool, error) {
	if len(list) == 0 {
		return nil, nil
	}
	show := map[finding.Severity]bool{}
	for _, s := range list {
		sev, err := finding.ParseSeverity(s)
		if err != nil {
			return nil, fmt.Errorf("--severity: %w", err)
		}
		show[sev] = true
	}
	return show, nil
}

func writeReport(stdio IO, o *outputFlags, format report.Format, rep *finding.Report, command string) error {
	mode := strings.ToLower(o.color)
	if mode != "auto" && mode != "always" && mode != "never" {
		// Before --output is opened: a bad flag must not truncate a file.
		return fmt.Errorf("--color %q: want auto, always or never", o.color)
	}
	w, tty, done, err := openOutput(stdio, o)
	if err != nil {
		return err
	}
	color := mode == "always" || mode == "auto" && tty && (stdio.Environment == nil || stdio.Environment("NO_COLOR") == "")
	if err := report.Write(w, format, rep, report.Options{Color: color, ToolVersion: Version, Command: command, ShowSuppressed: o.showSuppressed}); err != nil {
		return errors.Join(fmt.Errorf("write report: %w", err), done())
	}
	return done()
}
