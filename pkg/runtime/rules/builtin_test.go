package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// fixtureCase is one event of testdata/builtin/<rule>.yaml.
type fixtureCase struct {
	Name   string      `json:"name"`
	Fire   bool        `json:"fire"`
	Output string      `json:"output,omitempty"`
	Event  event.Event `json:"event"`
}

func readFixtures(t testing.TB, file string) []fixtureCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []fixtureCase
	if err := yaml.UnmarshalStrict(data, &cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cases
}

// allEnabled is the built-in set with every rule enabled, so that the
// default-off ones are tested too.
func allEnabled(t testing.TB) *Set {
	t.Helper()
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for _, r := range b.Rules() {
		if !r.Enabled {
			doc.WriteString("apiVersion: mamori.dev/v1alpha1\nkind: RuntimeRuleOverride\nmetadata: {name: " + r.ID + "}\nspec: {enabled: true}\n---\n")
		}
	}
	over, err := LoadBytes("enable.yaml", []byte(doc.String()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Merge(b, over)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBuiltinRules runs every built-in rule on its fixtures: each event
// marked fire must raise that rule's alert (with the output given), each
// near miss must not, and no condition may fail to evaluate on any of
// them (every null is guarded).
func TestBuiltinRules(t *testing.T) {
	s := allEnabled(t)
	files, _ := filepath.Glob("testdata/builtin/*.yaml")
	have := map[string]bool{}
	for _, f := range files {
		have[strings.TrimSuffix(filepath.Base(f), ".yaml")] = true
	}
	for _, r := range s.Rules() {
		if !have[r.ID] {
			t.Errorf("built-in rule %s has no testdata/builtin/%s.yaml", r.ID, r.ID)
		}
		if r.Technique == "" || r.Tactic == "" {
			t.Errorf("built-in rule %s: no MITRE technique or tactic", r.ID)
		}
	}
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), ".yaml")
		r := s.Get(id)
		if r == nil {
			t.Errorf("%s: no built-in rule %s", f, id)
			continue
		}
		cases := readFixtures(t, f)
		var fires, misses int
		for _, c := range cases {
			t.Run(id+"/"+c.Name, func(t *testing.T) {
				e := c.Event
				var got *event.Alert
				alerts := s.Evaluate(&e)
				for i := range alerts {
					if alerts[i].Rule == id {
						got = &alerts[i]
					}
				}
				switch {
				case c.Fire && got == nil:
					t.Fatalf("%s did not fire (alerts: %v)", id, ruleIDs(alerts))
				case !c.Fire && got != nil:
					t.Fatalf("%s fired on a near miss: %s", id, got.Output)
				case got == nil:
					return
				}
				if c.Output != "" && got.Output != c.Output {
					t.Errorf("output\n got %q\nwant %q", got.Output, c.Output)
				}
				if got.Severity != r.Severity || got.Technique != r.Technique || got.Tactic != r.Tactic || got.Title != r.Title || got.Event != &e {
					t.Errorf("alert metadata %+v does not match rule %s", got, id)
				}
			})
			if c.Fire {
				fires++
			} else {
				misses++
			}
		}
		if fires == 0 || misses == 0 {
			t.Errorf("%s: want at least one event that fires and one near miss (have %d, %d)", f, fires, misses)
		}
	}
	for _, r := range s.Rules() {
		if n := r.EvalErrors(); n > 0 {
			t.Errorf("rule %s: %d evaluation errors on the fixtures (an unguarded null?)", r.ID, n)
		}
	}
}

func ruleIDs(alerts []event.Alert) []string {
	var ids []string
	for _, a := range alerts {
		ids = append(ids, a.Rule)
	}
	return ids
}
