package vuln

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// SLA is the security team's standard: the days allowed to fix a
// finding, per severity. Severities without an entry have no due date.
type SLA map[finding.Severity]int

// ParseSLA parses "CRITICAL=7,HIGH=30,MEDIUM=90" (days; a trailing "d" is
// allowed).
func ParseSLA(s string) (SLA, error) {
	sla := SLA{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, days, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("SLA %q: want SEVERITY=DAYS", item)
		}
		sev, err := finding.ParseSeverity(name)
		if err != nil {
			return nil, fmt.Errorf("SLA %q: %w", item, err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(days), "d"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("SLA %q: days must be a whole number ≥ 0", item)
		}
		if _, dup := sla[sev]; dup {
			return nil, fmt.Errorf("SLA %q: %s given twice", item, sev)
		}
		sla[sev] = n
	}
	return sla, nil
}

// applySLA sets the first-seen day, due date and overdue mark of a
// vulnerability finding. The clock starts when the caller first saw the
// finding (by fingerprint or by ID), else when the earliest record of it
// was published; without either there is no due date.
func applySLA(f *finding.Finding, opts Options) {
	v := f.Vulnerability
	v.Due, v.Overdue = "", false
	start, ok := opts.FirstSeen[f.Fingerprint]
	if !ok {
		start, ok = opts.FirstSeen[v.ID]
	}
	if ok {
		v.FirstSeen = start.UTC().Format(time.DateOnly)
	} else if v.Published != "" {
		var err error
		start, err = time.Parse(time.DateOnly, v.Published)
		ok = err == nil
	}
	days, has := opts.SLA[f.Severity()]
	if !ok || !has {
		return
	}
	due := start.UTC().Truncate(24*time.Hour).AddDate(0, 0, days)
	v.Due = due.Format(time.DateOnly)
	// Due is the last day allowed: overdue from the day after.
	v.Overdue = opts.Now.UTC().Truncate(24 * time.Hour).After(due)
}
