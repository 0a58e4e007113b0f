package vuln

import (
	"encoding/json"
	"strings"

	"github.com/mamori-dev/mamori/pkg/cvss"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/osv"
	"github.com/mamori-dev/mamori/pkg/version"
)

// Severity rates a record for one package. The distribution's own rating
// wins for its packages (it knows whether its build is exposed: Debian's
// "unimportant" is LOW whatever NVD says), then the advisory database's
// (GHSA), then the highest CVSS version given: v3.x, v4.0, v2. It returns
// the rating, where it came from, and every score the record carries.
func Severity(rec *osv.Vulnerability, ecosystem, name string) (finding.Severity, string, []finding.Score) {
	source := scoreSource(rec.ID)
	var (
		scores            []finding.Score
		vendor, vendorSrc = finding.Unknown, ""
	)
	addCVSS := func(list []osv.Severity) {
		for _, s := range list {
			sc := finding.Score{Source: source, Type: s.Type, Vector: s.Score}
			switch s.Type {
			case "CVSS_V2", "CVSS_V3", "CVSS_V4":
				r, err := cvss.Score(s.Score)
				if err != nil {
					continue
				}
				sc.Score, sc.Rating = r.Score, strings.ToUpper(r.Rating)
			case "Ubuntu":
				sc.Source, sc.Vector, sc.Rating = "ubuntu", "", strings.ToUpper(s.Score)
				if v, ok := vendorRating(s.Score); ok && v > vendor {
					vendor, vendorSrc = v, "ubuntu"
				}
			default:
				continue
			}
			scores = append(scores, sc)
		}
	}
	addCVSS(rec.Severity)
	base, _, _ := strings.Cut(ecosystem, ":")
	for i := range rec.Affected {
		a := &rec.Affected[i]
		if !osv.EcosystemMatches(a.Package.Ecosystem, ecosystem) || version.Name(ecosystem, a.Package.Name) != version.Name(ecosystem, name) {
			continue
		}
		addCVSS(a.Severity)
		var es struct {
			Urgency string `json:"urgency"`
		}
		if len(a.EcosystemSpecific) > 0 && json.Unmarshal(a.EcosystemSpecific, &es) == nil && es.Urgency != "" {
			scores = append(scores, finding.Score{Source: strings.ToLower(base), Type: "urgency", Rating: es.Urgency})
			if v, ok := vendorRating(es.Urgency); ok && v > vendor {
				vendor, vendorSrc = v, strings.ToLower(base)
			}
		}
	}
	if vendor != finding.Unknown {
		return vendor, vendorSrc, scores
	}
	var db struct {
		Severity string `json:"severity"`
	}
	if len(rec.DatabaseSpecific) > 0 && json.Unmarshal(rec.DatabaseSpecific, &db) == nil && db.Severity != "" {
		if v, ok := vendorRating(db.Severity); ok {
			scores = append(scores, finding.Score{Source: source, Type: "database", Rating: strings.ToUpper(db.Severity)})
			return v, source, scores
		}
	}
	for _, typ := range [...]string{"CVSS_V3", "CVSS_V4", "CVSS_V2"} {
		best, found := finding.Unknown, false
		for _, s := range scores {
			if s.Type == typ && s.Rating != "" {
				if v, ok := vendorRating(s.Rating); ok && v >= best {
					best, found = v, true
				}
			}
		}
		if found {
			return best, typ, scores
		}
	}
	return finding.Unknown, "", scores
}

// vendorRating maps the words databases rate with to severities. Debian's
// "unimportant" and Ubuntu's "negligible" are LOW: still listed, never
// urgent. "not yet assigned" rates nothing.
func vendorRating(s string) (finding.Severity, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return finding.Critical, true
	case "high", "important":
		return finding.High, true
	case "medium", "moderate":
		return finding.Medium, true
	case "low", "unimportant", "negligible":
		return finding.Low, true
	case "none":
		return finding.Info, true
	}
	return finding.Unknown, false
}

// scoreSource names who scored a record by its ID prefix: the CVSS
// vectors in CVE records are NVD's.
func scoreSource(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "CVE":
		return "nvd"
	case "":
		return "osv"
	}
	return strings.ToLower(prefix)
}
