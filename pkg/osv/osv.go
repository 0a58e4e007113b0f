// Package osv holds the OSV vulnerability record format
// (https://ossf.github.io/osv-schema/) and evaluates its affected ranges.
package osv

import (
	"encoding/json"
	"time"
)

// Vulnerability is one OSV record.
type Vulnerability struct {
	SchemaVersion    string          `json:"schema_version,omitempty"`
	ID               string          `json:"id"`
	Modified         time.Time       `json:"modified"`
	Published        time.Time       `json:"published,omitzero"`
	Withdrawn        time.Time       `json:"withdrawn,omitzero"`
	Aliases          []string        `json:"aliases,omitempty"`
	Upstream         []string        `json:"upstream,omitempty"`
	Related          []string        `json:"related,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Details          string          `json:"details,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	References       []Reference     `json:"references,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is a severity score: a CVSS vector or an ecosystem's own.
type Severity struct {
	Type  string `json:"type"` // CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu
	Score string `json:"score"`
}

// Affected is one affected package.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package names a package in an ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range types.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Range is a range of affected versions, as a list of events.
type Range struct {
	Type             string          `json:"type"`
	Repo             string          `json:"repo,omitempty"`
	Events           []Event         `json:"events"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the vulnerability.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}
