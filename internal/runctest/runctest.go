//go:build linux

// Package runctest runs real containers with runc for mamori's runtime
// tests: busybox and a test program in a small rootfs, placed in cgroups
// laid out as the kubelet's cgroupfs driver lays out a containerd pod
// (…/kubepods/<qos>/pod<uid>/<container id>), in the cgroup v1
// controllers and in cgroup v2 alike, so the eBPF sensor can tie their
// processes to a pod by cgroup v2 ID.
//
// Tests that use it skip when the machine cannot run containers (not root,
// no runc, no static busybox, no cgroup2) unless MAMORI_REQUIRE_RUNTIME=1,
// which makes them fail instead.
package runctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Spec says what container to run.
type Spec struct {
	// Args is the command, e.g. {TestBin, "connect", "127.0.0.1:80"}.
	Args []string
	// Env is added to PATH and HOME.
	Env []string
	// PodUID is the pod's UID (a random UUID when empty); containers of one
	// test that share it share the pod's cgroup.
	PodUID string
	// ContainerID is the container ID (64 random hex digits when empty).
	ContainerID string
	// QoS is the pod's QoS class: "besteffort" (default), "burstable" or
	// "guaranteed" (which has no QoS level in the cgroup path).
	QoS string
	// Rootfs is the root filesystem (default Rootfs(t)), used read-only.
	Rootfs string
	// Overlay mounts an overlayfs over Rootfs with a fresh upper directory,
	// as containerd's snapshotter does: the root is then writable and files
	// written at run time live in Container.UpperDir.
	Overlay bool
	// Seccomp is the seccomp filter (none when nil).
	Seccomp *specs.LinuxSeccomp
	// PrivateNetwork gives the container its own, empty network namespace.
	// By default it shares the host's, so it can reach loopback listeners.
	PrivateNetwork bool
	// Mounts are added to the default ones (proc, dev, sys, /tmp…).
	Mounts []specs.Mount
	// User is who the process runs as (root by default).
	User specs.User
	// Capabilities are the bounding, effective and permitted sets, e.g.
	// "CAP_SYS_ADMIN" (nil: the container runtimes' default set).
	Capabilities []string
	// NoNewPrivileges sets no_new_privs (allowPrivilegeEscalation: false).
	NoNewPrivileges bool
	// Cwd is the working directory (default "/").
	Cwd string
}

// Result is how a container's (or exec's) process ended.
type Result struct {
	// ExitCode is the exit status, as runc reports it: 128+n for a
	// process killed by signal n.
	ExitCode int
	// Signal is the signal that killed the process (ExitCode-128 when
	// ExitCode is above 128), 0 when it exited.
	Signal syscall.Signal
	Stdout string
	Stderr string
	// Pid is the process's host PID.
	Pid int
}

// Container is a running (or ended) container.
type Container struct {
	ID     string
	PodUID string
	// CgroupPath is the cgroup path relative to each hierarchy's root, e.g.
	// /mamori-1a2b3c4d/kubepods/besteffort/pod<uid>/<id>.
	CgroupPath string
	// Pid is the host PID of the container's init process.
	Pid int
	// Bundle is the OCI bundle directory; RootfsDir the container's root
	// as the host sees it; UpperDir the overlay's upper layer ("" without
	// Overlay).
	Bundle, RootfsDir, UpperDir string

	t       testing.TB
	runcDir string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	done    chan struct{}
	unwatch func()
	result  *Result
	err     error
}

// Run runs a container to its end.
func Run(ctx context.Context, t testing.TB, s Spec) (*Result, error) {
	t.Helper()
	c, err := Start(ctx, t, s)
	if err != nil {
		return nil, err
	}
	return c.Wait()
}

// Start starts a container and returns once its init process runs. The
// container is killed and removed, with its cgroups and overlay, when the
// test ends; cancelling ctx kills it.
func Start(ctx context.Context, t testing.TB, s Spec) (*Container, error) {
	t.Helper()
	requireRuntime(t)
	if len(s.Args) == 0 {
		return nil, errors.New("runctest: Spec.Args is empty")
	}
	if s.Rootfs == "" {
		s.Rootfs = Rootfs(t)
	}
	if s.ContainerID == "" {
		s.ContainerID = randomHex(32)
	}
	if s.PodUID == "" {
		s.PodUID = randomUUID()
	}
	cgPath, err := cgroupPath(s.QoS, s.PodUID, s.ContainerID)
	if err != nil {
		return nil, err
	}
	bundle := t.TempDir()
	c := &Container{
		ID:         s.ContainerID,
		PodUID:     s.PodUID,
		CgroupPath: cgPath,
		Bundle:     bundle,
		RootfsDir:  s.Rootfs,
		t:          t,
		runcDir:    filepath.Join(bundle, "runc"),
		stdout:     &syncBuffer{},
		stderr:     &syncBuffer{},
		done:       make(chan struct{}),
	}
	// Cleanups run last-in first-out: delete the container, then its
	// cgroups, then unmount the overlay (registered in this order below).
	t.Cleanup(func() { removeCgroups(t, cgPath) })
	if s.Overlay {
		root, upper, err := mountOverlay(bundle, s.Rootfs)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			if err := unix.Unmount(root, unix.MNT_DETACH); err != nil {
				t.Errorf("runctest: unmount overlay %s: %v", root, err)
			}
		})
		c.RootfsDir, c.UpperDir = root, upper
	}
	cfg := config(s, c.RootfsDir, cgPath)
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		return nil, err
	}

	// Hold off other containers' cleanups from removing the shared
	// ancestor cgroups while runc creates this one's.
	cgroupMu.RLock()
	started := sync.OnceFunc(cgroupMu.RUnlock)
	defer started()

	pidFile := filepath.Join(bundle, "init.pid")
	c.cmd = exec.Command("runc", "--root", c.runcDir, "run", "--bundle", bundle, "--pid-file", pidFile, c.ID)
	c.cmd.Stdin = nil
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("runctest: start runc: %w", err)
	}
	go c.wait()
	// Cancelling ctx kills the container; the cleanup stops that watch and
	// waits for a kill in flight, so no runc call outlives the test.
	var killing sync.WaitGroup
	killing.Add(1)
	stop := context.AfterFunc(ctx, func() {
		defer killing.Done()
		select {
		case <-c.done:
		default:
			_ = c.Kill(unix.SIGKILL)
		}
	})
	c.unwatch = func() {
		if stop() {
			killing.Done()
		}
		killing.Wait()
	}
	t.Cleanup(c.remove)

	// runc writes the pid file once the container's process runs.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			if c.Pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				return nil, fmt.Errorf("runctest: pid file %s: %w", pidFile, err)
			}
			return c, nil
		}
		select {
		case <-c.done:
			// A short-lived container may have come and gone between polls.
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
				continue
			}
			if c.err != nil {
				return nil, c.err
			}
			return nil, fmt.Errorf("runctest: container %s did not start (exit %d): %s", c.ID, c.result.ExitCode, c.result.Stderr)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (c *Container) wait() {
	defer close(c.done)
	err := c.cmd.Wait()
	r := &Result{Stdout: c.stdout.String(), Stderr: c.stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// runc itself was killed (ctx cancelled before it could report).
			r.ExitCode, r.Signal = 128+int(ws.Signal()), ws.Signal()
		}
	default:
		c.err = fmt.Errorf("runctest: wait for runc: %w", err)
	}
	if r.Signal == 0 && r.ExitCode > 128 && r.ExitCode < 128+65 {
		r.Signal = syscall.Signal(r.ExitCode - 128)
	}
	c.result = r
}

// Wait waits for the container's init process to end.
func (c *Container) Wait() (*Result, error) {
	<-c.done
	if c.result != nil {
		c.result.Pid = c.Pid
	}
	return c.result, c.err
}

// Done is closed when the container has ended.
func (c *Container) Done() <-chan struct{} { return c.done }

// Stdout is what the init process wrote to standard output so far.
func (c *Container) Stdout() string { return c.stdout.String() }

// WaitOutput waits until the init process's standard output contains s,
// e.g. "listening" from `mamori-testbin serve`.
func (c *Container) WaitOutput(ctx context.Context, s string) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(c.stdout.String(), s) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("runctest: waiting for %q in output %q: %w", s, c.stdout.String(), ctx.Err())
		case <-c.done:
			if !strings.Contains(c.stdout.String(), s) {
				return fmt.Errorf("runctest: container ended (exit %d) without printing %q; stderr: %s", c.result.ExitCode, s, c.result.Stderr)
			}
		case <-tick.C:
		}
	}
	return nil
}

// Kill sends sig to the container's init process.
func (c *Container) Kill(sig syscall.Signal) error {
	out, err := exec.Command("runc", "--root", c.runcDir, "kill", c.ID, strconv.Itoa(int(sig))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runctest: runc kill %s: %v: %s", c.ID, err, out)
	}
	return nil
}

// Exec runs a process in the running container (runc exec) and waits for it.
func (c *Container) Exec(ctx context.Context, args ...string) (*Result, error) {
	pidFile := filepath.Join(c.Bundle, "exec-"+randomHex(4)+".pid")
	cmd := exec.CommandContext(ctx, "runc", append([]string{"--root", c.runcDir, "exec", "--pid-file", pidFile, c.ID}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		r.Pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.ExitCode = ee.ExitCode()
		if r.ExitCode > 128 && r.ExitCode < 128+65 {
			r.Signal = syscall.Signal(r.ExitCode - 128)
		}
	default:
		return r, fmt.Errorf("runctest: runc exec %v in %s: %w (stderr: %s)", args, c.ID, err, stderr.String())
	}
	return r, nil
}

// CgroupDir is the container's cgroup v2 directory.
func (c *Container) CgroupDir() string {
	root, _ := cgroup2Root()
	return filepath.Join(root, c.CgroupPath)
}

// CgroupID is the container's cgroup v2 ID, as bpf_get_current_cgroup_id
// reports it: the inode number of its cgroup2 directory (0 if gone).
func (c *Container) CgroupID() uint64 {
	var st unix.Stat_t
	if err := unix.Stat(c.CgroupDir(), &st); err != nil {
		return 0
	}
	return st.Ino
}

// remove kills and deletes the container (a test cleanup).
func (c *Container) remove() {
	c.unwatch()
	select {
	case <-c.done:
	default:
		_ = c.Kill(unix.SIGKILL)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.t.Errorf("runctest: container %s did not end after SIGKILL", c.ID)
		}
	}
	if out, err := exec.Command("runc", "--root", c.runcDir, "delete", "--force", c.ID).CombinedOutput(); err != nil &&
		!bytes.Contains(out, []byte("does not exist")) {
		c.t.Errorf("runctest: runc delete %s: %v: %s", c.ID, err, out)
	}
}

// requireRuntime skips (or, under MAMORI_REQUIRE_RUNTIME=1, fails) a test
// the machine cannot run containers for.
func requireRuntime(t testing.TB) {
	t.Helper()
	if reason := missing(); reason != "" {
		if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
			t.Fatalf("runctest: %s (MAMORI_REQUIRE_RUNTIME=1)", reason)
		}
		t.Skipf("runctest: %s", reason)
	}
}

func missing() string {
	if os.Geteuid() != 0 {
		return "containers need root"
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "runc not found (install runc)"
	}
	if _, err := findBusybox(); err != nil {
		return err.Error()
	}
	if _, err := cgroup2Root(); err != nil {
		return err.Error()
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// syncBuffer is a bytes.Buffer safe for runc's writes and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
