// Package alertfmt is how audit-log alerts are shown and sent: a text
// format for people reading a terminal or a log, and the redaction every
// audit alert output applies before an alert leaves (JSON lines and the
// webhook are pkg/alertsink's, with Redact as their Options.Redact).
//
// The text is a block per alert: a first line a responder can scan (time,
// severity, rule, ATT&CK technique and tactic, what happened, the audit ID
// and where the request came from) and indented lines with the rest.
// Every value from the audit event is printed with its control characters
// escaped: user agents, names and URIs are chosen by whoever made the
// request, and must not be able to move the cursor or recolour a terminal.
package alertfmt

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/pkg/alertsink"
	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// NewText prints alerts as text blocks to w, which it does not close,
// without colour. It is queue-backed like every alertsink sink, so a slow
// terminal never holds back the rules; a batch run over files sets
// o.Block so that no alert is dropped.
func NewText(w io.Writer, o alertsink.Options[*audit.Alert]) alertsink.Sink[*audit.Alert] {
	return alertsink.NewStream(w, Text(false), o)
}

// NewColorText is NewText with the severity in colour. The caller decides,
// as for mamori's other tables: only when w is a terminal and NO_COLOR is
// not set (or --color=always).
func NewColorText(w io.Writer, o alertsink.Options[*audit.Alert]) alertsink.Sink[*audit.Alert] {
	return alertsink.NewStream(w, Text(true), o)
}

// Text is the text format as an alertsink.Encoder, for alertsink.NewStream.
func Text(color bool) alertsink.Encoder[*audit.Alert] {
	return func(b []byte, a *audit.Alert) ([]byte, error) { return AppendText(b, a, color), nil }
}

// ANSI SGR sequences for the severity word, as pkg/report colours them.
const ansiReset = "\x1b[0m"

var severityColor = map[string]string{
	"CRITICAL": "\x1b[1;31m", // bold red
	"HIGH":     "\x1b[31m",   // red
	"MEDIUM":   "\x1b[33m",   // yellow
	"LOW":      "\x1b[34m",   // blue
	"INFO":     "\x1b[2m",    // dim
}

// shortID is how much of an audit ID the first line shows; the detail
// lines show it whole.
const shortID = 8

// AppendText appends a's text block, final newline included, to b. A nil
// alert appends nothing.
func AppendText(b []byte, a *audit.Alert, color bool) []byte {
	if a == nil {
		return b
	}
	// The first line: when, how bad, which rule, what happened.
	if a.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = a.Time.UTC().AppendFormat(b, time.RFC3339)
	}
	b = append(b, ' ')
	sev := strings.ToUpper(clean(a.Severity))
	if sev == "" {
		sev = "-"
	}
	if c, ok := severityColor[sev]; color && ok {
		b = append(append(append(b, c...), sev...), ansiReset...)
	} else {
		b = append(b, sev...)
	}
	b = append(append(b, ' '), clean(a.Rule)...)
	if a.Technique != "" || a.Tactic != "" {
		b = append(b, " ["...)
		b = append(b, strings.TrimSpace(clean(a.Technique)+" "+clean(a.Tactic))...)
		b = append(b, ']')
	}
	what := a.Output
	if what == "" {
		what = a.Title
	}
	if what != "" {
		b = append(append(b, ' '), clean(what)...)
	}
	var ctx []string
	if a.AuditID != "" {
		id := clean(a.AuditID)
		if utf8.RuneCountInString(id) > shortID {
			id = string([]rune(id)[:shortID]) + "…"
		}
		ctx = append(ctx, "auditID "+id)
	}
	if len(a.SourceIPs) > 0 {
		ctx = append(ctx, clean(a.SourceIPs[0]))
	}
	if a.UserAgent != "" {
		ctx = append(ctx, clean(a.UserAgent))
	}
	if a.ResponseCode != 0 {
		ctx = append(ctx, strconv.Itoa(int(a.ResponseCode)))
	}
	if len(ctx) > 0 {
		b = append(append(append(b, " ("...), strings.Join(ctx, ", ")...), ')')
	}
	if a.Source != "" {
		b = append(append(b, ' '), clean(a.Source)...)
	}
	b = append(b, '\n')

	// The detail lines: who, what exactly, from where, which events.
	b = field(b, "user", a.User, "groups", list(a.Groups))
	if a.ImpersonatedUser != "" || len(a.ImpersonatedGroups) > 0 {
		b = field(b, "as", a.ImpersonatedUser, "groups", list(a.ImpersonatedGroups))
	}
	if a.Verb != "" || a.Resource != "" {
		res := a.Resource
		if a.APIGroup != "" && res != "" {
			res = a.APIGroup + "/" + res
		}
		obj, ns := a.Name, ""
		switch {
		case a.Namespace != "" && a.Name != "":
			obj = a.Namespace + "/" + a.Name
		case a.Namespace != "":
			ns = a.Namespace // a list or a create: no object yet
		}
		code := ""
		if a.ResponseCode != 0 {
			code = strconv.Itoa(int(a.ResponseCode))
		}
		b = field(b, "request", strings.TrimSpace(a.Verb+" "+res), "object", obj, "namespace", ns, "code", code)
	}
	b = field(b, "uri", a.RequestURI)
	b = field(b, "from", list(a.SourceIPs), "userAgent", a.UserAgent)
	b = field(b, "auditID", a.AuditID, "stage", a.Stage)
	if a.Count > 0 {
		n := strconv.Itoa(a.Count) + " events"
		if a.Window != "" {
			n += " in " + a.Window
		}
		b = field(b, "aggregated", n, "auditIDs", list(a.AuditIDs))
	}
	if a.TechniqueName != "" {
		b = field(b, "mitre", strings.TrimSpace(a.Technique+" "+a.TechniqueName), "tactic", a.Tactic)
	}
	return b
}

// field appends an indented line of the key-value pairs whose value is
// set; none set, no line.
func field(b []byte, kv ...string) []byte {
	start := len(b)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		b = append(b, "  "...) // the indent, then between pairs
		b = append(append(append(b, kv[i]...), ": "...), clean(kv[i+1])...)
	}
	if len(b) > start {
		b = append(b, '\n')
	}
	return b
}

func list(s []string) string { return strings.Join(s, ", ") }

// clean escapes what a terminal would act on rather than print: control
// and format characters (ESC, newlines, bidi overrides) and invalid UTF-8.
func clean(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || r != ' ' && !unicode.IsGraphic(r) {
			q := strconv.QuoteToGraphic(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// Redact returns the redaction of audit alerts for Options.Redact: the
// rule's output and the request URI (a query string can carry a token)
// with every secret mamori's rules find replaced by its redacted form. The
// alert passed in is never changed; one with nothing to redact is returned
// as it is. A nil engine redacts nothing.
func Redact(e *secret.Engine) func(*audit.Alert) *audit.Alert {
	return func(a *audit.Alert) *audit.Alert {
		if e == nil || a == nil {
			return a
		}
		out, uri := e.RedactText(a.Output), e.RedactText(a.RequestURI)
		if out == a.Output && uri == a.RequestURI {
			return a
		}
		c := *a
		c.Output, c.RequestURI = out, uri
		return &c
	}
}
