package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit/audittest"
)

// eventList is the envelope as encoding/json reads it: the reference the
// splitter must agree with.
type eventList struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Items      []json.RawMessage `json:"items"`
}

// checkSplit fails t unless splitEventList and json.Unmarshal into
// eventList agree on body: both reject it, or both accept it with the same
// kind, apiVersion and item bytes. It returns whether body was accepted.
func checkSplit(t *testing.T, body []byte) bool {
	t.Helper()
	var want eventList
	wantErr := json.Unmarshal(body, &want)
	kind, apiVersion, items, err := splitEventList(body, nil)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("splitEventList(%.200q): error %v; encoding/json: %v", body, err, wantErr)
	}
	if err != nil {
		return false
	}
	if kind != want.Kind || apiVersion != want.APIVersion {
		t.Fatalf("splitEventList(%.200q): kind %q apiVersion %q; encoding/json: %q %q", body, kind, apiVersion, want.Kind, want.APIVersion)
	}
	if len(items) != len(want.Items) {
		t.Fatalf("splitEventList(%.200q): %d items; encoding/json: %d", body, len(items), len(want.Items))
	}
	for i := range items {
		if !bytes.Equal(items[i], want.Items[i]) {
			t.Fatalf("splitEventList(%.200q): item %d is %q; encoding/json: %q", body, i, items[i], want.Items[i])
		}
	}
	return true
}

const head = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1",`

func TestSplitEventList(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool // encoding/json accepts it; checked too so a table typo shows
	}{
		{"empty object", `{}`, true},
		{"empty body", ``, false},
		{"white space", " \t\r\n", false},
		{"null", `null`, true},
		{"array", `[]`, false},
		{"string", `"EventList"`, false},
		{"number", `1`, false},
		{"items", head + `"items":[{"a":1}, [1,2] ,"x\"]",-0.5e+3,true,false,null,{}]}`, true},
		{"items empty", head + `"items":[]}`, true},
		{"items white space", head + `"items":[ ` + "\n\t" + ` ] }` + "\n", true},
		{"items null", head + `"items":null}`, true},
		{"items object", head + `"items":{}}`, false},
		{"items string", head + `"items":"x"}`, false},
		{"items number", head + `"items":1}`, false},
		{"items twice", head + `"items":[1,2],"items":[3]}`, true},
		{"items then null", head + `"items":[1,2],"items":null}`, true},
		{"items then error", head + `"items":[1,2],"items":true}`, false},
		{"keys in any order", `{"items":[{}],"metadata":{"resourceVersion":"1"},"apiVersion":"audit.k8s.io/v1","kind":"EventList"}`, true},
		{"keys folded", `{"KIND":"EventList","ApiVersion":"audit.k8s.io/v1","Items":[1]}`, true},
		{"key escaped", `{"\u006bind":"EventList","apiVersion":"audit.k8s.io/v1","it\u0065ms":[1]}`, true},
		{"key Kelvin sign", `{"\u212aind":"EventList","apiVersion":"audit.k8s.io/v1","items":[1]}`, true},
		{"key Kelvin sign raw", "{\"\u212aind\":\"EventList\",\"items\":[1]}", true},
		{"key long s", "{\"item\u017f\":[1]}", true},
		{"key dotless i", "{\"\u0131tems\":[1]}", true},
		{"key invalid UTF-8", "{\"items\xff\":[1],\"kind\":\"x\"}", true},
		{"key not a field", `{"kinds":"x","item":[1],"apiversion2":3}`, true},
		{"kind escaped", `{"kind":"Event\u004cist","apiVersion":"audit.k8s.io\/v1"}`, true},
		{"kind invalid UTF-8", "{\"kind\":\"EventList\xff\"}", true},
		{"kind null keeps", `{"kind":"EventList","kind":null}`, true},
		{"kind number", `{"kind":1}`, false},
		{"kind object", `{"kind":{}}`, false},
		{"kind array", `{"kind":["EventList"]}`, false},
		{"kind bool", `{"kind":true}`, false},
		{"apiVersion number", `{"apiVersion":1.5}`, false},
		{"metadata anything", head + `"metadata":[1,{"a":[null]}],"items":[]}`, true},
		{"truncated", head + `"items":[{"a":1}`, false},
		{"truncated string", head + `"items":["abc`, false},
		{"truncated escape", head + `"items":["abc\`, false},
		{"truncated unicode", head + `"items":["\u12`, false},
		{"truncated after key", `{"kind"`, false},
		{"truncated after colon", `{"kind":`, false},
		{"truncated after comma", `{"kind":"x",`, false},
		{"trailing comma object", `{"kind":"x",}`, false},
		{"trailing comma items", head + `"items":[1,]}`, false},
		{"trailing comma nested", head + `"items":[{"a":1,}]}`, false},
		{"leading comma", head + `"items":[,1]}`, false},
		{"missing colon", `{"kind" "x"}`, false},
		{"missing comma", `{"kind":"x" "items":[]}`, false},
		{"key not a string", `{kind:"x"}`, false},
		{"nested key not a string", head + `"items":[{1:2}]}`, false},
		{"mismatched", head + `"items":[{]}`, false},
		{"mismatched array", head + `"items":[[}]}`, false},
		{"trailing garbage", head + `"items":[]}x`, false},
		{"two values", `{}{}`, false},
		{"BOM", "\ufeff{}", false},
		{"control character", head + "\"items\":[\"a\tb\"]}", false},
		{"DEL in string", head + "\"items\":[\"a\x7fb\"]}", true},
		{"invalid UTF-8 in item", head + "\"items\":[\"\xff\xfe\"]}", true},
		{"bad escape", head + `"items":["\x"]}`, false},
		{"bad unicode escape", head + `"items":["\u12g4"]}`, false},
		{"escapes", head + `"items":["\"\\\/\b\f\n\r\t\u00e9\uD800"]}`, true},
		{"numbers", head + `"items":[0,-0,1,-12,0.5,1e5,1E+5,1e-05,-1.5e10,123456789012345678901234567890]}`, true},
		{"leading zero", head + `"items":[01]}`, false},
		{"minus alone", head + `"items":[-]}`, false},
		{"minus letter", head + `"items":[-a]}`, false},
		{"dot no digits", head + `"items":[1.]}`, false},
		{"dot first", head + `"items":[.5]}`, false},
		{"exponent no digits", head + `"items":[1e]}`, false},
		{"exponent sign no digits", head + `"items":[1e+]}`, false},
		{"plus", head + `"items":[+1]}`, false},
		{"literals", head + `"items":[true,false,null]}`, true},
		{"bad literal", head + `"items":[tru]}`, false},
		{"bad literal tail", head + `"items":[truex]}`, false},
		{"capital literal", head + `"items":[True]}`, false},
		{"truncated literal", head + `"items":[nul`, false},
		{"NaN", head + `"items":[NaN]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok := checkSplit(t, []byte(tt.body)); ok != tt.ok {
				t.Errorf("accepted %v, want %v", ok, tt.ok)
			}
		})
	}
}

// TestSplitDepth: encoding/json refuses nesting deeper than 10,000, and so
// must the splitter, wherever the deep value is.
func TestSplitDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tt := range []struct {
		name   string
		body   func(n int) string
		levels int // the containers around the nested value
	}{
		{"item", func(n int) string { return head + `"items":[` + nest(n) + `]}` }, 2},
		{"item in object", func(n int) string { return head + `"items":[{"a":` + nest(n) + `}]}` }, 3},
		{"other member", func(n int) string { return `{"metadata":` + nest(n) + `}` }, 1},
		{"kind", func(n int) string { return `{"kind":` + nest(n) + `}` }, 1},
		{"items", func(n int) string { return `{"items":` + strings.Repeat("{", n) + strings.Repeat("}", n) + `}` }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := maxDepth - tt.levels
			// The kind and items cases are type errors at any depth.
			ok := tt.name != "kind" && tt.name != "items"
			if got := checkSplit(t, []byte(tt.body(n))); got != ok {
				t.Errorf("depth %d: accepted %v, want %v", maxDepth, got, ok)
			}
			if checkSplit(t, []byte(tt.body(n+1))) {
				t.Errorf("depth %d accepted", maxDepth+1)
			}
		})
	}
}

func TestSplitTestdata(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(names) == 0 {
		t.Fatal("no testdata")
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(name), func(t *testing.T) { checkSplit(t, b) })
	}
	t.Run("mix", func(t *testing.T) {
		if !checkSplit(t, mixBody(1000)) {
			t.Fatal("the audit mix refused")
		}
	})
}

// FuzzSplit is a differential test: the splitter accepts what
// json.Unmarshal accepts, with the same kind, apiVersion and item bytes.
func FuzzSplit(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(mixBody(3))
	f.Add([]byte(`{"ITEMS":[1,"\u00e9",{"a":[true,null]}],"\u212aind":"Event\u004cist","kind":null,"items":null}`))
	f.Add([]byte(head + `"items":[-0.5e+3,"\\\"",[],{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) { checkSplit(t, body) })
}

// mixBody is an EventList of n events of the audit mix.
func mixBody(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	buf.Write(bytes.Join(audittest.Mix(n, 11, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)), []byte(",")))
	buf.WriteString("]}")
	return buf.Bytes()
}

// BenchmarkSplit compares the outer parse of a batch of 400 events of the
// audit mix: the splitter against encoding/json into []json.RawMessage.
func BenchmarkSplit(b *testing.B) {
	body := mixBody(burstBatch)
	b.Run("splitter", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		var items [][]byte
		for b.Loop() {
			var err error
			if _, _, items, err = splitEventList(body, items[:0]); err != nil || len(items) != burstBatch {
				b.Fatal(len(items), err)
			}
		}
		b.ReportMetric(float64(b.N)*burstBatch/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var l eventList
			if err := json.Unmarshal(body, &l); err != nil || len(l.Items) != burstBatch {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*burstBatch/b.Elapsed().Seconds(), "events/s")
	})
}

// TestSpecial8 checks the 8-byte test against plain for every byte value
// at every position, among neighbours that are plain, high or special.
func TestSpecial8(t *testing.T) {
	for _, fill := range []byte{'a', 0x20, 0x7f, 0x80, 0xff, '!', '#', '[', ']'} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				want := false
				for _, x := range w {
					want = want || !plain[x]
				}
				if got := special8(binary.LittleEndian.Uint64(w[:])); got != want {
					t.Fatalf("special8(% x) = %v, want %v", w, got, want)
				}
			}
		}
	}
}
