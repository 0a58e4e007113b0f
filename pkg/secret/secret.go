// Package secret finds leaked credentials in text: files, Kubernetes
// objects, image layers and commits. It is quiet by design: a rule's
// regular expression runs only around an occurrence of one of its
// keywords (found for all rules at once by one Aho-Corasick pass), loose
// patterns need entropy, and placeholders, references and documented test
// keys are dropped. A Match never leaves this package with more of the
// secret than its redacted form and a digest.
package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Rule is one kind of credential.
type Rule struct {
	ID          string
	Title       string
	Severity    finding.Severity
	Description string
	Remediation string
	References  []string
	// Keywords gate the rule: its pattern runs only on the lines (or, for
	// Multiline rules, the bytes after) where one occurs, matched
	// case-insensitively. Every rule has at least one.
	Keywords []string
	// Pattern is an RE2 expression. The secret is its group named
	// "secret", else its first group, else the whole match.
	Pattern string
	// MinEntropy is the least Shannon entropy (bits per byte) the secret
	// must have; zero means no threshold.
	MinEntropy float64
	// Multiline rules match across lines (private key blocks): the
	// pattern runs on up to MaxLen bytes from the start of the keyword's
	// line.
	Multiline bool
	// Prefix rules' secrets begin with their keyword (ghp_, xoxb-): the
	// pattern runs on MaxLen bytes from the keyword (default 256), not on
	// the whole line.
	Prefix bool
	MaxLen int
	// Need, when set, must occur in the text around a keyword for the
	// pattern to run: a cheap test that spares the regexp engine most
	// lines ("@" for credentials in URLs, where "://" is everywhere).
	Need string
	// Generic marks the rules that judge a value by the name it is
	// assigned to rather than by its form. They yield to a specific rule
	// matching the same text, and their values get the stricter
	// placeholder and reference filters.
	Generic bool
	// Check, when set, must accept the secret (a checksum, decodable
	// JSON): it removes what the pattern alone cannot.
	Check func(secret []byte) bool

	re       *regexp.Regexp
	order    int // index in the engine: on one span, the earlier rule wins
	group    int
	keyGroup int
	finding  *finding.Rule
}

// FindingRule is the rule's metadata as findings carry it.
func (r *Rule) FindingRule() *finding.Rule { return r.finding }

// Match is one secret found in a text. Start and End are byte offsets of
// the secret in the text scanned; Line and Column (1-based, in bytes) are
// where it starts.
type Match struct {
	Rule       *Rule
	Start, End int
	Line       int
	Column     int
	// Redacted is a short prefix and the length: "ghp_…(40 chars)".
	Redacted string
	// Digest identifies the value without revealing it (hex SHA-256,
	// truncated); fingerprints use it so that an exception follows a
	// secret, not a line.
	Digest string
}

// Engine holds compiled rules. It is safe for concurrent use.
type Engine struct {
	rules    []*Rule
	keywords *keywordSet
	// byKeyword maps a keyword index to the rules it gates.
	byKeyword [][]int
	generic   *Rule
}

// New compiles rules. A rule without ID, keywords or a valid pattern is an
// error naming it.
func New(rules []*Rule) (*Engine, error) {
	e := &Engine{rules: rules}
	index := map[string]int{}
	var keywords []string
	seen := map[string]bool{}
	for i, r := range rules {
		if r.ID == "" || r.Title == "" || len(r.Keywords) == 0 || r.Pattern == "" {
			return nil, fmt.Errorf("secret rule %d (%q): ID, title, keywords and pattern are required", i, r.ID)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("secret rule %s: duplicate ID", r.ID)
		}
		seen[r.ID] = true
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("secret rule %s: pattern: %w", r.ID, err)
		}
		r.re = re
		r.order = i
		r.group = 0
		if g := re.SubexpIndex("secret"); g > 0 {
			r.group = g
		} else if re.NumSubexp() > 0 {
			r.group = 1
		}
		r.keyGroup = re.SubexpIndex("key")
		switch {
		case r.Multiline && r.MaxLen <= 0:
			r.MaxLen = 16 << 10
		case r.Prefix && r.MaxLen <= 0:
			r.MaxLen = 256
		}
		if r.Generic && r.keyGroup <= 0 {
			return nil, fmt.Errorf("secret rule %s: a generic rule's pattern needs a group named key", r.ID)
		}
		r.finding = &finding.Rule{ID: r.ID, Title: r.Title, Severity: r.Severity, Description: r.Description,
			Remediation: r.Remediation, References: r.References}
		if r.Generic && e.generic == nil {
			e.generic = r
		}
		for _, k := range r.Keywords {
			k = strings.ToLower(k)
			id, ok := index[k]
			if !ok {
				id = len(keywords)
				index[k] = id
				keywords = append(keywords, k)
				e.byKeyword = append(e.byKeyword, nil)
			}
			if !slices.Contains(e.byKeyword[id], i) {
				e.byKeyword[id] = append(e.byKeyword[id], i)
			}
		}
	}
	ks, err := newKeywordSet(keywords)
	if err != nil {
		return nil, fmt.Errorf("secret rules: %w", err)
	}
	e.keywords = ks
	return e, nil
}

// Rules returns the engine's rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// FindingRules returns the rules' metadata, sorted by ID.
func (e *Engine) FindingRules() []*finding.Rule {
	out := make([]*finding.Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = r.finding
	}
	slices.SortFunc(out, func(a, b *finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// window bounds how far around a keyword a single-line rule looks on a
// long line (minified code): a credential sits next to its keyword.
const window = 1 << 10

// Scan finds the secrets in data, sorted by position. Where a generic rule
// and a specific one match overlapping text, only the specific one is
// kept.
func (e *Engine) Scan(data []byte) []Match {
	var (
		cands []Match
		// lineS and lineE bound the line of the last occurrence: found
		// once per line, not per occurrence, so that a long minified line
		// with many keywords stays linear.
		lineS, lineE = 0, -1
		// done[r] is the offset up to which rule r has already run.
		done = make([]int, len(e.rules))
	)
	e.keywords.find(data, func(kw, end int) {
		start := end - len(e.keywords.keywords[kw])
		for _, ri := range e.byKeyword[kw] {
			if start < done[ri] {
				continue // this occurrence was inside text the rule already saw
			}
			r := e.rules[ri]
			if r.Generic {
				// Each occurrence is its own key: one line may assign
				// several.
				if m, ok := e.assignment(r, data, start, end); ok {
					cands = append(cands, m)
				}
				continue
			}
			if start < lineS || start > lineE {
				lineS = bytes.LastIndexByte(data[:start], '\n') + 1
				if lineE = bytes.IndexByte(data[start:], '\n'); lineE < 0 {
					lineE = len(data)
				} else {
					lineE += start
				}
			}
			ls := lineS
			var ws, we int
			switch {
			case r.Multiline:
				// From the keyword's line, but never far before the
				// keyword: on one long line every occurrence would
				// otherwise scan the line's first MaxLen bytes again.
				ws = max(ls, start-window)
				we = min(len(data), ws+r.MaxLen+(start-ws))
			default:
				le := lineE
				before, after := window, window
				if r.Prefix {
					before, after = 1, r.MaxLen
				}
				ws, we = max(ls, start-before), min(le, end+after)
			}
			if r.Need != "" && !bytes.Contains(data[ws:we], []byte(r.Need)) {
				done[ri] = we
				continue
			}
			if r.Prefix {
				// A later occurrence of the keyword may begin a token
				// that runs past this window (NPM_AUTH_TOKEN=npm_…):
				// each gets its own.
				done[ri] = end
			} else {
				// An occurrence in the window's last stretch gets a window
				// of its own: its secret may run past this one's end.
				done[ri] = max(end, we-window)
			}
			cands = e.run(r, data, ws, we, cands)
		}
	})
	return e.finish(data, cands)
}

// run applies one rule to data[ws:we], appending accepted matches.
func (e *Engine) run(r *Rule, data []byte, ws, we int, out []Match) []Match {
	text := data[ws:we]
	for _, m := range r.re.FindAllSubmatchIndex(text, -1) {
		s, t := m[2*r.group], m[2*r.group+1]
		if s < 0 {
			continue
		}
		secret := text[s:t]
		if r.keyGroup > 0 && m[2*r.keyGroup] >= 0 && !secretKey(text[m[2*r.keyGroup]:m[2*r.keyGroup+1]]) {
			continue
		}
		if !e.accept(r, secret) {
			continue
		}
		out = append(out, Match{Rule: r, Start: ws + s, End: ws + t})
	}
	return out
}

// accept applies the rule's entropy threshold and check and the
// placeholder filters to a candidate.
func (e *Engine) accept(r *Rule, secret []byte) bool {
	if len(secret) == 0 {
		return false
	}
	// Cheapest first: most candidates of a generic rule are code.
	if r.Generic && !genericValue(secret) {
		return false
	}
	if r.MinEntropy > 0 && entropy(secret) < r.MinEntropy {
		return false
	}
	if r.Check != nil && !r.Check(secret) {
		return false
	}
	return !isPlaceholder(secret) && !knownTestKey(secret)
}

// finish sorts candidates, drops generic matches that overlap specific
// ones and duplicates, and fills in positions and redactions.
func (e *Engine) finish(data []byte, cands []Match) []Match {
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b Match) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		if a.Rule.Generic != b.Rule.Generic {
			if a.Rule.Generic {
				return 1
			}
			return -1
		}
		if a.End != b.End {
			return b.End - a.End
		}
		return a.Rule.order - b.Rule.order
	})
	// A generic match overlaps a specific one that starts before it and
	// ends after its start, or starts inside it: with the candidates in
	// order of start, the first is a running maximum of specific ends, the
	// second the next specific start.
	nextSpecific := make([]int, len(cands)+1)
	nextSpecific[len(cands)] = math.MaxInt
	for i := len(cands) - 1; i >= 0; i-- {
		nextSpecific[i] = nextSpecific[i+1]
		if !cands[i].Rule.Generic {
			nextSpecific[i] = cands[i].Start
		}
	}
	out := cands[:0]
	specificEnd := -1
	for i, m := range cands {
		if !m.Rule.Generic {
			specificEnd = max(specificEnd, m.End)
		} else if specificEnd > m.Start || nextSpecific[i+1] < m.End {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Start == m.Start && out[n-1].End == m.End {
			continue // two rules for one value: the first (specific, then earliest rule) wins
		}
		out = append(out, m)
	}
	line, lineStart, at := 1, 0, 0
	for i := range out {
		m := &out[i]
		for {
			j := bytes.IndexByte(data[at:m.Start], '\n')
			if j < 0 {
				break
			}
			line++
			at += j + 1
			lineStart = at
		}
		m.Line, m.Column = line, m.Start-lineStart+1
		m.Redacted, m.Digest = Redact(data[m.Start:m.End]), digest(data[m.Start:m.End])
		if guessable(data[m.Start:m.End]) {
			m.Digest = ""
		}
	}
	return out
}

// Redact renders a secret as a short prefix and its length. Short values
// show less of themselves, and nothing under 8 bytes.
func Redact(secret []byte) string {
	n := len(secret)
	p := 0
	switch {
	case n >= 16:
		p = 4
	case n >= 8:
		p = 2
	}
	// Never cut a multi-byte rune, and never show a line break.
	prefix := secret[:p]
	if i := bytes.IndexAny(prefix, "\r\n"); i >= 0 {
		prefix = prefix[:i]
	}
	for len(prefix) > 0 && prefix[len(prefix)-1] >= 0x80 {
		prefix = prefix[:len(prefix)-1]
	}
	return fmt.Sprintf("%s…(%d chars)", prefix, n)
}

func digest(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:8])
}

// Fingerprint is the stable identity of a secret finding: the rule, the
// file, the object and field, and the secret's digest — not its line, so
// that an exception follows the secret when lines move, and two secrets
// on one line stay apart.
func Fingerprint(ruleID, file string, res finding.Resource, path, digest string) string {
	return finding.ComputeFingerprint(ruleID, file, res, path+"#"+digest)
}

// guessable reports whether a secret is weak enough that a digest of it,
// even inside a fingerprint, would let it be recovered by trying
// candidates: under about 64 bits by its entropy. Such secrets leave the
// digest out of their fingerprint (a field path or the rule and file
// still tell them apart).
func guessable(secret []byte) bool {
	return entropy(secret)*float64(len(secret)) < 64
}

// Finding turns a match in a file into a finding.
func (m *Match) Finding(file string, res finding.Resource, path string) finding.Finding {
	loc := finding.Location{File: file, Line: m.Line, Column: m.Column, Path: path}
	return finding.Finding{
		Rule:        m.Rule.finding,
		Message:     fmt.Sprintf("%s: %s", m.Rule.Title, m.Redacted),
		Resource:    res,
		Location:    loc,
		Fingerprint: Fingerprint(m.Rule.ID, file, res, path, m.Digest),
		Secret:      &finding.Secret{Redacted: m.Redacted},
	}
}

// ScanValue finds the secrets in a value assigned to key (a field of an
// object, an environment variable, a Dockerfile ARG): what the rules'
// patterns find in the value, and what the generic rule makes of
// key=value. Offsets, lines and columns are the value's.
func (e *Engine) ScanValue(key string, value []byte) []Match {
	key = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '=' {
			return '_'
		}
		return r
	}, key)
	// Most fields hold neither a keyword nor a secret-named key: one pass
	// of the automaton over each says so without building anything.
	if !containsKeyword(e.keywords, value) && !containsKeyword(e.keywords, key) {
		return nil
	}
	off := len(key) + 1
	buf := make([]byte, 0, off+len(value))
	buf = append(append(append(buf, key...), '='), value...)
	found := e.Scan(buf)
	out := found[:0]
	for _, m := range found {
		if m.Start < off {
			continue
		}
		m.Start -= off
		m.End -= off
		if m.Line == 1 {
			m.Column -= off
		}
		out = append(out, m)
	}
	return out
}

// RedactText returns s with every secret the rules find in it replaced by
// its redacted form.
func (e *Engine) RedactText(s string) string {
	ms := e.Scan([]byte(s))
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	at := 0
	for _, m := range ms {
		if m.Start < at {
			continue
		}
		b.WriteString(s[at:m.Start])
		b.WriteString(m.Redacted)
		at = m.End
	}
	b.WriteString(s[at:])
	return b.String()
}
