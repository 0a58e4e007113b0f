package report

import (
	"strconv"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// appendFinding appends a finding's JSON form indented as an element of the
// findings list, byte for byte what encoding/json would write
// (TestAppendFindingMatchesEncodingJSON), without reflection: a scan can
// have hundreds of thousands of findings.
func appendFinding(b []byte, j *finding.JSON) []byte {
	const in1, in2 = "\n      ", "\n        "
	b = append(b, "    {"...)
	b = appendField(b, in1, "checkID", j.CheckID, false)
	b = appendField(b, in1, "title", j.Title, false)
	b = appendField(b, in1, "severity", j.Severity.String(), false)
	b = appendField(b, in1, "message", j.Message, false)
	b = append(b, ',')
	b = append(b, in1...)
	b = append(b, `"resource": {`...)
	first := true
	for _, kv := range [...][2]string{{"apiVersion", j.Resource.APIVersion}, {"kind", j.Resource.Kind}, {"namespace", j.Resource.Namespace}, {"name", j.Resource.Name}} {
		if kv[1] != "" {
			b = appendField(b, in2, kv[0], kv[1], first)
			first = false
		}
	}
	b = closeObject(b, first, in1)
	b = append(b, ',')
	b = append(b, in1...)
	b = append(b, `"location": {`...)
	first = true
	l := j.Location
	if l.File != "" {
		b = appendField(b, in2, "file", l.File, first)
		first = false
	}
	for _, kv := range [...]struct {
		k string
		v int
	}{{"line", l.Line}, {"column", l.Column}} {
		if kv.v != 0 {
			if !first {
				b = append(b, ',')
			}
			b = append(b, in2...)
			b = append(b, '"')
			b = append(b, kv.k...)
			b = append(b, `": `...)
			b = strconv.AppendInt(b, int64(kv.v), 10)
			first = false
		}
	}
	if l.Path != "" {
		b = appendField(b, in2, "path", l.Path, first)
		first = false
	}
	if l.Source != "" {
		b = appendField(b, in2, "source", l.Source, first)
		first = false
	}
	b = closeObject(b, first, in1)
	b = appendField(b, in1, "fingerprint", j.Fingerprint, false)
	return append(b, "\n    }"...)
}

func closeObject(b []byte, empty bool, indent string) []byte {
	if empty {
		return append(b, '}')
	}
	b = append(b, indent...)
	return append(b, '}')
}

// appendField appends `"key": "value"` on a new line, after a comma unless
// first.
func appendField(b []byte, indent, key, value string, first bool) []byte {
	if !first && b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, indent...)
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `": `...)
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes encoding/json writes as they are (with HTML
// escaping on).
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString quotes s as encoding/json does with HTML escaping on.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
