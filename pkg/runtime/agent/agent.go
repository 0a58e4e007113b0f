// Package agent is mamori's runtime agent: it runs the eBPF sensor with
// the filters and kill sets its rules need, follows every event through
// the process cache and container/pod enrichment, evaluates the rules,
// carries out their actions (alert, or kill in the kernel or from user
// space) and hands alerts to the outputs, counting everything it sees,
// loses and does.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/runtime/output"
	"github.com/mamori-dev/mamori/pkg/runtime/proc"
	"github.com/mamori-dev/mamori/pkg/runtime/rules"
	"github.com/mamori-dev/mamori/pkg/runtime/sensor"
)

// Resolver attributes a cgroup to a container and pod (enrich.Resolver).
type Resolver interface {
	Resolve(cgroupID uint64) (c *event.Container, host bool)
}

// Matcher lists the cgroups of known containers whose pods match a
// selector, for selector-scoped in-kernel kill rules (enrich.Resolver).
type Matcher interface {
	Matching(sel labels.Selector) ([]uint64, error)
}

// Options configure an Agent.
type Options struct {
	// Rules are evaluated on every event; nil runs without rules (trace).
	Rules *rules.Set
	// Resolver attributes events to containers and pods; nil leaves
	// Container unset and Host false.
	Resolver Resolver
	// Sink receives alerts; nil discards them.
	Sink output.Sink
	// Metrics, when set, counts events and alerts.
	Metrics *output.Metrics
	// OnEvent, when set, sees every enriched event (trace, advise).
	OnEvent func(*event.Event)
	Logger  *slog.Logger
	// Kinds limits the sensors attached; nil means those the rules need
	// (all kinds when there are no rules).
	Kinds []event.Kind
	// Paths are watched for opens besides the rules' paths.
	Paths []sensor.PathWatch
	// Cgroups, when not nil, limits the sensor to these cgroups.
	Cgroups []uint64
	// Syscalls counts syscalls per cgroup in Cgroups (advise seccomp).
	Syscalls bool
	// ModuleAttempts catches module loads with the raw sys_enter hook on
	// kernels without module syscall tracepoints.
	ModuleAttempts bool
	// ProcessCache bounds the process cache (default 65536); ProcRoot is
	// where the host's /proc is mounted (default /proc).
	ProcessCache int
	ProcRoot     string
	// RingBytes sizes the ring buffer (default 8 MiB).
	RingBytes int
}

// Agent is a running runtime agent.
type Agent struct {
	opts     Options
	log      *slog.Logger
	sensor   *sensor.Sensor
	cache    *proc.Cache
	cached   atomic.Int64
	events   atomic.Uint64
	alerts   atomic.Uint64
	mu       sync.Mutex
	degraded map[string]string
	// syncMu serialises SyncKillCgroups: the pod watch and Run both call it,
	// and each call replaces the kernel's set.
	syncMu sync.Mutex
}

// New loads the sensor for the rules and options. Close releases it.
func New(ctx context.Context, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &Agent{opts: opts, log: opts.Logger, cache: proc.New(opts.ProcessCache, opts.ProcRoot),
		degraded: map[string]string{}}
	so := sensor.Options{
		Kinds:          opts.Kinds,
		Paths:          opts.Paths,
		Cgroups:        opts.Cgroups,
		Syscalls:       opts.Syscalls,
		ModuleAttempts: opts.ModuleAttempts,
		RingBytes:      opts.RingBytes,
		Stats:          true,
	}
	if rs := opts.Rules; rs != nil {
		if so.Kinds == nil {
			so.Kinds = append(rs.Kinds(), event.Exec, event.Exit) // the process cache needs both
		}
		for _, p := range rs.WatchedPaths() {
			so.Paths = append(so.Paths, kernelPath(p))
		}
		sendSignal := sensor.HaveSendSignal()
		for _, k := range rs.KernelKills() {
			if !sendSignal {
				a.degrade(k.Rule, "the kernel lacks bpf_send_signal: killing from user space after the exec event, so the program runs briefly")
				continue
			}
			so.Kills = append(so.Kills, sensor.Kill{Rule: k.Rule, Names: k.Names, Binaries: k.Binaries,
				ContainersOnly: k.ContainersOnly, Selector: k.Selector != nil && !k.Selector.Empty()})
		}
		for _, r := range rs.Rules() {
			if r.Enabled && r.Action == rules.Kill && r.Mode == rules.Enforce && !r.KillInKernel {
				a.log.Info("kill rule kills from user space", "rule", r.ID)
			}
		}
	}
	s, err := sensor.Load(ctx, so)
	if err != nil {
		return nil, err
	}
	a.sensor = s
	for _, h := range s.Hooks() {
		if !h.Attached {
			a.log.Warn("kernel hook unavailable", "hook", h.Name, "kind", h.Kind, "reason", h.Error)
		}
	}
	if err := a.cache.Seed(); err != nil {
		a.log.Warn("process cache not seeded", "err", err)
	}
	a.cached.Store(int64(a.cache.Len()))
	return a, nil
}

// kernelPath maps a rule's path watch to the sensor's filter. A suffix
// other than /proc/*/mem is checked by the rule's condition, so the
// kernel watches the prefix.
func kernelPath(p rules.PathWatch) sensor.PathWatch {
	acc := sensor.Any
	switch p.Access {
	case rules.Read:
		acc = sensor.Read
	case rules.Write:
		acc = sensor.Write
	}
	if p.Prefix == "/proc/" && p.Suffix == "/mem" {
		return sensor.PathWatch{Prefix: "/proc/*/mem", Access: acc}
	}
	return sensor.PathWatch{Prefix: p.Prefix, Access: acc}
}

func (a *Agent) degrade(rule, why string) {
	a.mu.Lock()
	a.degraded[rule] = why
	a.mu.Unlock()
	a.log.Error("enforcing rule cannot kill in the kernel", "rule", rule, "reason", why)
	if a.opts.Metrics != nil {
		a.opts.Metrics.SetDegraded(rule, true)
	}
}

// Degraded returns the enforcing rules that cannot enforce as written, and why.
func (a *Agent) Degraded() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.degraded))
	for k, v := range a.degraded {
		out[k] = v
	}
	return out
}

// Sensor returns the loaded sensor (hooks, lost counters, syscall counts).
func (a *Agent) Sensor() *sensor.Sensor { return a.sensor }

// ProcessCacheEntries is the process cache's size, safe to read from any goroutine.
func (a *Agent) ProcessCacheEntries() int { return int(a.cached.Load()) }

// Counts returns the events processed and alerts raised so far.
func (a *Agent) Counts() (events, alerts uint64) { return a.events.Load(), a.alerts.Load() }

// Run processes events until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.syncKillCgroups(); err != nil {
		return err
	}
	return a.sensor.Read(ctx, func(e *event.Event) { a.handle(ctx, e) })
}

// SyncKillCgroups pushes the cgroups of pods matching each selector-scoped
// in-kernel kill rule into the kernel; call it when pods change.
func (a *Agent) SyncKillCgroups() error { return a.syncKillCgroups() }

func (a *Agent) syncKillCgroups() error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	m, ok := a.opts.Resolver.(Matcher)
	if a.opts.Rules == nil {
		return nil
	}
	for _, k := range a.opts.Rules.KernelKills() {
		if k.Selector == nil || k.Selector.Empty() {
			continue
		}
		if _, bad := a.Degraded()[k.Rule]; bad {
			continue
		}
		var ids []uint64
		if ok {
			var err error
			if ids, err = m.Matching(k.Selector); err != nil {
				return err
			}
		}
		if err := a.sensor.SetKillCgroups(k.Rule, ids); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) handle(ctx context.Context, e *event.Event) {
	a.events.Add(1)
	a.cache.Observe(e)
	a.cached.Store(int64(a.cache.Len()))
	if r := a.opts.Resolver; r != nil {
		e.Container, e.Host = r.Resolve(e.Process.CgroupID)
	}
	if m := a.opts.Metrics; m != nil {
		m.Event(e)
	}
	if a.opts.OnEvent != nil {
		a.opts.OnEvent(e)
	}
	if a.opts.Rules == nil {
		return
	}
	for _, al := range a.opts.Rules.Evaluate(e) {
		al := al
		a.act(&al)
		a.alerts.Add(1)
		if m := a.opts.Metrics; m != nil {
			m.Alert(&al)
		}
		if s := a.opts.Sink; s != nil {
			if err := s.Write(ctx, &al); err != nil && !errors.Is(err, output.ErrQueueFull) {
				a.log.Error("alert not delivered", "rule", al.Rule, "err", err)
			}
		}
	}
}

// act carries out a kill: the kernel already did it when the event says
// so; otherwise an enforcing kill rule kills from user space, after making
// sure the PID still names the process the event came from.
func (a *Agent) act(al *event.Alert) {
	e := al.Event
	// The rules report kill-kernel themselves when the event says the
	// exec hook killed it; only "kill" is left to user space.
	if al.Action != rules.ActionKill || al.Mode != string(rules.Enforce) {
		return
	}
	if err := killProcess(a.opts.ProcRoot, e.Process.PID, e.Process.StartTime); err != nil {
		al.ActionError = err.Error()
		a.log.Error("kill failed", "rule", al.Rule, "pid", e.Process.PID, "err", err)
	}
}

// killProcess sends SIGKILL through a pidfd, after checking that the
// process's start time is the event's, so a reused PID is never hit.
func killProcess(procRoot string, pid uint32, start uint64) error {
	if procRoot == "" {
		procRoot = "/proc"
	}
	fd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if start != 0 {
		// The pidfd pins the process: if /proc still shows the event's
		// start time (to /proc's 10 ms resolution) the signal hits it.
		st, err := proc.ReadStat(procRoot, pid)
		if err != nil {
			return fmt.Errorf("process %d gone before the kill: %w", pid, err)
		}
		const tick = uint64(10 * time.Millisecond)
		if d := int64(st.StartTime/tick) - int64(start/tick); d < -1 || d > 1 {
			return fmt.Errorf("process %d is no longer the one that matched (PID reused)", pid)
		}
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}

// Close detaches the sensor.
func (a *Agent) Close() error { return a.sensor.Close() }
