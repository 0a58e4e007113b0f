package proc

import (
	"os"
	"runtime"
	"testing"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

func exec(pid, ppid uint32, bin string) *event.Event {
	return &event.Event{Kind: event.Exec, Process: event.Process{PID: pid, PPID: ppid, Binary: bin, Comm: bin, StartTime: uint64(pid) * 10}}
}

func TestParentAndExit(t *testing.T) {
	c := New(10, t.TempDir()) // empty /proc: misses stay misses
	c.Observe(exec(100, 1, "/bin/sh"))
	child := exec(101, 100, "/usr/bin/curl")
	c.Observe(child)
	if child.Parent == nil || child.Parent.Binary != "/bin/sh" {
		t.Fatalf("parent %+v", child.Parent)
	}
	open := &event.Event{Kind: event.Open, Process: event.Process{PID: 101, PPID: 100, StartTime: 1010}}
	c.Observe(open)
	if open.Process.Binary != "/usr/bin/curl" {
		t.Errorf("open's binary %q", open.Process.Binary)
	}
	// A reused PID with another start time is not the cached process.
	reused := &event.Event{Kind: event.Open, Process: event.Process{PID: 101, PPID: 100, StartTime: 999}}
	c.Observe(reused)
	if reused.Process.Binary != "" {
		t.Errorf("reused pid took %q", reused.Process.Binary)
	}
	c.Observe(&event.Event{Kind: event.Exit, Process: event.Process{PID: 101, StartTime: 1010}})
	if _, ok := c.Lookup(101); ok {
		t.Error("exited process still cached")
	}
}

func TestBounded(t *testing.T) {
	c := New(100, t.TempDir())
	for i := range uint32(100_000) {
		c.Observe(exec(1000+i, 1, "/bin/true"))
		if i%3 != 0 { // most exit; a third leak (their exits were lost)
			c.Observe(&event.Event{Kind: event.Exit, Process: event.Process{PID: 1000 + i, StartTime: uint64(1000+i) * 10}})
		}
	}
	if c.Len() > 100 {
		t.Errorf("cache holds %d entries, bound 100", c.Len())
	}
	if cap(c.fifo) > 10_000 {
		t.Errorf("eviction queue grew to %d", cap(c.fifo))
	}
	if c.Evicted() == 0 {
		t.Error("nothing evicted although exits were lost")
	}
}

// Every exit seen, the normal case: nothing is evicted and the queue
// must not grow with the processes that came and went.
func TestFlatWhenExitsSeen(t *testing.T) {
	c := New(100, t.TempDir())
	for i := range uint32(100_000) {
		c.Observe(exec(1000+i, 1, "/bin/true"))
		c.Observe(&event.Event{Kind: event.Exit, Process: event.Process{PID: 1000 + i, StartTime: uint64(1000+i) * 10}})
	}
	if c.Len() != 0 || cap(c.fifo) > 10_000 {
		t.Errorf("after 100,000 processes: %d entries, queue capacity %d", c.Len(), cap(c.fifo))
	}
}

func TestSeedFromProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	c := New(0, "")
	if err := c.Seed(); err != nil {
		t.Fatal(err)
	}
	self, ok := c.Lookup(uint32(os.Getpid()))
	if !ok {
		t.Fatal("own process not seeded")
	}
	exe, _ := os.Executable()
	if self.Binary != exe || len(self.Args) == 0 || self.PPID != uint32(os.Getppid()) {
		t.Errorf("seeded %+v, want binary %s ppid %d", self, exe, os.Getppid())
	}
}

func BenchmarkObserveExecExit(b *testing.B) {
	c := New(4096, b.TempDir())
	b.ReportAllocs()
	for i := range b.N {
		pid := uint32(i%100000) + 2
		c.Observe(exec(pid, 1, "/bin/true"))
		c.Observe(&event.Event{Kind: event.Exit, Process: event.Process{PID: pid, StartTime: uint64(pid) * 10}})
	}
}
