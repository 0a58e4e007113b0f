package audittest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// TestMix checks that the mix is what the benchmarks claim: valid events,
// the same for the same seed, and mostly reads by the cluster's own
// components.
func TestMix(t *testing.T) {
	const n = 20000
	start := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	lines := Mix(n, 1, start)
	again := Mix(n, 1, start)
	reads, system, bodies := 0, 0, 0
	for i, l := range lines {
		if !bytes.Equal(l, again[i]) {
			t.Fatalf("line %d differs between two runs with one seed", i+1)
		}
		var e audit.Event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %d: %v\n%s", i+1, err, l)
		}
		if e.AuditID == "" || e.Verb == "" || e.User.Username == "" || e.StageTimestamp.Before(start) {
			t.Fatalf("line %d lacks fields: %s", i+1, l)
		}
		switch e.Verb {
		case "get", "list", "watch":
			reads++
		}
		if audit.IsSystemUser(e.User.Username) || bytes.Contains(l, []byte(`"system:serviceaccount:kube-system:`)) {
			system++
		}
		if len(e.RequestObject) > 0 {
			bodies++
		}
	}
	if reads*100/n < 55 || system*100/n < 80 || bodies == 0 || bodies*100/n > 10 {
		t.Errorf("mix: %d%% reads, %d%% by system components, %d%% with bodies; want ≥55%%, ≥80%%, 0–10%%", reads*100/n, system*100/n, bodies*100/n)
	}
}
