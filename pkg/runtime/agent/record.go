package agent

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// RecordOptions configure Record.
type RecordOptions struct {
	// Cgroups returns the cgroups to record (the selected pod's containers);
	// it is called at the start and every Refresh, so containers that start
	// or restart while recording are included.
	Cgroups func() ([]uint64, error)
	// Refresh is how often Cgroups is called (default 500ms).
	Refresh  time.Duration
	Resolver Resolver
	Logger   *slog.Logger
	ProcRoot string
	// Ready, when set, is called once the sensor is attached.
	Ready func()
	// RingBytes sizes the ring buffer (default 8 MiB).
	RingBytes int
}

// Recording is what a set of containers did.
type Recording struct {
	// Syscalls are the syscalls counted in the kernel, per cgroup (the
	// recorded cgroups and their descendants).
	Syscalls map[uint64]map[uint32]uint64
	// Conns are the connections seen (outbound and inbound), deduplicated.
	Conns []event.Net
	// Cgroups are the cgroups recorded.
	Cgroups []uint64
	// Lost are the events the kernel could not deliver, per sensor.
	Lost map[string]uint64
}

// Record counts the syscalls of the cgroups in the kernel and collects
// their connections until ctx ends (advise seccomp, advise networkpolicy).
func Record(ctx context.Context, opts RecordOptions) (*Recording, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 500 * time.Millisecond
	}
	ids, err := opts.Cgroups()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[event.Net]bool{}
	var conns []event.Net
	a, err := New(ctx, Options{
		Resolver: opts.Resolver, Logger: opts.Logger, ProcRoot: opts.ProcRoot,
		Kinds:     []event.Kind{event.Exec, event.Exit, event.Connect, event.Accept},
		Cgroups:   append([]uint64{}, ids...),
		Syscalls:  true,
		RingBytes: opts.RingBytes,
		OnEvent: func(e *event.Event) {
			if e.Net == nil {
				return
			}
			n := *e.Net
			if n.Direction == event.Outbound {
				n.SrcPort = 0 // ephemeral
			}
			mu.Lock()
			if !seen[n] {
				seen[n] = true
				conns = append(conns, n)
			}
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // before a.Close: the refresh goroutine uses the sensor
	defer cancel()
	if opts.Ready != nil {
		opts.Ready()
	}
	all := slices.Clone(ids)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(opts.Refresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now, err := opts.Cgroups()
			if err != nil {
				a.log.Warn("list cgroups to record", "err", err)
				continue
			}
			var add []uint64
			mu.Lock()
			for _, id := range now {
				if !slices.Contains(all, id) {
					all = append(all, id)
					add = append(add, id)
				}
			}
			mu.Unlock()
			if err := a.Sensor().AddCgroups(add...); err != nil {
				a.log.Warn("record new cgroups", "err", err)
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	// The kernel counts only the selected cgroups and their descendants,
	// keyed by the cgroup that made the call (each container's own).
	rec := &Recording{Syscalls: a.Sensor().SyscallCounts(), Conns: conns, Cgroups: slices.Clone(all), Lost: a.Sensor().Lost()}
	return rec, nil
}
