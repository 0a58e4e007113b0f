package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/exception"
)

var t0 = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

// readYAML decodes a testdata file of YAML into v through JSON, as the
// audit log carries events.
func readYAML(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := json.Unmarshal(js, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// fill gives an event the fields every case would repeat.
func fill(e *audit.Event, i int) {
	if e.AuditID == "" {
		e.AuditID = fmt.Sprintf("id-%d", i)
	}
	if e.Stage == "" {
		e.Stage = audit.StageResponseComplete
	}
	if e.Level == "" {
		e.Level = audit.LevelMetadata
	}
	if e.StageTimestamp.IsZero() {
		e.StageTimestamp = t0.Add(time.Duration(i) * time.Second)
	}
	if e.ObjectRef != nil && e.ObjectRef.APIVersion == "" {
		e.ObjectRef.APIVersion = "v1"
	}
}

func builtin(t testing.TB) *Set {
	t.Helper()
	s, err := Load(nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(e *Engine, evs ...*audit.Event) []*audit.Alert {
	var out []*audit.Alert
	for _, ev := range evs {
		e.Process(ev, func(a *audit.Alert) { out = append(out, a) })
	}
	return out
}

func rulesOf(as []*audit.Alert) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.Rule)
	}
	return ids
}

type builtinCase struct {
	Name  string      `json:"name"`
	Rule  string      `json:"rule"`
	Fire  bool        `json:"fire"`
	Event audit.Event `json:"event"`
}

// TestBuiltin runs each built-in rule's attack and near-miss events, and
// checks that every built-in rule has at least one of each it fires on.
func TestBuiltin(t *testing.T) {
	s := builtin(t)
	var cases []builtinCase
	readYAML(t, "builtin.yaml", &cases)
	fired := map[string]bool{}
	for i, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			fill(&c.Event, i)
			e := NewEngine(s, EngineOptions{})
			as := run(e, &c.Event)
			got := slices.Contains(rulesOf(as), c.Rule)
			if got != c.Fire {
				t.Fatalf("%s fired = %v, want %v (alerts %v, eval errors %v)", c.Rule, got, c.Fire, rulesOf(as), e.Stats().EvalErrors)
			}
			if len(e.Stats().EvalErrors) > 0 {
				t.Errorf("eval errors: %v", e.Stats().EvalErrors)
			}
			for _, a := range as {
				if a.Rule == c.Rule {
					fired[c.Rule] = true
					if strings.Contains(a.Output, "{{") || a.Technique == "" || a.TechniqueName == "" || a.Tactic == "" {
						t.Errorf("alert %+v", a)
					}
				}
			}
		})
	}
	for _, r := range s.Rules() {
		if r.ID != "source-ip-not-allowed" && r.ID != "forbidden-burst" && !fired[r.ID] {
			t.Errorf("built-in rule %s has no firing case in testdata/builtin.yaml", r.ID)
		}
	}
}

// TestQuiet: the ordinary traffic of a cluster raises nothing.
func TestQuiet(t *testing.T) {
	var evs []audit.Event
	readYAML(t, "quiet.yaml", &evs)
	e := NewEngine(builtin(t), EngineOptions{})
	for i := range evs {
		fill(&evs[i], i)
		for _, a := range run(e, &evs[i]) {
			t.Errorf("quiet event %d raised %s: %s", i, a.Rule, a.Output)
		}
	}
	if st := e.Stats(); len(st.EvalErrors) > 0 || st.Events != len(evs) {
		t.Errorf("stats %+v", st)
	}
}

func execEvent(id, stage, user string) *audit.Event {
	ev := &audit.Event{AuditID: id, Stage: stage, Verb: "create", Level: audit.LevelMetadata,
		User:           audit.UserInfo{Username: user},
		ObjectRef:      &audit.ObjectReference{Resource: "pods", Subresource: "exec", Namespace: "shop", Name: "web-1"},
		ResponseStatus: &audit.Status{Code: 101}, StageTimestamp: t0}
	return ev
}

// TestDedupe: one exec passes ResponseStarted then ResponseComplete; it
// raises once.
func TestDedupe(t *testing.T) {
	e := NewEngine(builtin(t), EngineOptions{})
	as := run(e, execEvent("a", audit.StageResponseStarted, "alice"), execEvent("a", audit.StageResponseComplete, "alice"),
		execEvent("b", audit.StageResponseComplete, "alice"), execEvent("c", audit.StageRequestReceived, "alice"))
	if got := rulesOf(as); !slices.Equal(got, []string{"pod-exec", "pod-exec"}) || as[0].AuditID != "a" || as[1].AuditID != "b" {
		t.Errorf("alerts %v", got)
	}
	if st := e.Stats(); st.Alerts["pod-exec"] != 2 || st.Events != 4 {
		t.Errorf("stats %+v", st)
	}

	// The API server takes the audit ID from a client's Audit-ID header:
	// requests that reuse one are still each judged.
	e = NewEngine(builtin(t), EngineOptions{})
	var evs []*audit.Event
	for i := range 25 {
		ev := forbidden("spoofed", "mallory", t0.Add(time.Duration(i)*time.Second))
		ev.RequestReceivedTimestamp = ev.StageTimestamp
		evs = append(evs, ev)
		x := execEvent("spoofed", audit.StageResponseComplete, "mallory")
		x.ObjectRef.Name = fmt.Sprintf("web-%d", i)
		x.RequestURI = "/api/v1/namespaces/shop/pods/" + x.ObjectRef.Name + "/exec"
		evs = append(evs, x)
	}
	as = run(e, evs...)
	if st := e.Stats(); st.Alerts["forbidden-burst"] != 1 || st.Alerts["pod-exec"] != 25 {
		t.Errorf("one Audit-ID on every request: %v alerts, want a burst and 25 execs", st.Alerts)
	}
}

// TestExceptions: an entry with users quiets matching users and counts
// the suppression; an expired one does not.
func TestExceptions(t *testing.T) {
	src := `exceptions:
- check: pod-exec
  users: ["system:serviceaccount:ci:*"]
  resources: [{kind: pods, namespace: shop}]
  reason: CI debugs
  owner: platform
  expires: 2027-01-31
- check: pod-exec
  users: [bob]
  reason: old
  owner: sec
  expires: 2026-01-31
`
	x, errs := exception.Load("ignore.yaml", []byte(src), "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var onSuppressed []string
	e := NewEngine(builtin(t), EngineOptions{Exceptions: x, Now: func() time.Time { return t0 },
		OnSuppressed: func(a *audit.Alert) { onSuppressed = append(onSuppressed, a.Rule+":"+a.AuditID) }})
	imp := execEvent("4", audit.StageResponseComplete, "alice")
	imp.ImpersonatedUser = &audit.UserInfo{Username: "system:serviceaccount:ci:runner"}
	as := run(e,
		execEvent("1", audit.StageResponseComplete, "system:serviceaccount:ci:runner"), // excepted
		execEvent("2", audit.StageResponseComplete, "system:serviceaccount:prod:x"),    // not
		execEvent("3", audit.StageResponseComplete, "bob"),                             // expired: raised
		imp, // not excepted: the exception names the impersonated user, not alice
	)
	var got []string
	for _, a := range as {
		got = append(got, a.Rule+":"+a.AuditID)
	}
	// An exception covers the authenticated user only: alice impersonating
	// the excepted CI account does not inherit its exception.
	want := []string{"pod-exec:2", "pod-exec:3", "pod-exec:4", "impersonation:4"}
	if !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	if st := e.Stats(); st.Suppressed["pod-exec"] != 1 || st.Alerts["pod-exec"] != 3 {
		t.Errorf("stats %+v", st)
	}
	if want := []string{"pod-exec:1"}; !slices.Equal(onSuppressed, want) {
		t.Errorf("OnSuppressed saw %v, want %v", onSuppressed, want)
	}
}

func forbidden(id string, user string, at time.Time) *audit.Event {
	return &audit.Event{AuditID: id, Stage: audit.StageResponseComplete, Verb: "get", Level: audit.LevelMetadata,
		User: audit.UserInfo{Username: user}, RequestURI: "/api/v1/secrets",
		ObjectRef:      &audit.ObjectReference{Resource: "secrets"},
		ResponseStatus: &audit.Status{Code: 403}, StageTimestamp: at}
}

// TestAggregation: forbidden-burst raises at the 20th refusal within a
// minute of event time, once per burst, and again after the window.
func TestAggregation(t *testing.T) {
	s := builtin(t)
	n := 0
	burst := func(e *Engine, user string, count int, start time.Time, step time.Duration) []*audit.Alert {
		var evs []*audit.Event
		for i := range count {
			n++
			evs = append(evs, forbidden(fmt.Sprint(n), user, start.Add(time.Duration(i)*step)))
		}
		return run(e, evs...)
	}
	e := NewEngine(s, EngineOptions{})
	if as := burst(e, "mallory", 19, t0, time.Second); len(as) != 0 {
		t.Fatalf("19 refusals raised %v", rulesOf(as))
	}
	as := burst(e, "mallory", 1, t0.Add(19*time.Second), 0)
	if len(as) != 1 || as[0].Count != 20 || len(as[0].AuditIDs) != 10 || as[0].AuditIDs[0] != "1" || as[0].Window != "1m0s" {
		t.Fatalf("20th refusal: %+v", as)
	}
	if as := burst(e, "mallory", 40, t0.Add(20*time.Second), time.Second); len(as) != 0 {
		t.Fatalf("same burst raised again: %d", len(as))
	}
	// Past the window (quiet until t0+79s): a new burst raises again.
	if as := burst(e, "mallory", 20, t0.Add(2*time.Minute), time.Second); len(as) != 1 {
		t.Fatalf("new burst: %d alerts", len(as))
	}
	// Spread out, the window never holds 20.
	e = NewEngine(s, EngineOptions{})
	if as := burst(e, "eve", 200, t0, 4*time.Second); len(as) != 0 {
		t.Fatalf("slow refusals raised %d", len(as))
	}
	// Keys are per user.
	e = NewEngine(s, EngineOptions{})
	for i := range 20 {
		if as := run(e, forbidden(fmt.Sprint("u", i), fmt.Sprint("user", i), t0)); len(as) != 0 {
			t.Fatal("one refusal each raised")
		}
	}
}

// TestAggregationBounded: MaxKeys bounds the state; expired keys go.
func TestAggregationBounded(t *testing.T) {
	e := NewEngine(builtin(t), EngineOptions{MaxKeys: 100})
	for i := range 10000 {
		run(e, forbidden(fmt.Sprint(i), fmt.Sprint("user", i), t0))
		if k := e.AggregationKeys(); k > 100 {
			t.Fatalf("%d keys", k)
		}
	}
	run(e, forbidden("late", "late", t0.Add(time.Hour)))
	if k := e.AggregationKeys(); k != 1 {
		t.Errorf("after the window passed: %d keys, want 1", k)
	}
}

// TestOutputNulls: output fields of absent objects render <none>.
func TestOutputNulls(t *testing.T) {
	s, err := LoadBytes("r.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: AuditRule
metadata: {name: all}
spec:
  title: all
  severity: LOW
  match: {level: RequestResponse}
  condition: "true"
  output: '{{objectRef.name}}|{{impersonatedUser.username}}|{{responseStatus.code}}|{{requestObject.spec.x}}|{{responseObject.a}}|{{checks}}|{{annotations.x}}|{{user.groups}}'
`), LoadOptions{NoBuiltin: true})
	if err != nil {
		t.Fatal(err)
	}
	as := run(NewEngine(s, EngineOptions{}), &audit.Event{AuditID: "1", Stage: audit.StageResponseComplete, Verb: "get", RequestURI: "/version"})
	if len(as) != 1 || as[0].Output != "<none>|<none>|<none>|<none>|<none>|<none>|<none>|<none>" {
		t.Errorf("alerts %+v", as)
	}
}

// TestRequirements: enabled rules only, with their level.
func TestRequirements(t *testing.T) {
	s, err := LoadBytes("o.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: AuditRuleOverride
metadata: {name: node-proxy}
spec: {enabled: false}
`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string]audit.Requirement{}
	for _, r := range s.Requirements() {
		byRule[r.Rule] = r
	}
	if _, ok := byRule["node-proxy"]; ok {
		t.Error("disabled rule required")
	}
	if r := byRule["privileged-pod"]; r.Level != audit.LevelRequestResponse || !slices.Contains(r.Verbs, "create") || !slices.Contains(r.Verbs, "patch") {
		t.Errorf("privileged-pod: %+v", r)
	}
	if r := byRule["anonymous-allowed"]; len(r.NonResourceURLs) == 0 {
		t.Errorf("anonymous-allowed: %+v", r)
	}
}

// TestListsOption: --list replaces a list: allowed_source_networks turns
// source-ip-not-allowed on, secret_readers quiets a reader.
func TestListsOption(t *testing.T) {
	s, err := Load(nil, LoadOptions{Lists: map[string][]string{
		"allowed_source_networks": {"10.0.0.0/8"}, "secret_readers": {"system:serviceaccount:vault:*"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(s, EngineOptions{})
	mk := func(id, user, ip string) *audit.Event {
		return &audit.Event{AuditID: id, Stage: audit.StageResponseComplete, Verb: "get", User: audit.UserInfo{Username: user},
			SourceIPs: []string{ip}, ObjectRef: &audit.ObjectReference{Resource: "secrets", Namespace: "v", Name: "s"},
			ResponseStatus: &audit.Status{Code: 200}}
	}
	got := rulesOf(run(e, mk("1", "system:serviceaccount:vault:vault", "10.1.2.3"), mk("2", "system:serviceaccount:x:y", "192.0.2.1")))
	if !slices.Equal(got, []string{"secret-read-unusual", "source-ip-not-allowed"}) {
		t.Errorf("alerts %v", got)
	}
	if _, err := Load(nil, LoadOptions{Lists: map[string][]string{"nope": {"x"}}}); err == nil || !strings.Contains(err.Error(), "--list nope: no such list") {
		t.Errorf("unknown list: %v", err)
	}
}
