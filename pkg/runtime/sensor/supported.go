package sensor

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Supported says whether the sensor can load here, and if not, why.
func Supported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)", ErrNotSupported)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("%w: the kernel exposes no BTF (/sys/kernel/btf/vmlinux), needed for CO-RE", ErrNotSupported)
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("%w: no BPF ring buffers (Linux 5.8+): %v", ErrNotSupported, err)
	}
	return nil
}

// Feature is one kernel capability the sensor may use.
type Feature struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	// Detail says how it was probed or why it is missing.
	Detail string `json:"detail,omitempty"`
	// Used says what mamori uses it for (or would).
	Used string `json:"used"`
}

// Features probes what this kernel offers: by loading and attaching tiny
// programs, not by reading the kernel configuration, which can lie
// (lockdown, disabled at boot).
func Features() []Feature {
	var out []Feature
	add := func(name, used string, err error, okDetail string) {
		f := Feature{Name: name, Used: used, Available: err == nil, Detail: okDetail}
		if err != nil {
			f.Detail = err.Error()
		}
		out = append(out, f)
	}
	uname := unix.Utsname{}
	_ = unix.Uname(&uname)
	rel := strings.TrimRight(string(uname.Release[:]), "\x00")
	_, btfErr := os.Stat("/sys/kernel/btf/vmlinux")
	add("btf", "CO-RE: one object for every kernel", btfErr, "kernel "+rel)
	add("ringbuf", "events leave the kernel through a ring buffer", features.HaveMapType(ebpf.RingBuf), "")
	add("tracepoint", "syscall tracepoints: opens, connects, accepts, privilege, namespace, ptrace, memfd", probeAttach(ebpf.TracePoint, "tracepoint"), "")
	add("raw_tracepoint", "exec/exit fallback; syscall counting for advise seccomp", probeAttach(ebpf.RawTracepoint, "raw_tp"), "")
	add("tp_btf", "exec/exit with typed arguments", probeAttach(ebpf.Tracing, "tp_btf"), "")
	add("bpf_send_signal", "in-kernel kill at exec", features.HaveProgramHelper(ebpf.TracePoint, asm.FnSendSignal), "")
	add("kprobe", "not used: mamori needs no kprobes", probeAttach(ebpf.Kprobe, "kprobe"), "")
	add("fentry", "not used: mamori needs no fentry/fexit", probeAttach(ebpf.Tracing, "fentry"), "")
	add("bpf_lsm", "not used: in-kernel kill happens at the exec tracepoint instead", probeLSM(), "")
	return out
}

func probeAttach(typ ebpf.ProgramType, how string) error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	spec := &ebpf.ProgramSpec{
		Type:         typ,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}
	switch how {
	case "tp_btf":
		spec.AttachType, spec.AttachTo = ebpf.AttachTraceRawTp, "sched_process_exec"
	case "fentry":
		spec.AttachType, spec.AttachTo = ebpf.AttachTraceFEntry, "do_unlinkat"
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer prog.Close()
	var l link.Link
	switch how {
	case "tracepoint":
		if err := mountTracefs(); err != nil {
			return err
		}
		l, err = link.Tracepoint("syscalls", "sys_enter_openat", prog, nil)
	case "raw_tp":
		l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: prog})
	case "tp_btf", "fentry":
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	case "kprobe":
		l, err = link.Kprobe("do_unlinkat", prog, nil)
	}
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return l.Close()
}

func probeLSM() error {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return fmt.Errorf("no securityfs LSM list: %w", err)
	}
	if !strings.Contains(","+strings.TrimSpace(string(b))+",", ",bpf,") {
		return fmt.Errorf("bpf is not in the active LSMs (%s)", strings.TrimSpace(string(b)))
	}
	return probeAttach(ebpf.LSM, "lsm")
}

// HaveSendSignal says whether programs on tracepoints may call
// bpf_send_signal (the in-kernel kill).
func HaveSendSignal() bool {
	return features.HaveProgramHelper(ebpf.TracePoint, asm.FnSendSignal) == nil
}
