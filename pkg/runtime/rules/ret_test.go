package rules

import (
	"testing"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// A rule can tell a refused syscall from one the kernel carried out.
func TestEventRet(t *testing.T) {
	s, err := LoadBytes("ret.yaml", []byte(`apiVersion: mamori.dev/v1alpha1
kind: RuntimeRule
metadata: {name: unshare-succeeded}
spec:
  title: unshare that worked
  severity: HIGH
  technique: T1611
  tactic: Privilege Escalation
  events: [namespace]
  condition: event.ret == 0 && ns.syscall == "unshare"
  output: "{{process.comm}} unshared"
`))
	if err != nil {
		t.Fatal(err)
	}
	ev := func(ret int64) *event.Event {
		return &event.Event{Kind: event.Namespace, Ret: ret, Process: event.Process{Comm: "x"},
			Namespace: &event.NamespaceInfo{Syscall: "unshare"}}
	}
	if n := len(s.Evaluate(ev(0))); n != 1 {
		t.Errorf("successful unshare: %d alerts", n)
	}
	if n := len(s.Evaluate(ev(-1))); n != 0 {
		t.Errorf("refused unshare (EPERM): %d alerts", n)
	}
}
