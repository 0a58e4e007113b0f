// Package vex reads OpenVEX documents (https://github.com/openvex/spec,
// v0.2.0, and the v0.0.x shapes with plain-string vulnerabilities and
// products) and answers whether a statement covers a vulnerability in a
// package of a scanned target.
package vex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
)

// Status is a statement's status.
type Status string

// Statuses.
const (
	NotAffected        Status = "not_affected"
	Affected           Status = "affected"
	Fixed              Status = "fixed"
	UnderInvestigation Status = "under_investigation"
)

// Vulnerability names what a statement is about.
type Vulnerability struct {
	ID      string   `json:"@id,omitempty"`
	Name    string   `json:"name,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// Product is a product or subcomponent: an @id (a package URL or another
// IRI, such as an image digest) and optional identifiers.
type Product struct {
	ID            string    `json:"@id,omitempty"`
	PURL          string    `json:"purl,omitempty"` // identifiers.purl
	Subcomponents []Product `json:"subcomponents,omitempty"`
}

// Statement is one VEX statement.
type Statement struct {
	Vulnerability   Vulnerability
	Products        []Product
	Status          Status
	Justification   string
	ImpactStatement string
	ActionStatement string
	StatusNotes     string
	// Timestamp is the statement's last_updated or timestamp, else its
	// document's.
	Timestamp time.Time
	// Source is "file:line" of the statement.
	Source string
}

// Set is the statements of one or more documents.
type Set struct {
	statements []*Statement
}

// Len returns the number of statements.
func (s *Set) Len() int { return len(s.statements) }

// Load reads OpenVEX documents. Errors name the file, and the line where
// there is one.
func Load(paths ...string) (*Set, error) {
	s := &Set{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read VEX: %w", err)
		}
		st, err := Parse(data, p)
		if err != nil {
			return nil, err
		}
		s.statements = append(s.statements, st...)
	}
	return s, nil
}

// Parse reads one OpenVEX document; name names it in errors and sources.
func Parse(data []byte, name string) ([]*Statement, error) {
	var doc struct {
		Context     string          `json:"@context"`
		Timestamp   *time.Time      `json:"timestamp"`
		LastUpdated *time.Time      `json:"last_updated"`
		Statements  json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonError(data, name, 0, err)
	}
	if !strings.HasPrefix(doc.Context, "https://openvex.dev/ns") {
		return nil, fmt.Errorf("%s: not an OpenVEX document (@context %q, want https://openvex.dev/ns/v0.2.0)", name, doc.Context)
	}
	docTime := latest(doc.Timestamp, doc.LastUpdated)
	if len(doc.Statements) == 0 || string(doc.Statements) == "null" {
		return nil, nil
	}
	// Statements are decoded one by one to know each one's line.
	base := int64(bytes.Index(data, doc.Statements))
	dec := json.NewDecoder(bytes.NewReader(doc.Statements))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		l, _ := lineCol(data, base)
		return nil, fmt.Errorf("%s:%d: statements is not an array", name, l)
	}
	var out []*Statement
	for dec.More() {
		off := base + dec.InputOffset()
		var raw rawStatement
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonError(data, name, base, err)
		}
		// InputOffset stands before the separating comma and spaces.
		off += int64(len(doc.Statements[off-base:]) - len(bytes.TrimLeft(doc.Statements[off-base:], ", \t\r\n")))
		l, _ := lineCol(data, off)
		src := fmt.Sprintf("%s:%d", name, l)
		st, err := raw.statement(src, docTime)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

type rawStatement struct {
	Vulnerability   json.RawMessage   `json:"vulnerability"`
	Products        []json.RawMessage `json:"products"`
	Status          Status            `json:"status"`
	Justification   string            `json:"justification"`
	ImpactStatement string            `json:"impact_statement"`
	ActionStatement string            `json:"action_statement"`
	StatusNotes     string            `json:"status_notes"`
	Timestamp       *time.Time        `json:"timestamp"`
	LastUpdated     *time.Time        `json:"last_updated"`
}

// justifications are the spec's not_affected justifications.
var justifications = map[string]bool{
	"component_not_present":                             true,
	"vulnerable_code_not_present":                       true,
	"vulnerable_code_not_in_execute_path":               true,
	"vulnerable_code_cannot_be_controlled_by_adversary": true,
	"inline_mitigations_already_exist":                  true,
}

func (r *rawStatement) statement(src string, docTime time.Time) (*Statement, error) {
	s := &Statement{
		Status: r.Status, Justification: r.Justification, ImpactStatement: r.ImpactStatement,
		ActionStatement: r.ActionStatement, StatusNotes: r.StatusNotes, Source: src,
		Timestamp: latest(r.Timestamp, r.LastUpdated),
	}
	if s.Timestamp.IsZero() {
		s.Timestamp = docTime
	}
	switch s.Status {
	case NotAffected:
		if s.Justification == "" && s.ImpactStatement == "" {
			return nil, fmt.Errorf("%s: not_affected statement without a justification or impact_statement", src)
		}
		if s.Justification != "" && !justifications[s.Justification] {
			return nil, fmt.Errorf("%s: unknown justification %q", src, s.Justification)
		}
	case Affected, Fixed, UnderInvestigation:
	case "":
		return nil, fmt.Errorf("%s: statement without a status", src)
	default:
		return nil, fmt.Errorf("%s: unknown status %q (want not_affected, affected, fixed or under_investigation)", src, s.Status)
	}
	// v0.2.0 writes the vulnerability as an object, v0.0.x as a string.
	if err := stringOr(r.Vulnerability, &s.Vulnerability.Name, &s.Vulnerability); err != nil {
		return nil, fmt.Errorf("%s: vulnerability: %v", src, err)
	}
	if s.Vulnerability.Name == "" && s.Vulnerability.ID == "" {
		return nil, fmt.Errorf("%s: statement without a vulnerability name or @id", src)
	}
	if len(r.Products) == 0 {
		return nil, fmt.Errorf("%s: statement without products", src)
	}
	for i, raw := range r.Products {
		p, err := parseProduct(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: products[%d]: %v", src, i, err)
		}
		s.Products = append(s.Products, p)
	}
	return s, nil
}

type rawProduct struct {
	ID          string `json:"@id"`
	Identifiers struct {
		PURL string `json:"purl"`
	} `json:"identifiers"`
	Subcomponents []json.RawMessage `json:"subcomponents"`
}

func parseProduct(raw json.RawMessage) (Product, error) {
	var p Product
	var r rawProduct
	if err := stringOr(raw, &p.ID, &r); err != nil {
		return p, err
	}
	if p.ID == "" {
		p.ID, p.PURL = r.ID, r.Identifiers.PURL
	}
	if p.ID == "" && p.PURL == "" {
		return p, errors.New("no @id or identifiers.purl")
	}
	for i, sub := range r.Subcomponents {
		sp, err := parseProduct(sub)
		if err != nil {
			return p, fmt.Errorf("subcomponents[%d]: %v", i, err)
		}
		p.Subcomponents = append(p.Subcomponents, sp)
	}
	return p, nil
}

// stringOr decodes a JSON string into s, or an object into v.
func stringOr(raw json.RawMessage, s *string, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		return json.Unmarshal(raw, s)
	}
	return json.Unmarshal(raw, v)
}

func latest(ts ...*time.Time) time.Time {
	var t time.Time
	for _, x := range ts {
		if x != nil && x.After(t) {
			t = *x
		}
	}
	return t
}

// Lookup finds the statement about a vulnerability (any of vulnIDs, which
// are matched against statements' names, @ids and aliases) in a package
// (component, its package URL) of a target (product: the target's
// package URLs or digests). A statement applies when one of its products
// is the target and either lists no subcomponents or one of them is the
// package, or when one of its products is the package itself. Of the
// statements that apply, the one with the latest timestamp wins (the one
// loaded last, on a tie).
func (s *Set) Lookup(vulnIDs []string, product []string, component string) (*Statement, bool) {
	var best *Statement
	for _, st := range s.statements {
		if !st.about(vulnIDs) || !st.applies(product, component) {
			continue
		}
		if best == nil || !st.Timestamp.Before(best.Timestamp) {
			best = st
		}
	}
	return best, best != nil
}

func (st *Statement) about(ids []string) bool {
	v := &st.Vulnerability
	for _, id := range ids {
		if id == "" {
			continue
		}
		if strings.EqualFold(id, v.Name) || strings.EqualFold(id, v.ID) {
			return true
		}
		for _, a := range v.Aliases {
			if strings.EqualFold(id, a) {
				return true
			}
		}
	}
	return false
}

func (st *Statement) applies(targets []string, component string) bool {
	for i := range st.Products {
		p := &st.Products[i]
		if component != "" && p.matches(component) {
			return true
		}
		for _, t := range targets {
			if t == "" || !p.matches(t) {
				continue
			}
			if len(p.Subcomponents) == 0 {
				return true
			}
			for j := range p.Subcomponents {
				if component != "" && p.Subcomponents[j].matches(component) {
					return true
				}
			}
		}
	}
	return false
}

func (p *Product) matches(candidate string) bool {
	return identMatches(p.ID, candidate) || identMatches(p.PURL, candidate)
}

// identMatches compares a statement's identifier with a candidate's. Two
// package URLs match as the OpenVEX spec says: type, namespace and name
// equal, the statement's version (if any) equal, and every qualifier of
// the statement present with the same value in the candidate. Other
// identifiers (digests, IRIs) must be equal.
func identMatches(ident, candidate string) bool {
	if ident == "" {
		return false
	}
	if ident == candidate {
		return true
	}
	if !strings.HasPrefix(ident, "pkg:") || !strings.HasPrefix(candidate, "pkg:") {
		return false
	}
	a, err := packageurl.FromString(ident)
	if err != nil {
		return false
	}
	b, err := packageurl.FromString(candidate)
	if err != nil {
		return false
	}
	if a.Type != b.Type || a.Namespace != b.Namespace || a.Name != b.Name {
		return false
	}
	if a.Version != "" && a.Version != b.Version {
		return false
	}
	if a.Subpath != "" && a.Subpath != b.Subpath {
		return false
	}
	bq := b.Qualifiers.Map()
	for _, q := range a.Qualifiers {
		if v, ok := bq[q.Key]; !ok || v != q.Value {
			return false
		}
	}
	return true
}

func jsonError(data []byte, name string, base int64, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		l, c := lineCol(data, base+max(syn.Offset-1, 0))
		return fmt.Errorf("%s:%d:%d: invalid JSON: %w", name, l, c, err)
	case errors.As(err, &typ):
		l, c := lineCol(data, base+typ.Offset)
		return fmt.Errorf("%s:%d:%d: %w", name, l, c, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		l, c := lineCol(data, int64(len(data)))
		return fmt.Errorf("%s:%d:%d: invalid JSON: unexpected end of input", name, l, c)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	return bytes.Count(before, []byte{'\n'}) + 1, int(off) - bytes.LastIndexByte(before, '\n')
}
