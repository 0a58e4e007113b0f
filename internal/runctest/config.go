//go:build linux

package runctest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultCaps is the capability set containerd and Docker give a container
// that asks for nothing else.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// config is the OCI runtime config for s, rooted at rootfs.
func config(s Spec, rootfs, cgPath string) *specs.Spec {
	caps := s.Capabilities
	if caps == nil {
		caps = defaultCaps
	}
	cwd := s.Cwd
	if cwd == "" {
		cwd = "/"
	}
	nss := []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}}
	if s.PrivateNetwork {
		nss = append(nss, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	if !s.Overlay {
		// A read-only shared root: writes go to a tmpfs. With an overlay
		// /tmp stays in the upper layer, as in a Kubernetes container.
		mounts = append(mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
	}
	mounts = append(mounts, s.Mounts...)
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			User: s.User,
			Args: s.Args,
			Env:  append([]string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=/root"}, s.Env...),
			Cwd:  cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: s.NoNewPrivileges,
		},
		Root:     &specs.Root{Path: rootfs, Readonly: !s.Overlay},
		Hostname: "runctest",
		Mounts:   mounts,
		Linux: &specs.Linux{
			CgroupsPath: cgPath,
			Namespaces:  nss,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Seccomp: s.Seccomp,
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// cgroupPath is the kubelet's cgroupfs-driver path for a containerd
// container, under a prefix unique to this test process (so concurrent
// test runs never share, and cleanup can remove everything it made).
func cgroupPath(qos, podUID, id string) (string, error) {
	if strings.ContainsAny(podUID+id, "/.") || podUID == "" || id == "" {
		return "", fmt.Errorf("runctest: bad pod UID %q or container ID %q", podUID, id)
	}
	p := "/mamori-runctest-" + strconv.Itoa(os.Getpid()) + "/kubepods"
	switch qos {
	case "", "besteffort":
		p += "/besteffort"
	case "burstable":
		p += "/burstable"
	case "guaranteed":
	default:
		return "", fmt.Errorf("runctest: QoS %q is not besteffort, burstable or guaranteed", qos)
	}
	return p + "/pod" + podUID + "/" + id, nil
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on a unified host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Root() (string, error) {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
}

// cgroupMounts lists the mount points of every cgroup hierarchy (v1 and v2)
// mounted at its root.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source super
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fs := fields[sep+1]; (fs == "cgroup" || fs == "cgroup2") && fields[3] == "/" {
			out = append(out, fields[4])
		}
	}
	return out, sc.Err()
}

// cgroupMu keeps removeCgroups from removing an ancestor cgroup that runc
// has just created for a container starting in parallel in this process
// (read-locked while runc sets a container's cgroups up).
var cgroupMu sync.RWMutex

// removeCgroups removes the container's cgroup and its ancestors up to
// the test process's prefix in every hierarchy; ancestors still holding
// other containers are busy and stay.
func removeCgroups(t testing.TB, cgPath string) {
	mounts, err := cgroupMounts()
	if err != nil {
		t.Errorf("runctest: %v", err)
		return
	}
	cgroupMu.Lock()
	defer cgroupMu.Unlock()
	for _, m := range mounts {
		leaf := true
		for p := cgPath; p != "/" && p != "."; p = filepath.Dir(p) {
			dir := filepath.Join(m, p)
			err := rmdirRetry(dir, leaf)
			if err != nil && !errors.Is(err, unix.ENOENT) {
				if leaf {
					t.Errorf("runctest: remove cgroup %s: %v", dir, err)
				}
				break
			}
			leaf = false
		}
	}
}

// rmdirRetry removes a cgroup directory; a leaf is retried for a while, as
// the kernel may still be tearing down its last processes.
func rmdirRetry(dir string, leaf bool) error {
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || !leaf || !errors.Is(err, unix.EBUSY) || i == 100 {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mountOverlay mounts lower under a fresh upper layer at bundle/rootfs.
func mountOverlay(bundle, lower string) (root, upper string, err error) {
	root, upper, work := filepath.Join(bundle, "rootfs"), filepath.Join(bundle, "upper"), filepath.Join(bundle, "work")
	for _, d := range []string{root, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", "", err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return "", "", fmt.Errorf("runctest: mount overlay at %s (%s): %w", root, opts, err)
	}
	return root, upper, nil
}
