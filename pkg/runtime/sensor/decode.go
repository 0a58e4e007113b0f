package sensor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// Kernel event kinds (enum kind in sensor.bpf.c).
const (
	kExec = 1 + iota
	kExit
	kOpen
	kConnect
	kAccept
	kPriv
	kNS
	kModule
	kPtrace
	kMemfd
)

// Offsets into the records; sensor_test.go checks them against the
// bpf2go-generated layouts.
const (
	hdrSize    = 72
	pathSz     = 256
	execBinOff = hdrSize + 8
	execCwdOff = execBinOff + 2*pathSz
	execArgOff = execCwdOff + 2*pathSz
	execSize   = execArgOff + 512
	exitSize   = hdrSize + 8
	openSize   = hdrSize + 8 + 2*pathSz
	netSize    = hdrSize + 8 + 32
	sysSize    = hdrSize + 16 + 24 + 48 + 3*64
	sysCredOff = hdrSize + 16
	sysArgOff  = sysCredOff + 24
	sysStrOff  = sysArgOff + 48
)

var le = binary.LittleEndian

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// pathAt returns the right-aligned path build_path wrote into buf.
func pathAt(buf []byte, off uint16) string {
	if int(off) >= pathSz-1 {
		return ""
	}
	return string(buf[off : pathSz-1])
}

func (s *Sensor) decode(b []byte) (*event.Event, error) {
	if len(b) < hdrSize {
		return nil, fmt.Errorf("record of %d bytes, shorter than the %d-byte header", len(b), hdrSize)
	}
	e := &event.Event{
		Time: s.bootWall.Add(time.Duration(le.Uint64(b[32:]))),
		Process: event.Process{
			PID:       le.Uint32(b[4:]),
			TID:       le.Uint32(b[8:]),
			PPID:      le.Uint32(b[12:]),
			UID:       le.Uint32(b[16:]),
			GID:       le.Uint32(b[20:]),
			EUID:      le.Uint32(b[24:]),
			CgroupID:  le.Uint64(b[40:]),
			StartTime: le.Uint64(b[48:]),
			Comm:      cstr(b[56:72]),
		},
	}
	if e.Process.TID == e.Process.PID {
		e.Process.TID = 0
	}
	kind, flags := b[0], le.Uint16(b[2:])
	var need int
	switch kind {
	case kExec:
		need = execSize
	case kExit:
		need = exitSize
	case kOpen:
		need = openSize
	case kConnect, kAccept:
		need = netSize
	case kPriv, kNS, kModule, kPtrace, kMemfd:
		need = sysSize
	}
	if need == 0 {
		return nil, fmt.Errorf("unknown event kind %d", kind)
	}
	if len(b) < need {
		return nil, fmt.Errorf("kind %d record of %d bytes, want %d", kind, len(b), need)
	}
	switch kind {
	case kExec:
		e.Kind, e.Sensor = event.Exec, "sched_process_exec"
		p := &e.Process
		p.Binary = pathAt(b[execBinOff:execCwdOff], le.Uint16(b[hdrSize:]))
		p.Cwd = pathAt(b[execCwdOff:execArgOff], le.Uint16(b[hdrSize+2:]))
		n := int(le.Uint16(b[hdrSize+4:]))
		p.Args = splitArgs(b[execArgOff : execArgOff+min(n, 512)])
		p.Memfd = flags&1 != 0
		p.UpperLayer = flags&2 != 0
		p.StdinSocket = flags&4 != 0
		p.StdoutSocket = flags&8 != 0
		if k := le.Uint32(b[28:]); k > 0 && int(k) <= len(s.kills) {
			e.Killed = s.kills[k-1].Rule
		}
	case kExit:
		e.Kind, e.Sensor = event.Exit, "sched_process_exit"
		code := int32(le.Uint32(b[hdrSize:]))
		e.Exit = &event.ExitInfo{Code: int(code>>8) & 0xff, Signal: int(code & 0x7f)}
	case kOpen:
		e.Kind, e.Sensor = event.Open, "open"
		fl := le.Uint32(b[hdrSize:])
		e.File = &event.File{
			Path:  pathAt(b[hdrSize+8:], le.Uint16(b[hdrSize+4:])),
			Flags: fl,
			Write: fl&unix.O_ACCMODE != 0 || fl&(unix.O_CREAT|unix.O_TRUNC) != 0,
		}
	case kConnect, kAccept:
		n := &event.Net{Direction: event.Outbound}
		e.Kind, e.Sensor = event.Connect, "connect"
		if kind == kAccept {
			e.Kind, e.Sensor, n.Direction = event.Accept, "accept", event.Inbound
		}
		fam := le.Uint16(b[hdrSize:])
		switch le.Uint16(b[hdrSize+2:]) {
		case unix.IPPROTO_TCP:
			n.Protocol = "tcp"
		case unix.IPPROTO_UDP:
			n.Protocol = "udp"
		default:
			n.Protocol = fmt.Sprint(le.Uint16(b[hdrSize+2:]))
		}
		local, localPort := addr(fam, b[hdrSize+8:hdrSize+24]), le.Uint16(b[hdrSize+4:])
		remote, remotePort := addr(fam, b[hdrSize+24:hdrSize+40]), le.Uint16(b[hdrSize+6:])
		n.Family = "ipv4"
		if fam == unix.AF_INET6 {
			n.Family = "ipv6"
		}
		if kind == kConnect {
			n.SrcAddr, n.SrcPort, n.DstAddr, n.DstPort = local, localPort, remote, remotePort
			if localPort == 0 {
				n.SrcAddr = ""
			}
		} else {
			n.SrcAddr, n.SrcPort, n.DstAddr, n.DstPort = remote, remotePort, local, localPort
		}
		e.Net = n
	default:
		decodeSyscall(e, kind, b)
	}
	return e, nil
}

func addr(family uint16, b []byte) string {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4])).String()
	}
	a := netip.AddrFrom16([16]byte(b[:16]))
	return a.Unmap().String()
}

func splitArgs(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func decodeSyscall(e *event.Event, kind byte, b []byte) {
	nr := int32(le.Uint32(b[hdrSize:]))
	e.Ret = int64(le.Uint64(b[hdrSize+8:]))
	var args [6]uint64
	for i := range args {
		args[i] = le.Uint64(b[sysArgOff+8*i:])
	}
	var strs [3]string
	for i := range strs {
		off := sysStrOff + 64*i
		strs[i] = cstr(b[off : off+64])
	}
	name := syscallName(nr)
	e.Sensor = "syscalls/" + name
	switch kind {
	case kPriv:
		e.Kind = event.Privilege
		p := &event.PrivilegeInfo{Syscall: name}
		var n int
		switch name {
		case "setuid", "setgid", "setfsuid", "setfsgid":
			n = 1
		case "setreuid", "setregid":
			n = 2
		case "setresuid", "setresgid":
			n = 3
		}
		for i := range n {
			p.IDs = append(p.IDs, int64(int32(uint32(args[i]))))
		}
		// Judged on the kernel-global credentials before (the header) and
		// after (read at exit): what the kernel granted, not what was asked
		// in a user namespace's numbering; setfs*id never reports failure.
		var after [6]uint32
		for i := range after {
			after[i] = le.Uint32(b[sysCredOff+4*i:])
		}
		uid, euid, gid := e.Process.UID, e.Process.EUID, e.Process.GID
		switch name {
		case "setuid", "setreuid", "setresuid":
			p.ToRoot = after[0] == 0 && uid != 0 || after[1] == 0 && euid != 0
		case "setfsuid":
			p.ToRoot = after[2] == 0 && euid != 0
		case "setgid", "setregid", "setresgid":
			p.ToRoot = (after[3] == 0 || after[4] == 0) && gid != 0
		case "setfsgid":
			p.ToRoot = after[5] == 0 && gid != 0
		}
		e.Privilege = p
	case kNS:
		e.Kind = event.Namespace
		ns := &event.NamespaceInfo{Syscall: name}
		switch name {
		case "setns":
			ns.Flags = args[1]
		case "unshare":
			ns.Flags = args[0]
		case "mount":
			ns.Source, ns.Target, ns.FSType, ns.Flags = strs[0], strs[1], strs[2], args[3]
		case "pivot_root":
			ns.Source, ns.Target = strs[0], strs[1]
		}
		if name == "setns" || name == "unshare" {
			ns.Namespaces = namespaces(ns.Flags)
		}
		e.Namespace = ns
	case kModule:
		e.Kind = event.Module
		m := &event.ModuleInfo{Syscall: name}
		if name == "init_module" {
			m.Args = strs[2]
		} else if name == "finit_module" {
			m.Args = strs[1]
		}
		e.Module = m
	case kPtrace:
		e.Kind = event.Ptrace
		e.Ptrace = &event.PtraceInfo{Request: ptraceRequest(args[0]), TargetPID: uint32(args[1])}
	case kMemfd:
		e.Kind = event.Memfd
		e.Memfd = &event.MemfdInfo{Name: strs[0], Flags: uint32(args[1])}
	}
}

func namespaces(flags uint64) []string {
	var out []string
	for _, f := range []struct {
		bit  uint64
		name string
	}{
		{unix.CLONE_NEWNS, "mnt"}, {unix.CLONE_NEWCGROUP, "cgroup"}, {unix.CLONE_NEWUTS, "uts"},
		{unix.CLONE_NEWIPC, "ipc"}, {unix.CLONE_NEWUSER, "user"}, {unix.CLONE_NEWPID, "pid"},
		{unix.CLONE_NEWNET, "net"}, {unix.CLONE_NEWTIME, "time"},
	} {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

func ptraceRequest(r uint64) string {
	switch r {
	case unix.PTRACE_TRACEME:
		return "PTRACE_TRACEME"
	case unix.PTRACE_PEEKTEXT:
		return "PTRACE_PEEKTEXT"
	case unix.PTRACE_PEEKDATA:
		return "PTRACE_PEEKDATA"
	case unix.PTRACE_PEEKUSR:
		return "PTRACE_PEEKUSR"
	case unix.PTRACE_POKETEXT:
		return "PTRACE_POKETEXT"
	case unix.PTRACE_POKEDATA:
		return "PTRACE_POKEDATA"
	case unix.PTRACE_POKEUSR:
		return "PTRACE_POKEUSR"
	case unix.PTRACE_CONT:
		return "PTRACE_CONT"
	case unix.PTRACE_KILL:
		return "PTRACE_KILL"
	case unix.PTRACE_SINGLESTEP:
		return "PTRACE_SINGLESTEP"
	case unix.PTRACE_ATTACH:
		return "PTRACE_ATTACH"
	case unix.PTRACE_DETACH:
		return "PTRACE_DETACH"
	case unix.PTRACE_SYSCALL:
		return "PTRACE_SYSCALL"
	case unix.PTRACE_SETOPTIONS:
		return "PTRACE_SETOPTIONS"
	case unix.PTRACE_GETEVENTMSG:
		return "PTRACE_GETEVENTMSG"
	case unix.PTRACE_GETSIGINFO:
		return "PTRACE_GETSIGINFO"
	case unix.PTRACE_GETREGSET:
		return "PTRACE_GETREGSET"
	case unix.PTRACE_SETREGSET:
		return "PTRACE_SETREGSET"
	case unix.PTRACE_SEIZE:
		return "PTRACE_SEIZE"
	case unix.PTRACE_INTERRUPT:
		return "PTRACE_INTERRUPT"
	case unix.PTRACE_LISTEN:
		return "PTRACE_LISTEN"
	}
	return fmt.Sprintf("PTRACE_%d", r)
}

// Syscall numbers of this architecture, from x/sys/unix.
const (
	sysInitModule  = unix.SYS_INIT_MODULE
	sysFinitModule = unix.SYS_FINIT_MODULE
)

func syscallName(nr int32) string {
	switch nr {
	case unix.SYS_SETUID:
		return "setuid"
	case unix.SYS_SETGID:
		return "setgid"
	case unix.SYS_SETREUID:
		return "setreuid"
	case unix.SYS_SETREGID:
		return "setregid"
	case unix.SYS_SETRESUID:
		return "setresuid"
	case unix.SYS_SETRESGID:
		return "setresgid"
	case unix.SYS_SETFSUID:
		return "setfsuid"
	case unix.SYS_SETFSGID:
		return "setfsgid"
	case unix.SYS_CAPSET:
		return "capset"
	case unix.SYS_SETNS:
		return "setns"
	case unix.SYS_UNSHARE:
		return "unshare"
	case unix.SYS_MOUNT:
		return "mount"
	case unix.SYS_FSMOUNT:
		return "fsmount"
	case unix.SYS_MOVE_MOUNT:
		return "move_mount"
	case unix.SYS_PIVOT_ROOT:
		return "pivot_root"
	case unix.SYS_PTRACE:
		return "ptrace"
	case unix.SYS_MEMFD_CREATE:
		return "memfd_create"
	case unix.SYS_INIT_MODULE:
		return "init_module"
	case unix.SYS_FINIT_MODULE:
		return "finit_module"
	}
	return fmt.Sprintf("syscall_%d", nr)
}

func putString(dst []int8, s string) {
	for i := range min(len(s), len(dst)) {
		dst[i] = int8(s[i])
	}
}
