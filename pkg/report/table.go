package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// maxTableNotes is how many notes the table shows before summing up the rest.
const maxTableNotes = 20

// ANSI SGR sequences for the severity word.
const ansiReset = "\x1b[0m"

var severityColor = map[finding.Severity]string{
	finding.Critical: "\x1b[1;31m", // bold red
	finding.High:     "\x1b[31m",   // red
	finding.Medium:   "\x1b[33m",   // yellow
	finding.Low:      "\x1b[34m",   // blue
	finding.Info:     "\x1b[2m",    // dim
}

// tableRow is one finding as plain text cells.
type tableRow struct {
	sev      finding.Severity
	severity string
	checkID  string
	line     string
	message  string
	path     string
}

// tableGroup is the findings of one resource in one file.
type tableGroup struct {
	header string
	rows   []tableRow
}

type groupKey struct {
	file     string
	source   string
	resource finding.Resource
}

// writeTable writes a human-readable table grouped by resource. Column
// widths are computed on the plain text so that colour codes, which take no
// room on screen, do not skew the alignment.
func writeTable(w io.Writer, r *finding.Report, opts Options) error {
	bw := bufio.NewWriter(w)

	var groups []*tableGroup
	index := make(map[groupKey]*tableGroup)
	for i := range r.Findings {
		f := &r.Findings[i]
		k := groupKey{file: f.Location.File, source: f.Location.Source, resource: f.Resource}
		g := index[k]
		if g == nil {
			header := clean(f.Resource.String())
			if f.Location.File != "" {
				header += "  (" + clean(f.Location.File)
				if f.Location.Source != "" {
					header += ", via " + clean(f.Location.Source)
				}
				header += ")"
			}
			g = &tableGroup{header: header}
			index[k] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, tableRow{
			sev:      f.Severity(),
			severity: f.Severity().String(),
			checkID:  clean(f.CheckID()),
			line:     shortLine(f.Location),
			message:  clean(f.Message),
			path:     clean(f.Location.Path),
		})
	}

	sevW, idW, lineW := width("SEVERITY"), width("CHECK ID"), width("LINE")
	for _, g := range groups {
		for _, row := range g.rows {
			sevW = max(sevW, width(row.severity))
			idW = max(idW, width(row.checkID))
			lineW = max(lineW, width(row.line))
		}
	}
	const indent, gap = "  ", "  "
	// The field path goes under the message.
	pathIndent := indent + strings.Repeat(" ", sevW+len(gap)+idW+len(gap)+lineW+len(gap))

	// Blocks (resource groups, sections, summary) are separated by a blank line.
	started := false
	block := func() {
		if started {
			bw.WriteString("\n")
		}
		started = true
	}

	for _, g := range groups {
		block()
		bw.WriteString(g.header + "\n")
		bw.WriteString(indent + pad("SEVERITY", sevW) + gap + pad("CHECK ID", idW) + gap + pad("LINE", lineW) + gap + "MESSAGE\n")
		for _, row := range g.rows {
			// Written piece by piece: this loop runs once per finding.
			bw.WriteString(indent)
			if c, ok := severityColor[row.sev]; opts.Color && ok {
				bw.WriteString(c)
				bw.WriteString(row.severity)
				bw.WriteString(ansiReset)
			} else {
				bw.WriteString(row.severity)
			}
			spaces(bw, sevW-width(row.severity)+len(gap))
			bw.WriteString(row.checkID)
			spaces(bw, idW-width(row.checkID)+len(gap))
			bw.WriteString(row.line)
			msg := strings.TrimRight(row.message, " ")
			if msg != "" {
				spaces(bw, lineW-width(row.line)+len(gap))
				bw.WriteString(msg)
			}
			bw.WriteByte('\n')
			if row.path != "" {
				bw.WriteString(pathIndent)
				bw.WriteString(row.path)
				bw.WriteByte('\n')
			}
		}
	}

	section := func(title string, problems []finding.Problem, limit int) {
		if len(problems) == 0 {
			return
		}
		block()
		bw.WriteString(title + "\n")
		for i, p := range problems {
			if limit > 0 && i == limit {
				fmt.Fprintf(bw, "%s... and %d more notes (use --format json to see all)\n", indent, len(problems)-limit)
				break
			}
			bw.WriteString(indent + clean(p.String()) + "\n")
		}
	}
	section("Errors", r.Errors, 0)
	section("Notes", r.Notes, maxTableNotes)
	if opts.ShowSuppressed && len(r.Suppressed) > 0 {
		block()
		bw.WriteString("Suppressed\n")
		for _, sp := range r.Suppressed {
			f, e := sp.Finding, sp.Exception
			fmt.Fprintf(bw, "%s%s  %s  %s  %s\n%s  by %s (owner %s, until %s): %s\n", indent, clean(f.Location.String()), clean(f.CheckID()),
				clean(f.Resource.String()), clean(f.Message), indent, clean(finding.Location{File: e.File, Line: e.Line}.String()),
				clean(e.Owner), e.Expires, clean(e.Reason))
		}
	}

	block()
	if len(r.Findings) == 0 {
		bw.WriteString("No findings.\n")
	}
	bw.WriteString(Summary(r) + "\n")
	return bw.Flush()
}

// shortLine renders the position in the file as "12:7", "12" or "-".
func shortLine(l finding.Location) string {
	switch {
	case l.Line <= 0:
		return "-"
	case l.Column <= 0:
		return strconv.Itoa(l.Line)
	default:
		return strconv.Itoa(l.Line) + ":" + strconv.Itoa(l.Column)
	}
}

// width is the number of columns s takes on screen, counting one per rune.
func width(s string) int { return utf8.RuneCountInString(s) }

const blanks = "                                                                "

// spaces writes n spaces.
func spaces(w *bufio.Writer, n int) {
	for n > 0 {
		k := min(n, len(blanks))
		w.WriteString(blanks[:k])
		n -= k
	}
}

func pad(s string, w int) string {
	if n := w - width(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

// clean makes text from scanned files safe to print on a terminal: line
// breaks and tabs become spaces so rows stay on one line, and other control
// characters, which could smuggle escape sequences, become U+FFFD.
func clean(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		return s // the common case: nothing to replace, nothing to allocate
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return utf8.RuneError
		}
		return r
	}, s)
}
