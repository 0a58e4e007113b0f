// Package compliance turns a scan into a per-control report for a
// framework: each control passes, fails (with the failing resources), is
// not applicable (nothing scanned that its checks judge), or is manual (no
// check can judge it from manifests). Controls and checks are joined
// through the catalogue's own mappings, so there is one source of truth.
package compliance

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Status of a control.
type Status string

// Statuses, in the order reports count them.
const (
	Fail          Status = "FAIL"
	Pass          Status = "PASS"
	NotApplicable Status = "N/A"
	Manual        Status = "MANUAL"
)

// Names lists the frameworks Report accepts.
func Names() []string {
	names := []string{"pss-baseline", "pss-restricted"}
	for _, c := range catalogs {
		names = append(names, c.name)
	}
	return names
}

// ControlResult is one control's verdict.
type ControlResult struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Status  Status    `json:"status"`
	Checks  []string  `json:"checks"`
	Failing []Failing `json:"failing,omitempty"`
}

// Failing is a resource that fails a control.
type Failing struct {
	CheckID  string           `json:"checkID"`
	Resource finding.Resource `json:"resource"`
	Location finding.Location `json:"location"`
}

// Result is a framework report.
type Result struct {
	Framework string          `json:"framework"`
	Title     string          `json:"title"`
	Counts    map[Status]int  `json:"counts"`
	Controls  []ControlResult `json:"controls"`
}

// Report evaluates framework name over a scan: rules are the checks that
// ran, applies says whether the scan saw anything a check judges.
func Report(name string, rules []*finding.Rule, rep *finding.Report, applies func(checkID string) bool) (*Result, error) {
	var (
		title    string
		controls []Control
		checksOf func(Control) []string
	)
	switch {
	case strings.HasPrefix(name, "pss-"):
		// A PSS profile is the set of official checks the evaluator runs at
		// that level: each is a control.
		level := strings.TrimPrefix(name, "pss-")
		if level != "baseline" && level != "restricted" {
			return nil, unknown(name)
		}
		title = "Kubernetes Pod Security Standards, " + level + " profile"
		for _, r := range rules {
			for _, c := range r.Controls {
				if c.Framework == finding.PSS && (level == "restricted" || c.ID == "baseline") {
					controls = append(controls, Control{ID: c.ID + "/" + r.ID, Title: c.Title})
				}
			}
		}
		checksOf = func(c Control) []string { return []string{c.ID[strings.IndexByte(c.ID, '/')+1:]} }
	default:
		i := slices.IndexFunc(catalogs, func(c catalog) bool { return c.name == name })
		if i < 0 {
			return nil, unknown(name)
		}
		cat := catalogs[i]
		title, controls = cat.title, cat.controls
		checksOf = func(c Control) []string {
			var ids []string
			for _, r := range rules {
				if slices.ContainsFunc(r.Controls, func(rc finding.Control) bool { return rc.Framework == cat.framework && rc.ID == c.ID }) {
					ids = append(ids, r.ID)
				}
			}
			return ids
		}
	}
	byCheck := map[string][]*finding.Finding{}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		byCheck[f.CheckID()] = append(byCheck[f.CheckID()], f)
	}
	res := &Result{Framework: name, Title: title, Counts: map[Status]int{}}
	for _, c := range controls {
		cr := ControlResult{ID: c.ID, Title: c.Title, Checks: checksOf(c)}
		applicable := false
		for _, id := range cr.Checks {
			applicable = applicable || applies(id)
			for _, f := range byCheck[id] {
				cr.Failing = append(cr.Failing, Failing{CheckID: id, Resource: f.Resource, Location: f.Location})
			}
		}
		switch {
		case len(cr.Checks) == 0:
			cr.Status = Manual
		case len(cr.Failing) > 0:
			cr.Status = Fail
		case applicable:
			cr.Status = Pass
		default:
			cr.Status = NotApplicable
		}
		if cr.Checks == nil {
			cr.Checks = []string{}
		}
		res.Counts[cr.Status]++
		res.Controls = append(res.Controls, cr)
	}
	return res, nil
}

func unknown(name string) error {
	return fmt.Errorf("--compliance %q: want one of %s", name, strings.Join(Names(), ", "))
}

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// maxFailing bounds the resources listed per failing control in the table.
const maxFailing = 10

// WriteTable writes one line per control, with its failing resources.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Title)
	idW := 0
	for _, c := range r.Controls {
		idW = max(idW, len(c.ID))
	}
	for _, c := range r.Controls {
		checks := "no check: review by hand"
		if len(c.Checks) > 0 {
			checks = strings.Join(c.Checks, ", ")
		}
		fmt.Fprintf(&b, "  %-*s  %-6s  %s  [%s]\n", idW, c.ID, c.Status, c.Title, checks)
		for i, f := range c.Failing {
			if i == maxFailing {
				fmt.Fprintf(&b, "  %-*s          ... and %d more (see --format json)\n", idW, "", len(c.Failing)-maxFailing)
				break
			}
			fmt.Fprintf(&b, "  %-*s          %s  %s  (%s)\n", idW, "", f.CheckID, f.Resource, f.Location)
		}
	}
	fmt.Fprintf(&b, "\n%d controls: %d fail, %d pass, %d not applicable, %d manual\n", len(r.Controls),
		r.Counts[Fail], r.Counts[Pass], r.Counts[NotApplicable], r.Counts[Manual])
	_, err := io.WriteString(w, b.String())
	return err
}
