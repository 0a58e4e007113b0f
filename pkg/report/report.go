// Package report writes a finding.Report in the formats users consume:
// table, JSON, SARIF 2.1.0 and JUnit XML.
//
// Writers expect a report that is already filtered and sorted (see
// finding.Report.Sort) and produce deterministic output: the same report
// always yields the same bytes, with no timestamps.
package report

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	SARIF Format = "sarif"
	JUnit Format = "junit"
)

// Formats lists the supported formats in the order help texts show them.
func Formats() []Format { return []Format{Table, JSON, SARIF, JUnit} }

// ParseFormat parses a format name, case-insensitively.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Formats() {
		if f == known {
			return f, nil
		}
	}
	names := make([]string, 0, len(Formats()))
	for _, known := range Formats() {
		names = append(names, string(known))
	}
	return "", fmt.Errorf("unknown output format %q (want one of %s)", s, strings.Join(names, ", "))
}

// Options tune the output.
type Options struct {
	// Color enables ANSI colour in the table. The caller decides: only on a
	// terminal, and never when NO_COLOR is set.
	Color bool
	// ToolVersion is mamori's version, e.g. "0.1.0".
	ToolVersion string
	// Command is the command that produced the report, e.g. "scan config",
	// recorded in JSON and SARIF metadata.
	Command string
	// ShowSuppressed lists the findings exceptions suppressed, with the
	// exception that did (table and JSON).
	ShowSuppressed bool
}

// toolName is the name every format reports the tool under.
const toolName = "mamori"

// Write writes r to w in format f. A nil report is written as an empty one.
func Write(w io.Writer, f Format, r *finding.Report, opts Options) error {
	if r == nil {
		r = &finding.Report{}
	}
	switch f {
	case Table:
		return writeTable(w, r, opts)
	case JSON:
		return writeJSON(w, r, opts)
	case SARIF:
		return writeSARIF(w, r, opts)
	case JUnit:
		return writeJUnit(w, r, opts)
	default:
		_, err := ParseFormat(string(f))
		return err
	}
}

// Summary returns a one-line account of the report, e.g.
//
//	42 findings (CRITICAL: 3, HIGH: 10, MEDIUM: 20, LOW: 9, INFO: 0) in 12 objects from 5 files; 1 error, 2 notes
func Summary(r *finding.Report) string {
	if r == nil {
		r = &finding.Report{}
	}
	counts := r.Counts()
	var b strings.Builder
	b.WriteString(plural(len(r.Findings), "finding"))
	b.WriteString(" (")
	for i, s := range finding.Severities() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", s, counts[s])
	}
	if n := counts[finding.Unknown]; n > 0 {
		fmt.Fprintf(&b, ", %s: %d", finding.Unknown, n)
	}
	fmt.Fprintf(&b, ") in %s from %s; %s, %s",
		plural(r.Objects, cmp.Or(r.ObjectNoun, "object")), plural(r.Files, "file"),
		plural(len(r.Errors), "error"), plural(len(r.Notes), "note"))
	if n := len(r.Suppressed); n > 0 {
		fmt.Fprintf(&b, "; %d suppressed by exceptions", n)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// unknownRule stands in for the rule of a finding that has none, so that
// formats which need rule metadata never see a nil rule.
var unknownRule = &finding.Rule{ID: "UNKNOWN", Title: "Unknown check"}

func ruleOf(f *finding.Finding) *finding.Rule {
	if f.Rule == nil {
		return unknownRule
	}
	return f.Rule
}

// fingerprint returns the finding's fingerprint, computing it when the
// scanner left it empty.
func fingerprint(f *finding.Finding) string {
	if f.Fingerprint != "" {
		return f.Fingerprint
	}
	return finding.ComputeFingerprint(f.CheckID(), f.Location.File, f.Resource, f.Location.Path)
}

// objectName names the finding's object and field, e.g.
// "Deployment shop/web spec.replicas" (sep " ") for humans.
func objectName(f *finding.Finding, sep string) string {
	s := f.Resource.String()
	if f.Location.Path != "" {
		s += sep + f.Location.Path
	}
	return s
}
