package rules

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

func userSet(t testing.TB) *Set {
	t.Helper()
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	u, err := Load("testdata/user")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Merge(b, u)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func inPod(ns, name string, labels map[string]string) *event.Container {
	return &event.Container{ID: "c1", Name: "app", Pod: &event.Pod{Namespace: ns, Name: name, UID: "u", Labels: labels}}
}

func TestMergeOverridesAndLists(t *testing.T) {
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	u, err := Load("testdata/user")
	if err != nil {
		t.Fatal(err)
	}
	// Alone, the user set has only its own rules.
	if got := len(u.Rules()); got != 2 {
		t.Errorf("user set: %d rules, want 2", got)
	}
	s := userSet(t)
	if len(s.Rules()) != len(b.Rules())+2 {
		t.Errorf("merged: %d rules, want %d", len(s.Rules()), len(b.Rules())+2)
	}
	if r := s.Get("container-drift"); r == nil || r.Enabled {
		t.Errorf("container-drift not disabled by the override: %+v", r)
	}
	if r := s.Get("kill-crypto-miners"); r == nil || !r.Enabled || r.Severity != "HIGH" || !r.KillInKernel {
		t.Errorf("kill-crypto-miners override not applied: %+v", r)
	}
	if r := b.Get("kill-crypto-miners"); r.Enabled || r.Severity != "CRITICAL" {
		t.Error("Merge changed the built-in set")
	}
	drift := &event.Event{Kind: event.Exec, Process: event.Process{Binary: "/x", UpperLayer: true}, Container: inPod("a", "b", nil)}
	if got := ruleIDs(s.Evaluate(drift)); len(got) != 0 {
		t.Errorf("disabled rule fired: %v", got)
	}
	if got := ruleIDs(b.Evaluate(drift)); !cmp.Equal(got, []string{"container-drift"}) {
		t.Errorf("built-in set: %v", got)
	}
	// The appended list reaches the built-in macro and rules.
	elvish := &event.Event{Kind: event.Exec, Process: event.Process{Binary: "/usr/bin/elvish", Args: []string{"elvish"}},
		Parent: &event.ProcessRef{Comm: "runc:[2:INIT]"}, Container: inPod("a", "b", nil)}
	if got := ruleIDs(s.Evaluate(elvish)); !cmp.Equal(got, []string{"shell-in-container"}) {
		t.Errorf("appended shell: %v", got)
	}
	if got := ruleIDs(b.Evaluate(elvish)); len(got) != 0 {
		t.Errorf("built-in set knows elvish: %v", got)
	}
	// Merging the user set twice defines its rules twice.
	if _, err := Merge(b, u, u); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("double merge: %v", err)
	}
}

func TestKillActions(t *testing.T) {
	s := userSet(t)
	curl := func(labels map[string]string, killed string) *event.Event {
		return &event.Event{Kind: event.Exec, Process: event.Process{Binary: "/usr/bin/curl"},
			Container: inPod("payments", "api-1", labels), Killed: killed}
	}
	tests := []struct {
		name   string
		e      *event.Event
		action string // "" for no alert
	}{
		{"selector matches, kernel killed", curl(map[string]string{"team": "payments"}, "payments-no-curl"), ActionKillKernel},
		{"selector matches, kernel missed: user space kills", curl(map[string]string{"team": "payments"}, ""), ActionKill},
		{"selector does not match", curl(map[string]string{"team": "web"}, ""), ""},
		{"no labels", curl(nil, ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			for _, a := range s.Evaluate(tt.e) {
				if a.Rule == "payments-no-curl" {
					got = a.Action
					if a.Mode != "enforce" || a.Output != "/usr/bin/curl in api-1 (map[team:payments]) killed" {
						t.Errorf("alert %+v", a)
					}
				}
			}
			if got != tt.action {
				t.Errorf("action %q, want %q", got, tt.action)
			}
		})
	}
	// The kernel killed a miner the condition also matches: one alert.
	miner := &event.Event{Kind: event.Exec, Process: event.Process{Binary: "/usr/bin/xmrig", Comm: "xmrig"},
		Container: inPod("a", "b", nil), Killed: "kill-crypto-miners"}
	var actions []string
	for _, a := range s.Evaluate(miner) {
		actions = append(actions, a.Rule+"="+a.Action)
	}
	if want := []string{"crypto-miner-exec=alert", "kill-crypto-miners=kill-kernel"}; !cmp.Equal(actions, want) {
		t.Errorf("miner: %v, want %v", actions, want)
	}
	// Monitor mode reports a kill rule's match as an alert.
	mon, err := LoadBytes("mon.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: RuntimeRule
metadata: {name: kill-monitored}
spec: {title: T, severity: LOW, events: [exec], action: kill, mode: monitor, condition: "true", output: "{{event.kind}}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := mon.Evaluate(&event.Event{Kind: event.Exec})
	if len(a) != 1 || a[0].Action != ActionAlert || a[0].Mode != "monitor" || a[0].Output != "exec" {
		t.Errorf("monitor kill rule: %+v", a)
	}
	if len(mon.KernelKills()) != 0 || mon.Get("kill-monitored").KillInKernel {
		t.Error("a rule without a kernel block kills in the kernel")
	}
}

func TestKernelKills(t *testing.T) {
	b, _ := Builtin()
	if k := b.KernelKills(); len(k) != 0 {
		t.Errorf("built-ins kill in the kernel by default: %+v", k)
	}
	s := userSet(t)
	kills := s.KernelKills()
	var got []string
	for _, k := range kills {
		sel := "<all>"
		if k.Selector != nil {
			sel = k.Selector.String()
		}
		got = append(got, fmt.Sprintf("%s names=%v binaries=%v containersOnly=%v selector=%s", k.Rule, k.Names, k.Binaries, k.ContainersOnly, sel))
	}
	want := []string{
		"kill-crypto-miners names=[xmrig xmrig-notls xmr-stak minerd cpuminer cpuminer-multi ccminer cgminer bfgminer ethminer kdevtmpfsi kinsing] binaries=[] containersOnly=true selector=<all>",
		"payments-no-curl names=[] binaries=[/usr/bin/curl] containersOnly=true selector=team=payments",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("KernelKills (-want +got):\n%s", d)
	}
}

func TestWatchedPaths(t *testing.T) {
	s := userSet(t)
	got := s.WatchedPaths()
	// /etc/ is read (ssh-keys) and written (write-below-system-dir): any;
	// /etc/shadow is then covered; /root/.ssh/ and /home/ come from the
	// user rule; /proc/ keeps its suffix.
	want := []PathWatch{
		{Prefix: "/bin/", Access: Write}, {Prefix: "/etc/", Access: AnyAccess}, {Prefix: "/home/", Access: Read},
		{Prefix: "/lib/", Access: Write}, {Prefix: "/lib64/", Access: Write}, {Prefix: "/proc/", Suffix: "/mem", Access: AnyAccess},
		{Prefix: "/root/.ssh/", Access: Read}, {Prefix: "/run/secrets/", Access: Read}, {Prefix: "/sbin/", Access: Write},
		{Prefix: "/usr/bin/", Access: Write}, {Prefix: "/usr/lib/", Access: Write}, {Prefix: "/usr/lib64/", Access: Write},
		{Prefix: "/usr/local/bin/", Access: Write}, {Prefix: "/usr/local/sbin/", Access: Write}, {Prefix: "/usr/sbin/", Access: Write},
		{Prefix: "/var/run/secrets/", Access: Read},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("WatchedPaths (-want +got):\n%s", d)
	}
}

func TestKinds(t *testing.T) {
	b, _ := Builtin()
	want := []event.Kind{event.Exec, event.Open, event.Connect, event.Privilege, event.Namespace, event.Module, event.Ptrace}
	if d := cmp.Diff(want, b.Kinds()); d != "" {
		t.Errorf("Kinds (-want +got):\n%s", d)
	}
	if got := b.Evaluate(&event.Event{Kind: event.Exit, Exit: &event.ExitInfo{Code: 1}}); got != nil {
		t.Errorf("exit event: %v", got)
	}
}

// TestMacrosOncePerEvent counts macro evaluations: a macro read by three
// rules is evaluated once per event, and again for the next event.
func TestMacrosOncePerEvent(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(`apiVersion: mamori.dev/v1alpha1
kind: RuntimeMacro
metadata: {name: counted}
spec: {condition: "process.args.exists(a, a == 'x')"}
`)
	for i := range 3 {
		fmt.Fprintf(&doc, `---
apiVersion: mamori.dev/v1alpha1
kind: RuntimeRule
metadata: {name: r%d}
spec: {title: T, severity: LOW, events: [exec], condition: "macros.counted && process.pid == %d", output: "{{process.pid}}"}
`, i, i)
	}
	s, err := LoadBytes("m.yaml", []byte(doc.String()))
	if err != nil {
		t.Fatal(err)
	}
	for pid := range uint32(3) {
		e := &event.Event{Kind: event.Exec, Process: event.Process{PID: pid, Args: []string{"x"}}}
		if got := ruleIDs(s.Evaluate(e)); !cmp.Equal(got, []string{fmt.Sprintf("r%d", pid)}) {
			t.Errorf("pid %d: %v", pid, got)
		}
		// The memo is per event: a new event without the arg matches nothing.
		e2 := &event.Event{Kind: event.Exec, Process: event.Process{PID: pid}}
		if got := s.Evaluate(e2); len(got) != 0 {
			t.Errorf("stale macro value: %v", ruleIDs(got))
		}
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	s := allEnabled(t)
	cases := readFixtures(t, "testdata/builtin/shell-in-container.yaml")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c := cases[(w+i)%len(cases)]
				e := c.Event
				fired := false
				for _, a := range s.Evaluate(&e) {
					fired = fired || a.Rule == "shell-in-container"
				}
				if fired != c.Fire {
					t.Errorf("%s: fired %v", c.Name, fired)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestNullsAndOutputs pins how values render and that null objects are
// errors only when read unguarded.
func TestNullsAndOutputs(t *testing.T) {
	s, err := LoadBytes("o.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: RuntimeRule
metadata: {name: out}
spec:
  title: T
  severity: LOW
  events: [exec]
  condition: "has(process.args) ? parent.binary != '' : true"
  output: "{{process.args}}|{{parent}}|{{pod.labels}}|{{event.time}}|{{process.pid + 1}}|{{container != null}}|{{basename('/a/b')}}|{{ip('10.0.0.1').family()}}"
`))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Get("out")
	a := s.Evaluate(&event.Event{Kind: event.Exec, Process: event.Process{PID: 41}})
	if len(a) != 1 {
		t.Fatalf("alerts %v", a)
	}
	if want := "<none>|<none>|<none>|0001-01-01T00:00:00Z|42|false|b|4"; a[0].Output != want {
		t.Errorf("output\n got %q\nwant %q", a[0].Output, want)
	}
	// parent is null and read: an evaluation error, no match.
	if a := s.Evaluate(&event.Event{Kind: event.Exec, Process: event.Process{Args: []string{"x"}}}); len(a) != 0 || r.EvalErrors() != 1 {
		t.Errorf("null parent read: %v, %d errors", a, r.EvalErrors())
	}
	e := &event.Event{Kind: event.Exec, Process: event.Process{Args: []string{"x", "y"}}, Parent: &event.ProcessRef{PID: 3, Binary: "/p"},
		Container: inPod("ns", "p", map[string]string{"a": "b"})}
	a = s.Evaluate(e)
	if len(a) != 1 || !strings.HasPrefix(a[0].Output, `x y|{"pid":3,"comm":"","binary":"/p"}|map[a:b]|`) {
		t.Errorf("output %+v", a)
	}
}

// TestVariableIndexes holds the activation's variable indexes to the
// order of variables.
func TestVariableIndexes(t *testing.T) {
	idx := map[string]int{"event": vEvent, "process": vProcess, "parent": vParent, "container": vContainer, "pod": vPod,
		"file": vFile, "net": vNet, "privilege": vPrivilege, "ns": vNamespace, "module": vModule, "ptrace": vPtrace,
		"memfd": vMemfd, "exit": vExit}
	if len(idx) != len(variables) {
		t.Fatalf("%d indexes for %d variables", len(idx), len(variables))
	}
	for i, v := range variables {
		if idx[v.name] != i {
			t.Errorf("variable %s is at %d, its index says %d", v.name, i, idx[v.name])
		}
	}
}
