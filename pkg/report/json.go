package report

import (
	"encoding/json"
	"io"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// JSONSchemaVersion is the version of the JSON output documented in
// docs/json-format.md. It is bumped on every incompatible change.
const JSONSchemaVersion = 1

type jsonReport struct {
	SchemaVersion int               `json:"schemaVersion"`
	Tool          jsonTool          `json:"tool"`
	Command       string            `json:"command"`
	Targets       []string          `json:"targets"`
	Summary       jsonSummary       `json:"summary"`
	Findings      []finding.Finding `json:"findings"`
	Errors        []finding.Problem `json:"errors"`
	Notes         []finding.Problem `json:"notes"`
}

type jsonTool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type jsonSummary struct {
	Files      int            `json:"files"`
	Objects    int            `json:"objects"`
	Findings   int            `json:"findings"`
	BySeverity jsonBySeverity `json:"bySeverity"`
	Errors     int            `json:"errors"`
	Notes      int            `json:"notes"`
}

// jsonBySeverity is a struct rather than a map so that severities appear
// from most to least severe.
type jsonBySeverity struct {
	Critical int `json:"CRITICAL"`
	High     int `json:"HIGH"`
	Medium   int `json:"MEDIUM"`
	Low      int `json:"LOW"`
	Info     int `json:"INFO"`
	// Unknown counts findings without a severity; it only appears when
	// there are some.
	Unknown int `json:"UNKNOWN,omitempty"`
}

// writeJSON writes the canonical JSON stream, see docs/json-format.md.
func writeJSON(w io.Writer, r *finding.Report, opts Options) error {
	c := r.Counts()
	out := jsonReport{
		SchemaVersion: JSONSchemaVersion,
		Tool:          jsonTool{Name: toolName, Version: opts.ToolVersion},
		Command:       opts.Command,
		Targets:       nonNil(r.Targets),
		Summary: jsonSummary{
			Files:    r.Files,
			Objects:  r.Objects,
			Findings: len(r.Findings),
			BySeverity: jsonBySeverity{
				Critical: c[finding.Critical],
				High:     c[finding.High],
				Medium:   c[finding.Medium],
				Low:      c[finding.Low],
				Info:     c[finding.Info],
				Unknown:  c[finding.Unknown],
			},
			Errors: len(r.Errors),
			Notes:  len(r.Notes),
		},
		Findings: withFingerprints(r.Findings),
		Errors:   nonNil(r.Errors),
		Notes:    nonNil(r.Notes),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// nonNil turns a nil slice into an empty one, so that it encodes as [] and
// not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// withFingerprints returns the findings with every empty fingerprint
// computed, copying the slice only when one is missing.
func withFingerprints(fs []finding.Finding) []finding.Finding {
	for i := range fs {
		if fs[i].Fingerprint == "" {
			out := make([]finding.Finding, len(fs))
			copy(out, fs)
			for j := range out {
				out[j].Fingerprint = fingerprint(&out[j])
			}
			return out
		}
	}
	return nonNil(fs)
}
