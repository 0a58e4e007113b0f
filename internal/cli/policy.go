package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/k8sschema"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/policy/builtin"
)

// loadPolicies compiles the policies of the given files and directories.
// Problems are per file and line; the error is for what stops everything.
func loadPolicies(ctx context.Context, paths []string) (*policy.Set, []finding.Problem, error) {
	if len(paths) == 0 {
		// Nothing to compile: skip the schemas and mappings altogether.
		set, err := policy.NewSet(policy.Options{})
		return set, nil, err
	}
	set, err := policy.NewSet(PolicyOptions())
	if err != nil {
		return nil, nil, err
	}
	problems := set.Load(ctx, paths)
	return set, problems, nil
}

// PolicyOptions are the compile options of every command: the built-in
// kinds' resources and schemas, so expressions are type-checked.
func PolicyOptions() policy.Options {
	return policy.Options{Mapper: k8sschema.RESTMapper(), Schemas: k8sschema.Resolver()}
}

func newPolicy(stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Test and export mamori CEL policies"}
	cmd.AddCommand(newPolicyTest(stdio), newPolicyExport(stdio))
	return cmd
}

func newPolicyTest(stdio IO) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "test PATH...",
		Short: "Run the PolicyTest documents beside the policies: fixtures with the verdict each policy must give",
		Example: `  mamori policy test policies/
  mamori policy test -f json policies/ > results.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			set, problems, err := loadPolicies(cmd.Context(), args)
			if err != nil {
				return err
			}
			if len(set.Tests) == 0 && len(problems) == 0 {
				problems = append(problems, finding.Problem{File: args[0], Message: "no PolicyTest documents found"})
			}
			outcomes, runProblems := set.RunTests(cmd.Context())
			problems = append(problems, runProblems...)
			failed := 0
			for _, o := range outcomes {
				if !o.Pass {
					failed++
				}
			}
			if format == "json" {
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Outcomes []policy.Outcome  `json:"outcomes"`
					Errors   []finding.Problem `json:"errors"`
					Passed   int               `json:"passed"`
					Failed   int               `json:"failed"`
				}{outcomes, problems, len(outcomes) - failed, failed}); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RESULT\tTEST\tPOLICY\tRESOURCE\tWANT\tGOT\tDETAIL")
				for _, o := range outcomes {
					r := "PASS"
					if !o.Pass {
						r = "FAIL"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, o.Test, o.Policy, o.Resource, o.Want, o.Got, o.Detail)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, p := range problems {
					fmt.Fprintln(stdio.Out, "error:", p.String())
				}
				fmt.Fprintf(stdio.Out, "\n%d passed, %d failed, %d errors\n", len(outcomes)-failed, failed, len(problems))
			}
			switch {
			case len(problems) > 0:
				return &exitError{ExitError}
			case failed > 0:
				return &exitError{ExitFindings}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	return c
}

func newPolicyExport(stdio IO) *cobra.Command {
	var (
		format, output, paramsNS string
		ignoreFiles              []string
		builtin, strict          bool
		enforceSeverity          string
	)
	c := &cobra.Command{
		Use:   "export PATH...",
		Short: "Export policies as native ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding YAML",
		Long: `Export writes each policy as a ValidatingAdmissionPolicy with its binding
(validationActions from the policy's mode: enforce → Deny, warn → Warn,
audit → Audit) and its params object. Live exceptions from --ignorefile
become a matchCondition. What a ValidatingAdmissionPolicy cannot express
(exception expiry dates, exceptions limited to file paths, checks written in
Go) is listed per policy on standard error and at the top of the output.`,
		Example: `  mamori policy export --format vap policies/ > vap.yaml
  mamori policy export --format vap --builtin --ignorefile exceptions.yaml policies/ | kubectl apply -f -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "vap" {
				return fmt.Errorf("--format %q: want vap", format)
			}
			if len(args) == 0 && !builtin {
				return fmt.Errorf("name policy files or directories, or --builtin")
			}
			set, problems, err := loadPolicies(cmd.Context(), args)
			if err != nil {
				return err
			}
			var notes []policy.ExportNote
			if builtin {
				enforce, err := finding.ParseSeverity(enforceSeverity)
				if err != nil {
					return fmt.Errorf("--enforce-severity: %w", err)
				}
				b, bnotes, err := builtinPolicies(enforce)
				if err != nil {
					return err
				}
				if err := set.Merge(b); err != nil {
					return err
				}
				notes = append(notes, bnotes...)
			}
			exc, errs, err := loadIgnoreFiles(ignoreFiles)
			if err != nil {
				return err
			}
			problems = append(problems, errs...)
			for _, p := range problems {
				fmt.Fprintln(stdio.Err, "error:", p.String())
			}
			if len(problems) > 0 {
				return &exitError{ExitError}
			}
			x := set.ExportVAP(policy.ExportOptions{Exceptions: exc, Now: time.Now(), ParamsNamespace: paramsNS})
			x.Notes = append(notes, x.Notes...)
			data, err := x.YAML()
			if err != nil {
				return err
			}
			if err := writeOutput(stdio, output, data); err != nil {
				return err
			}
			for _, n := range x.Notes {
				fmt.Fprintf(stdio.Err, "note: %s: %s\n", n.Policy, n.Message)
			}
			if strict && len(x.Notes) > 0 {
				return &exitError{ExitFindings}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&format, "format", "vap", "export format: vap (ValidatingAdmissionPolicy + binding)")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	f.StringArrayVar(&ignoreFiles, "ignorefile", nil, "exception file whose live entries become matchConditions (repeatable)")
	f.BoolVar(&builtin, "builtin", false, "also export mamori's built-in checks that are written in CEL")
	f.StringVar(&enforceSeverity, "enforce-severity", "HIGH", "with --builtin: built-in checks at or above this severity deny, lower ones warn (as the webhook's --enforce-severity)")
	f.BoolVar(&strict, "strict", false, "exit 1 when anything could not be exported exactly")
	f.StringVar(&paramsNS, "params-namespace", "mamori-system", "namespace of exported params objects")
	return c
}

// builtinPolicies are mamori's CEL built-ins, with the mode the webhook
// gives their findings (enforce at or above the severity, warn below), and
// a note for each built-in check that is Go code and so cannot be exported.
func builtinPolicies(enforce finding.Severity) (*policy.Set, []policy.ExportNote, error) {
	set, err := builtin.Load(PolicyOptions())
	if err != nil {
		return nil, nil, err
	}
	for _, p := range set.Policies {
		p.Mode = policy.Warn
		if p.Rule.Severity >= enforce {
			p.Mode = policy.Enforce
		}
	}
	var notes []policy.ExportNote
	for _, r := range misconfig.Catalogue() {
		if set.Get(r.ID) != nil {
			continue
		}
		why := "is written in Go, not CEL: enforced by scans and the webhook only"
		switch {
		case strings.HasPrefix(r.ID, "pss-"):
			why = "is judged by the official Pod Security Standards evaluator: for the cluster, label namespaces pod-security.kubernetes.io/enforce=<level> (the API server's PodSecurity admission)"
		case strings.HasPrefix(r.ID, "rbac-"), strings.HasPrefix(r.ID, "netpol-"):
			why = "needs every object at once (roles aggregate, policies select across namespaces): scans only"
		case r.ID == "k8s-automount-sa-token":
			why = "depends on the pod's ServiceAccount object, which ValidatingAdmissionPolicy cannot read: scans and the webhook only"
		}
		notes = append(notes, policy.ExportNote{Policy: r.ID, Message: "built-in check not exported: it " + why})
	}
	return set, notes, nil
}

// writeOutput writes data to --output's file, or to standard output.
func writeOutput(stdio IO, output string, data []byte) error {
	w, _, done, err := openOutput(stdio, &outputFlags{output: output})
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return errors.Join(err, done())
}

// loadIgnoreFiles loads --ignorefile exception files, which apply
// everywhere (they are scoped to no directory).
func loadIgnoreFiles(files []string) (*exception.Set, []finding.Problem, error) {
	set := &exception.Set{}
	var problems []finding.Problem
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--ignorefile: %w", err)
		}
		loaded, errs := exception.Load(f, data, "")
		problems = append(problems, errs...)
		set.Add(loaded)
	}
	return set, problems, nil
}
