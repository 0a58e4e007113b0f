package advise

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Arch is a CPU architecture, as Go names it.
type Arch string

// Architectures whose syscall numbers advise knows.
const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// seccompArch is the libseccomp name of each architecture. Only the native
// ABI is listed: syscalls made through the 32-bit x86 or x32 ABIs (never
// seen by a profile recorded from native numbers) get the default action.
var seccompArch = map[Arch]specs.Arch{AMD64: specs.ArchX86_64, ARM64: specs.ArchAARCH64}

// SyscallName names syscall number nr on arch.
func SyscallName(arch Arch, nr uint32) (string, bool) {
	var table []string
	switch arch {
	case AMD64:
		table = syscallsAmd64[:]
	case ARM64:
		table = syscallsArm64[:]
	}
	if int64(nr) >= int64(len(table)) || table[nr] == "" {
		return "", false
	}
	return table[nr], true
}

// RuntimeBaseline names the syscalls a container needs that a recording of
// its cgroup may not contain, so every generated profile allows them:
//
//   - execve, and what runc's init does after it has installed the filter
//     and before it execs the workload. For the Kubernetes default
//     (allowPrivilegeEscalation true, so no no_new_privs) runc 1.1 loads
//     the filter before it switches to the workload's user and
//     capabilities; measured with strace and with SCMP_ACT_LOG audit
//     records, for root and non-root users: capget, capset, chdir, close,
//     epoll_ctl, faccessat2 and faccessat (its check that the executable
//     is one), fchown (a non-root user's stdio), fstatfs, futex,
//     getdents64 (closing inherited fds), getpid, getppid, newfstatat,
//     openat, prctl, setgid, setgroups, setuid, write. With no_new_privs
//     runc loads it just before execve. A sensor that started after the
//     container did, or that attributes these to runc's init only, never
//     saw them.
//   - exit and exit_group: a long-running process recorded while it never
//     ended must still be able to end.
//   - rt_sigreturn and restart_syscall: the kernel's way back from a signal
//     handler and into an interrupted call; a recording without a signal
//     has neither, and denying them breaks the first SIGTERM.
var RuntimeBaseline = []string{
	"capget", "capset", "chdir", "close", "epoll_ctl", "execve", "exit", "exit_group", "faccessat", "faccessat2",
	"fchown", "fstatfs", "futex", "getdents64", "getpid", "getppid", "newfstatat", "openat",
	"prctl", "restart_syscall", "rt_sigreturn", "setgid", "setgroups", "setuid", "write",
}

// SeccompOptions shape a generated profile.
type SeccompOptions struct {
	// Arch is the architecture the syscall numbers are for (default AMD64).
	Arch Arch
	// DefaultAction is what happens to any other syscall:
	// specs.ActErrno (the default; fails with EPERM), specs.ActKillProcess,
	// or specs.ActLog (allow and log: a profile to try out first).
	DefaultAction specs.LinuxSeccompAction
	// NoBaseline leaves RuntimeBaseline out.
	NoBaseline bool
}

// Seccomp is a seccomp allow-list profile.
type Seccomp struct {
	Arch          Arch
	DefaultAction specs.LinuxSeccompAction
	// Syscalls are the allowed syscalls' names, sorted.
	Syscalls []string
}

// NewSeccomp builds the profile allowing every syscall with a non-zero
// count in any of counts (syscall number → times called, as the sensor
// counts per cgroup; several maps merge several containers or recordings),
// plus RuntimeBaseline. A number the architecture does not have is an
// error.
func NewSeccomp(opts SeccompOptions, counts ...map[uint32]uint64) (*Seccomp, error) {
	if opts.Arch == "" {
		opts.Arch = AMD64
	}
	if _, ok := seccompArch[opts.Arch]; !ok {
		return nil, fmt.Errorf("seccomp: unknown architecture %q (want amd64 or arm64)", opts.Arch)
	}
	switch opts.DefaultAction {
	case "":
		opts.DefaultAction = specs.ActErrno
	case specs.ActErrno, specs.ActKillProcess, specs.ActKill, specs.ActLog:
	default:
		return nil, fmt.Errorf("seccomp: default action %q is not SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS or SCMP_ACT_LOG", opts.DefaultAction)
	}
	names := map[string]bool{}
	if !opts.NoBaseline {
		for _, n := range RuntimeBaseline {
			if knownSyscall(opts.Arch, n) {
				names[n] = true
			}
		}
	}
	var unknown []uint32
	for _, m := range counts {
		for nr, n := range m {
			if n == 0 {
				continue
			}
			name, ok := SyscallName(opts.Arch, nr)
			if !ok {
				unknown = append(unknown, nr)
				continue
			}
			names[name] = true
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("seccomp: syscall numbers %v are not %s syscalls", slices.Compact(unknown), opts.Arch)
	}
	s := &Seccomp{Arch: opts.Arch, DefaultAction: opts.DefaultAction}
	for n := range names {
		s.Syscalls = append(s.Syscalls, n)
	}
	sort.Strings(s.Syscalls)
	return s, nil
}

// Without returns a copy of s that no longer allows the named syscalls.
func (s *Seccomp) Without(names ...string) *Seccomp {
	c := *s
	c.Syscalls = slices.DeleteFunc(slices.Clone(s.Syscalls), func(n string) bool { return slices.Contains(names, n) })
	return &c
}

// Merge returns the profile allowing what s or any of others allows; all
// must be for the same architecture, and the strictest default action
// wins (kill over errno over log).
func (s *Seccomp) Merge(others ...*Seccomp) (*Seccomp, error) {
	rank := map[specs.LinuxSeccompAction]int{specs.ActLog: 0, specs.ActErrno: 1, specs.ActKill: 2, specs.ActKillProcess: 2}
	c := &Seccomp{Arch: s.Arch, DefaultAction: s.DefaultAction, Syscalls: slices.Clone(s.Syscalls)}
	for _, o := range others {
		if o.Arch != s.Arch {
			return nil, fmt.Errorf("seccomp: cannot merge %s and %s profiles", s.Arch, o.Arch)
		}
		if rank[o.DefaultAction] > rank[c.DefaultAction] {
			c.DefaultAction = o.DefaultAction
		}
		c.Syscalls = append(c.Syscalls, o.Syscalls...)
	}
	sort.Strings(c.Syscalls)
	c.Syscalls = slices.Compact(c.Syscalls)
	return c, nil
}

// OCI is the profile as the runtime-spec filter runc (and containerd, from
// a Kubernetes Localhost profile) applies.
func (s *Seccomp) OCI() *specs.LinuxSeccomp {
	l := &specs.LinuxSeccomp{
		DefaultAction: s.DefaultAction,
		Architectures: []specs.Arch{seccompArch[s.Arch]},
		Syscalls: []specs.LinuxSyscall{{
			Names:  slices.Clone(s.Syscalls),
			Action: specs.ActAllow,
		}},
	}
	if s.DefaultAction == specs.ActErrno {
		eperm := uint(1)
		l.DefaultErrnoRet = &eperm
	}
	return l
}

// JSON is the profile as a Docker / Kubernetes Localhost seccomp profile
// file (the OCI filter's own JSON form), indented and newline-terminated.
func (s *Seccomp) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s.OCI(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SPO API identifiers.
const (
	SPOAPIVersion = "security-profiles-operator.x-k8s.io/v1beta1"
	SPOKind       = "SeccompProfile"
)

// SeccompProfile is the Security Profiles Operator's SeccompProfile
// resource (security-profiles-operator.x-k8s.io/v1beta1), the fields
// advise fills.
type SeccompProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              SeccompProfileSpec `json:"spec"`
}

// SeccompProfileSpec is a SeccompProfile's spec.
type SeccompProfileSpec struct {
	DefaultAction specs.LinuxSeccompAction `json:"defaultAction"`
	Architectures []specs.Arch             `json:"architectures,omitempty"`
	Syscalls      []SPOSyscall             `json:"syscalls,omitempty"`
}

// SPOSyscall is one syscall rule of a SeccompProfile.
type SPOSyscall struct {
	Names    []string                 `json:"names"`
	Action   specs.LinuxSeccompAction `json:"action"`
	ErrnoRet uint64                   `json:"errnoRet,omitempty"`
}

// SPO is the profile as a Security Profiles Operator SeccompProfile; the
// operator installs it on every node as
// localhost/operator/<namespace>/<name>.json.
func (s *Seccomp) SPO(namespace, name string) *SeccompProfile {
	return &SeccompProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: SPOAPIVersion, Kind: SPOKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: SeccompProfileSpec{
			DefaultAction: s.DefaultAction,
			Architectures: []specs.Arch{seccompArch[s.Arch]},
			Syscalls:      []SPOSyscall{{Names: slices.Clone(s.Syscalls), Action: specs.ActAllow}},
		},
	}
}

// ReadSeccomp reads an allow-list seccomp profile (Docker / OCI JSON, as
// JSON writes, or one written by hand or another tool) so that new
// observations can be merged into it. Only profiles advise can represent
// are accepted: one native architecture, an errno, kill or log default
// action, and rules that allow syscalls unconditionally; name is the file
// named in errors.
func ReadSeccomp(r io.Reader, name string) (*Seccomp, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var l specs.LinuxSeccomp
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %w", name, jsonError(r, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value", name)
	}
	s := &Seccomp{DefaultAction: l.DefaultAction}
	switch l.DefaultAction {
	case specs.ActErrno, specs.ActKillProcess, specs.ActKill, specs.ActLog:
	default:
		return nil, fmt.Errorf("%s: defaultAction %q is not an allow-list default (SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS or SCMP_ACT_LOG)", name, l.DefaultAction)
	}
	for _, a := range l.Architectures {
		var arch Arch
		for k, v := range seccompArch {
			if v == a {
				arch = k
			}
		}
		switch {
		case arch == "":
			return nil, fmt.Errorf("%s: architecture %q is not SCMP_ARCH_X86_64 or SCMP_ARCH_AARCH64", name, a)
		case s.Arch != "" && s.Arch != arch:
			return nil, fmt.Errorf("%s: more than one architecture (%s, %s)", name, s.Arch, arch)
		}
		s.Arch = arch
	}
	if s.Arch == "" {
		return nil, fmt.Errorf("%s: no architectures", name)
	}
	seen := map[string]bool{}
	for i, rule := range l.Syscalls {
		if rule.Action != specs.ActAllow || len(rule.Args) > 0 {
			return nil, fmt.Errorf("%s: syscalls[%d]: only unconditional SCMP_ACT_ALLOW rules can be merged (action %q, %d argument conditions)", name, i, rule.Action, len(rule.Args))
		}
		for _, n := range rule.Names {
			if !knownSyscall(s.Arch, n) {
				return nil, fmt.Errorf("%s: syscalls[%d]: %q is not a %s syscall", name, i, n, s.Arch)
			}
			if !seen[n] {
				seen[n] = true
				s.Syscalls = append(s.Syscalls, n)
			}
		}
	}
	sort.Strings(s.Syscalls)
	return s, nil
}

func knownSyscall(arch Arch, name string) bool {
	table := syscallsAmd64[:]
	if arch == ARM64 {
		table = syscallsArm64[:]
	}
	return name != "" && slices.Contains(table, name)
}

// jsonError adds the line to a JSON syntax or type error when the reader
// can be re-read to find it.
func jsonError(r io.Reader, err error) error {
	var off int64
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	default:
		return err
	}
	if br, ok := r.(interface {
		io.Seeker
		io.Reader
	}); ok {
		if _, serr := br.Seek(0, io.SeekStart); serr == nil {
			b, _ := io.ReadAll(io.LimitReader(br, off))
			return fmt.Errorf("line %d: %w", bytes.Count(b, []byte("\n"))+1, err)
		}
	}
	return err
}

// String lists the allowed syscalls, for messages.
func (s *Seccomp) String() string {
	return fmt.Sprintf("%s %s allow %s", s.Arch, s.DefaultAction, strings.Join(s.Syscalls, ","))
}
