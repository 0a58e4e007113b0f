package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// SARIF 2.1.0 constants.
const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	sarifToolURI = "https://github.com/mamori-dev/mamori"
	// sarifSrcRoot is the base of relative artifact URIs: the root of the
	// checked-out sources, which GitHub code scanning resolves.
	sarifSrcRoot = "%SRCROOT%"
	// sarifFingerprintKey names mamori's partial fingerprint. Its version
	// changes if finding.ComputeFingerprint ever does.
	sarifFingerprintKey = "mamori/v1"
)

// The types below model the subset of SARIF 2.1.0 mamori emits, after
// https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html and what
// GitHub code scanning reads.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	Help                 sarifText          `json:"help"`
	HelpURI              string             `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

// sarifText is a SARIF message or multiformatMessageString.
type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	// SecuritySeverity is the CVSS-like score, as a string, that GitHub
	// uses to rank security alerts.
	SecuritySeverity string   `json:"security-severity,omitempty"`
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
}

type sarifInvocation struct {
	CommandLine                string              `json:"commandLine,omitempty"`
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           sarifRegion           `json:"region"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogicalLocation struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// writeSARIF writes a SARIF 2.1.0 log with one run, as GitHub code scanning
// accepts it.
func writeSARIF(w io.Writer, r *finding.Report, opts Options) error {
	rules := sarifRules(r)
	ruleIndex := make(map[string]int, len(rules))
	driverRules := make([]sarifRule, len(rules))
	for i, rule := range rules {
		ruleIndex[rule.ID] = i
		driverRules[i] = toSARIFRule(rule)
	}

	result := func(i int) sarifResult {
		f := &r.Findings[i]
		rule := ruleOf(f)
		loc := sarifLocation{
			PhysicalLocation: physicalLocation(f.Location.File, f.Location.Line, f.Location.Column),
			LogicalLocations: []sarifLogicalLocation{{
				FullyQualifiedName: objectName(f, "/"),
				Kind:               "object",
			}},
		}
		return sarifResult{
			RuleID:              rule.ID,
			RuleIndex:           ruleIndex[rule.ID],
			Level:               sarifLevel(rule.Severity),
			Message:             sarifText{Text: f.Message + " (" + f.Resource.String() + via(f.Location.Source) + ")"},
			Locations:           []sarifLocation{loc},
			PartialFingerprints: map[string]string{sarifFingerprintKey: fingerprint(f)},
		}
	}

	inv := sarifInvocation{ExecutionSuccessful: len(r.Errors) == 0}
	if opts.Command != "" {
		inv.CommandLine = commandLine(opts.Command, r.Targets)
	}
	for _, p := range r.Errors {
		n := sarifNotification{Level: "error", Message: sarifText{Text: p.Message}}
		if pl := physicalLocation(p.File, p.Line, 0); pl != nil {
			n.Locations = []sarifLocation{{PhysicalLocation: pl}}
		}
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
	}

	log := sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name:           toolName,
				Version:        opts.ToolVersion,
				InformationURI: sarifToolURI,
				Rules:          driverRules,
			}},
			Invocations: []sarifInvocation{inv},
			Results:     []sarifResult{},
		}},
	}
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetIndent("", "  ")
	// Keep the Markdown help readable: <url> rather than \u003curl\u003e.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(log); err != nil {
		return err
	}
	// Stream the results into the empty list the log was encoded with, so
	// memory does not grow with the number of findings. Inside JSON strings
	// quotes are escaped, so the marker is found only where the list is.
	marker := []byte(`"results": []`)
	at := bytes.LastIndex(head.Bytes(), marker)
	if at < 0 {
		return fmt.Errorf("sarif: results list not found")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head.Bytes()[:at+len(marker)-1])
	if n := len(r.Findings); n > 0 {
		bw.WriteString("\n")
		var encErr error
		var errOnce sync.Once
		encodeOrdered(bw, n, func(b []byte, i int) []byte {
			buf := bytes.NewBuffer(append(b, "        "...))
			item := json.NewEncoder(buf)
			item.SetIndent("        ", "  ")
			item.SetEscapeHTML(false)
			if err := item.Encode(result(i)); err != nil {
				errOnce.Do(func() { encErr = err })
			}
			out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			if i < n-1 {
				out = append(out, ',')
			}
			return append(out, '\n')
		})
		if encErr != nil {
			return encErr
		}
		bw.WriteString("      ")
	}
	bw.Write(head.Bytes()[at+len(marker)-1:])
	return bw.Flush()
}

// sarifRules returns the rules the run declares: r.Rules, or the distinct
// rules of the findings when r.Rules is empty, plus any rule a finding uses
// that r.Rules lacks, so that every result's ruleIndex resolves. Rules are
// unique by ID and sorted by ID.
func sarifRules(r *finding.Report) []*finding.Rule {
	var rules []*finding.Rule
	seen := make(map[string]bool)
	add := func(rule *finding.Rule) {
		if rule != nil && !seen[rule.ID] {
			seen[rule.ID] = true
			rules = append(rules, rule)
		}
	}
	for _, rule := range r.Rules {
		add(rule)
	}
	for i := range r.Findings {
		add(ruleOf(&r.Findings[i]))
	}
	slices.SortStableFunc(rules, func(a, b *finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return rules
}

func toSARIFRule(rule *finding.Rule) sarifRule {
	title := rule.Title
	if title == "" {
		title = rule.ID
	}
	desc := rule.Description
	if desc == "" {
		desc = title
	}
	name := camelCase(rule.Title)
	if name == "" {
		name = rule.ID
	}
	var helpURI string
	if len(rule.References) > 0 {
		helpURI = rule.References[0]
	}
	tags := []string{"security"}
	for _, c := range rule.Controls {
		tags = append(tags, c.String())
	}
	return sarifRule{
		ID:                   rule.ID,
		Name:                 name,
		ShortDescription:     sarifText{Text: title},
		FullDescription:      sarifText{Text: desc},
		Help:                 sarifText{Text: helpText(rule, desc), Markdown: helpMarkdown(rule, desc)},
		HelpURI:              helpURI,
		DefaultConfiguration: sarifConfiguration{Level: sarifLevel(rule.Severity)},
		Properties: sarifRuleProps{
			SecuritySeverity: securitySeverity(rule.Severity),
			Tags:             tags,
			Precision:        "very-high",
		},
	}
}

func helpText(rule *finding.Rule, desc string) string {
	var b strings.Builder
	b.WriteString(desc)
	if rule.Remediation != "" {
		b.WriteString("\n\nRemediation: " + rule.Remediation)
	}
	if len(rule.References) > 0 {
		b.WriteString("\n\nReferences:")
		for _, ref := range rule.References {
			b.WriteString("\n- " + ref)
		}
	}
	if len(rule.Controls) > 0 {
		b.WriteString("\n\nControls:")
		for _, c := range rule.Controls {
			b.WriteString("\n- " + controlText(c))
		}
	}
	return b.String()
}

func helpMarkdown(rule *finding.Rule, desc string) string {
	var b strings.Builder
	b.WriteString(desc)
	if rule.Remediation != "" {
		b.WriteString("\n\n**Remediation:** " + rule.Remediation)
	}
	if len(rule.References) > 0 {
		b.WriteString("\n\n**References**\n")
		for _, ref := range rule.References {
			b.WriteString("\n- <" + ref + ">")
		}
	}
	if len(rule.Controls) > 0 {
		b.WriteString("\n\n**Controls**\n")
		for _, c := range rule.Controls {
			b.WriteString("\n- " + controlText(c))
		}
	}
	return b.String()
}

func controlText(c finding.Control) string {
	if c.Title == "" {
		return c.String()
	}
	return c.String() + ": " + c.Title
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s finding.Severity) string {
	switch s {
	case finding.Critical, finding.High:
		return "error"
	case finding.Medium:
		return "warning"
	case finding.Low, finding.Info:
		return "note"
	default:
		return "warning"
	}
}

// securitySeverity maps a severity to the score GitHub ranks alerts by:
// above 9.0 is critical, 7.0 to 8.9 high, 4.0 to 6.9 medium, below that low.
func securitySeverity(s finding.Severity) string {
	switch s {
	case finding.Critical:
		return "9.5"
	case finding.High:
		return "8.0"
	case finding.Medium:
		return "5.5"
	case finding.Low:
		return "3.0"
	case finding.Info:
		return "1.0"
	default:
		return ""
	}
}

// physicalLocation locates a position in a file, or returns nil when there
// is no file to point at (standard input, or an object not read from a
// file). SARIF consumers such as GitHub require a region, so an unknown
// line becomes line 1.
func physicalLocation(file string, line, column int) *sarifPhysicalLocation {
	if file == "" || file == "-" || file == "<stdin>" {
		return nil
	}
	pl := &sarifPhysicalLocation{
		ArtifactLocation: artifactLocation(file),
		Region:           sarifRegion{StartLine: 1},
	}
	if line > 0 {
		pl.Region.StartLine = line
		if column > 0 {
			pl.Region.StartColumn = column
		}
	}
	return pl
}

// artifactLocation turns a file path into a URI: a relative path stays
// relative to %SRCROOT%, an absolute one becomes a file URI.
func artifactLocation(file string) sarifArtifactLocation {
	p := filepath.ToSlash(file)
	if filepath.IsAbs(file) || strings.HasPrefix(p, "/") || isDrivePath(p) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // C:/x becomes /C:/x, as file URIs spell it
		}
		u := url.URL{Scheme: "file", Path: p}
		return sarifArtifactLocation{URI: u.String()}
	}
	// URL.String, unlike EscapedPath, guards a colon in the first segment
	// (a:b.yaml) from reading as a scheme.
	u := url.URL{Path: path.Clean(p)}
	return sarifArtifactLocation{URI: u.String(), URIBaseID: sarifSrcRoot}
}

// isDrivePath reports whether p starts with a Windows drive letter, as in
// C:/x.
func isDrivePath(p string) bool {
	return len(p) >= 3 && p[1] == ':' && p[2] == '/' &&
		('a' <= p[0] && p[0] <= 'z' || 'A' <= p[0] && p[0] <= 'Z')
}

// camelCase turns a title into a SARIF rule name: "Privileged container"
// becomes "PrivilegedContainer".
func camelCase(s string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		r := []rune(word)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// commandLine reconstructs how mamori was invoked, quoting arguments that a
// shell would split.
func commandLine(command string, targets []string) string {
	parts := []string{toolName, command}
	for _, t := range targets {
		if t == "" || strings.ContainsFunc(t, func(r rune) bool {
			return unicode.IsSpace(r) || strings.ContainsRune(`"'\$`+"`", r)
		}) {
			t = strconv.Quote(t)
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// via names what rendered a finding's object, for messages.
func via(source string) string {
	if source == "" {
		return ""
	}
	return ", via " + source
}
