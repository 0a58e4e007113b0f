// Package sensor is mamori's eBPF runtime sensor: it loads the BPF
// programs in bpf/sensor.bpf.c (compiled by bpf2go, committed), attaches
// them to the hooks this kernel offers, configures the in-kernel filters
// and kill sets, and decodes the ring buffer into event.Events.
//
// Hooks are tracepoints, raw tracepoints and tp_btf only: kprobes, fentry
// and BPF LSM are often unavailable (kernel configuration, lockdown) and
// are not needed. Exec and exit use tp_btf when the kernel supports it and
// the raw tracepoint otherwise; a syscall tracepoint the kernel lacks (for
// example init_module on a kernel built without modules) is reported by
// Check and Sensor.Hooks, never silently ignored.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// Access is what kind of open a watched path reports.
type Access uint8

// Accesses.
const (
	Read  Access = 1
	Write Access = 2
	Any   Access = Read | Write
)

// PathWatch is one in-kernel open filter entry.
type PathWatch struct {
	// Prefix is a path prefix as processes see it ("/etc/", "/etc/shadow").
	// The special pattern "/proc/*/mem" watches every process's mem file.
	Prefix string
	Access Access
}

// Kill is an in-kernel kill rule: an exec whose binary basename is in
// Names or whose path is in Binaries is killed with SIGKILL from the exec
// hook, before the new program runs an instruction.
type Kill struct {
	// Rule is the rule ID, reported in Event.Killed.
	Rule     string
	Names    []string
	Binaries []string
	// ContainersOnly spares processes in the initial PID namespace.
	ContainersOnly bool
	// Selector limits the rule to the cgroups set with SetKillCgroups.
	Selector bool
}

// Options configure Load.
type Options struct {
	// Kinds are the event kinds to attach hooks for; nil means all.
	Kinds []event.Kind
	// Paths is the open filter; opens of other paths never leave the kernel.
	Paths []PathWatch
	// Cgroups, when not nil, limits every event to these cgroup IDs and
	// their descendants (a pod's cgroup selects its containers).
	Cgroups []uint64
	// Kills are the in-kernel kill rules (at most 64).
	Kills []Kill
	// Syscalls attaches the raw sys_enter hook that counts syscalls per
	// cgroup in Cgroups (advise seccomp, trace syscalls).
	Syscalls bool
	// ModuleAttempts catches init_module/finit_module with the raw
	// sys_enter hook when the kernel has no tracepoints for them (kernels
	// built without module support, where every attempt fails but is still
	// an attacker's move). Costs one check on every syscall.
	ModuleAttempts bool
	// RingBytes is the ring buffer size (power of two, default 8 MiB).
	RingBytes int
	// Stats enables the kernel's per-program run-time accounting
	// (kernel.bpf_stats_enabled) while the sensor runs.
	Stats bool
}

// Hook is one attached (or unavailable) kernel hook.
type Hook struct {
	// Name is e.g. "tp_btf/sched_process_exec" or "tracepoint/syscalls/sys_exit_openat".
	Name string `json:"name"`
	// Kind is the event kind it produces.
	Kind event.Kind `json:"kind"`
	// Attached is false when the kernel lacks the hook; Error says why.
	Attached bool   `json:"attached"`
	Error    string `json:"error,omitempty"`
	// Program is the BPF program's name.
	Program string `json:"program"`
}

// Sensor is a loaded, attached sensor.
type Sensor struct {
	opts     Options
	progs    map[string]*ebpf.Program
	maps     sensorMaps
	links    []link.Link
	hooks    []Hook
	reader   *ringbuf.Reader
	stats    interface{ Close() error }
	bootWall time.Time
	kills    []Kill

	undecodable atomic.Uint64

	mu     sync.Mutex
	closed bool
}

type program struct {
	name string // BPF function name
	hook string // section-ish display name
	kind event.Kind
	// attach attaches p; tp is the tracepoint "group/name" for plain tracepoints.
	tp     string
	raw    string // raw tracepoint name
	btf    bool   // tp_btf
	twinOf string // a raw_tp fallback for this tp_btf program
}

func hookTable() []program {
	ps := []program{
		{name: "tp_btf_exec", kind: event.Exec, btf: true, hook: "tp_btf/sched_process_exec"},
		{name: "raw_tp_exec", kind: event.Exec, raw: "sched_process_exec", twinOf: "tp_btf_exec", hook: "raw_tp/sched_process_exec"},
		{name: "tp_btf_exit", kind: event.Exit, btf: true, hook: "tp_btf/sched_process_exit"},
		{name: "raw_tp_exit", kind: event.Exit, raw: "sched_process_exit", twinOf: "tp_btf_exit", hook: "raw_tp/sched_process_exit"},
		{name: "open_exit_openat", kind: event.Open, tp: "syscalls/sys_exit_openat"},
		{name: "open_exit_openat2", kind: event.Open, tp: "syscalls/sys_exit_openat2"},
		{name: "open_exit_open", kind: event.Open, tp: "syscalls/sys_exit_open"},
		{name: "open_exit_creat", kind: event.Open, tp: "syscalls/sys_exit_creat"},
		{name: "connect_enter", kind: event.Connect, tp: "syscalls/sys_enter_connect"},
		{name: "accept_exit", kind: event.Accept, tp: "syscalls/sys_exit_accept"},
		{name: "accept4_exit", kind: event.Accept, tp: "syscalls/sys_exit_accept4"},
	}
	rare := []struct {
		call string
		kind event.Kind
	}{
		{"setuid", event.Privilege}, {"setgid", event.Privilege}, {"setreuid", event.Privilege},
		{"setregid", event.Privilege}, {"setresuid", event.Privilege}, {"setresgid", event.Privilege},
		{"setfsuid", event.Privilege}, {"setfsgid", event.Privilege}, {"capset", event.Privilege},
		{"setns", event.Namespace}, {"unshare", event.Namespace}, {"mount", event.Namespace},
		{"fsmount", event.Namespace}, {"move_mount", event.Namespace}, {"pivot_root", event.Namespace},
		{"ptrace", event.Ptrace}, {"memfd_create", event.Memfd},
		{"init_module", event.Module}, {"finit_module", event.Module},
	}
	for _, r := range rare {
		ps = append(ps,
			program{name: "enter_" + r.call, kind: r.kind, tp: "syscalls/sys_enter_" + r.call},
			program{name: "exit_" + r.call, kind: r.kind, tp: "syscalls/sys_exit_" + r.call})
	}
	for i := range ps {
		if ps[i].tp != "" {
			ps[i].hook = "tracepoint/" + ps[i].tp
		}
	}
	return ps
}

// ErrNotSupported is returned when the sensor cannot run here (not root,
// no BTF, no ring buffers); its message says what is missing.
var ErrNotSupported = errors.New("eBPF sensor not supported")

// Load loads and attaches the sensor. Close releases everything.
func Load(ctx context.Context, opts Options) (*Sensor, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	if len(opts.Kills) > 64 {
		return nil, fmt.Errorf("load sensor: %d in-kernel kill rules, at most 64", len(opts.Kills))
	}
	if err := mountTracefs(); err != nil {
		return nil, err
	}
	spec, err := loadSensor()
	if err != nil {
		return nil, fmt.Errorf("load sensor spec: %w", err)
	}
	if n := opts.RingBytes; n > 0 && (n&(n-1) != 0 || n < os.Getpagesize()) {
		return nil, fmt.Errorf("load sensor: ring buffer of %d bytes: must be a power of two of at least a page", n)
	}
	if opts.RingBytes > 0 {
		spec.Maps["events"].MaxEntries = uint32(opts.RingBytes)
	}
	s := &Sensor{opts: opts, progs: map[string]*ebpf.Program{}, kills: opts.Kills}
	if err := spec.LoadAndAssign(&s.maps, nil); err != nil {
		return nil, fmt.Errorf("load sensor maps: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if opts.Stats {
		if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
			s.stats = c
		}
	}
	bootNow, err := bootTime()
	if err != nil {
		return nil, err
	}
	s.bootWall = time.Now().Add(-bootNow)
	if err := s.configure(); err != nil {
		return nil, err
	}
	replacements := s.mapsByName()
	want := func(k event.Kind) bool { return opts.Kinds == nil || slices.Contains(opts.Kinds, k) }
	loaded := map[string]bool{}
	for _, p := range hookTable() {
		if !want(p.kind) {
			continue
		}
		if p.twinOf != "" && loaded[p.twinOf] {
			continue
		}
		if p.tp != "" && !tracepointExists(p.tp) {
			s.hooks = append(s.hooks, Hook{Name: p.hook, Kind: p.kind, Program: p.name, Error: "the kernel has no such tracepoint"})
			continue
		}
		prog, err := loadProgram(spec, p.name, replacements)
		if err == nil {
			var l link.Link
			l, err = attach(p, prog)
			if err == nil {
				s.progs[p.name] = prog
				s.links = append(s.links, l)
				loaded[p.name] = true
				s.hooks = append(s.hooks, Hook{Name: p.hook, Kind: p.kind, Program: p.name, Attached: true})
				continue
			}
			prog.Close()
		}
		if p.btf {
			// The raw_tp twin follows; say why tp_btf was not used.
			s.hooks = append(s.hooks, Hook{Name: p.hook, Kind: p.kind, Program: p.name, Error: err.Error()})
			continue
		}
		return nil, fmt.Errorf("attach %s: %w", p.hook, err)
	}
	needRaw := opts.Syscalls
	if opts.ModuleAttempts && want(event.Module) && !tracepointExists("syscalls/sys_enter_finit_module") {
		needRaw = true
		if err := s.setConfig(func(c *sensorConfig) { c.ModuleViaRaw = 1 }); err != nil {
			return nil, err
		}
	}
	if needRaw {
		p := program{name: "raw_sys_enter", raw: "sys_enter", hook: "raw_tp/sys_enter", kind: event.Module}
		prog, err := loadProgram(spec, p.name, replacements)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", p.hook, err)
		}
		l, err := attach(p, prog)
		if err != nil {
			prog.Close()
			return nil, fmt.Errorf("attach %s: %w", p.hook, err)
		}
		s.progs[p.name] = prog
		s.links = append(s.links, l)
		s.hooks = append(s.hooks, Hook{Name: p.hook, Kind: p.kind, Program: p.name, Attached: true})
	}
	s.reader, err = ringbuf.NewReader(s.maps.Events)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	ok = true
	return s, nil
}

func loadProgram(spec *ebpf.CollectionSpec, name string, maps map[string]*ebpf.Map) (*ebpf.Program, error) {
	ps, ok := spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("program %s not in the object", name)
	}
	one := &ebpf.CollectionSpec{
		Maps:      spec.Maps,
		Programs:  map[string]*ebpf.ProgramSpec{name: ps},
		Variables: spec.Variables,
		Types:     spec.Types,
		ByteOrder: spec.ByteOrder,
	}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: maps})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("verifier rejected %s: %+v", name, ve)
		}
		return nil, err
	}
	p := coll.DetachProgram(name)
	coll.Close()
	return p, nil
}

func attach(p program, prog *ebpf.Program) (link.Link, error) {
	switch {
	case p.btf:
		return link.AttachTracing(link.TracingOptions{Program: prog})
	case p.raw != "":
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.raw, Program: prog})
	default:
		group, name, _ := cut(p.tp)
		return link.Tracepoint(group, name, prog, nil)
	}
}

func cut(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (s *Sensor) mapsByName() map[string]*ebpf.Map {
	m := s.maps
	return map[string]*ebpf.Map{
		"events": m.Events, "lost": m.Lost, "config_map": m.ConfigMap, "cgroups": m.Cgroups,
		"open_prefixes": m.OpenPrefixes, "kill_names": m.KillNames, "kill_paths": m.KillPaths,
		"kill_rules": m.KillRules, "kill_cgroups": m.KillCgroups, "pending": m.Pending,
		"syscall_counts": m.SyscallCounts, "scratch_map": m.ScratchMap, "sys_scratch": m.SysScratch,
	}
}

func (s *Sensor) setConfig(f func(*sensorConfig)) error {
	var c sensorConfig
	if err := s.maps.ConfigMap.Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("read sensor config: %w", err)
	}
	f(&c)
	if err := s.maps.ConfigMap.Update(uint32(0), &c, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write sensor config: %w", err)
	}
	return nil
}

func (s *Sensor) configure() error {
	o := s.opts
	err := s.setConfig(func(c *sensorConfig) {
		c.SelfTgid = uint32(os.Getpid())
		c.InitModuleNr = sysInitModule
		c.FinitModuleNr = sysFinitModule
		if o.Cgroups != nil {
			c.CgroupFilter = 1
		}
		if o.Syscalls {
			c.CountSyscalls = 1
		}
	})
	if err != nil {
		return err
	}
	for _, id := range o.Cgroups {
		if err := s.maps.Cgroups.Update(id, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add cgroup %d to filter: %w", id, err)
		}
	}
	if err := s.SetPaths(o.Paths); err != nil {
		return err
	}
	for i, k := range o.Kills {
		idx := uint32(i)
		kr := sensorKillRule{Selector: b2u(k.Selector), ContainersOnly: b2u(k.ContainersOnly)}
		if err := s.maps.KillRules.Update(idx, &kr, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("kill rule %s: %w", k.Rule, err)
		}
		for _, n := range k.Names {
			var key sensorNameKey
			if len(n) >= len(key.Name) || n == "" {
				return fmt.Errorf("kill rule %s: name %q must be 1–%d bytes", k.Rule, n, len(key.Name)-1)
			}
			putString(key.Name[:], n)
			if err := s.maps.KillNames.Update(&key, idx, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("kill rule %s: %w", k.Rule, err)
			}
		}
		for _, b := range k.Binaries {
			var key sensorLpmKey
			if len(b) >= len(key.Path) || len(b) < 2 || b[0] != '/' {
				return fmt.Errorf("kill rule %s: binary %q must be an absolute path under %d bytes", k.Rule, b, len(key.Path))
			}
			copy(key.Path[:], b)
			if err := s.maps.KillPaths.Update(&key, idx, ebpf.UpdateAny); err != nil {
				return fmt.Errorf("kill rule %s: %w", k.Rule, err)
			}
		}
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// SetPaths replaces the open filter.
func (s *Sensor) SetPaths(paths []PathWatch) error {
	var key sensorLpmKey
	var val uint8
	var stale []sensorLpmKey
	it := s.maps.OpenPrefixes.Iterate()
	for it.Next(&key, &val) {
		stale = append(stale, key)
	}
	procMem := false
	want := map[string]Access{}
	for _, p := range paths {
		if p.Prefix == "/proc/*/mem" {
			procMem = true
			continue
		}
		if p.Prefix == "" || p.Prefix[0] != '/' || len(p.Prefix) >= len(key.Path) {
			return fmt.Errorf("watched path %q: must be absolute and under %d bytes", p.Prefix, len(key.Path))
		}
		if p.Access == 0 {
			p.Access = Any
		}
		want[p.Prefix] |= p.Access
	}
	// LPM finds the longest prefix only: give each entry the access of
	// every shorter prefix it lies under, so a narrower read watch does not
	// hide a broader write watch.
	for p, a := range want {
		for q, b := range want {
			if len(q) < len(p) && p[:len(q)] == q {
				a |= b
			}
		}
		var k sensorLpmKey
		k.Prefixlen = uint32(len(p) * 8)
		copy(k.Path[:], p)
		if err := s.maps.OpenPrefixes.Update(&k, uint8(a), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("watch %s: %w", p, err)
		}
	}
	for _, k := range stale {
		p := string(k.Path[:k.Prefixlen/8])
		if _, ok := want[p]; !ok {
			_ = s.maps.OpenPrefixes.Delete(&k)
		}
	}
	return s.setConfig(func(c *sensorConfig) { c.WatchProcMem = b2u(procMem) })
}

// AddCgroups adds cgroups to the event filter (and syscall counting).
func (s *Sensor) AddCgroups(ids ...uint64) error {
	for _, id := range ids {
		if err := s.maps.Cgroups.Update(id, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("add cgroup %d: %w", id, err)
		}
	}
	return nil
}

// SetKillCgroups sets the cgroups a selector-scoped kill rule applies to.
func (s *Sensor) SetKillCgroups(rule string, ids []uint64) error {
	idx := -1
	for i, k := range s.kills {
		if k.Rule == rule {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("no in-kernel kill rule %q", rule)
	}
	var key sensorKillCgroupKey
	var v uint8
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var stale []sensorKillCgroupKey
	it := s.maps.KillCgroups.Iterate()
	for it.Next(&key, &v) {
		if key.Rule == uint32(idx) && !want[key.Cgroup] {
			stale = append(stale, key)
		}
	}
	for _, k := range stale {
		_ = s.maps.KillCgroups.Delete(&k)
	}
	for id := range want {
		k := sensorKillCgroupKey{Rule: uint32(idx), Cgroup: id}
		if err := s.maps.KillCgroups.Update(&k, uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("kill rule %s: cgroup %d: %w", rule, id, err)
		}
	}
	return nil
}

// SyscallCounts returns the syscalls counted per cgroup so far (syscall
// number → count); only with Options.Syscalls.
func (s *Sensor) SyscallCounts() map[uint64]map[uint32]uint64 {
	out := map[uint64]map[uint32]uint64{}
	var k sensorCountKey
	var n uint64
	it := s.maps.SyscallCounts.Iterate()
	for it.Next(&k, &n) {
		if out[k.Cgroup] == nil {
			out[k.Cgroup] = map[uint32]uint64{}
		}
		out[k.Cgroup][k.Nr] = n
	}
	return out
}

// Sensors are the names of the kernel-side sensors that count lost events.
var sensorNames = [...]string{"exec", "exit", "open", "connect", "accept", "syscall", "count"}

// Lost returns the events each sensor could not put in the ring buffer
// since load, summed over CPUs.
func (s *Sensor) Lost() map[string]uint64 {
	out := map[string]uint64{}
	for i, name := range sensorNames {
		var per []uint64
		if err := s.maps.Lost.Lookup(uint32(i), &per); err != nil {
			continue
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[name] = sum
	}
	out["decode"] = s.undecodable.Load()
	return out
}

// Hooks says which hooks are attached and which the kernel lacks.
func (s *Sensor) Hooks() []Hook { return slices.Clone(s.hooks) }

// ProgramStats is a BPF program's kernel-measured cost.
type ProgramStats struct {
	Program string
	Runtime time.Duration
	Runs    uint64
}

// Stats returns per-program run time and counts (zero unless Options.Stats
// and the kernel supports bpf_stats).
func (s *Sensor) Stats() []ProgramStats {
	var out []ProgramStats
	for name, p := range s.progs {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		out = append(out, ProgramStats{Program: name, Runtime: st.Runtime, Runs: st.RunCount})
	}
	slices.SortFunc(out, func(a, b ProgramStats) int {
		if a.Program < b.Program {
			return -1
		}
		return 1
	})
	return out
}

// Read delivers decoded events to fn until ctx is done or the sensor is
// closed. A record that cannot be decoded (only possible if the BPF object
// and this code disagree) is skipped and counted in Lost()["decode"].
func (s *Sensor) Read(ctx context.Context, fn func(*event.Event)) error {
	stop := context.AfterFunc(ctx, func() { s.reader.Close() })
	defer stop()
	var rec ringbuf.Record
	for {
		// The kernel wakes the reader only for a batch; the deadline drains
		// a quiet ring within 20 ms.
		s.reader.SetDeadline(time.Now().Add(20 * time.Millisecond))
		if err := s.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil // ctx ended or Close
			}
			return fmt.Errorf("read ring buffer: %w", err)
		}
		e, err := s.decode(rec.RawSample)
		if err != nil {
			// Counted as lost (sensor "decode"), never fatal: one odd
			// record must not stop the agent.
			s.undecodable.Add(1)
			continue
		}
		fn(e)
	}
}

// Close detaches and unloads everything.
func (s *Sensor) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.reader != nil {
		s.reader.Close()
	}
	for _, l := range s.links {
		l.Close()
	}
	for _, p := range s.progs {
		p.Close()
	}
	if s.stats != nil {
		s.stats.Close()
	}
	return s.maps.Close()
}

func bootTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("read boot clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

func tracefsRoot() string {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(d + "/events"); err == nil {
			return d
		}
	}
	return ""
}

func tracepointExists(tp string) bool {
	root := tracefsRoot()
	if root == "" {
		return false
	}
	_, err := os.Stat(root + "/events/" + tp)
	return err == nil
}

// mountTracefs mounts tracefs where the kernel expects it when nothing is
// mounted there: tracepoints attach through it.
func mountTracefs() error {
	if tracefsRoot() != "" {
		return nil
	}
	if err := unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs on /sys/kernel/tracing (tracepoints attach through it): %w", err)
	}
	return nil
}
