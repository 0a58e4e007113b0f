// Package event is the model of what mamori's runtime sensor sees: one
// Event per process execution, exit, sensitive file open, connection,
// privilege or namespace change, module load, ptrace or memfd, each tied to
// its process and, where enrichment can tell, its container and pod.
//
// Every other runtime package speaks this model: the eBPF sensor decodes
// into it, enrichment fills Container, rules evaluate CEL over it, actions
// and outputs report it.
package event

import "time"

// Kind says what happened.
type Kind string

// Kinds of events.
const (
	// Exec is a successful execve/execveat: Process is the new image.
	Exec Kind = "exec"
	// Exit is a process (thread-group leader) ending; Exit is set.
	Exit Kind = "exit"
	// Open is an open of a watched path; File is set.
	Open Kind = "open"
	// Connect is an outbound connect(2) on an IPv4/IPv6 socket; Net is set.
	Connect Kind = "connect"
	// Accept is an inbound connection accepted; Net is set.
	Accept Kind = "accept"
	// Privilege is a setuid/setgid/setres*id/setfs*id/capset call; Privilege is set.
	Privilege Kind = "privilege"
	// Namespace is setns, unshare, mount or a new-mount-API call; Namespace is set.
	Namespace Kind = "namespace"
	// Module is an init_module/finit_module call; Module is set.
	Module Kind = "module"
	// Ptrace is a ptrace(2) call; Ptrace is set.
	Ptrace Kind = "ptrace"
	// Memfd is a memfd_create(2) call; Memfd is set.
	Memfd Kind = "memfd"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{Exec, Exit, Open, Connect, Accept, Privilege, Namespace, Module, Ptrace, Memfd}

// Event is one observation.
type Event struct {
	// Time is when the kernel saw it (wall clock, converted from the
	// kernel's monotonic boot time).
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// Sensor names the kernel hook that produced the event (e.g.
	// "tp_btf/sched_process_exec"), for drop accounting and --check.
	Sensor  string  `json:"sensor,omitempty"`
	Process Process `json:"process"`
	// Parent is the parent process as the process cache knew it (nil when
	// the parent started before the sensor and could not be read).
	Parent *ProcessRef `json:"parent,omitempty"`

	Exit      *ExitInfo      `json:"exit,omitempty"`
	File      *File          `json:"file,omitempty"`
	Net       *Net           `json:"net,omitempty"`
	Privilege *PrivilegeInfo `json:"privilege,omitempty"`
	Namespace *NamespaceInfo `json:"namespace,omitempty"`
	Module    *ModuleInfo    `json:"module,omitempty"`
	Ptrace    *PtraceInfo    `json:"ptrace,omitempty"`
	Memfd     *MemfdInfo     `json:"memfd,omitempty"`

	// Container is the container the process runs in; nil for host
	// processes (Host is then true) and for cgroups not yet resolved.
	Container *Container `json:"container,omitempty"`
	// Host is true when the process runs outside any container.
	Host bool `json:"host"`
	// Killed is set when an enforcing rule killed the process in the
	// kernel, before this event left it (value: the rule ID).
	Killed string `json:"killed,omitempty"`
	// Ret is the syscall's return value for privilege, namespace, module,
	// ptrace and memfd events (a negative errno when the call failed).
	Ret int64 `json:"ret"`
}

// Process is the process an event belongs to.
type Process struct {
	PID  uint32 `json:"pid"`
	TID  uint32 `json:"tid,omitempty"`
	PPID uint32 `json:"ppid"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	// EUID is the effective user ID (what "runs as root" means).
	EUID uint32 `json:"euid"`
	// Comm is the kernel's 16-byte task name.
	Comm string `json:"comm"`
	// Binary is the executable's path as the process sees it (inside its
	// mount namespace root), resolved by the kernel, not the argv[0].
	Binary string   `json:"binary"`
	Args   []string `json:"args,omitempty"`
	Cwd    string   `json:"cwd,omitempty"`
	// CgroupID is the cgroup v2 ID (the inode of the cgroup directory).
	CgroupID uint64 `json:"cgroupID"`
	// StartTime is the kernel's start time of the process (boot-relative
	// nanoseconds): with PID it identifies a process across PID reuse.
	StartTime uint64 `json:"startTime,omitempty"`
	// Memfd is true when the executable is an anonymous memory file
	// (memfd_create then exec: fileless execution).
	Memfd bool `json:"memfd,omitempty"`
	// UpperLayer is true when the executable lives in the container's
	// writable overlay layer, not in the image (container drift).
	UpperLayer bool `json:"upperLayer,omitempty"`
	// StdinSocket and StdoutSocket say whether fd 0 / fd 1 are sockets at
	// exec (the reverse-shell pattern).
	StdinSocket  bool `json:"stdinSocket,omitempty"`
	StdoutSocket bool `json:"stdoutSocket,omitempty"`
}

// ProcessRef is the little the cache keeps of an ancestor.
type ProcessRef struct {
	PID    uint32   `json:"pid"`
	Comm   string   `json:"comm"`
	Binary string   `json:"binary,omitempty"`
	Args   []string `json:"args,omitempty"`
}

// ExitInfo is how a process ended.
type ExitInfo struct {
	// Code is the exit status (0–255) when the process exited normally.
	Code int `json:"code"`
	// Signal is the signal that killed it, 0 when it exited.
	Signal int `json:"signal,omitempty"`
}

// Open flags worth naming (the O_ACCMODE bits plus creation).
const (
	OpenRead  = "read"
	OpenWrite = "write"
)

// File is a watched file open.
type File struct {
	// Path is the resolved path (symlinks followed by the kernel) as the
	// process sees it.
	Path string `json:"path"`
	// Flags are the open(2) flags.
	Flags uint32 `json:"flags"`
	// Write is true for O_WRONLY, O_RDWR, O_CREAT or O_TRUNC.
	Write bool `json:"write"`
}

// Directions of a connection.
const (
	Outbound = "outbound"
	Inbound  = "inbound"
)

// Net is a connection.
type Net struct {
	// Family is "ipv4" or "ipv6".
	Family string `json:"family"`
	// Protocol is "tcp" or "udp".
	Protocol  string `json:"protocol"`
	Direction string `json:"direction"`
	// Local and remote ends; SrcAddr/SrcPort is the local side for an
	// outbound connect and the remote side for an accept, as in the
	// kernel's view of who initiated.
	SrcAddr string `json:"srcAddr,omitempty"`
	SrcPort uint16 `json:"srcPort,omitempty"`
	DstAddr string `json:"dstAddr"`
	DstPort uint16 `json:"dstPort"`
}

// PrivilegeInfo is a credential change request.
type PrivilegeInfo struct {
	// Syscall is the call's name, e.g. "setuid", "setresgid", "capset".
	Syscall string `json:"syscall"`
	// UID/GID are the requested IDs (-1 = unchanged) for the set*id
	// family; for setres*id the real, effective and saved values.
	IDs []int64 `json:"ids,omitempty"`
	// Effective is the requested effective capability set for capset.
	Effective uint64 `json:"effective,omitempty"`
	// Permitted is the requested permitted capability set for capset.
	Permitted uint64 `json:"permitted,omitempty"`
	// ToRoot is true when the call asks for UID or GID 0 (any of real,
	// effective, saved, fs) from a process not already running as root.
	ToRoot bool `json:"toRoot"`
}

// NamespaceInfo is a namespace or mount change.
type NamespaceInfo struct {
	// Syscall is "setns", "unshare", "mount", "fsmount", "move_mount" or "pivot_root".
	Syscall string `json:"syscall"`
	// Flags are the CLONE_NEW* flags (setns nstype, unshare flags) or the
	// mount flags.
	Flags uint64 `json:"flags"`
	// Namespaces names the namespaces the flags ask for, e.g. ["mnt","pid"].
	Namespaces []string `json:"namespaces,omitempty"`
	// Source, Target and FSType are mount(2)'s arguments.
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	FSType string `json:"fstype,omitempty"`
}

// ModuleInfo is a kernel module load request.
type ModuleInfo struct {
	// Syscall is "init_module" or "finit_module".
	Syscall string `json:"syscall"`
	// Args are the module parameters string.
	Args string `json:"args,omitempty"`
}

// PtraceInfo is a ptrace request.
type PtraceInfo struct {
	// Request is the request's name, e.g. "PTRACE_ATTACH", "PTRACE_POKETEXT".
	Request   string `json:"request"`
	TargetPID uint32 `json:"targetPID"`
}

// MemfdInfo is a memfd_create call.
type MemfdInfo struct {
	Name  string `json:"name"`
	Flags uint32 `json:"flags"`
}

// Container is where a process runs, as enrichment resolved it.
type Container struct {
	// ID is the container runtime's ID (64 hex digits for containerd,
	// CRI-O and Docker).
	ID string `json:"id"`
	// Runtime is "containerd", "cri-o" or "docker" (from the cgroup path).
	Runtime string `json:"runtime,omitempty"`
	// Name and Image come from the pod's status when a pod matched.
	Name  string `json:"name,omitempty"`
	Image string `json:"image,omitempty"`
	Pod   *Pod   `json:"pod,omitempty"`
	// CgroupPath is the cgroup v2 path relative to the hierarchy root.
	CgroupPath string `json:"cgroupPath,omitempty"`
}

// Pod is the Kubernetes pod of a container.
type Pod struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Workload is the owning controller, resolved through ReplicaSets and
	// Jobs to their Deployment or CronJob when the names tell.
	Workload *Workload `json:"workload,omitempty"`
	// ServiceAccount is spec.serviceAccountName.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// Workload is a pod's owning controller.
type Workload struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Namespace of the pod, or "" for host and unresolved containers.
func (e *Event) PodNamespace() string {
	if e.Container == nil || e.Container.Pod == nil {
		return ""
	}
	return e.Container.Pod.Namespace
}

// PodName of the pod, or "".
func (e *Event) PodName() string {
	if e.Container == nil || e.Container.Pod == nil {
		return ""
	}
	return e.Container.Pod.Name
}

// ContainerName of the container, or "".
func (e *Event) ContainerName() string {
	if e.Container == nil {
		return ""
	}
	return e.Container.Name
}

// Alert is a rule's verdict on an event.
type Alert struct {
	Time time.Time `json:"time"`
	// Rule is the rule ID; Title, Severity and Technique its metadata.
	Rule     string `json:"rule"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Technique is the MITRE ATT&CK technique ID, e.g. "T1059.004".
	Technique string `json:"technique,omitempty"`
	// Tactic is the MITRE ATT&CK tactic name, e.g. "Execution".
	Tactic string `json:"tactic,omitempty"`
	// Output is the rule's rendered output line.
	Output string `json:"output"`
	// Action is what was done: "alert", "kill" (user space), or
	// "kill-kernel" (killed in the exec hook). Mode is "monitor" or "enforce".
	Action string `json:"action"`
	Mode   string `json:"mode"`
	// ActionError says why an enforce action could not be carried out.
	ActionError string `json:"actionError,omitempty"`
	Event       *Event `json:"event"`
}
