package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testEvents(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// differ decodes data with both decoders and says how they disagree, or "".
func differ(data []byte) string {
	var want, got Event
	werr := json.Unmarshal(data, &want)
	gerr := DecodeEvent(data, &got)
	switch {
	case werr == nil && gerr != nil:
		return "DecodeEvent failed where encoding/json did not: " + gerr.Error()
	case werr != nil && gerr == nil:
		return "DecodeEvent succeeded where encoding/json failed: " + werr.Error()
	case werr != nil:
		var de *DecodeError
		if !errors.As(gerr, &de) {
			return "error is not a *DecodeError: " + gerr.Error()
		}
		return ""
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		return "values differ:\n got " + string(g) + "\nwant " + string(w)
	}
	return ""
}

func TestDecodeEventTestdata(t *testing.T) {
	for i, l := range testEvents(t) {
		if d := differ(l); d != "" {
			t.Errorf("line %d: %s", i+1, d)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	local := time.Local
	defer func() { time.Local = local }()
	tests := []struct {
		name, in string
		check    func(*Event) bool
	}{
		{"surrogate pair", `{"verb":"\ud83d\ude00"}`, func(e *Event) bool { return e.Verb == "😀" }},
		{"lone surrogate", `{"verb":"\ud83dx"}`, func(e *Event) bool { return e.Verb == "\uFFFDx" }},
		{"bad utf8", "{\"verb\":\"a\xffb\"}", func(e *Event) bool { return e.Verb == "a\uFFFDb" }},
		{"escapes", `{"verb":"\"\\\/\b\f\n\r\t\u00e9"}`, func(e *Event) bool { return e.Verb == "\"\\/\b\f\n\r\té" }},
		{"folded key", `{"VERB":"get","ſtage":"x"}`, func(e *Event) bool { return e.Verb == "get" && e.Stage == "x" }},
		{"escaped key", `{"\u0076erb":"get"}`, func(e *Event) bool { return e.Verb == "get" }},
		{"null string keeps", `{"verb":"get","verb":null}`, func(e *Event) bool { return e.Verb == "get" }},
		{"null body", `{"requestObject":null}`, func(e *Event) bool { return string(e.RequestObject) == "null" }},
		{"body kept raw", `{"requestObject": {"a" : [1, 2]} }`, func(e *Event) bool { return string(e.RequestObject) == `{"a" : [1, 2]}` }},
		{"empty array", `{"sourceIPs":[]}`, func(e *Event) bool { return e.SourceIPs != nil && len(e.SourceIPs) == 0 }},
		{"merged objectRef", `{"objectRef":{"name":"a"},"objectRef":{"namespace":"b"}}`, func(e *Event) bool {
			return e.ObjectRef.Name == "a" && e.ObjectRef.Namespace == "b"
		}},
		{"time offset", `{"stageTimestamp":"2026-11-24T08:00:00.5+05:30"}`, func(e *Event) bool {
			return e.StageTimestamp.Equal(time.Date(2026, 11, 24, 2, 30, 0, 5e8, time.UTC))
		}},
		{"code", `{"responseStatus":{"code":-403}}`, func(e *Event) bool { return e.Code() == -403 }},
		{"top null", `null`, func(e *Event) bool { return e.Verb == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := differ([]byte(tt.in)); d != "" {
				t.Fatal(d)
			}
			var e Event
			if err := DecodeEvent([]byte(tt.in), &e); err != nil {
				t.Fatal(err)
			}
			if !tt.check(&e) {
				t.Errorf("decoded %+v", e)
			}
		})
	}
}

func TestDecodeEventErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{`{"verb":5}`, 8, "want a string"},
		{`{"verb":"get"`, 13, "unexpected end"},
		{`{"verb":"get",}`, 14, "invalid character"},
		{`{"responseStatus":{"code":1.5}}`, 26, "not an int32"},
		{`{"responseStatus":{"code":3000000000}}`, 26, "not an int32"},
		{`{"stageTimestamp":"yesterday"}`, 18, "cannot parse"},
		{`{"stageTimestamp":"2026-11-24t08:00:00z"}`, 18, "cannot parse"},
		{`{"stageTimestamp":"2026-02-30T08:00:00Z"}`, 18, "day out of range"},
		{`{"sourceIPs":"1.2.3.4"}`, 13, "want an array"},
		{`[]`, 0, "want an event object"},
		{`{"verb":"a"} x`, 13, "invalid character"},
		{"{\"verb\":\"a\x01\"}", 10, "invalid character"},
	}
	for _, tt := range tests {
		var e Event
		err := DecodeEvent([]byte(tt.in), &e)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %v, want a *DecodeError", tt.in, err)
			continue
		}
		if de.Offset != tt.offset || !strings.Contains(de.Msg, tt.msg) {
			t.Errorf("%s: error %q at %d, want %q at %d", tt.in, de.Msg, de.Offset, tt.msg, tt.offset)
		}
		if json.Unmarshal([]byte(tt.in), &e) == nil {
			t.Errorf("%s: encoding/json accepts it", tt.in)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, l := range testEvents(f) {
		f.Add(l)
	}
	for _, s := range []string{`{"VERB":"a","verb":null}`, `{"user":{"groups":["a","b"]},"user":{"groups":[null]}}`,
		`{"stageTimestamp":"2026-02-29T00:00:00Z"}`, `{"annotations":{"a":null,"\u00e9":"x"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := differ(data); d != "" {
			t.Fatalf("%s\ninput: %q", d, data)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	lines := testEvents(b)
	for _, bc := range []struct {
		name string
		line []byte
	}{{"metadata", lines[0]}, {"watch", lines[1]}, {"body", lines[3]}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				var e Event
				if err := DecodeEvent(bc.line, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(lines[0])))
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := json.Unmarshal(lines[0], &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
