package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/secret"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadEvents reads testdata/events.jsonl.
func loadEvents(t testing.TB) []*event.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []*event.Event
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		e := new(event.Event)
		if err := json.Unmarshal(sc.Bytes(), e); err != nil {
			t.Fatalf("testdata/events.jsonl:%d: %v", line, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func secrets(t testing.TB) *secret.Engine {
	t.Helper()
	e, err := secret.New(secret.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestPrinterGolden(t *testing.T) {
	evs := loadEvents(t)
	eng := secrets(t)
	for _, tr := range Traces {
		for _, format := range []struct {
			name string
			f    Format
		}{{"txt", Table}, {"json", JSONFormat}} {
			t.Run(string(tr)+"/"+format.name, func(t *testing.T) {
				var buf bytes.Buffer
				p := NewPrinter(&buf, tr, PrinterOptions{Format: format.f, Secrets: eng})
				f := Filter{Kinds: tr.Kinds()}
				n := 0
				for _, e := range evs {
					if f.Match(e) {
						if err := p.Print(e); err != nil {
							t.Fatal(err)
						}
						n++
					}
				}
				if err := p.Flush(); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatal("no fixture event of this trace")
				}
				lines := strings.Count(buf.String(), "\n")
				if want := n + map[Format]int{Table: 1}[format.f]; lines != want {
					t.Errorf("%d lines for %d events: every event must be one line", lines, n)
				}
				golden(t, "trace-"+string(tr)+"."+format.name, buf.Bytes())
			})
		}
	}
}

// TestPrinterAligned checks every table row puts each column where the
// header does, whatever the values' lengths.
func TestPrinterAligned(t *testing.T) {
	evs := loadEvents(t)
	for _, tr := range Traces {
		var buf bytes.Buffer
		p := NewPrinter(&buf, tr, PrinterOptions{})
		f := Filter{Kinds: tr.Kinds()}
		for _, e := range evs {
			if f.Match(e) {
				_ = p.Print(e)
			}
		}
		_ = p.Flush()
		rows := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		header := []rune(rows[0])
		var starts []int
		for i := 1; i < len(header); i++ {
			if header[i-1] == ' ' && header[i] != ' ' {
				starts = append(starts, i)
			}
		}
		for _, row := range rows[1:] {
			r := []rune(row)
			for _, s := range starts {
				if s >= len(r) || r[s-1] != ' ' || r[s] == ' ' {
					t.Errorf("%s: row %q has no column starting at %d", tr, row, s)
				}
			}
		}
	}
}

func TestRedactedArgs(t *testing.T) {
	evs := loadEvents(t)
	var buf bytes.Buffer
	for _, f := range []Format{Table, JSONFormat} {
		p := NewPrinter(&buf, TraceExec, PrinterOptions{Format: f, Secrets: secrets(t)})
		for _, e := range evs[:3] {
			_ = p.Print(e)
		}
		_ = p.Flush()
	}
	for _, s := range []string{"S3cr3tP4ssw0rd!x9", "Zq8vN3rT5wLx2KpY7mHc"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("secret %s printed:\n%s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "--password=S3cr…(17 chars)") {
		t.Errorf("redacted flag not shown:\n%s", buf.String())
	}
	// The caller's event is left as it was.
	if evs[1].Process.Args[1] != "--password=S3cr3tP4ssw0rd!x9" {
		t.Errorf("Print changed the event: %q", evs[1].Process.Args)
	}
}

func TestFilter(t *testing.T) {
	evs := loadEvents(t)
	tests := []struct {
		name string
		f    Filter
		want []uint32 // PIDs
	}{
		{"kinds", Filter{Kinds: TraceConnect.Kinds()}, []uint32{4242, 900}},
		{"namespace", Filter{Namespace: "billing"}, []uint32{4405}},
		{"pod glob", Filter{Kinds: []event.Kind{event.Exec}, Pod: "web-*"}, []uint32{4242, 4300, 4301}},
		{"container", Filter{Container: "api"}, []uint32{4405}},
		{"comm", Filter{Comm: "sh", Kinds: []event.Kind{event.Exec, event.Open}}, []uint32{4242, 4250}},
		{"namespace never matches host", Filter{Namespace: "*", Kinds: []event.Kind{event.Module, event.Accept}}, nil},
		{"all", Filter{Kinds: []event.Kind{event.Module}}, []uint32{4403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, e := range evs {
				if tt.f.Match(e) {
					got = append(got, e.Process.PID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched PIDs %v, want %v", got, tt.want)
			}
		})
	}
	bad := Filter{Pod: "web-["}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `--pod "web-["`) {
		t.Errorf("Validate of a bad glob: %v", err)
	}
}

func TestParseTrace(t *testing.T) {
	for _, tr := range Traces {
		if got, err := ParseTrace(string(tr)); err != nil || got != tr {
			t.Errorf("ParseTrace(%s) = %s, %v", tr, got, err)
		}
	}
	if _, err := ParseTrace("exe"); err == nil || !strings.Contains(err.Error(), `"exe"`) {
		t.Errorf("ParseTrace(exe): %v", err)
	}
}

func TestOpenFlags(t *testing.T) {
	for flags, want := range map[uint32]string{
		0:               "O_RDONLY",
		0o2000000:       "O_RDONLY|O_CLOEXEC",
		0o1101:          "O_WRONLY|O_CREAT|O_TRUNC",
		0o2 | 0o4010000: "O_RDWR|O_SYNC",
		0o2 | 0o10000:   "O_RDWR|O_DSYNC",
		0o3 | 1<<30:     "O_ACCMODE|010000000000",
	} {
		if got := OpenFlags(flags); got != want {
			t.Errorf("OpenFlags(%#o) = %s, want %s", flags, got, want)
		}
	}
}

// FuzzPrint holds the printer to one line per event, whatever the event
// carries, and to JSON that reads back.
func FuzzPrint(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "events.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		f.Add(line)
	}
	eng := secrets(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		e := new(event.Event)
		if json.Unmarshal(in, e) != nil {
			return
		}
		for _, tr := range Traces {
			var buf bytes.Buffer
			p := NewPrinter(&buf, tr, PrinterOptions{NoHeader: true, Secrets: eng})
			if err := p.Print(e); err != nil {
				t.Fatal(err)
			}
			_ = p.Flush()
			if n := strings.Count(buf.String(), "\n"); n != 1 || strings.ContainsAny(buf.String()[:buf.Len()-1], "\r\n\x1b\x00") {
				t.Fatalf("%s: row %q is not one clean line", tr, buf.String())
			}
		}
		var buf bytes.Buffer
		p := NewPrinter(&buf, TraceExec, PrinterOptions{Format: JSONFormat})
		if err := p.Print(e); err != nil {
			t.Fatal(err)
		}
		_ = p.Flush()
		if !json.Valid(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) || strings.Count(buf.String(), "\n") != 1 {
			t.Fatalf("JSON line %q", buf.String())
		}
	})
}

func BenchmarkPrintTable(b *testing.B) {
	evs := loadEvents(b)
	p := NewPrinter(discard{}, TraceExec, PrinterOptions{Secrets: secrets(b)})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Print(evs[i%5])
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
