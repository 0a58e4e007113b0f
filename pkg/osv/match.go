package osv

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/version"
)

// Query names one package version in an OSV ecosystem, with its release
// ("Debian:12", "Alpine:v3.20"); the ecosystem must equal the record's.
type Query struct {
	Ecosystem string
	Name      string
	Version   string
}

// Decision is the outcome of evaluating one record for one query.
type Decision struct {
	Affected bool
	// Entry is the index into Vulnerability.Affected of the entry that
	// decided, or -1 when no entry applies to the query.
	Entry int
	// Range is the index into that entry's Ranges, or -1 when the
	// version is listed in its versions[] (or no range decided).
	Range int
	// Event is the deciding interval in the record's own words,
	// "introduced 0, fixed 3.0.11-1~deb12u2"; empty when none did.
	Event string
	// Reason says in a sentence why the version is or is not affected.
	Reason string
}

// Evaluate decides whether q's version is affected by v, following the
// OSV schema's evaluation rules: a withdrawn record affects nothing; an
// affected entry applies when its ecosystem equals q's and its package
// name equals q's (normalised per ecosystem, see version.Name); the
// version is affected when an applying entry lists it in versions[] or
// it falls in one of the entry's ECOSYSTEM or SEMVER ranges. GIT ranges
// never apply to package versions.
//
// An error means some range could not be evaluated because a version
// (q's or an event's) does not parse in the ecosystem; every other range
// is still evaluated, and an affected Decision is returned with a nil
// error, since an unreadable range cannot undo it.
func Evaluate(v *Vulnerability, q Query) (Decision, error) {
	d := Decision{Entry: -1, Range: -1}
	if !v.Withdrawn.IsZero() {
		d.Reason = fmt.Sprintf("%s was withdrawn on %s", v.ID, v.Withdrawn.Format("2006-01-02"))
		return d, nil
	}
	entries := applying(v, q)
	if len(entries) == 0 {
		d.Reason = fmt.Sprintf("%s has no affected entry for %s/%s", v.ID, q.Ecosystem, q.Name)
		return d, nil
	}
	// versions[] first: a listed version is affected even when it does
	// not parse.
	for _, i := range entries {
		if slices.Contains(v.Affected[i].Versions, q.Version) {
			return Decision{
				Affected: true, Entry: i, Range: -1,
				Event:  "versions[] lists " + q.Version,
				Reason: fmt.Sprintf("%s is listed in versions[] of %s affected[%d] (%s/%s)", q.Version, v.ID, i, q.Ecosystem, q.Name),
			}, nil
		}
	}
	var errs []error
	var outside []string
	d.Entry = entries[0]
	for _, i := range entries {
		for j, r := range v.Affected[i].Ranges {
			res, err := evalRange(q, r)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s affected[%d].ranges[%d]: %w", v.ID, i, j, err))
				continue
			}
			if !res.applies {
				continue
			}
			if res.affected {
				return Decision{
					Affected: true, Entry: i, Range: j, Event: res.interval,
					Reason: fmt.Sprintf("%s is in %s range [%s] of %s affected[%d] (%s/%s)", q.Version, r.Type, res.interval, v.ID, i, q.Ecosystem, q.Name),
				}, nil
			}
			outside = append(outside, fmt.Sprintf("%s [%s]", r.Type, describeEvents(r.Events)))
		}
	}
	if len(errs) > 0 {
		d.Reason = fmt.Sprintf("%s: some ranges of %s could not be evaluated", q.Version, v.ID)
		return d, errors.Join(errs...)
	}
	if len(outside) == 0 {
		d.Reason = fmt.Sprintf("%s: no version list or package range of %s covers %s/%s", v.ID, v.ID, q.Ecosystem, q.Name)
		return d, nil
	}
	d.Reason = fmt.Sprintf("%s is outside every range of %s for %s/%s: %s", q.Version, v.ID, q.Ecosystem, q.Name, strings.Join(outside, "; "))
	return d, nil
}

// EcosystemMatches reports whether a record's ecosystem covers a query's.
// They must be equal, with one exception: Red Hat names its ecosystems per
// product stream ("Red Hat:enterprise_linux:9::appstream",
// "...::baseos"), and an installed system cannot tell which stream a
// package came from, so a query for the product ("Red Hat:enterprise_linux:9")
// covers all of its streams.
func EcosystemMatches(record, query string) bool {
	if record == query {
		return true
	}
	return strings.HasPrefix(query, "Red Hat:") && strings.HasPrefix(record, query+"::")
}

// applying returns the indexes of v's affected entries that apply to q.
func applying(v *Vulnerability, q Query) []int {
	var idx []int
	name := version.Name(q.Ecosystem, q.Name)
	for i, a := range v.Affected {
		if EcosystemMatches(a.Package.Ecosystem, q.Ecosystem) && version.Name(q.Ecosystem, a.Package.Name) == name {
			idx = append(idx, i)
		}
	}
	return idx
}

// rangeResult is one range's verdict: applies is false for ranges that
// do not speak of package versions (GIT, unknown types).
type rangeResult struct {
	applies  bool
	affected bool
	interval string // the introduced event and what closes it
}

// event is a range event with its parsed version.
type event struct {
	kind string // introduced, fixed, last_affected, limit
	raw  string
	v    version.Version
	zero bool // introduced "0", or limit "*"
}

// ordering returns the ecosystem whose ordering a range uses.
func ordering(q Query, r Range) (string, bool) {
	switch r.Type {
	case RangeEcosystem:
		return q.Ecosystem, true
	case RangeSemver:
		return "SEMVER", true
	}
	return "", false
}

// evalRange is the OSV schema's evaluation of one range: events sorted by
// version; introduced makes affected, fixed (>=) and last_affected (>)
// make unaffected; limit events, when present, bound the range above.
func evalRange(q Query, r Range) (rangeResult, error) {
	eco, ok := ordering(q, r)
	if !ok {
		return rangeResult{}, nil
	}
	qv, err := version.Parse(eco, q.Version)
	if err != nil {
		return rangeResult{}, err
	}
	evs, err := parseEvents(eco, r.Events)
	if err != nil {
		return rangeResult{}, err
	}
	affected, intro := false, -1
	var limits []event
	for i, e := range evs {
		switch e.kind {
		case "introduced":
			if e.zero || qv.Compare(e.v) >= 0 {
				affected, intro = true, i
			}
		case "fixed":
			if qv.Compare(e.v) >= 0 {
				affected = false
			}
		case "last_affected":
			if qv.Compare(e.v) > 0 {
				affected = false
			}
		case "limit":
			limits = append(limits, e)
		}
	}
	if affected && len(limits) > 0 {
		below := false
		for _, l := range limits {
			if l.zero || qv.Compare(l.v) < 0 {
				below = true
			}
		}
		affected = below
	}
	res := rangeResult{applies: true, affected: affected}
	if affected {
		res.interval = interval(evs, intro)
	}
	return res, nil
}

// parseEvents parses and sorts a range's events, introduced "0" first; an
// event with no field set is an error, as is a version that does not
// parse.
func parseEvents(eco string, raw []Event) ([]event, error) {
	evs := make([]event, 0, len(raw))
	var errs []error
	for i, re := range raw {
		e, err := parseEvent(eco, re)
		if err != nil {
			errs = append(errs, fmt.Errorf("events[%d]: %w", i, err))
			continue
		}
		evs = append(evs, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := cmp.Compare(a.rank(), b.rank()); c != 0 || a.rank() != 1 {
			return c
		}
		return a.v.Compare(b.v)
	})
	return evs, nil
}

// rank orders introduced "0" before every version and limit "*" after.
func (e event) rank() int {
	switch {
	case !e.zero:
		return 1
	case e.kind == "introduced":
		return 0
	}
	return 2
}

func parseEvent(eco string, re Event) (event, error) {
	var e event
	n := 0
	for _, f := range [...]struct{ kind, val string }{
		{"introduced", re.Introduced}, {"fixed", re.Fixed}, {"last_affected", re.LastAffected}, {"limit", re.Limit},
	} {
		if f.val != "" {
			e.kind, e.raw = f.kind, f.val
			n++
		}
	}
	switch {
	case n == 0:
		return e, errors.New("event has no version")
	case n > 1:
		return e, errors.New("event sets more than one of introduced, fixed, last_affected, limit")
	}
	if e.kind == "introduced" && e.raw == "0" || e.kind == "limit" && e.raw == "*" {
		e.zero = true
		return e, nil
	}
	v, err := version.Parse(eco, e.raw)
	if err != nil {
		return e, fmt.Errorf("%s: %w", e.kind, err)
	}
	e.v = v
	return e, nil
}

// interval describes the introduced event at evs[intro] and the first
// fixed, last_affected or limit event after it.
func interval(evs []event, intro int) string {
	s := "introduced " + evs[intro].raw
	for _, e := range evs[intro+1:] {
		if e.kind != "introduced" {
			return s + ", " + e.kind + " " + e.raw
		}
	}
	return s + " (no fix)"
}

// describeEvents lists a range's events as the record gives them.
func describeEvents(evs []Event) string {
	parts := make([]string, 0, len(evs))
	for _, e := range evs {
		switch {
		case e.Introduced != "":
			parts = append(parts, "introduced "+e.Introduced)
		case e.Fixed != "":
			parts = append(parts, "fixed "+e.Fixed)
		case e.LastAffected != "":
			parts = append(parts, "last_affected "+e.LastAffected)
		case e.Limit != "":
			parts = append(parts, "limit "+e.Limit)
		}
	}
	return strings.Join(parts, ", ")
}

// FixedVersions returns the fixed versions named by the ECOSYSTEM and
// SEMVER ranges of v's entries that apply to q, lowest first, without
// duplicates. When q.Version parses, only fixes above it are returned:
// the versions that would fix q. Nil for a withdrawn record.
func FixedVersions(v *Vulnerability, q Query) []string {
	if !v.Withdrawn.IsZero() {
		return nil
	}
	type fix struct {
		raw string
		v   version.Version
		ok  bool
	}
	var fixes []fix
	for _, i := range applying(v, q) {
		for _, r := range v.Affected[i].Ranges {
			eco, ok := ordering(q, r)
			if !ok {
				continue
			}
			qv, qerr := version.Parse(eco, q.Version)
			for _, e := range r.Events {
				if e.Fixed == "" || slices.ContainsFunc(fixes, func(f fix) bool { return f.raw == e.Fixed }) {
					continue
				}
				fv, err := version.Parse(eco, e.Fixed)
				if err == nil && qerr == nil && fv.Compare(qv) <= 0 {
					continue
				}
				fixes = append(fixes, fix{raw: e.Fixed, v: fv, ok: err == nil})
			}
		}
	}
	slices.SortStableFunc(fixes, func(a, b fix) int {
		if a.ok != b.ok { // unparsable fixes last, in record order
			if a.ok {
				return -1
			}
			return 1
		}
		if !a.ok {
			return 0
		}
		return a.v.Compare(b.v)
	})
	out := make([]string, len(fixes))
	for i, f := range fixes {
		out[i] = f.raw
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
