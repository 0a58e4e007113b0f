//go:build linux

package runctest

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCgroupPath(t *testing.T) {
	prefix := "/mamori-runctest-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		qos, uid, id, want, err string
	}{
		{"", "u-1", "c1", prefix + "/kubepods/besteffort/podu-1/c1", ""},
		{"besteffort", "u-1", "c1", prefix + "/kubepods/besteffort/podu-1/c1", ""},
		{"burstable", "u-1", "c1", prefix + "/kubepods/burstable/podu-1/c1", ""},
		{"guaranteed", "u-1", "c1", prefix + "/kubepods/podu-1/c1", ""},
		{"gold", "u-1", "c1", "", `QoS "gold"`},
		{"", "../x", "c1", "", "bad pod UID"},
		{"", "u", "", "", "bad pod UID"},
	} {
		got, err := cgroupPath(tc.qos, tc.uid, tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("cgroupPath(%q,%q,%q) error = %v, want %q", tc.qos, tc.uid, tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("cgroupPath(%q,%q,%q) = %q, %v, want %q", tc.qos, tc.uid, tc.id, got, err, tc.want)
		}
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		signal syscall.Signal
		stdout string
	}{
		{"echo", []string{"echo", "hello", "container"}, 0, 0, "hello container\n"},
		{"exit code", []string{"sh", "-c", "exit 3"}, 3, 0, ""},
		{"usage error", []string{TestBin}, 2, 0, ""},
		{"user", []string{"id", "-u"}, 0, 0, "0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Run(testContext(t), t, Spec{Args: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tc.code || r.Signal != tc.signal || r.Stdout != tc.stdout {
				t.Errorf("got exit %d signal %v stdout %q (stderr %q), want %d %v %q",
					r.ExitCode, r.Signal, r.Stdout, r.Stderr, tc.code, tc.signal, tc.stdout)
			}
			if r.Pid <= 0 {
				t.Errorf("Pid = %d", r.Pid)
			}
		})
	}
}

func TestUserAndEnv(t *testing.T) {
	t.Parallel()
	r, err := Run(testContext(t), t, Spec{
		Args: []string{"sh", "-c", "id -u; id -g; echo $GREETING"},
		Env:  []string{"GREETING=hi"},
		User: specs.User{UID: 1000, GID: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "1000\n1000\nhi\n"; r.Stdout != want {
		t.Errorf("stdout %q, want %q (stderr %q)", r.Stdout, want, r.Stderr)
	}
}

// procCgroups reads /proc/PID/cgroup as hierarchy ID → path.
func procCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, rest, _ := strings.Cut(sc.Text(), ":")
		ctrl, path, _ := strings.Cut(rest, ":")
		out[id+":"+ctrl] = path
	}
	return out
}

func TestCgroupMembership(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, err := Start(ctx, t, Spec{Args: []string{"sleep", "60"}, QoS: "burstable"})
	if err != nil {
		t.Fatal(err)
	}
	suffix := "/kubepods/burstable/pod" + c.PodUID + "/" + c.ID
	if !strings.HasSuffix(c.CgroupPath, suffix) || len(c.ID) != 64 {
		t.Fatalf("CgroupPath %q, ID %q: want suffix %q and a 64-hex ID", c.CgroupPath, c.ID, suffix)
	}
	cgs := procCgroups(t, c.Pid)
	if got := cgs["0:"]; got != c.CgroupPath {
		t.Errorf("init's cgroup v2 path %q, want %q (all: %v)", got, c.CgroupPath, cgs)
	}
	for k, v := range cgs {
		if k != "0:" && v != c.CgroupPath {
			t.Errorf("init's v1 cgroup %s is %q, want %q", k, v, c.CgroupPath)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(c.CgroupDir(), &st); err != nil {
		t.Fatal(err)
	}
	if id := c.CgroupID(); id == 0 || id != st.Ino {
		t.Errorf("CgroupID() = %d, inode of %s = %d", id, c.CgroupDir(), st.Ino)
	}
	procs, err := os.ReadFile(filepath.Join(c.CgroupDir(), "cgroup.procs"))
	if err != nil || !strings.Contains(string(procs), strconv.Itoa(c.Pid)+"\n") {
		t.Errorf("cgroup.procs of %s = %q (%v), want init pid %d", c.CgroupDir(), procs, err, c.Pid)
	}

	// An exec'd process joins the same cgroup.
	r, err := c.Exec(ctx, "cat", "/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Stdout, "0::"+c.CgroupPath+"\n") || r.ExitCode != 0 || r.Pid == 0 {
		t.Errorf("exec: exit %d pid %d cgroup %q, want 0::%s", r.ExitCode, r.Pid, r.Stdout, c.CgroupPath)
	}

	if err := c.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Signal != unix.SIGKILL {
		t.Errorf("after Kill: exit %d signal %v, want SIGKILL", res.ExitCode, res.Signal)
	}
}

func TestCleanupRemovesCgroups(t *testing.T) {
	t.Parallel()
	var dir string
	t.Run("container", func(t *testing.T) {
		c, err := Start(testContext(t), t, Spec{Args: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		dir = c.CgroupDir()
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	})
	// The subtest's cleanup killed the container and removed its cgroup
	// and its pod's.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after cleanup (%v)", d, err)
		}
	}
}

func TestContextCancelKills(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testContext(t))
	c, err := Start(ctx, t, Spec{Args: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	r, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.Signal != unix.SIGKILL {
		t.Errorf("exit %d signal %v, want SIGKILL", r.ExitCode, r.Signal)
	}
}

func TestOverlayUpperLayer(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, err := Start(ctx, t, Spec{
		Overlay: true,
		Args:    []string{"sh", "-c", "cp " + TestBin + " /tmp/dropped && /tmp/dropped marker /tmp/ran"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
	}
	for _, f := range []string{"tmp/dropped", "tmp/ran"} {
		if _, err := os.Stat(filepath.Join(c.UpperDir, f)); err != nil {
			t.Errorf("%s not in the upper layer: %v", f, err)
		}
		if _, err := os.Stat(filepath.Join(Rootfs(t), f)); !os.IsNotExist(err) {
			t.Errorf("%s leaked into the shared rootfs (%v)", f, err)
		}
	}
}

func TestReadOnlyRootfs(t *testing.T) {
	t.Parallel()
	r, err := Run(testContext(t), t, Spec{Args: []string{TestBin, "write", "/etc/mamori"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "read-only file system") {
		t.Errorf("write to the shared rootfs: exit %d stderr %q, want a read-only error", r.ExitCode, r.Stderr)
	}
}

func TestSeccompDenies(t *testing.T) {
	t.Parallel()
	deny := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"sysinfo"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(unix.EPERM)),
		}},
	}
	for _, tc := range []struct {
		name    string
		seccomp *specs.LinuxSeccomp
		code    int
		output  string
	}{
		{"no filter", nil, 0, "syscalls ok"},
		{"sysinfo denied", deny, 1, "sysinfo: EPERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Run(testContext(t), t, Spec{Args: []string{TestBin, "syscalls"}, Seccomp: tc.seccomp})
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.output) {
				t.Errorf("exit %d, output %q %q; want %d and %q", r.ExitCode, r.Stdout, r.Stderr, tc.code, tc.output)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// listen opens a loopback listener the container (sharing the host's
// network namespace) can reach.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestTestbinConnect(t *testing.T) {
	t.Parallel()
	l := listen(t)
	accepted := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- err.Error()
			return
		}
		accepted <- c.RemoteAddr().String()
		c.Close()
	}()
	r, err := Run(testContext(t), t, Spec{Args: []string{TestBin, "connect", l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "-> "+l.Addr().String()) {
		t.Fatalf("exit %d stdout %q stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	if got := <-accepted; !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("listener accepted %q", got)
	}
}

func TestTestbinReverseShell(t *testing.T) {
	t.Parallel()
	l := listen(t)
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	r, err := Run(testContext(t), t, Spec{Args: []string{TestBin, "reverse-shell", l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if out := <-got; r.ExitCode != 0 || !strings.HasPrefix(out, "uid=0(root)") {
		t.Errorf("exit %d, the shell sent %q over the socket (stderr %q)", r.ExitCode, out, r.Stderr)
	}
}

func TestTestbinServe(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c, err := Start(ctx, t, Spec{Args: []string{TestBin, "serve", "0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitOutput(ctx, "\n"); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimSpace(strings.TrimPrefix(c.Stdout(), "listening "))
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b, _ := io.ReadAll(conn)
	r, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello from mamori-testbin\n" || r.ExitCode != 0 || !strings.Contains(r.Stdout, "accepted 127.0.0.1:") {
		t.Errorf("got %q from the server; exit %d stdout %q stderr %q", b, r.ExitCode, r.Stdout, r.Stderr)
	}
}

// TestTestbinCommands runs the subcommands that need no peer and checks
// what the kernel let them do with the default capabilities.
func TestTestbinCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		caps   []string
		code   int
		output string
	}{
		{"open", []string{"open", "/etc/shadow"}, nil, 0, "read "},
		{"open missing", []string{"open", "/etc/nope"}, nil, 1, "no such file"},
		{"write", []string{"write", "/tmp/x"}, nil, 0, ""},
		{"setuid", []string{"setuid", "1000"}, nil, 0, "uid 1000"},
		{"setgid", []string{"setgid", "1000"}, nil, 0, "gid 1000"},
		{"setuid without CAP_SETUID", []string{"setuid", "1000"}, []string{}, 1, "setuid: EPERM"},
		{"capset", []string{"capset"}, nil, 0, "capset effective="},
		{"capset raise", []string{"capset", "1fffffffff"}, nil, 1, "capset: EPERM"},
		{"unshare", []string{"unshare", "mnt"}, nil, 1, "unshare: EPERM"},
		{"unshare with CAP_SYS_ADMIN", []string{"unshare", "uts"}, []string{"CAP_SYS_ADMIN"}, 0, "unshared uts"},
		{"setns", []string{"setns"}, nil, 1, "setns: EPERM"},
		{"mount", []string{"mount"}, nil, 1, "mount: EPERM"},
		{"mount with CAP_SYS_ADMIN", []string{"mount"}, []string{"CAP_SYS_ADMIN"}, 0, "mounted /tmp/mamori-mnt"},
		{"ptrace", []string{"ptrace", "1"}, nil, 1, "ptrace: EPERM"},
		{"memfd-exec", []string{"memfd-exec"}, nil, 0, "memfd-exec-ok"},
		{"module", []string{"module"}, nil, 0, "finit_module E"},
		{"marker", []string{"marker", "/tmp/m"}, nil, 0, ""},
		{"syscalls", []string{"syscalls"}, nil, 0, "syscalls ok"},
		{"unknown", []string{"fly"}, nil, 2, "usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Run(testContext(t), t, Spec{Args: append([]string{TestBin}, tc.args...), Capabilities: tc.caps})
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.output) {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d and %q", r.ExitCode, r.Stdout, r.Stderr, tc.code, tc.output)
			}
		})
	}
}
