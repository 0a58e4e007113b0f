package enrich

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testTree is a uniquely named cgroup subtree that a test creates under the
// real cgroup2 hierarchy and removes when it ends.
type testTree struct {
	t    testing.TB
	root string // the cgroup2 mount
	base string // the subtree's path relative to root, e.g. "/mamori-enrich-1a2b"
}

// newTestTree skips (or, with MAMORI_REQUIRE_RUNTIME=1, fails) unless it
// can create cgroups: that takes root and a cgroup2 hierarchy.
func newTestTree(t testing.TB) *testTree {
	t.Helper()
	if os.Geteuid() != 0 {
		requireRuntime(t, "creating cgroups needs root")
	}
	root, err := DetectCgroupRoot()
	if err != nil {
		requireRuntime(t, "no cgroup2 hierarchy: %v", err)
	}
	tr := &testTree{t: t, root: root, base: "/mamori-enrich-" + randHex(t, 6)}
	if err := os.Mkdir(filepath.Join(root, tr.base), 0o755); err != nil {
		requireRuntime(t, "cannot create a cgroup under %s: %v", root, err)
	}
	t.Cleanup(func() { tr.removeAll() })
	return tr
}

// mkdir creates the cgroup base+rel and its parents, returning its path
// relative to the hierarchy root and its ID.
func (tr *testTree) mkdir(rel string) (string, uint64) {
	tr.t.Helper()
	p := tr.base + rel
	if err := os.MkdirAll(filepath.Join(tr.root, p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	id, err := CgroupID(filepath.Join(tr.root, p))
	if err != nil {
		tr.t.Fatal(err)
	}
	return p, id
}

// rmdir removes one empty cgroup.
func (tr *testTree) rmdir(rel string) {
	tr.t.Helper()
	if err := os.Remove(filepath.Join(tr.root, tr.base+rel)); err != nil {
		tr.t.Fatal(err)
	}
}

// removeAll removes the subtree, deepest cgroups first (cgroupfs removes
// only empty directories, and their files are not removable).
func (tr *testTree) removeAll() {
	var dirs []string
	filepath.WalkDir(filepath.Join(tr.root, tr.base), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			tr.t.Errorf("remove test cgroup %s: %v", d, err)
		}
	}
}

func newResolver(t testing.TB, opts Options) *Resolver {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestCgroupIDMatchesKernfsHandle(t *testing.T) {
	tr := newTestTree(t)
	p, id := tr.mkdir("/x")
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, filepath.Join(tr.root, p), 0)
	if err != nil {
		requireRuntime(t, "name_to_handle_at on cgroup2: %v", err)
	}
	if h.Type() != fileidKernfs || len(h.Bytes()) != 8 {
		t.Fatalf("kernfs handle type %#x, %d bytes; want %#x, 8", h.Type(), len(h.Bytes()), fileidKernfs)
	}
	var b [8]byte
	copy(b[:], h.Bytes())
	if got := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56; got != id {
		t.Fatalf("handle holds %d, CgroupID says %d", got, id)
	}
	if _, err := CgroupID(filepath.Join(tr.root, p, "cgroup.procs")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("CgroupID of a file: %v, want a not-a-directory error", err)
	}
	if _, err := CgroupID(filepath.Join(tr.root, p, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("CgroupID of a missing path: %v, want an error naming it", err)
	}
}

func TestResolveRealCgroups(t *testing.T) {
	tr := newTestTree(t)
	uid := randUID(t)
	cid := randHex(t, 32)
	crio := randHex(t, 32)
	systemdUID := strings.ReplaceAll(uid, "-", "_")

	type want struct {
		host bool
		ref  Ref
	}
	cases := []struct {
		rel  string
		want want
	}{
		{"/kubepods/besteffort/pod" + uid + "/" + cid, want{ref: Ref{ContainerID: cid, PodUID: uid, QoS: BestEffort}}},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + systemdUID + ".slice/crio-" + crio + ".scope/container",
			want{ref: Ref{ContainerID: crio, Runtime: CRIO, PodUID: uid, QoS: Burstable}}},
		{"/kubepods/besteffort/pod" + uid, want{host: true}},
		{"/system.slice/containerd.service", want{host: true}},
	}
	for _, walk := range []bool{false, true} {
		name := "kernfs-handle"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			r := newResolver(t, Options{})
			r.h.walk.Store(walk)
			if _, err := r.h.pathByHandle(1); !walk && err != nil {
				requireRuntime(t, "open_by_handle_at on cgroup2: %v", err)
			}
			for _, c := range cases {
				p, id := tr.mkdir(c.rel)
				got, host := r.Resolve(id)
				if host != c.want.host {
					t.Errorf("Resolve(%s) host = %v, want %v", c.rel, host, c.want.host)
					continue
				}
				if c.want.host {
					if got != nil {
						t.Errorf("Resolve(%s) = %+v for a host cgroup", c.rel, got)
					}
					continue
				}
				if got == nil {
					t.Errorf("Resolve(%s) = nil", c.rel)
					continue
				}
				if got.ID != c.want.ref.ContainerID || got.Runtime != c.want.ref.Runtime || got.CgroupPath != p || got.Pod != nil {
					t.Errorf("Resolve(%s) = %+v; want ID %s runtime %q path %s, no pod", c.rel, got, c.want.ref.ContainerID, c.want.ref.Runtime, p)
				}
				// A hit returns the very same container.
				if again, _ := r.Resolve(id); again != got {
					t.Errorf("second Resolve(%s) = %p, want the cached %p", c.rel, again, got)
				}
			}
			if c, host := r.Resolve(1); c != nil || !host {
				t.Errorf("Resolve(root) = %v, %v; want host", c, host)
			}
			if c, host := r.Resolve(0); c != nil || !host {
				t.Errorf("Resolve(0) = %v, %v; want host", c, host)
			}
		})
	}
}

func TestResolveGoneAndForget(t *testing.T) {
	tr := newTestTree(t)
	uid := randUID(t)
	r := newResolver(t, Options{MaxEntries: 2})
	ids := make([]uint64, 3)
	for i := range ids {
		_, ids[i] = tr.mkdir("/kubepods/pod" + uid + "/" + randHex(t, 32))
	}
	// A cgroup removed before it was resolved: no container, not host.
	gonePath := "/kubepods/pod" + uid + "/" + randHex(t, 32)
	_, gone := tr.mkdir(gonePath)
	tr.rmdir(gonePath)
	if c, host := r.Resolve(gone); c != nil || host {
		t.Errorf("Resolve(removed cgroup) = %v, %v; want nil, false", c, host)
	}

	for _, id := range ids {
		if c, _ := r.Resolve(id); c == nil {
			t.Fatalf("Resolve(%d) = nil", id)
		}
	}
	if n := r.Len(); n != 2 {
		t.Fatalf("cache holds %d entries, want MaxEntries=2", n)
	}
	r.mu.Lock()
	_, oldest := r.entries[ids[0]]
	_, newest := r.entries[ids[2]]
	r.mu.Unlock()
	if oldest || !newest {
		t.Errorf("after 3 lookups with MaxEntries 2: oldest cached %v, newest cached %v; want false, true", oldest, newest)
	}
	r.Forget(ids[2])
	r.Forget(12345) // unknown: no-op
	if n := r.Len(); n != 1 {
		t.Errorf("after Forget the cache holds %d entries, want 1", n)
	}
	// An evicted cgroup resolves again, from the kernel.
	if c, _ := r.Resolve(ids[0]); c == nil {
		t.Errorf("Resolve after eviction = nil")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Options{CgroupRoot: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a cgroup2 file system") {
		t.Errorf("New on a plain directory: %v, want not-cgroup2 error", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := New(Options{CgroupRoot: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("New on a missing directory: %v, want an error naming it", err)
	}
}

func BenchmarkResolveHit(b *testing.B) {
	tr := newTestTree(b)
	_, id := tr.mkdir("/kubepods/besteffort/pod" + randUID(b) + "/" + randHex(b, 32))
	r := newResolver(b, Options{Pods: newPods()})
	if c, _ := r.Resolve(id); c == nil {
		b.Fatal("not resolved")
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, _ := r.Resolve(id); c == nil {
			b.Fatal("not resolved")
		}
	}
}

func BenchmarkResolveMiss(b *testing.B) {
	tr := newTestTree(b)
	_, id := tr.mkdir("/kubepods/besteffort/pod" + randUID(b) + "/" + randHex(b, 32))
	r := newResolver(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		r.Forget(id)
		if c, _ := r.Resolve(id); c == nil {
			b.Fatal("not resolved")
		}
	}
}
