// Package proc keeps what the runtime sensor learned about live processes
// (binary, arguments, parent) so that events other than exec can say which
// program did them, and which program is a process's parent.
//
// The cache is bounded: an entry leaves on the process's exit, and when
// the cache is full the oldest entries go first, so memory stays flat
// under any churn of short-lived processes or pods.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// Entry is one process as the cache knows it.
type Entry struct {
	PID       uint32
	PPID      uint32
	StartTime uint64
	Comm      string
	Binary    string
	Args      []string
	CgroupID  uint64
	// seq orders entries for eviction.
	seq uint64
}

// Cache maps PIDs to entries. Not safe for concurrent use: the agent's
// event loop owns it.
type Cache struct {
	max     int
	entries map[uint32]*Entry
	// fifo holds (pid, seq) in insertion order; stale pairs are skipped.
	fifo    []fifoItem
	head    int
	seq     uint64
	evicted uint64
	// ProcRoot is where /proc is ("/proc", or "/host/proc" in a pod).
	procRoot string
}

type fifoItem struct {
	pid uint32
	seq uint64
}

// New returns a cache holding at most max processes (default 65536),
// reading /proc at procRoot (default "/proc") on a miss.
func New(max int, procRoot string) *Cache {
	if max <= 0 {
		max = 65536
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	return &Cache{max: max, entries: make(map[uint32]*Entry, min(max, 4096)), procRoot: procRoot}
}

// Len is the number of cached processes.
func (c *Cache) Len() int { return len(c.entries) }

// Evicted counts entries dropped because the cache was full.
func (c *Cache) Evicted() uint64 { return c.evicted }

func (c *Cache) put(e *Entry) {
	c.seq++
	e.seq = c.seq
	c.entries[e.PID] = e
	c.fifo = append(c.fifo, fifoItem{e.PID, e.seq})
	for len(c.entries) > c.max {
		it := c.fifo[c.head]
		c.head++
		if cur, ok := c.entries[it.pid]; ok && cur.seq == it.seq {
			delete(c.entries, it.pid)
			c.evicted++
		}
	}
	// Compact the FIFO once dead items (evicted, or exited: the normal
	// case, which never advances head) outnumber the live ones, keeping it
	// O(entries).
	if len(c.fifo) > 2*len(c.entries)+1024 {
		live := c.fifo[:0]
		for _, it := range c.fifo[c.head:] {
			if cur, ok := c.entries[it.pid]; ok && cur.seq == it.seq {
				live = append(live, it)
			}
		}
		c.fifo = live
		c.head = 0
	}
}

// Observe updates the cache from an event and fills the event's Parent,
// and for non-exec events the process's Binary and Args. It must see
// every event, in order.
func (c *Cache) Observe(e *event.Event) {
	p := &e.Process
	switch e.Kind {
	case event.Exec:
		c.put(&Entry{PID: p.PID, PPID: p.PPID, StartTime: p.StartTime, Comm: p.Comm, Binary: p.Binary, Args: p.Args, CgroupID: p.CgroupID})
	default:
		if cur := c.lookup(p.PID, p.StartTime); cur != nil {
			if p.Binary == "" {
				p.Binary, p.Args = cur.Binary, cur.Args
			}
		} else if ent, err := c.fromProc(p.PID); err == nil {
			// Started before the agent, or a fork that did not exec.
			if p.Binary == "" {
				p.Binary, p.Args = ent.Binary, ent.Args
			}
			if e.Kind != event.Exit {
				ent.StartTime, ent.CgroupID = p.StartTime, p.CgroupID
				c.put(ent)
			}
		}
	}
	if par := c.lookup(p.PPID, 0); par != nil {
		e.Parent = &event.ProcessRef{PID: par.PID, Comm: par.Comm, Binary: par.Binary, Args: par.Args}
	} else if ent, err := c.fromProc(p.PPID); err == nil {
		c.put(ent)
		e.Parent = &event.ProcessRef{PID: ent.PID, Comm: ent.Comm, Binary: ent.Binary, Args: ent.Args}
	}
	if e.Kind == event.Exit {
		if cur, ok := c.entries[p.PID]; ok && (p.StartTime == 0 || cur.StartTime == 0 || cur.StartTime == p.StartTime) {
			delete(c.entries, p.PID)
		}
	}
}

// lookup finds pid; a start time, when both sides know it, must match so
// a reused PID is not taken for its predecessor.
func (c *Cache) lookup(pid uint32, start uint64) *Entry {
	cur, ok := c.entries[pid]
	if !ok {
		return nil
	}
	if start != 0 && cur.StartTime != 0 && cur.StartTime != start {
		return nil
	}
	return cur
}

// Lookup returns the cached entry of pid.
func (c *Cache) Lookup(pid uint32) (*Entry, bool) {
	e, ok := c.entries[pid]
	return e, ok
}

// Seed reads every process under /proc into the cache (at start-up, so
// that processes older than the agent have binaries and parents).
func (c *Cache) Seed() error {
	des, err := os.ReadDir(c.procRoot)
	if err != nil {
		return fmt.Errorf("seed process cache: %w", err)
	}
	for _, d := range des {
		pid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err != nil || len(c.entries) >= c.max {
			continue
		}
		if ent, err := c.fromProc(uint32(pid)); err == nil {
			c.put(ent)
		}
	}
	return nil
}

func (c *Cache) fromProc(pid uint32) (*Entry, error) {
	if pid == 0 {
		return nil, os.ErrNotExist
	}
	st, err := ReadStat(c.procRoot, pid)
	if err != nil {
		return nil, err
	}
	dir := c.procRoot + "/" + strconv.FormatUint(uint64(pid), 10)
	ent := &Entry{PID: pid, PPID: st.PPID, Comm: st.Comm}
	ent.Binary, _ = os.Readlink(dir + "/exe")
	ent.Binary = strings.TrimSuffix(ent.Binary, " (deleted)")
	if cmd, err := os.ReadFile(dir + "/cmdline"); err == nil {
		cmd = bytes.TrimRight(cmd, "\x00")
		if len(cmd) > 0 {
			for _, a := range bytes.Split(cmd, []byte{0}) {
				ent.Args = append(ent.Args, string(a))
			}
		}
	}
	return ent, nil
}

// Stat is what /proc/<pid>/stat says of a process.
type Stat struct {
	Comm string
	PPID uint32
	// StartTime is when the process started, in nanoseconds since boot,
	// at the clock-tick (10 ms) resolution /proc gives.
	StartTime uint64
}

// ReadStat reads /proc/<pid>/stat under procRoot.
func ReadStat(procRoot string, pid uint32) (Stat, error) {
	name := procRoot + "/" + strconv.FormatUint(uint64(pid), 10) + "/stat"
	b, err := os.ReadFile(name)
	if err != nil {
		return Stat{}, err
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses.
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return Stat{}, fmt.Errorf("%s: no (comm) field", name)
	}
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("%s: %d fields after comm, want at least 20", name, len(f))
	}
	ppid, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return Stat{}, fmt.Errorf("%s: ppid %q: %w", name, f[1], err)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("%s: starttime %q: %w", name, f[19], err)
	}
	// USER_HZ is 100 on every Linux architecture mamori runs on.
	return Stat{Comm: string(b[open+1 : close]), PPID: uint32(ppid), StartTime: ticks * 10_000_000}, nil
}
