package finding

import (
	"cmp"
	"slices"
)

// Problem is something that went wrong, or is worth knowing, while reading
// the inputs: a file that is not valid YAML, a document that is not a
// Kubernetes object. Line is 1-based, zero when unknown.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	l := Location{File: p.File, Line: p.Line}
	return l.String() + ": " + p.Message
}

// Report is the result of one scan.
type Report struct {
	// Targets are the inputs as the user named them.
	Targets []string `json:"targets"`
	// Files and Objects count what was read.
	Files   int `json:"files"`
	Objects int `json:"objects"`
	// Findings are sorted by Sort.
	Findings []Finding `json:"findings"`
	// Errors are inputs that could not be read or parsed: the scan is
	// incomplete when there are any.
	Errors []Problem `json:"errors"`
	// Notes are inputs that were skipped on purpose, such as YAML that is
	// not a Kubernetes object.
	Notes []Problem `json:"notes"`
	// Rules holds the metadata of every check that ran, sorted by ID.
	Rules []*Rule `json:"-"`
	// Suppressed are findings that an exception accepted.
	Suppressed []Suppression `json:"-"`
	// Kinds counts the objects read by group/kind ("apps/Deployment",
	// "/Pod"), which says which checks had anything to judge.
	Kinds map[string]int `json:"-"`
	// ObjectNoun names what Objects counts when it is not Kubernetes
	// objects ("package").
	ObjectNoun string `json:"-"`
	// Artifact describes an image, filesystem or disk scanned for
	// vulnerabilities; nil for config scans.
	Artifact *Artifact `json:"-"`
}

// Artifact is what a vulnerability scan looked at.
type Artifact struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // image, rootfs, fs, vm, sbom
	Digest string `json:"digest,omitempty"`
	OS     string `json:"os,omitempty"`
	// OSEcosystem is the OSV ecosystem OS packages were matched in.
	OSEcosystem string `json:"osEcosystem,omitempty"`
	OSEOL       string `json:"osEOL,omitempty"`
	Packages    int    `json:"packages"`
	// DB describes the vulnerability database used.
	DB *DBInfo `json:"db,omitempty"`
}

// DBInfo says which vulnerability data a scan used.
type DBInfo struct {
	Path    string `json:"path"`
	Updated string `json:"updated"`
	Source  string `json:"source,omitempty"`
}

// Suppression is a finding an exception accepted, and the exception.
type Suppression struct {
	Finding   Finding      `json:"finding"`
	Exception ExceptionRef `json:"exception"`
}

// ExceptionRef identifies an exception in reports.
type ExceptionRef struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Check   string `json:"check"`
	Reason  string `json:"reason"`
	Owner   string `json:"owner"`
	Expires string `json:"expires"`
}

// Counts returns the number of findings per severity.
func (r *Report) Counts() map[Severity]int {
	c := make(map[Severity]int, 5)
	for i := range r.Findings {
		c[r.Findings[i].Severity()]++
	}
	return c
}

// HighestSeverity returns the highest severity among the findings, or
// Unknown when there are none.
func (r *Report) HighestSeverity() Severity {
	max := Unknown
	for i := range r.Findings {
		max = maxSeverity(max, r.Findings[i].Severity())
	}
	return max
}

func maxSeverity(a, b Severity) Severity {
	if a > b {
		return a
	}
	return b
}

// Sort orders findings by file, line, column, check ID and path, problems by
// file and line, so that output does not depend on scan concurrency.
// Compare is a total order, so the sort need not be stable; findings that
// arrive sorted (per-file results concatenated in file order) are not
// moved.
func (r *Report) Sort() {
	if !slices.IsSortedFunc(r.Findings, Compare) {
		slices.SortFunc(r.Findings, Compare)
	}
	sortProblems(r.Errors)
	sortProblems(r.Notes)
	slices.SortFunc(r.Rules, func(a, b *Rule) int { return cmp.Compare(a.ID, b.ID) })
}

// Compare orders two findings by location, then check ID, then field path,
// then message.
func Compare(a, b Finding) int {
	// Written out rather than with cmp.Or, which would evaluate every
	// comparison: sorting 100,000 findings calls this millions of times.
	if c := cmp.Compare(a.Location.File, b.Location.File); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Location.Line, b.Location.Line); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Location.Column, b.Location.Column); c != 0 {
		return c
	}
	if c := cmp.Compare(a.CheckID(), b.CheckID()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Location.Path, b.Location.Path); c != 0 {
		return c
	}
	return cmp.Compare(a.Message, b.Message)
}

func sortProblems(p []Problem) {
	slices.SortStableFunc(p, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Message, b.Message))
	})
}
