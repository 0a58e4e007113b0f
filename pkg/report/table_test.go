package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

func TestTableColor(t *testing.T) {
	tests := []struct {
		color bool
		want  bool
	}{{false, false}, {true, true}}
	for _, tt := range tests {
		opts := testOpts
		opts.Color = tt.color
		out := string(write(t, Table, testReport(), opts))
		if got := strings.Contains(out, "\x1b"); got != tt.want {
			t.Errorf("Color=%v: output has escape codes = %v, want %v:\n%s", tt.color, got, tt.want, out)
		}
	}
}

// TestTableAlignment checks that colour does not shift the columns: with
// the escape codes removed, coloured output is the plain output.
func TestTableAlignment(t *testing.T) {
	plain := string(write(t, Table, testReport(), testOpts))
	opts := testOpts
	opts.Color = true
	colored := string(write(t, Table, testReport(), opts))
	stripped := colored
	for _, c := range severityColor {
		stripped = strings.ReplaceAll(stripped, c, "")
	}
	stripped = strings.ReplaceAll(stripped, ansiReset, "")
	if stripped != plain {
		t.Errorf("coloured table without escape codes differs from the plain one:\n%s\n---\n%s", stripped, plain)
	}

	// Every message starts in the same column, that of the MESSAGE header.
	col := -1
	for _, line := range strings.Split(plain, "\n") {
		var i int
		switch {
		case strings.Contains(line, "MESSAGE"):
			i = strings.Index(line, "MESSAGE")
		case strings.Contains(line, "Container "), strings.Contains(line, "Image "):
			i = strings.Index(line, "Container ")
			if i < 0 {
				i = strings.Index(line, "Image ")
			}
		default:
			continue
		}
		if col < 0 {
			col = i
		} else if i != col {
			t.Errorf("line %q: message at column %d, want %d", line, i, col)
		}
	}
}

func TestTableNotes(t *testing.T) {
	r := &finding.Report{}
	for i := range 25 {
		r.Notes = append(r.Notes, finding.Problem{File: fmt.Sprintf("n%02d.yaml", i), Message: "not a Kubernetes object"})
	}
	out := string(write(t, Table, r, testOpts))
	if !strings.Contains(out, "n19.yaml") || strings.Contains(out, "n20.yaml") {
		t.Errorf("want the first 20 notes only:\n%s", out)
	}
	if !strings.Contains(out, "... and 5 more notes (use --format json to see all)") {
		t.Errorf("missing the count of hidden notes:\n%s", out)
	}
	if !strings.Contains(out, "No findings.\n") {
		t.Errorf("missing \"No findings.\":\n%s", out)
	}
}

// TestTableSanitizes makes sure that text from scanned files cannot break
// rows or send escape sequences to the terminal.
func TestTableSanitizes(t *testing.T) {
	r := &finding.Report{Findings: []finding.Finding{
		newFinding(ruleTag, "evil\x1b[2Jmessage\nsecond line", finding.Resource{Kind: "Pod", Name: "\x1b]0;title\x07"}, finding.Location{File: "a.yaml", Line: 1}),
	}}
	out := string(write(t, Table, r, testOpts))
	if strings.Contains(out, "\x1b") || strings.Contains(out, "\x07") {
		t.Errorf("control characters reached the output: %q", out)
	}
	if strings.Contains(out, "\nsecond line") {
		t.Errorf("a message broke the row: %q", out)
	}
}

func TestShortLine(t *testing.T) {
	for _, tt := range []struct {
		loc  finding.Location
		want string
	}{
		{finding.Location{Line: 12, Column: 7}, "12:7"},
		{finding.Location{Line: 12}, "12"},
		{finding.Location{}, "-"},
	} {
		if got := shortLine(tt.loc); got != tt.want {
			t.Errorf("shortLine(%+v) = %q, want %q", tt.loc, got, tt.want)
		}
	}
}
