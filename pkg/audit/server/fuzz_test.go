package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// FuzzHandler posts arbitrary bodies: the handler never panics, and its
// counts agree: a 200 queued every item that decoded and reported every
// other as malformed; any other answer queued nothing.
func FuzzHandler(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[null,1,"x",{},[]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q := NewQueue(8)
		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		var malformed []audit.Malformed
		h := Handler(Config{Queue: q, Metrics: m, QueueWait: time.Millisecond, MaxBodyBytes: 1 << 16,
			OnMalformed: func(x audit.Malformed) { malformed = append(malformed, x) }})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		queued := q.Len()
		events := int(testutil.ToFloat64(m.events.WithLabelValues(Source)))
		bad := int(testutil.ToFloat64(m.malformed.WithLabelValues(Source)))
		if bad != len(malformed) {
			t.Fatalf("malformed_total %d, reported %d", bad, len(malformed))
		}
		switch rec.Code {
		case http.StatusOK:
			if events != queued {
				t.Fatalf("events_total %d, queued %d", events, queued)
			}
			for i, x := range malformed {
				if x.Err == nil || x.Pos.Line < 1 || (i > 0 && x.Pos.Line <= malformed[i-1].Pos.Line) {
					t.Fatalf("malformed %d: %+v", i, x)
				}
			}
			evs := make([]*audit.Event, queued)
			if queued > 0 {
				if n, _ := q.Drain(context.Background(), evs); n != queued {
					t.Fatalf("drained %d of %d", n, queued)
				}
			}
			for _, e := range evs {
				if e.Pos.Line < 1 {
					t.Fatalf("event without its position: %+v", e)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
			if queued != 0 || events != 0 {
				t.Fatalf("answered %d but queued %d (events_total %d)", rec.Code, queued, events)
			}
		default:
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
	})
}
