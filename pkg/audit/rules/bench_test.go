package rules

import (
	"encoding/json"
	"testing"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/audittest"
)

// BenchmarkProcessMix judges a realistic mix of a busy cluster's events,
// decoded once, with every built-in rule. Run with -cpu 1.
func BenchmarkProcessMix(b *testing.B) {
	lines := audittest.Mix(20000, 1, t0)
	evs := make([]audit.Event, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	e := NewEngine(builtin(b), EngineOptions{})
	alerts := 0
	emit := func(*audit.Alert) { alerts++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e.Process(&evs[i%len(evs)], emit)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAlert: every event raises pod-exec (and renders its output).
func BenchmarkAlert(b *testing.B) {
	e := NewEngine(builtin(b), EngineOptions{})
	ev := execEvent("x", audit.StageResponseComplete, "alice")
	emit := func(*audit.Alert) {}
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = string(rune('a'+i%26)) + string(rune(i))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.AuditID = ids[i%len(ids)] // defeat dedupe
		e.Process(ev, emit)
	}
}

// BenchmarkPrivilegedPod: a pod create with a body, judged by the checks
// of mamori scan config.
func BenchmarkPrivilegedPod(b *testing.B) {
	var cases []builtinCase
	readYAML(b, "builtin.yaml", &cases)
	var ev *audit.Event
	for i := range cases {
		if cases[i].Name == "privileged pod" {
			ev = &cases[i].Event
			fill(ev, i)
		}
	}
	e := NewEngine(builtin(b), EngineOptions{})
	n := 0
	emit := func(*audit.Alert) { n++ }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.AuditID = string(rune(i)) + "-" + string(rune(i>>16))
		e.Process(ev, emit)
	}
	if n == 0 {
		b.Fatal("no alert")
	}
}
