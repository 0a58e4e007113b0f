package rules

import (
	"testing"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// BenchmarkEvaluate runs every built-in rule that sees exec events on an
// exec in a pod that matches none of them (the common case: every
// condition runs to the end).
func BenchmarkEvaluate(b *testing.B) {
	s := allEnabled(b)
	e := &event.Event{Kind: event.Exec,
		Process: event.Process{PID: 4242, PPID: 4200, Comm: "nginx", Binary: "/usr/sbin/nginx",
			Args: []string{"nginx", "-g", "daemon off;"}, CgroupID: 77},
		Parent:    &event.ProcessRef{PID: 4200, Comm: "containerd-shim", Binary: "/usr/bin/containerd-shim-runc-v2"},
		Container: inPod("shop", "web-7d4", map[string]string{"app": "web"}),
	}
	if a := s.Evaluate(e); len(a) != 0 {
		b.Fatalf("alerts: %v", ruleIDs(a))
	}
	b.Logf("%d exec rules", len(s.byKind[event.Exec]))
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(e)
	}
}

// BenchmarkEvaluateAlert is an exec that fires shell-in-container: the
// cost of rendering an alert's output.
func BenchmarkEvaluateAlert(b *testing.B) {
	s := allEnabled(b)
	e := &event.Event{Kind: event.Exec,
		Process:   event.Process{PID: 4242, Comm: "bash", Binary: "/bin/bash", Args: []string{"bash"}},
		Parent:    &event.ProcessRef{PID: 4200, Comm: "runc:[2:INIT]", Binary: "/usr/bin/runc"},
		Container: inPod("shop", "web-7d4", nil),
	}
	if a := s.Evaluate(e); len(a) != 1 {
		b.Fatalf("alerts: %v", ruleIDs(a))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(e)
	}
}

// BenchmarkEvaluateOpen is a read of /etc/passwd: the open rules' prefix
// list comprehensions.
func BenchmarkEvaluateOpen(b *testing.B) {
	s := allEnabled(b)
	e := &event.Event{Kind: event.Open, Process: event.Process{PID: 1, Binary: "/usr/bin/id"},
		File: &event.File{Path: "/etc/passwd"}, Container: inPod("shop", "web-7d4", nil)}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(e)
	}
}
