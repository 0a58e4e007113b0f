package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Finding is a scanner's finding as the comparison needs it.
type Finding struct {
	File   string
	Line   int
	Column int // 1-based; zero when the report gives none
	Rule   string
}

// Report is one scanner's findings.
type Report struct {
	Name     string
	Findings []Finding
}

// ReadReport reads a mamori JSON report (an object with "findings") or a
// gitleaks JSON report (an array of leaks), telling them apart by shape.
func ReadReport(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep, err := decodeReport(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, withLine(path, err))
	}
	return rep, nil
}

// decodeReport streams the findings: a report of many thousand false
// positives need not be held twice.
func decodeReport(r io.Reader) (*Report, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not a JSON report: %w", err)
	}
	switch tok {
	case json.Delim('['):
		rep := &Report{Name: "gitleaks"}
		for dec.More() {
			var l struct {
				File        string
				StartLine   *int
				StartColumn int
				RuleID      string
			}
			if err := dec.Decode(&l); err != nil {
				return nil, fmt.Errorf("gitleaks finding %d: %w", len(rep.Findings)+1, err)
			}
			if l.File == "" || l.StartLine == nil {
				return nil, offsetError{dec.InputOffset(), fmt.Sprintf("gitleaks finding %d has no File or StartLine", len(rep.Findings)+1)}
			}
			rep.Findings = append(rep.Findings, Finding{File: l.File, Line: *l.StartLine, Column: l.StartColumn, Rule: l.RuleID})
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return rep, trailing(dec)
	case json.Delim('{'):
		rep := &Report{Name: "mamori"}
		seen := false
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if k != "findings" {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return nil, err
				}
				continue
			}
			seen = true
			if t, err := dec.Token(); err != nil {
				return nil, err
			} else if t == nil {
				continue // "findings": null, none
			} else if t != json.Delim('[') {
				return nil, offsetError{dec.InputOffset(), "\"findings\" is not an array"}
			}
			for dec.More() {
				var f struct {
					CheckID  string
					Location struct {
						File   string
						Line   int
						Column int
					}
				}
				if err := dec.Decode(&f); err != nil {
					return nil, fmt.Errorf("finding %d: %w", len(rep.Findings)+1, err)
				}
				if f.Location.File == "" || f.Location.Line < 1 {
					return nil, offsetError{dec.InputOffset(), fmt.Sprintf("finding %d (%s) has no location.file or location.line", len(rep.Findings)+1, f.CheckID)}
				}
				rep.Findings = append(rep.Findings, Finding{File: f.Location.File, Line: f.Location.Line, Column: f.Location.Column, Rule: f.CheckID})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		if !seen {
			return nil, errors.New("no \"findings\": not a mamori report")
		}
		return rep, trailing(dec)
	}
	return nil, fmt.Errorf("not a report: want a mamori JSON object or a gitleaks JSON array, found %v", tok)
}

func trailing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return offsetError{dec.InputOffset(), "data after the report"}
	}
	return nil
}

type offsetError struct {
	off int64
	msg string
}

func (e offsetError) Error() string { return e.msg }

// withLine names the line a JSON error is on.
func withLine(path string, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var oe offsetError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.As(err, &oe):
		off = oe.off
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: %w", err)
	}
	if off < 0 {
		return err
	}
	f, ferr := os.Open(path)
	if ferr != nil {
		return err
	}
	defer f.Close()
	line := 1
	br := bufio.NewReader(io.LimitReader(f, off))
	for {
		b, rerr := br.ReadSlice('\n')
		line += bytes.Count(b, []byte{'\n'})
		if rerr != nil && !errors.Is(rerr, bufio.ErrBufferFull) {
			break
		}
	}
	return fmt.Errorf("line %d: %w", line, err)
}

// ReadTruth reads planted.json.
func ReadTruth(path string) (*Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := decodeTruth(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, withLine(path, err))
	}
	return t, nil
}

func decodeTruth(r io.Reader) (*Truth, error) {
	var t Truth
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, err
	}
	if err := trailing(dec); err != nil {
		return nil, err
	}
	for i, p := range t.Planted {
		if p.File == "" || p.Line < 1 || p.Start > p.Line || p.End < p.Line || p.Column < 0 {
			return nil, fmt.Errorf("planted secret %d (%s:%d) has no file or an inconsistent line span %d-%d", i+1, p.File, p.Line, p.Start, p.End)
		}
	}
	for i, d := range t.Decoys {
		if d.File == "" || d.Line < 1 {
			return nil, fmt.Errorf("decoy %d (%s:%d) has no file or line", i+1, d.File, d.Line)
		}
	}
	return &t, nil
}

// Result is how one report compares with the truth.
type Result struct {
	Name         string
	Findings     int
	Found        int // planted secrets with a finding on their lines
	Missed       []Planted
	FalsePos     []Finding // findings on no planted secret's lines
	Placeholders int       // false positives on placeholder lines
	DecoyHits    map[string]int
}

// window is the lines on which a finding counts for p: its own line, or
// for a value over several lines its span and the lines next to its start.
func window(p Planted) (lo, hi int) {
	if p.Start == p.End {
		return p.Line, p.Line
	}
	return min(p.Start, p.Line-1), max(p.End, p.Line+1)
}

// near says whether a finding's column is on a value at col of n bytes,
// when both are known: a match may start at the key before the value.
func near(col, n, fcol int) bool {
	return col == 0 || fcol == 0 || (fcol >= col-100 && fcol <= col+n+10)
}

// Compare matches findings to planted secrets by file and line. root is
// stripped from the findings' paths.
func Compare(t *Truth, root string, rep *Report) *Result {
	planted := map[string][]int{}
	for i, p := range t.Planted {
		planted[p.File] = append(planted[p.File], i)
	}
	decoys := map[string][]int{}
	for i, d := range t.Decoys {
		decoys[d.File] = append(decoys[d.File], i)
	}
	found := make([]bool, len(t.Planted))
	res := &Result{Name: rep.Name, Findings: len(rep.Findings), DecoyHits: map[string]int{}}
	for _, f := range rep.Findings {
		file := relPath(root, f.File)
		hit := false
		for _, i := range planted[file] {
			p := t.Planted[i]
			if lo, hi := window(p); f.Line >= lo && f.Line <= hi && near(p.Column, p.Length, f.Column) {
				found[i], hit = true, true
			}
		}
		if hit {
			continue
		}
		f.File = file
		res.FalsePos = append(res.FalsePos, f)
		for _, i := range decoys[file] {
			if d := t.Decoys[i]; f.Line >= d.Line && f.Line <= max(d.End, d.Line) && near(d.Column, 300, f.Column) {
				res.DecoyHits[d.Class]++
				if strings.HasPrefix(d.Class, "placeholder-") {
					res.Placeholders++
				}
				break
			}
		}
	}
	for i, ok := range found {
		if ok {
			res.Found++
		} else {
			res.Missed = append(res.Missed, t.Planted[i])
		}
	}
	return res
}

func relPath(root, file string) string {
	f := filepath.ToSlash(filepath.Clean(file))
	if root != "" {
		r := filepath.ToSlash(filepath.Clean(root))
		if rel, ok := strings.CutPrefix(f, r+"/"); ok {
			return rel
		}
	}
	return strings.TrimPrefix(f, "./")
}

// timing is a tool's measured wall time and peak memory.
type timing struct {
	wall, rss float64
}

func readTimes(path string) (map[string]timing, error) {
	b, err := os.ReadFile(path) // a few lines, written by secret.sh
	if err != nil {
		return nil, err
	}
	return parseTimes(path, b)
}

func parseTimes(path string, b []byte) (map[string]timing, error) {
	out := map[string]timing{}
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want NAME WALL_S RSS_MB, found %q", path, i+1, l)
		}
		w, err1 := strconv.ParseFloat(f[1], 64)
		r, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || !(w > 0) || !(r >= 0) || math.IsInf(w, 0) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("%s:%d: want NAME WALL_S RSS_MB with positive numbers, found %q", path, i+1, l)
		}
		out[f[0]] = timing{w, r}
	}
	return out, nil
}

func runCompare(w io.Writer, truthPath, root, timesPath string, verbose bool, reports []string) error {
	t, err := ReadTruth(truthPath)
	if err != nil {
		return err
	}
	if root == "" {
		root = t.Root
	}
	var times map[string]timing
	if timesPath != "" {
		if times, err = readTimes(timesPath); err != nil {
			return err
		}
	}
	var results []*Result
	for _, arg := range reports {
		name, path, named := strings.Cut(arg, "=")
		if !named {
			path = arg
		}
		rep, err := ReadReport(path)
		if err != nil {
			return err
		}
		if named {
			rep.Name = name
		}
		results = append(results, Compare(t, root, rep))
	}
	writeTable(w, t, times, results, verbose)
	return nil
}

func writeTable(w io.Writer, t *Truth, times map[string]timing, results []*Result, verbose bool) {
	scanned := t.Bytes - t.Skipped.Bytes
	fmt.Fprintf(w, "tree: %d files, %.1f MB on disk; %.1f MB scanned after default skips (%d %s, %.1f MB, skipped)\n",
		t.Files, mb(t.Bytes), mb(scanned), t.Skipped.Files, t.Skipped.Reason, mb(t.Skipped.Bytes))
	fmt.Fprintf(w, "planted: %d secrets of %d kinds; %d placeholder and noise lines\n\n", len(t.Planted), len(kindsOf(t.Planted)), len(t.Decoys))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\twall s\tMB/s on disk\tMB/s scanned\tpeak RSS MB\tfindings\tfound/planted\tfalse pos\tplaceholders\t")
	for _, r := range results {
		wall, speed, sspeed, rss := "-", "-", "-", "-"
		if tm, ok := times[r.Name]; ok {
			wall = fmt.Sprintf("%.2f", tm.wall)
			speed = fmt.Sprintf("%.1f", mb(t.Bytes)/tm.wall)
			sspeed = fmt.Sprintf("%.1f", mb(scanned)/tm.wall)
			rss = fmt.Sprintf("%.0f", tm.rss)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%d\t%d\t\n", r.Name, wall, speed, sspeed, rss, r.Findings, r.Found, len(t.Planted), len(r.FalsePos), r.Placeholders)
	}
	tw.Flush()
	for _, r := range results {
		fmt.Fprintf(w, "\n%s:\n", r.Name)
		if len(r.Missed) == 0 {
			fmt.Fprintln(w, "  missed: none")
		} else {
			total := kindsOf(t.Planted)
			missed := kindsOf(r.Missed)
			var parts []string
			for _, k := range sortedKeys(missed) {
				parts = append(parts, fmt.Sprintf("%s %d/%d", k, missed[k], total[k]))
			}
			fmt.Fprintf(w, "  missed by kind: %s\n", strings.Join(parts, ", "))
		}
		if len(r.DecoyHits) > 0 {
			var parts []string
			for _, k := range sortedKeys(r.DecoyHits) {
				parts = append(parts, fmt.Sprintf("%s %d", k, r.DecoyHits[k]))
			}
			fmt.Fprintf(w, "  reported placeholders and noise: %s\n", strings.Join(parts, ", "))
		}
		if len(r.FalsePos) > 0 {
			rules := map[string]int{}
			for _, f := range r.FalsePos {
				rules[f.Rule]++
			}
			keys := sortedKeys(rules)
			slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(rules[b], rules[a]) })
			var parts []string
			for i, k := range keys {
				if i == 10 {
					parts = append(parts, fmt.Sprintf("... %d more rules", len(keys)-10))
					break
				}
				parts = append(parts, fmt.Sprintf("%s %d", k, rules[k]))
			}
			fmt.Fprintf(w, "  false positives by rule: %s\n", strings.Join(parts, ", "))
		}
		if verbose {
			for _, m := range r.Missed {
				fmt.Fprintf(w, "  missed %s:%d (%s, %s…, %d chars)\n", m.File, m.Line, m.Kind, m.Prefix, m.Length)
			}
			for _, f := range r.FalsePos {
				fmt.Fprintf(w, "  false positive %s (%s)\n", Location(f), f.Rule)
			}
		}
	}
}

// Location renders a finding's place as file:line[:column].
func Location(f Finding) string {
	if f.Column > 0 {
		return fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func kindsOf(ps []Planted) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		m[p.Kind]++
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
