package alertfmt

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/alertsink"
	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/secret"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func loadAlerts(t testing.TB) []*audit.Alert {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "alerts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var as []*audit.Alert
	if err := json.Unmarshal(raw, &as); err != nil {
		t.Fatalf("testdata/alerts.json: %v", err)
	}
	return as
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
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func secrets(t testing.TB) *secret.Engine {
	t.Helper()
	e, err := secret.New(secret.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// write sends alerts through s and closes it.
func write(t *testing.T, s alertsink.Sink[*audit.Alert], alerts []*audit.Alert) {
	t.Helper()
	for _, a := range alerts {
		if err := s.Write(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestTextGolden(t *testing.T) {
	for _, tt := range []struct {
		golden string
		sink   func(io.Writer, alertsink.Options[*audit.Alert]) alertsink.Sink[*audit.Alert]
	}{
		{"text.golden", NewText},
		{"text-color.golden", NewColorText},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			var b bytes.Buffer
			write(t, tt.sink(&b, alertsink.Options[*audit.Alert]{Block: true}), loadAlerts(t))
			golden(t, tt.golden, b.Bytes())
			if tt.golden == "text.golden" && bytes.Contains(b.Bytes(), []byte("\x1b")) {
				t.Error("escape sequence in plain text")
			}
		})
	}
}

// TestTextEscapes: what the requester chose cannot drive the terminal
// or forge a line.
func TestTextEscapes(t *testing.T) {
	a := loadAlerts(t)[4]
	got := string(AppendText(nil, a, true))
	for _, bad := range []string{"\x1b[2J", "\x1b[31mred", "\nforged", "\u202e"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q printed as is:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, `evil\x1b[31mred\x1b[0m\nforged line\u202ecba`) {
		t.Errorf("user agent not shown escaped:\n%s", got)
	}
}

// TestJSONLinesGolden: audit alerts through alertsink's JSON lines carry
// the Alert's JSON field names, and read back to the same alerts.
func TestJSONLinesGolden(t *testing.T) {
	alerts := loadAlerts(t)
	var b bytes.Buffer
	write(t, alertsink.NewJSONLines(&b, alertsink.Options[*audit.Alert]{Block: true}), alerts)
	golden(t, "alerts.jsonl.golden", b.Bytes())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(alerts) {
		t.Fatalf("%d lines for %d alerts", len(lines), len(alerts))
	}
	for i, l := range lines {
		var back audit.Alert
		if err := json.Unmarshal([]byte(l), &back); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		// Times compare by instant: the zone is not the alert's content.
		back.Time, alerts[i].Time = back.Time.UTC(), alerts[i].Time.UTC()
		if !reflect.DeepEqual(&back, alerts[i]) {
			t.Errorf("line %d reads back as %+v, want %+v", i+1, back, *alerts[i])
		}
	}
}

const (
	jwt      = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6d2ViIn0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"
	apiToken = "Zx9kQ2mV7pL4tR8wY3nB6cF1hJ5"
)

// tokenAlert has a service-account token in its request URI's query and
// an API token in its output.
func tokenAlert(t testing.TB) *audit.Alert {
	a := loadAlerts(t)[0]
	a.RequestURI = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&access_token=" + jwt
	a.Output = "alice exec'd into default/web-0 with token=" + apiToken
	return a
}

func TestRedact(t *testing.T) {
	eng := secrets(t)
	for _, tt := range []struct {
		name      string
		in        *audit.Alert
		wantURI   string
		wantOut   string
		wantSame  bool // nothing to redact: the alert itself comes back
		forbidden []string
	}{
		{
			name:      "token in query and output",
			in:        tokenAlert(t),
			wantURI:   "/api/v1/namespaces/default/pods/web-0/exec?command=sh&access_token=eyJh…(175 chars)",
			wantOut:   "alice exec'd into default/web-0 with token=Zx9k…(27 chars)",
			forbidden: []string{jwt, apiToken},
		},
		{name: "clean", in: loadAlerts(t)[1], wantSame: true},
		{name: "nil", in: nil, wantSame: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before audit.Alert
			if tt.in != nil {
				before = *tt.in
			}
			got := Redact(eng)(tt.in)
			if tt.wantSame {
				if got != tt.in {
					t.Errorf("Redact copied an alert with nothing to redact")
				}
				return
			}
			if got == tt.in || !reflect.DeepEqual(*tt.in, before) {
				t.Fatal("Redact changed the caller's alert")
			}
			if got.RequestURI != tt.wantURI || got.Output != tt.wantOut {
				t.Errorf("requestURI %q\noutput %q", got.RequestURI, got.Output)
			}
			var b bytes.Buffer
			write(t, alertsink.NewJSONLines(&b, alertsink.Options[*audit.Alert]{Redact: Redact(eng)}), []*audit.Alert{tt.in})
			out := b.String() + string(AppendText(nil, got, false))
			for _, s := range tt.forbidden {
				if strings.Contains(out, s) {
					t.Errorf("%s… written", s[:8])
				}
			}
		})
	}
	if a := tokenAlert(t); Redact(nil)(a) != a {
		t.Error("a nil engine changed the alert")
	}
}

// TestWebhook: audit alerts POSTed to a receiver on loopback, redacted,
// the first attempt refused with 503 and retried.
func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var attempts int
	var got []*audit.Alert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	w, err := alertsink.NewWebhook(alertsink.WebhookConfig{URL: srv.URL, Backoff: time.Millisecond},
		alertsink.Options[*audit.Alert]{Redact: Redact(secrets(t)), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, []*audit.Alert{tokenAlert(t)})
	mu.Lock()
	defer mu.Unlock()
	if attempts != 2 || len(got) != 1 || w.Dropped() != 0 {
		t.Fatalf("%d attempts, %d alerts received, %d dropped; want 2, 1, 0", attempts, len(got), w.Dropped())
	}
	if got[0].Rule != "pod-exec" || got[0].Technique != "T1609" || got[0].User != "alice" ||
		strings.Contains(got[0].RequestURI, jwt) || strings.Contains(got[0].Output, apiToken) {
		t.Errorf("received %+v", *got[0])
	}
}

// FuzzText: whatever the fields hold, the text is one block of lines with
// no byte a terminal would act on, and the plain form no escape at all.
func FuzzText(f *testing.F) {
	for _, a := range loadAlerts(f) {
		f.Add(a.User, a.UserAgent, a.Output, a.RequestURI, a.AuditID)
	}
	f.Fuzz(func(t *testing.T, user, agent, output, uri, id string) {
		a := &audit.Alert{Rule: "r", Severity: "HIGH", User: user, UserAgent: agent, Output: output, RequestURI: uri, AuditID: id,
			Verb: "get", Resource: "pods", SourceIPs: []string{agent}, Groups: []string{user}}
		for _, color := range []bool{false, true} {
			b := AppendText(nil, a, color)
			if len(b) == 0 || b[len(b)-1] != '\n' {
				t.Fatalf("block %q does not end a line", b)
			}
			esc := 0
			for _, c := range b {
				if c == 0x1b {
					esc++
				} else if c < 0x20 && c != '\n' || c == 0x7f {
					t.Fatalf("control byte %#x in %q", c, b)
				}
			}
			if want := map[bool]int{false: 0, true: 2}[color]; esc != want {
				t.Fatalf("%d escapes (colour %v) in %q", esc, color, b)
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[1:] {
				if !strings.HasPrefix(l, "  ") {
					t.Fatalf("detail line %q not indented: a field forged a line", l)
				}
			}
		}
	})
}

func BenchmarkAppendText(b *testing.B) {
	alerts := loadAlerts(b)
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendText(buf[:0], alerts[i%len(alerts)], false)
	}
}
