package audit_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/audittest"
	"github.com/mamori-dev/mamori/pkg/audit/rules"
	"github.com/mamori-dev/mamori/pkg/audit/source"
)

// BenchmarkPipeline is the figure the issue asks for: events per second
// through the whole of `audit scan` but the output, on a realistic mix
// (package audittest) read as an audit log file, with every built-in rule
// enabled. Run with -cpu 1 for one core.
func BenchmarkPipeline(b *testing.B) {
	const n = 50000
	log := bytes.Join(audittest.Mix(n, 1, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)), []byte("\n"))
	set, err := rules.Load(nil, rules.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range set.Rules() {
		if !r.Enabled {
			b.Logf("rule %s is disabled by default", r.ID)
		}
	}
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	alerts := 0
	for b.Loop() {
		e := rules.NewEngine(set, rules.EngineOptions{})
		st, err := source.Read(context.Background(), []string{"-"}, source.Options{Stdin: bytes.NewReader(log)}, func(ev *audit.Event) error {
			e.Process(ev, func(*audit.Alert) { alerts++ })
			return nil
		})
		if err != nil || st.Events != n || st.Malformed != 0 {
			b.Fatalf("read %+v: %v", st, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/event")
	if alerts == 0 {
		b.Fatal("the mix raised no alert: it holds execs and unusual secret reads")
	}
}
