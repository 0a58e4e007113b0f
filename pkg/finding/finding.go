// Package finding defines the result model shared by every mamori scanner:
// a Finding says which check fired, how bad it is, on which resource, and
// exactly where (file, line, column and field path). Report collects the
// findings of one scan with the problems met while reading its inputs.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Severity orders how urgently a finding needs attention.
type Severity int

// Severities, from least to most severe. The zero value is Unknown so that an
// unset severity never silently passes a gate.
const (
	Unknown Severity = iota
	Info
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"UNKNOWN", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Severities lists the known severities from most to least severe, the order
// in which reports present them.
func Severities() []Severity { return []Severity{Critical, High, Medium, Low, Info} }

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name, case-insensitively.
func ParseSeverity(s string) (Severity, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for i, n := range severityNames {
		if i != int(Unknown) && n == u {
			return Severity(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown severity %q (want one of CRITICAL, HIGH, MEDIUM, LOW, INFO)", s)
}

// MarshalText encodes the severity by name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Framework names a compliance framework a check maps to.
type Framework string

// Frameworks mamori maps checks to.
const (
	PSS         Framework = "PSS"          // Kubernetes Pod Security Standards
	CIS         Framework = "CIS"          // CIS Kubernetes Benchmark v1.10, section 5 (policies)
	NSACISA     Framework = "NSA-CISA"     // NSA/CISA Kubernetes Hardening Guide v1.2
	NIST800190  Framework = "NIST-800-190" // NIST SP 800-190 Application Container Security Guide
	MITREATTACK Framework = "MITRE-ATTACK" // MITRE ATT&CK for Containers
)

// Control is one control of a framework, e.g. CIS 5.2.2.
type Control struct {
	Framework Framework `json:"framework"`
	ID        string    `json:"id"`
	Title     string    `json:"title,omitempty"`
}

func (c Control) String() string { return string(c.Framework) + " " + c.ID }

// Rule is the metadata of a check, shared by all of its findings.
type Rule struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Severity    Severity  `json:"severity"`
	Description string    `json:"description"`
	Remediation string    `json:"remediation"`
	References  []string  `json:"references,omitempty"`
	Controls    []Control `json:"controls,omitempty"`
}

// Resource identifies the Kubernetes object a finding is about.
type Resource struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
}

// String renders the resource as Kind namespace/name.
func (r Resource) String() string {
	name := r.Name
	if name == "" {
		name = "<unnamed>"
	}
	if r.Namespace != "" {
		name = r.Namespace + "/" + name
	}
	if r.Kind == "" {
		return name
	}
	return r.Kind + " " + name
}

// Location says where a finding is. Line and Column are 1-based; zero means
// unknown. Path is the field path in the object, e.g.
// spec.template.spec.containers[0].securityContext.privileged.
type Location struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Path   string `json:"path,omitempty"`
	// Source names what rendered the object when File is where it came
	// from, not what was scanned: "kustomize overlays/prod".
	Source string `json:"source,omitempty"`
}

// String renders file:line:column.
func (l Location) String() string {
	s := l.File
	if l.Line > 0 {
		s += fmt.Sprintf(":%d", l.Line)
		if l.Column > 0 {
			s += fmt.Sprintf(":%d", l.Column)
		}
	}
	return s
}

// Finding is one problem found by one check.
type Finding struct {
	// Rule is the check that fired. Findings of one check share it.
	Rule     *Rule    `json:"-"`
	Message  string   `json:"message"`
	Resource Resource `json:"resource"`
	Location Location `json:"location"`
	// Fingerprint identifies the finding across runs: it does not change
	// when lines move. See ComputeFingerprint.
	Fingerprint string `json:"fingerprint"`
	// Vulnerability details a finding about a known vulnerability in a
	// package; nil for other checks.
	Vulnerability *Vulnerability `json:"vulnerability,omitempty"`
	// Secret details a finding about a leaked credential; nil for other
	// checks. It never holds the secret itself.
	Secret *Secret `json:"secret,omitempty"`
	// User is who made the request a finding is about (an audit alert's
	// user), for exceptions that name users; "" for other checks.
	User string `json:"user,omitempty"`
}

// Secret is what a secret finding says about the credential: a redacted
// form (a short prefix and the length), never the value.
type Secret struct {
	// Redacted is a short prefix of the value and its length, such as
	// "AKIA…(20 chars)".
	Redacted string `json:"redacted"`
	// Layer is the image layer the file is in, for image scans.
	Layer *LayerRef `json:"layer,omitempty"`
	// Commit, Author and Date say where in a repository's history the
	// secret was added, for history scans. Date is the author date
	// (RFC 3339).
	Commit string `json:"commit,omitempty"`
	Author string `json:"author,omitempty"`
	Date   string `json:"date,omitempty"`
	// Target is what was scanned when it is not a file tree: an image
	// reference with its digest.
	Target string `json:"target,omitempty"`
}

// Vulnerability is what a vulnerability finding says about the package
// and the record that matched it.
type Vulnerability struct {
	// ID is the finding's vulnerability ID (the CVE where the record
	// names exactly one); Record is the ID of the record that matched
	// when it differs, Aliases the other IDs, CVEs first.
	ID        string   `json:"id"`
	Record    string   `json:"record,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
	Package   string   `json:"package"`
	Ecosystem string   `json:"ecosystem"` // as matched: Debian:12, npm
	// SourcePackage and SourceVersion are what distro records were
	// matched on, when they differ from the binary package.
	SourcePackage    string `json:"sourcePackage,omitempty"`
	SourceVersion    string `json:"sourceVersion,omitempty"`
	InstalledVersion string `json:"installedVersion"`
	// FixedVersions is empty when no fix is known yet.
	FixedVersions []string `json:"fixedVersions,omitempty"`
	PURL          string   `json:"purl,omitempty"`
	// Layer is the image layer that added the package.
	Layer *LayerRef `json:"layer,omitempty"`
	// SeveritySource says where the severity came from: "debian",
	// "ghsa", "CVSS_V3", ...
	SeveritySource string  `json:"severitySource,omitempty"`
	Scores         []Score `json:"scores,omitempty"`
	Published      string  `json:"published,omitempty"` // YYYY-MM-DD
	// Due is when the SLA for the severity runs out (YYYY-MM-DD), counted
	// from FirstSeen or Published; Overdue is set once it has.
	FirstSeen string `json:"firstSeen,omitempty"`
	Due       string `json:"due,omitempty"`
	Overdue   bool   `json:"overdue,omitempty"`
	// Decision is the range event that decided, for `vuln explain`.
	Decision string `json:"decision,omitempty"`
	// Target is what was scanned: an image reference with its digest
	// (name@sha256:…), a directory, a disk.
	Target string `json:"target,omitempty"`
}

// LayerRef names an image layer.
type LayerRef struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// Score is one severity score of a vulnerability.
type Score struct {
	Source string  `json:"source"` // who scored: nvd, ghsa, debian, ...
	Type   string  `json:"type"`   // CVSS_V3, CVSS_V4, ...
	Vector string  `json:"vector,omitempty"`
	Score  float64 `json:"score,omitempty"`
	Rating string  `json:"rating,omitempty"`
}

// JSON is the JSON form of a finding. The check's own metadata
// (description, remediation, references, controls) is written once per
// check beside the findings, not repeated in each. See docs/json-format.md.
type JSON struct {
	CheckID     string   `json:"checkID"`
	Title       string   `json:"title"`
	Severity    Severity `json:"severity"`
	Message     string   `json:"message"`
	Resource    Resource `json:"resource"`
	Location    Location `json:"location"`
	Fingerprint string   `json:"fingerprint"`
	// Vulnerability is set on vulnerability findings only.
	Vulnerability *Vulnerability `json:"vulnerability,omitempty"`
	// Secret is set on secret findings only.
	Secret *Secret `json:"secret,omitempty"`
}

// JSON returns the finding's JSON form.
func (f *Finding) JSON() JSON {
	r := f.Rule
	if r == nil {
		r = &Rule{}
	}
	return JSON{
		CheckID: r.ID, Title: r.Title, Severity: r.Severity, Message: f.Message,
		Resource: f.Resource, Location: f.Location, Fingerprint: f.Fingerprint,
		Vulnerability: f.Vulnerability, Secret: f.Secret,
	}
}

// MarshalJSON encodes the finding's JSON form.
func (f Finding) MarshalJSON() ([]byte, error) { return json.Marshal(f.JSON()) }

// Severity is the finding's severity, that of its rule.
func (f *Finding) Severity() Severity {
	if f.Rule == nil {
		return Unknown
	}
	return f.Rule.Severity
}

// CheckID is the ID of the check that fired.
func (f *Finding) CheckID() string {
	if f.Rule == nil {
		return ""
	}
	return f.Rule.ID
}

// ComputeFingerprint derives a stable identity from what the finding is
// about, never from where its line currently is: the check, the file, the
// object's kind, namespace and name, and the field path. The apiVersion's
// version part is left out so that a migration from v1beta1 to v1 keeps it.
func ComputeFingerprint(checkID string, file string, r Resource, path string) string {
	group := r.APIVersion
	if i := strings.LastIndexByte(group, '/'); i >= 0 {
		group = group[:i]
	} else {
		group = ""
	}
	var buf [256]byte
	b := buf[:0]
	for _, s := range [...]string{checkID, file, group, r.Kind, r.Namespace, r.Name, path} {
		b = append(append(b, s...), 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
