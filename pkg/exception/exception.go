// Package exception applies governed risk acceptances: entries that
// suppress findings of a check, optionally only for some resources and
// paths, each with a reason, an owner and an expiry date. An expired entry
// stops suppressing and says so; an entry that matches nothing is reported
// as unused. The same entries are meant to be honoured wherever mamori
// judges (scan, admission, exported policies, operator), so this package
// knows nothing of where findings come from.
package exception

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// FileName is the name of ignore files found while scanning a tree.
const FileName = ".mamori-ignore.yaml"

// Entry is one exception.
type Entry struct {
	// Check is a check ID or a glob of them (pss-*).
	Check string
	// Resources narrows the entry to matching resources; empty means any.
	Resources []Selector
	// Paths narrows it to findings in matching files (globs with **,
	// relative to the ignore file's directory); empty means any.
	Paths []string
	// Packages, PURLs and Images narrow an entry to vulnerability
	// findings in matching packages (name or source package globs), with
	// matching package URLs (a PURL without a version matches every
	// version), or in matching scan targets (image reference or digest
	// globs). Empty means any.
	Packages []string
	PURLs    []string
	Images   []string
	// Fingerprints narrows an entry to findings with these fingerprints
	// (one secret, one finding); check may then be left out.
	Fingerprints []string
	// Users narrows an entry to findings about requests by matching
	// users (username globs, such as system:serviceaccount:ci:*): audit
	// alerts. An entry with users never matches a finding without one.
	Users   []string
	Reason  string
	Owner   string
	Expires time.Time // the last day the entry holds

	// File and Line say where the entry is written.
	File string
	Line int

	base  string // directory the entry's file scopes to ("" for --ignorefile)
	paths []*regexp.Regexp
}

// Selector matches resources by kind, namespace and name globs; an empty
// field matches anything.
type Selector struct {
	Kind, Namespace, Name string
}

// Set is the exceptions of one scan.
type Set struct {
	Entries []*Entry
}

// Load parses an ignore file. base is the directory whose findings its
// entries may suppress ("" for any). Every malformed entry is an error
// naming its line; the well-formed ones are still loaded.
func Load(file string, data []byte, base string) (*Set, []finding.Problem) {
	var errs []finding.Problem
	fail := func(line int, format string, args ...any) {
		errs = append(errs, finding.Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fail(0, "invalid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		return &Set{}, errs
	}
	set := &Set{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return set, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		fail(root.Line, "want a mapping with an exceptions list")
		return set, errs
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k := root.Content[i]; k.Value {
		case "exceptions":
			list = root.Content[i+1]
		case "apiVersion", "kind":
		default:
			fail(k.Line, "unknown field %q (want exceptions)", k.Value)
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		if list != nil || len(errs) == 0 {
			fail(root.Line, "want an exceptions list")
		}
		return set, errs
	}
	for _, n := range list.Content {
		e, problems := parseEntry(file, n, base)
		errs = append(errs, problems...)
		if e != nil {
			set.Entries = append(set.Entries, e)
		}
	}
	return set, errs
}

// LoadFile reads and parses the ignore file at path, named name in
// reports; base is as for Load. A file that cannot be read is a problem
// naming it.
func LoadFile(name, path, base string) (*Set, []finding.Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := errors.AsType[*os.PathError](err); ok {
			err = pe.Err // the problem names the file already
		}
		return &Set{}, []finding.Problem{{File: name, Message: err.Error()}}
	}
	return Load(name, data, base)
}

func parseEntry(file string, n *yaml.Node, base string) (*Entry, []finding.Problem) {
	var errs []finding.Problem
	fail := func(line int, format string, args ...any) {
		errs = append(errs, finding.Problem{File: file, Line: line, Message: "exception: " + fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		fail(n.Line, "want a mapping")
		return nil, errs
	}
	e := &Entry{File: file, Line: n.Line, base: base}
	var expires string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "check":
			err = v.Decode(&e.Check)
		case "reason":
			err = v.Decode(&e.Reason)
		case "owner":
			err = v.Decode(&e.Owner)
		case "expires":
			err = v.Decode(&expires)
		case "paths":
			err = v.Decode(&e.Paths)
		case "resources":
			err = decodeSelectors(v, &e.Resources)
		case "packages":
			err = v.Decode(&e.Packages)
		case "purls":
			err = v.Decode(&e.PURLs)
		case "images":
			err = v.Decode(&e.Images)
		case "fingerprints":
			err = v.Decode(&e.Fingerprints)
		case "users":
			err = v.Decode(&e.Users)
		default:
			fail(k.Line, "unknown field %q (want check, fingerprints, resources, paths, packages, purls, images, users, reason, owner, expires)", k.Value)
			continue
		}
		if err != nil {
			fail(v.Line, "%s: %v", k.Value, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if e.Check == "" && len(e.Fingerprints) > 0 {
		e.Check = "*"
	}
	for _, req := range []struct{ name, val string }{{"check", e.Check}, {"reason", e.Reason}, {"owner", e.Owner}, {"expires", expires}} {
		if strings.TrimSpace(req.val) == "" {
			fail(n.Line, "%s is required", req.name)
		}
	}
	if expires != "" {
		t, err := time.Parse(time.DateOnly, expires)
		if err != nil {
			fail(n.Line, "expires %q: want a date such as 2027-03-31", expires)
		}
		e.Expires = t
	}
	if _, err := path.Match(e.Check, ""); err != nil {
		fail(n.Line, "check %q: %v", e.Check, err)
	}
	for _, p := range e.PURLs {
		if strings.Contains(p, "?") || strings.Contains(p, "#") {
			// Qualifier order varies between tools: a glob over them would
			// match or miss by accident.
			fail(n.Line, "purls %q: qualifiers and subpaths are not supported; name the package, with or without a version", p)
		}
	}
	for _, g := range slices.Concat(e.Packages, e.PURLs, e.Images, e.Users) {
		if _, err := path.Match(g, ""); err != nil {
			fail(n.Line, "glob %q: %v", g, err)
		}
	}
	for _, p := range e.Paths {
		e.paths = append(e.paths, globRegexp(p))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return e, nil
}

func decodeSelectors(n *yaml.Node, out *[]Selector) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of {kind, namespace, name}")
	}
	for _, s := range n.Content {
		if s.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: want {kind, namespace, name}", s.Line)
		}
		var sel Selector
		for i := 0; i+1 < len(s.Content); i += 2 {
			switch k := s.Content[i].Value; k {
			case "kind":
				sel.Kind = s.Content[i+1].Value
			case "namespace":
				sel.Namespace = s.Content[i+1].Value
			case "name":
				sel.Name = s.Content[i+1].Value
			default:
				return fmt.Errorf("line %d: unknown field %q (want kind, namespace, name)", s.Content[i].Line, k)
			}
		}
		*out = append(*out, sel)
	}
	return nil
}

// globRegexp turns a path glob into a regexp: ** crosses directories,
// * and ? do not.
func globRegexp(g string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; {
		case c == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
			if i+1 < len(g) && g[i+1] == '/' {
				i++
				b.WriteString("/?")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// matches reports whether the entry covers the finding, expiry aside.
func (e *Entry) matches(f *finding.Finding) bool {
	if !glob(e.Check, f.CheckID()) && !e.matchesAlias(f) {
		return false
	}
	if !e.matchesPackage(f) {
		return false
	}
	if len(e.Fingerprints) > 0 && !slices.Contains(e.Fingerprints, f.Fingerprint) {
		return false
	}
	if len(e.Users) > 0 && (f.User == "" || !slices.ContainsFunc(e.Users, func(g string) bool { return glob(g, f.User) })) {
		return false
	}
	file := f.Location.File
	if e.base != "" && e.base != "." {
		// An ignore file at the root of a scan of "." names files as the
		// scan does, without a "./" prefix.
		rel, ok := strings.CutPrefix(file, e.base+"/")
		if !ok {
			return false // outside the ignore file's tree
		}
		file = rel
	}
	if len(e.paths) > 0 {
		hit := false
		for _, re := range e.paths {
			if re.MatchString(file) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if len(e.Resources) == 0 {
		return true
	}
	for _, s := range e.Resources {
		if glob(s.Kind, f.Resource.Kind) && glob(s.Namespace, f.Resource.Namespace) && glob(s.Name, f.Resource.Name) {
			return true
		}
	}
	return false
}

// matchesAlias lets an entry name a vulnerability by any of its IDs: the
// CVE, the GHSA or the distro advisory.
func (e *Entry) matchesAlias(f *finding.Finding) bool {
	v := f.Vulnerability
	if v == nil {
		return false
	}
	if v.Record != "" && glob(e.Check, v.Record) {
		return true
	}
	for _, a := range v.Aliases {
		if glob(e.Check, a) {
			return true
		}
	}
	return false
}

func (e *Entry) matchesPackage(f *finding.Finding) bool {
	if len(e.Packages)+len(e.PURLs)+len(e.Images) == 0 {
		return true
	}
	v := f.Vulnerability
	if v == nil {
		return false
	}
	any := func(globs []string, values ...string) bool {
		if len(globs) == 0 {
			return true
		}
		for _, g := range globs {
			for _, s := range values {
				if s != "" && glob(g, s) {
					return true
				}
			}
		}
		return false
	}
	purl, _, _ := strings.Cut(v.PURL, "?")
	unversioned, _, _ := strings.Cut(purl, "@")
	purls := e.PURLs
	digest := ""
	if i := strings.LastIndex(v.Target, "@"); i >= 0 {
		digest = v.Target[i+1:]
	}
	return any(e.Packages, v.Package, v.SourcePackage) &&
		any(purls, v.PURL, purl, unversioned) &&
		any(e.Images, v.Target, digest)
}

// Expired reports whether the entry no longer holds on day now.
func (e *Entry) Expired(now time.Time) bool {
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return today.After(e.Expires)
}

// Ref describes the entry in reports.
func (e *Entry) Ref() finding.ExceptionRef {
	return finding.ExceptionRef{File: e.File, Line: e.Line, Check: e.Check, Reason: e.Reason, Owner: e.Owner, Expires: e.Expires.Format(time.DateOnly)}
}

// Add appends the entries of other.
func (s *Set) Add(other *Set) { s.Entries = append(s.Entries, other.Entries...) }

// Apply moves the findings that a live entry covers from r.Findings to
// r.Suppressed, and notes expired entries that would have matched and
// entries that matched nothing. now is the day judged.
func (s *Set) Apply(r *finding.Report, now time.Time) {
	if len(s.Entries) == 0 {
		return
	}
	used := make([]int, len(s.Entries))
	expiredHits := make([]int, len(s.Entries))
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		by := -1
		for i, e := range s.Entries {
			if !e.matches(&f) {
				continue
			}
			if e.Expired(now) {
				expiredHits[i]++
				continue
			}
			by = i
			break
		}
		if by < 0 {
			kept = append(kept, f)
			continue
		}
		used[by]++
		r.Suppressed = append(r.Suppressed, finding.Suppression{Finding: f, Exception: s.Entries[by].Ref()})
	}
	r.Findings = kept
	for i, e := range s.Entries {
		switch {
		case expiredHits[i] > 0:
			r.Notes = append(r.Notes, finding.Problem{File: e.File, Line: e.Line, Message: fmt.Sprintf(
				"exception for %s (owner %s) expired on %s: %d findings no longer suppressed", e.Check, e.Owner, e.Expires.Format(time.DateOnly), expiredHits[i])})
		case used[i] == 0:
			r.Notes = append(r.Notes, finding.Problem{File: e.File, Line: e.Line, Message: fmt.Sprintf(
				"exception for %s (owner %s) is unused: it matched no finding", e.Check, e.Owner)})
		}
	}
}

// Match finds the entry that covers f on day now, for callers that judge
// a stream of findings one at a time (audit alerts) rather than a report:
// live is the first live entry that covers f, nil if none; expired, when
// live is nil, is the first expired entry that would have covered it, so
// that the caller can say the entry no longer holds.
func (s *Set) Match(f *finding.Finding, now time.Time) (live, expired *Entry) {
	if s == nil {
		return nil, nil
	}
	for _, e := range s.Entries {
		if !e.matches(f) {
			continue
		}
		if !e.Expired(now) {
			return e, nil
		}
		if expired == nil {
			expired = e
		}
	}
	return nil, expired
}

// Scoped reports whether the entry holds only for findings in files under
// its ignore file's directory (an ignore file found in a scanned tree),
// which an admission request, having no file, never is.
func (e *Entry) Scoped() bool { return e.base != "" }

// Base is the directory a scoped entry holds under.
func (e *Entry) Base() string { return e.base }
