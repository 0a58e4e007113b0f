// Package vuln matches an inventory against OSV records and turns what
// matches into findings: distro packages by source package and release,
// language packages by ecosystem and name, versions compared exactly as the
// ecosystem orders them.
package vuln

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// Source finds the records that name a package in an ecosystem
// (vulndb.DB is one).
type Source interface {
	Query(ecosystem, name string) ([]*osv.Vulnerability, error)
}

// Options tune matching.
type Options struct {
	// Now is the day findings are judged on (SLA due dates, OS end of
	// life); zero means time.Now().
	Now time.Time
	// IgnoreUnfixed drops findings no fixed version is known for.
	IgnoreUnfixed bool
	// SLA gives the days allowed to fix a finding, per severity.
	SLA SLA
	// FirstSeen gives, per finding fingerprint or vulnerability ID, the
	// day it was first seen; the SLA counts from it instead of the
	// record's publication.
	FirstSeen map[string]time.Time
}

// Query is what one package is matched on.
type Query struct {
	osv.Query
	// Why explains a query that differs from the package as installed.
	Why string
}

// QueryFor returns what a package is matched on, or false with the
// reason it cannot be matched.
func QueryFor(p *inventory.Package, o *inventory.OS) (Query, string, bool) {
	switch p.Type {
	case inventory.Dpkg, inventory.Apk, inventory.RPM:
		if o == nil {
			return Query{}, "no OS release found", false
		}
		if o.Ecosystem == "" {
			return Query{}, fmt.Sprintf("no vulnerability data for %s", osName(o)), false
		}
		q := Query{Query: osv.Query{Ecosystem: o.Ecosystem, Name: p.Name, Version: p.Version}}
		if p.SourceName != "" {
			q.Name = p.SourceName
			if p.SourceVersion != "" {
				q.Version = p.SourceVersion
			}
		}
		if q.Name != p.Name || q.Version != p.Version {
			q.Why = "source package " + q.Name + " " + q.Version
		}
		return q, "", true
	}
	if p.Ecosystem == "" {
		return Query{}, "no ecosystem", false
	}
	if p.Version == "" {
		return Query{}, "no exact version", false
	}
	v := p.Version
	if p.Ecosystem == inventory.EcoGo {
		// Go modules say v1.2.3; the Go vulnerability database, 1.2.3.
		v = strings.TrimPrefix(v, "v")
	}
	if p.Ecosystem == inventory.EcoMaven && !strings.Contains(p.Name, ":") {
		// A jar whose group ID is unknown: guessing one is how
		// scanners report other projects' vulnerabilities.
		return Query{}, "Maven artifact without a group ID", false
	}
	return Query{Query: osv.Query{Ecosystem: p.Ecosystem, Name: p.Name, Version: v}}, "", true
}

func osName(o *inventory.OS) string {
	if o.Name != "" {
		return o.Name
	}
	return strings.TrimSpace(o.Family + " " + o.Version)
}

// Result is the outcome of matching one inventory.
type Result struct {
	Findings []finding.Finding
	Rules    []*finding.Rule
	// Notes say what could not be matched and why (packages without a
	// version, an OS without data, a record whose versions do not parse).
	Notes []finding.Problem
	// Packages counts the packages looked at.
	Packages int
}

// Match matches every package of inv against src.
func Match(ctx context.Context, src Source, inv *inventory.Inventory, opts Options) (*Result, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	res := &Result{}
	rules := map[ruleKey]*finding.Rule{}
	type queryKey struct{ eco, name string }
	cache := map[queryKey][]*osv.Vulnerability{}
	unmatched := map[string]int{}
	aliasCache := map[string]rating{}
	for i := range inv.Packages {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := &inv.Packages[i]
		res.Packages++
		q, why, ok := QueryFor(p, inv.OS)
		if !ok {
			unmatched[why]++
			continue
		}
		k := queryKey{q.Ecosystem, q.Name}
		recs, seen := cache[k]
		if !seen {
			var err error
			recs, err = src.Query(q.Ecosystem, q.Name)
			if err != nil {
				return nil, fmt.Errorf("query %s %s: %w", q.Ecosystem, q.Name, err)
			}
			cache[k] = recs
		}
		found := map[string]int{} // finding ID → index in res.Findings
		before := len(res.Findings)
		for _, rec := range recs {
			d, err := osv.Evaluate(rec, q.Query)
			if err != nil {
				res.Notes = append(res.Notes, finding.Problem{File: p.Path, Message: fmt.Sprintf("%s: %s %s: %v", rec.ID, q.Name, q.Version, err)})
			}
			if !d.Affected {
				continue
			}
			fixed := osv.FixedVersions(rec, q.Query)
			if opts.IgnoreUnfixed && len(fixed) == 0 {
				continue
			}
			sev := rate(src, rec, q, aliasCache)
			f := newFinding(p, q, rec, d, fixed, sev, rules)
			// One finding per vulnerability and package: a GHSA and a
			// PYSEC record of the same CVE merge.
			if j, dup := found[f.Vulnerability.ID]; dup {
				mergeFinding(&res.Findings[j], &f)
				continue
			}
			found[f.Vulnerability.ID] = len(res.Findings)
			res.Findings = append(res.Findings, f)
		}
		// After merging: the SLA follows the merged severity and the
		// earliest publication.
		for j := before; j < len(res.Findings); j++ {
			applySLA(&res.Findings[j], opts)
		}
	}
	whys := make([]string, 0, len(unmatched))
	for why := range unmatched {
		whys = append(whys, why)
	}
	slices.Sort(whys)
	for _, why := range whys {
		res.Notes = append(res.Notes, finding.Problem{Message: fmt.Sprintf("%d packages not matched: %s", unmatched[why], why)})
	}
	if f := eolFinding(inv.OS, opts.Now); f != nil {
		res.Findings = append(res.Findings, *f)
		rules[ruleKey{f.Rule.ID, f.Rule.Severity}] = f.Rule
	}
	for _, r := range rules {
		res.Rules = append(res.Rules, r)
	}
	slices.SortFunc(res.Rules, func(a, b *finding.Rule) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Severity, b.Severity))
	})
	slices.SortStableFunc(res.Findings, finding.Compare)
	return res, nil
}

type ruleKey struct {
	id  string
	sev finding.Severity
}

// PrimaryID is the ID a finding goes by: the record's own when it is a
// CVE or names no single CVE, else that CVE. Aliases lists the rest, CVEs
// first.
func PrimaryID(rec *osv.Vulnerability) (string, []string) {
	var cves, others []string
	for _, a := range append(append([]string{}, rec.Aliases...), rec.Upstream...) {
		if a == rec.ID || slices.Contains(cves, a) || slices.Contains(others, a) {
			continue
		}
		if strings.HasPrefix(a, "CVE-") {
			cves = append(cves, a)
		} else {
			others = append(others, a)
		}
	}
	id := rec.ID
	if !strings.HasPrefix(id, "CVE-") && len(cves) == 1 {
		id = cves[0]
		cves = nil
		others = append([]string{rec.ID}, others...)
	}
	slices.Sort(cves)
	return id, append(cves, others...)
}

// AliasSource finds records by ID or alias (vulndb.DB is one).
type AliasSource interface {
	Lookup(id string) ([]*osv.Vulnerability, error)
}

type rating struct {
	sev    finding.Severity
	source string
	scores []finding.Score
}

// rate rates a record; a record that rates nothing itself (the Go
// database gives no severity) borrows the rating of the records it
// aliases, the GHSA or the CVE, when the source can find them.
func rate(src Source, rec *osv.Vulnerability, q Query, cache map[string]rating) rating {
	sev, source, scores := Severity(rec, q.Ecosystem, q.Name)
	r := rating{sev, source, scores}
	as, ok := src.(AliasSource)
	if sev != finding.Unknown || !ok {
		return r
	}
	for _, id := range append(append([]string{}, rec.Aliases...), rec.Upstream...) {
		ar, seen := cache[id]
		if !seen {
			recs, err := as.Lookup(id)
			if err == nil {
				for _, other := range recs {
					if other.ID != id {
						continue
					}
					// Another ecosystem's entry: only the record-wide
					// ratings (CVSS, the database's) carry over.
					s, so, sc := Severity(other, "", "")
					if s != finding.Unknown {
						ar = rating{s, so + " via " + id, sc}
					}
				}
			}
			cache[id] = ar
		}
		if ar.sev > r.sev {
			r = ar
		}
	}
	return r
}

func newFinding(p *inventory.Package, q Query, rec *osv.Vulnerability, d osv.Decision, fixed []string, r rating, rules map[ruleKey]*finding.Rule) finding.Finding {
	id, aliases := PrimaryID(rec)
	sev, sevSource, scores := r.sev, r.source, r.scores
	rk := ruleKey{id, sev}
	rule := rules[rk]
	if rule == nil {
		rule = &finding.Rule{
			ID:          id,
			Title:       title(rec),
			Severity:    sev,
			Description: rec.Details,
			Remediation: "Upgrade the package to a fixed version, or record an exception with owner, reason and expiry.",
			References:  references(rec),
		}
		rules[rk] = rule
	}
	v := &finding.Vulnerability{
		ID:               id,
		Aliases:          aliases,
		Package:          p.Name,
		Ecosystem:        q.Ecosystem,
		InstalledVersion: p.Version,
		FixedVersions:    fixed,
		PURL:             p.PURL,
		SeveritySource:   sevSource,
		Scores:           scores,
		Decision:         d.Event,
	}
	if id != rec.ID {
		v.Record = rec.ID
	}
	if q.Name != p.Name || q.Version != p.Version {
		v.SourcePackage, v.SourceVersion = q.Name, q.Version
	}
	if !rec.Published.IsZero() && rec.Published.Year() > 1 {
		v.Published = rec.Published.UTC().Format(time.DateOnly)
	}
	if p.Layer != nil {
		v.Layer = &finding.LayerRef{Index: p.Layer.Index, Digest: p.Layer.Digest, CreatedBy: p.Layer.CreatedBy}
	}
	msg := fmt.Sprintf("%s %s", p.Name, p.Version)
	if v.SourcePackage != "" {
		msg += fmt.Sprintf(" (source %s %s)", q.Name, q.Version)
	}
	if len(fixed) > 0 {
		msg += " is affected; fixed in " + strings.Join(fixed, ", ")
	} else {
		msg += " is affected; no fix yet"
	}
	res := finding.Resource{Kind: string(p.Type), Name: p.Name}
	loc := finding.Location{File: p.Path}
	if p.Layer != nil {
		loc.Source = layerName(p.Layer)
	}
	return finding.Finding{
		Rule:     rule,
		Message:  msg,
		Resource: res,
		Location: loc,
		// The version is part of what the finding is about: one lock file
		// can hold two versions of a package, each its own finding.
		Fingerprint:   finding.ComputeFingerprint(id, p.Path, finding.Resource{Kind: q.Ecosystem, Name: p.Name}, p.Version),
		Vulnerability: v,
	}
}

func layerName(l *inventory.Layer) string {
	d := l.Digest
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		d = d[:i+13]
	}
	s := fmt.Sprintf("layer %d %s", l.Index, d)
	if l.CreatedBy != "" {
		cb := strings.Join(strings.Fields(l.CreatedBy), " ")
		if len(cb) > 60 {
			cb = cb[:57] + "..."
		}
		s += ": " + cb
	}
	return s
}

func mergeFinding(dst, src *finding.Finding) {
	d, s := dst.Vulnerability, src.Vulnerability
	for _, a := range append([]string{s.Record}, s.Aliases...) {
		if a != "" && a != d.ID && a != d.Record && !slices.Contains(d.Aliases, a) {
			d.Aliases = append(d.Aliases, a)
		}
	}
	for _, f := range s.FixedVersions {
		if !slices.Contains(d.FixedVersions, f) {
			d.FixedVersions = append(d.FixedVersions, f)
		}
	}
	// The more severe rating wins: two sources of one CVE.
	if src.Severity() > dst.Severity() {
		dst.Rule = src.Rule
		d.SeveritySource, d.Scores = s.SeveritySource, s.Scores
	}
	if s.Published != "" && (d.Published == "" || s.Published < d.Published) {
		d.Published = s.Published
	}
}

func title(rec *osv.Vulnerability) string {
	if rec.Summary != "" {
		return rec.Summary
	}
	d := strings.TrimSpace(rec.Details)
	if i := strings.IndexAny(d, "\n"); i >= 0 {
		d = d[:i]
	}
	if len(d) > 120 {
		d = d[:117] + "..."
	}
	if d == "" {
		return rec.ID
	}
	return d
}

func references(rec *osv.Vulnerability) []string {
	refs := make([]string, 0, len(rec.References)+1)
	switch {
	case strings.HasPrefix(rec.ID, "CVE-"):
		refs = append(refs, "https://nvd.nist.gov/vuln/detail/"+rec.ID)
	}
	for _, r := range rec.References {
		if len(refs) >= 8 {
			break
		}
		if !slices.Contains(refs, r.URL) {
			refs = append(refs, r.URL)
		}
	}
	return refs
}

// eolFinding reports an OS past its vendor's end of security support.
func eolFinding(o *inventory.OS, now time.Time) *finding.Finding {
	if !o.PastEOL(now) {
		return nil
	}
	rule := &finding.Rule{
		ID:          "os-eol",
		Title:       "Operating system past its end of life",
		Severity:    finding.High,
		Description: "The vendor no longer publishes security fixes for this release: new vulnerabilities stay unfixed and are often not even recorded for it.",
		Remediation: "Rebuild on a supported release of the distribution.",
	}
	return &finding.Finding{
		Rule:        rule,
		Message:     fmt.Sprintf("%s reached end of life on %s", osName(o), o.EOL.Format(time.DateOnly)),
		Resource:    finding.Resource{Kind: "OS", Name: osName(o)},
		Location:    finding.Location{File: o.Path},
		Fingerprint: finding.ComputeFingerprint(rule.ID, o.Path, finding.Resource{Kind: "OS", Name: o.Family + " " + o.Version}, ""),
	}
}
