package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// JSONSchemaVersion is the version of the JSON output documented in
// docs/json-format.md. It is bumped on every incompatible change.
const JSONSchemaVersion = 1

// jsonHead is the report without its lists, which are streamed after it.
type jsonHead struct {
	SchemaVersion int         `json:"schemaVersion"`
	Tool          jsonTool    `json:"tool"`
	Command       string      `json:"command"`
	Targets       []string    `json:"targets"`
	Summary       jsonSummary `json:"summary"`
	// Artifact is set by vulnerability scans.
	Artifact *finding.Artifact `json:"artifact,omitempty"`
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
	Suppressed int            `json:"suppressed"`
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
// Findings are encoded one at a time, so memory does not grow with the
// size of the output.
func writeJSON(w io.Writer, r *finding.Report, opts Options) error {
	c := r.Counts()
	head, err := json.MarshalIndent(jsonHead{
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
			Errors:     len(r.Errors),
			Notes:      len(r.Notes),
			Suppressed: len(r.Suppressed),
		},
		Artifact: r.Artifact,
	}, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(bytes.TrimSuffix(head, []byte("\n}")))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("    ", "  ")
	list := func(name string, n int, item func(i int) any) error {
		fmt.Fprintf(bw, ",\n  %q: ", name)
		if n == 0 {
			bw.WriteString("[]")
			return nil
		}
		bw.WriteString("[\n")
		for i := range n {
			buf.Reset()
			if err := enc.Encode(item(i)); err != nil {
				return err
			}
			bw.WriteString("    ")
			bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
			if i < n-1 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
		}
		bw.WriteString("  ]")
		return nil
	}
	checks, err := json.MarshalIndent(usedChecks(r), "  ", "  ")
	if err != nil {
		return err
	}
	bw.WriteString(",\n  \"checks\": ")
	bw.Write(checks)
	bw.WriteString(",\n  \"findings\": ")
	if len(r.Findings) == 0 {
		bw.WriteString("[]")
	} else {
		bw.WriteString("[\n")
		n := len(r.Findings)
		encodeOrdered(bw, n, func(b []byte, i int) []byte {
			j := r.Findings[i].JSON()
			if j.Fingerprint == "" {
				j.Fingerprint = fingerprint(&r.Findings[i])
			}
			if j.Vulnerability != nil || j.Secret != nil {
				// Vulnerability and secret reports are small; the fast
				// encoder covers the config checks' hundreds of thousands.
				enc, err := json.MarshalIndent(&j, "    ", "  ")
				if err != nil {
					panic(err) // plain strings and numbers cannot fail
				}
				b = append(append(b, "    "...), enc...)
			} else {
				b = appendFinding(b, &j)
			}
			if i < n-1 {
				b = append(b, ',')
			}
			return append(b, '\n')
		})
		bw.WriteString("  ]")
	}
	if err := list("errors", len(r.Errors), func(i int) any { return r.Errors[i] }); err != nil {
		return err
	}
	if err := list("notes", len(r.Notes), func(i int) any { return r.Notes[i] }); err != nil {
		return err
	}
	if opts.ShowSuppressed {
		if err := list("suppressed", len(r.Suppressed), func(i int) any {
			sp := r.Suppressed[i]
			return struct {
				Finding   finding.JSON         `json:"finding"`
				Exception finding.ExceptionRef `json:"exception"`
			}{sp.Finding.JSON(), sp.Exception}
		}); err != nil {
			return err
		}
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// jsonCheck is a check's metadata, written once in "checks".
type jsonCheck struct {
	Title       string            `json:"title"`
	Severity    finding.Severity  `json:"severity"`
	Description string            `json:"description,omitempty"`
	Remediation string            `json:"remediation,omitempty"`
	References  []string          `json:"references,omitempty"`
	Controls    []finding.Control `json:"controls,omitempty"`
}

// usedChecks returns the metadata of the checks that have findings, keyed
// by check ID (encoding/json sorts the keys).
func usedChecks(r *finding.Report) map[string]jsonCheck {
	out := map[string]jsonCheck{}
	for i := range r.Findings {
		rule := ruleOf(&r.Findings[i])
		if _, ok := out[rule.ID]; !ok {
			out[rule.ID] = jsonCheck{rule.Title, rule.Severity, rule.Description, rule.Remediation, rule.References, rule.Controls}
		}
	}
	return out
}

// nonNil turns a nil slice into an empty one, so that it encodes as [] and
// not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// encodeBatch is how many items one goroutine encodes at a time.
const encodeBatch = 2048

// encodeOrdered writes the encodings of items 0..n-1 in order, encoding
// batches of them on every CPU: the scan runs in parallel, and a report
// of a hundred thousand findings should not become its serial tail. At
// most two batches per CPU are in flight, so memory stays flat. Write
// errors surface at w.Flush.
func encodeOrdered(w *bufio.Writer, n int, enc func(b []byte, i int) []byte) {
	batches := (n + encodeBatch - 1) / encodeBatch
	workers := min(runtime.GOMAXPROCS(0), batches)
	// Batch buffers are recycled: fresh ones would be garbage the size of
	// the whole report.
	free := make(chan []byte, 2*workers+1)
	encode := func(batch int) []byte {
		var b []byte
		select {
		case b = <-free:
		default:
		}
		for i := batch * encodeBatch; i < min(n, (batch+1)*encodeBatch); i++ {
			b = enc(b, i)
		}
		return b
	}
	if workers <= 1 {
		for batch := range batches {
			b := encode(batch)
			w.Write(b)
			free <- b[:0]
		}
		return
	}
	results := make([]chan []byte, batches)
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	inFlight := make(chan struct{}, 2*workers)
	next := make(chan int)
	go func() {
		for batch := range batches {
			inFlight <- struct{}{}
			next <- batch
		}
		close(next)
	}()
	for range workers {
		go func() {
			for batch := range next {
				results[batch] <- encode(batch)
			}
		}()
	}
	for batch := range batches {
		b := <-results[batch]
		w.Write(b)
		select {
		case free <- b[:0]:
		default:
		}
		<-inFlight
	}
}
