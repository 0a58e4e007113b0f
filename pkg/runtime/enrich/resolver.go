package enrich

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// DefaultMaxEntries bounds the Resolver's cache when Options does not:
// enough for every cgroup of a busy node.
const DefaultMaxEntries = 8192

// Options configure a Resolver.
type Options struct {
	// CgroupRoot is where the cgroup v2 hierarchy is mounted; empty means
	// DetectCgroupRoot.
	CgroupRoot string
	// Pods completes containers with their pod, name and image; nil means
	// no cluster: containers carry only what their cgroup path says.
	Pods *Pods
	// MaxEntries bounds the cache of resolved cgroups (least recently
	// used go first); 0 means DefaultMaxEntries.
	MaxEntries int
}

// Resolver maps cgroup IDs to containers. It is safe for concurrent use.
type Resolver struct {
	h    *hierarchy
	pods *Pods
	max  int

	mu      sync.Mutex
	entries map[uint64]*entry
	lru     entry // sentinel: lru.next is the most recently used
}

// entry is one resolved cgroup.
type entry struct {
	id         uint64
	prev, next *entry
	// host is true for cgroups that are not containers; c is nil then,
	// and also for cgroups that no longer existed when resolved.
	host bool
	c    *event.Container
	ref  Ref
	path string
	// gen is the Pods generation c was built at; ce and pod what it was
	// built from, to tell a real change from another pod's.
	gen uint64
	ce  *containerEntry
	pod *event.Pod
}

// New returns a Resolver for the cgroup2 hierarchy at opts.CgroupRoot.
func New(opts Options) (*Resolver, error) {
	root := opts.CgroupRoot
	if root == "" {
		var err error
		if root, err = DetectCgroupRoot(); err != nil {
			return nil, err
		}
	}
	h, err := openHierarchy(root)
	if err != nil {
		return nil, err
	}
	max := opts.MaxEntries
	if max <= 0 {
		max = DefaultMaxEntries
	}
	r := &Resolver{h: h, pods: opts.Pods, max: max, entries: make(map[uint64]*entry)}
	r.lru.next, r.lru.prev = &r.lru, &r.lru
	return r, nil
}

// Close releases the hierarchy's file descriptor.
func (r *Resolver) Close() error { return r.h.close() }

// Root returns the cgroup2 mount the Resolver reads.
func (r *Resolver) Root() string { return r.h.root }

// Resolve returns the container of the processes in cgroup id, or host
// true for the root cgroup (and ID 0, which the sensor reports when it
// could not tell) and cgroups that are not containers'. A cgroup that is
// gone before it could be resolved gives nil, false. The Container is
// shared between callers and must not be modified.
//
// A container whose pod was not (yet) known is re-completed when Pods
// changes, so a pod that shows up in the watch after its container's
// first event is attributed from then on.
func (r *Resolver) Resolve(id uint64) (c *event.Container, host bool) {
	if id <= 1 {
		return nil, true
	}
	r.mu.Lock()
	if e, ok := r.entries[id]; ok {
		r.touch(e)
		if e.c != nil && r.pods != nil && e.gen != r.pods.Generation() {
			r.refresh(e)
		}
		c, host = e.c, e.host
		r.mu.Unlock()
		return c, host
	}
	r.mu.Unlock()

	// Resolve without the lock: it takes system calls, perhaps a walk.
	e := &entry{id: id}
	path, err := r.h.path(id)
	switch {
	case err == nil:
		e.path = path
		var ok bool
		if e.ref, ok = ParseCgroupPath(path); ok {
			r.refresh(e)
		} else {
			e.host = true
		}
	case errors.Is(err, ErrNoCgroup):
		// Cached too: the ID will not come back.
	default:
		return nil, false // transient (out of file descriptors…): retry next time
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.entries[id]; ok { // resolved meanwhile by another caller
		r.touch(old)
		return old.c, old.host
	}
	r.entries[id] = e
	r.pushFront(e)
	for len(r.entries) > r.max {
		r.drop(r.lru.prev)
	}
	return e.c, e.host
}

// refresh (re)builds e.c from e.ref and Pods, replacing it only when what
// it is built from changed.
func (r *Resolver) refresh(e *entry) {
	var ce *containerEntry
	var pod *event.Pod
	if r.pods != nil {
		e.gen = r.pods.Generation()
		ce, pod = r.pods.lookup(e.ref.ContainerID, e.ref.PodUID)
	}
	if e.c != nil && ce == e.ce && pod == e.pod {
		return
	}
	c := &event.Container{ID: e.ref.ContainerID, Runtime: e.ref.Runtime, CgroupPath: e.path, Pod: pod}
	if ce != nil {
		c.Name, c.Image = ce.name, ce.image
		if c.Runtime == "" {
			c.Runtime = ce.runtime
		}
	}
	e.c, e.ce, e.pod = c, ce, pod
}

// Forget drops what the Resolver knows of cgroup id: the agent calls it
// when the cgroup's last process exits.
func (r *Resolver) Forget(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[id]; ok {
		r.drop(e)
	}
}

// Len returns how many cgroups the cache holds.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// Matching returns, sorted, the IDs of the container cgroups now in the
// hierarchy (including cgroups nested in a container's) whose pod's labels
// sel matches. It reads the whole hierarchy, so call it when Pods reports
// a change, not per event. Without Pods nothing matches.
func (r *Resolver) Matching(sel labels.Selector) ([]uint64, error) {
	if r.pods == nil {
		return nil, nil
	}
	var ids []uint64
	err := r.h.containers(func(id uint64, _ string, ref Ref) {
		ce, pod := r.pods.lookup(ref.ContainerID, ref.PodUID)
		if ce != nil {
			pod = ce.pod
		}
		if pod != nil && sel.Matches(labels.Set(pod.Labels)) {
			ids = append(ids, id)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("match containers to %q: %w", sel, err)
	}
	slices.Sort(ids)
	return ids, nil
}

func (r *Resolver) touch(e *entry) {
	if r.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	r.pushFront(e)
}

func (r *Resolver) pushFront(e *entry) {
	e.prev, e.next = &r.lru, r.lru.next
	r.lru.next.prev = e
	r.lru.next = e
}

func (r *Resolver) drop(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(r.entries, e.id)
}
