// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mamori's runtime sensor. Only hooks these kernels offer without kprobes,
 * fentry or BPF LSM: tp_btf (with a raw_tp twin for kernels that lack it),
 * syscall tracepoints and one raw_tp on sys_enter that is attached only
 * while syscalls are being recorded. Events leave through one ring buffer;
 * every failed reservation is counted per sensor in `lost`.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PATH_SZ 256
#define PATH_BUF (2 * PATH_SZ)
#define ARGS_SZ 512
#define NAME_SZ 64
#define MAX_DEPTH 32

/* Stops clang from folding a bounds mask into an earlier comparison the
 * verifier cannot follow. */
#define BOUND(v, mask) ({ asm volatile("" : "+r"(v)); (v) & (mask); })

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define PROC_SUPER_MAGIC 0x9fa0
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define AF_INET 2
#define AF_INET6 10
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000

/* Event kinds; keep in step with sensor.go. */
enum kind {
	K_EXEC = 1,
	K_EXIT,
	K_OPEN,
	K_CONNECT,
	K_ACCEPT,
	K_PRIV,
	K_NS,
	K_MODULE,
	K_PTRACE,
	K_MEMFD,
};

/* Sensors, the index of `lost` and of the `seen` counters. */
enum sensor {
	S_EXEC,
	S_EXIT,
	S_OPEN,
	S_CONNECT,
	S_ACCEPT,
	S_SYSCALL,
	S_COUNT,
	S_MAX,
};

/* Exec flags. */
#define F_MEMFD 1
#define F_UPPER 2
#define F_STDIN_SOCK 4
#define F_STDOUT_SOCK 8

struct hdr {
	u8 kind;
	u8 sensor;
	u16 flags;
	u32 pid;
	u32 tid;
	u32 ppid;
	u32 uid;
	u32 gid;
	u32 euid;
	u32 killed; /* kill rule index + 1 */
	u64 ktime;
	u64 cgroup;
	u64 start;
	char comm[16];
};

struct exec_event {
	struct hdr h;
	u16 bin_off;
	u16 cwd_off;
	u16 args_len;
	u16 pad;
	char bin[PATH_BUF];
	char cwd[PATH_BUF];
	char args[ARGS_SZ];
};

struct exit_event {
	struct hdr h;
	s32 code;
	u32 pad;
};

struct open_event {
	struct hdr h;
	u32 flags;
	u16 path_off;
	u16 pad;
	char path[PATH_BUF];
};

struct net_event {
	struct hdr h;
	u16 family;
	u16 protocol;
	u16 sport;
	u16 dport;
	u8 saddr[16];
	u8 daddr[16];
};

/* A rare syscall (privilege, namespace, mount, module, ptrace, memfd):
 * arguments captured on entry, emitted on exit with the return value. */
struct sys_event {
	struct hdr h;
	s32 nr;
	u32 pad;
	s64 ret;
	/* Credentials after the call (kernel-global IDs: uid, euid, fsuid,
	 * gid, egid, fsgid), so "became root" is judged on what the kernel
	 * did, not on what was asked in a user namespace's numbering. */
	u32 cred[6];
	u64 args[6];
	char str[3][NAME_SZ];
};

/* Runtime configuration, written by user space at any time. */
struct config {
	u32 self_tgid;
	u32 cgroup_filter; /* only report cgroups in `cgroups` */
	u32 watch_proc_mem;
	u32 count_syscalls; /* raw sys_enter counts per cgroup in `cgroups` */
	u32 module_via_raw; /* no module syscall tracepoints: catch them in raw sys_enter */
	u32 init_module_nr; /* this architecture's numbers, from user space */
	u32 finit_module_nr;
	u32 pad;
};

struct lpm_key {
	u32 prefixlen;
	u8 path[PATH_SZ];
};

struct kill_rule {
	u32 containers_only;
	u32 selector; /* only cgroups in kill_cgroups for this rule */
};

struct kill_cgroup_key {
	u32 rule;
	u32 pad;
	u64 cgroup;
};

struct name_key {
	char name[NAME_SZ];
};

struct count_key {
	u64 cgroup;
	u32 nr;
	u32 pad;
};

struct scratch {
	struct lpm_key key;
	char paths[2][PATH_BUF];
	struct name_key name;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, S_MAX);
	__type(key, u32);
	__type(value, u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u8);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct lpm_key);
	__type(value, u8); /* 1 read, 2 write, 3 any */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} open_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct name_key);
	__type(value, u32); /* kill rule index */
} kill_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct lpm_key);
	__type(value, u32);
} kill_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, struct kill_rule);
} kill_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct kill_cgroup_key);
	__type(value, u8);
} kill_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u64);
	__type(value, struct sys_event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct count_key);
	__type(value, u64);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sys_event);
} sys_scratch SEC(".maps");

/* Wake the reader only once a batch is waiting: one wake-up per event
 * costs the traced program a cross-CPU interrupt on every exec. The reader
 * also polls on a short deadline, so a quiet ring is drained within it. */
#define WAKEUP_BYTES (64 << 10)
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
#define submit(e) bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP)

static __always_inline struct config *cfg(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&config_map, &zero);
}

static __always_inline void count_lost(u32 sensor)
{
	u64 *n = bpf_map_lookup_elem(&lost, &sensor);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* in_cgroups says whether the current cgroup, or one of its ancestors (a
 * pod's cgroup holds its containers'), is in the filter: a pod selected
 * before its containers start is watched from their first instruction. */
static __always_inline bool in_cgroups(u64 cgroup)
{
	if (bpf_map_lookup_elem(&cgroups, &cgroup))
		return true;
#pragma unroll
	for (int level = 0; level <= 8; level++) {
		u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (id == 0 || id == cgroup)
			break;
		if (bpf_map_lookup_elem(&cgroups, &id))
			return true;
	}
	return false;
}

/* skip says whether the current task is not to be reported: the agent
 * itself, or a cgroup outside the filter when one is set. */
static __always_inline bool skip(struct config *c, u64 cgroup)
{
	if (!c)
		return false;
	if (c->self_tgid && (u32)(bpf_get_current_pid_tgid() >> 32) == c->self_tgid)
		return true;
	if (c->cgroup_filter && !in_cgroups(cgroup))
		return true;
	return false;
}

static __always_inline void fill_hdr(struct hdr *h, struct task_struct *task, u8 kind, u8 sensor, u64 cgroup)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 ug = bpf_get_current_uid_gid();
	h->kind = kind;
	h->sensor = sensor;
	h->flags = 0;
	h->pid = id >> 32;
	h->tid = (u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (u32)ug;
	h->gid = ug >> 32;
	h->euid = BPF_CORE_READ(task, cred, euid.val);
	h->killed = 0;
	h->ktime = bpf_ktime_get_boot_ns();
	h->cgroup = cgroup;
	/* Boot time, as /proc/<pid>/stat counts it, so user space can tell a
	 * reused PID from the process the event came from. */
	h->start = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

struct walk {
	struct dentry *dentry;
	struct vfsmount *vmnt;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_m;
	u32 pos;
	u32 slot;
};

/* One step of the path walk, run by bpf_loop so the verifier checks it
 * once rather than once per depth. */
static long walk_step(u64 i, void *ctx)
{
	struct walk *w = ctx;
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	char *buf = s->paths[w->slot & 1];
	/* Plain copies: BPF_CORE_READ(w->x, …) would record CO-RE relocations
	 * against struct walk itself. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vmnt = w->vmnt;
	struct mount *mnt = w->mnt;
	if (dentry == w->root_d && (void *)vmnt == (void *)w->root_m)
		return 1;
	struct dentry *mnt_root = BPF_CORE_READ(vmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != mnt_root || mp == mnt)
			return 1; /* filesystem root or detached mount */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		w->vmnt = (void *)mp + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	u32 len = BPF_CORE_READ(dentry, d_name.len);
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	u32 pos = w->pos;
	if (len >= PATH_SZ || len + 1 > pos)
		return 1;
	pos -= len;
	bpf_probe_read_kernel(buf + BOUND(pos, PATH_SZ - 1), BOUND(len, PATH_SZ - 1), name);
	pos--;
	buf[BOUND(pos, PATH_SZ - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/*
 * build_path writes the path of (dentry, mnt) as seen from root into
 * scratch paths[slot], right-aligned ending at PATH_SZ-1, and returns the
 * offset where it starts. Mount points are crossed; the walk stops at
 * root, at the top of a detached mount (memfd, pipes) and after MAX_DEPTH
 * steps.
 */
static __always_inline u32 build_path(struct scratch *s, u32 slot, struct dentry *dentry, struct vfsmount *vmnt,
				      struct dentry *root_dentry, struct vfsmount *root_mnt)
{
	struct walk w = {
		.dentry = dentry,
		.vmnt = vmnt,
		.mnt = (void *)vmnt - bpf_core_field_offset(struct mount, mnt),
		.root_d = root_dentry,
		.root_m = root_mnt,
		.pos = PATH_SZ - 1,
		.slot = slot,
	};
	s->paths[slot & 1][PATH_SZ - 1] = 0;
	bpf_loop(MAX_DEPTH, walk_step, &w, 0);
	u32 pos = w.pos;
	if (pos >= PATH_SZ - 1) {
		pos = PATH_SZ - 2;
		s->paths[slot & 1][PATH_SZ - 2] = '/';
	}
	return pos;
}

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline bool is_socket(struct task_struct *task, long fd)
{
	struct file *f = fd_file(task, fd);
	if (!f)
		return false;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	return (mode & S_IFMT) == S_IFSOCK;
}

static __always_inline bool in_container(struct task_struct *task)
{
	return BPF_CORE_READ(task, thread_pid, level) > 0;
}

/* kill_check returns the index+1 of the in-kernel kill rule that matches
 * the exec, or 0. */
static __always_inline u32 kill_check(struct task_struct *task, struct exec_event *e, u64 cgroup)
{
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	u32 *rule = 0;
	/* Basename: from the path's last slash. */
	u32 off = e->bin_off;
	u32 last = off;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 64; i++) {
		u32 p = (PATH_SZ - 2 - i) & (PATH_BUF - 1);
		if (p <= off)
			break;
		if (e->bin[p] == '/') {
			last = p;
			break;
		}
	}
	__builtin_memset(&s->name, 0, sizeof(s->name));
	u32 blen = PATH_SZ - 1 - last - 1;
	if (blen > 0 && blen < NAME_SZ)
		{
		u32 from = last + 1;
		bpf_probe_read_kernel(s->name.name, BOUND(blen, NAME_SZ - 1), &e->bin[BOUND(from, PATH_SZ - 1)]);
	}
	rule = bpf_map_lookup_elem(&kill_names, &s->name);
	if (!rule) {
		__builtin_memset(&s->key, 0, sizeof(s->key));
		u32 plen = PATH_SZ - 1 - off;
		if (plen > 0 && plen < PATH_SZ)
			bpf_probe_read_kernel(s->key.path, BOUND(plen, PATH_SZ - 1), &e->bin[BOUND(off, PATH_SZ - 1)]);
		rule = bpf_map_lookup_elem(&kill_paths, &s->key);
	}
	if (!rule)
		return 0;
	u32 idx = *rule;
	struct kill_rule *kr = bpf_map_lookup_elem(&kill_rules, &idx);
	if (!kr)
		return 0;
	if (kr->containers_only && !in_container(task))
		return 0;
	if (kr->selector) {
		struct kill_cgroup_key k = {.rule = idx, .cgroup = cgroup};
		if (!bpf_map_lookup_elem(&kill_cgroups, &k))
			return 0;
	}
	return idx + 1;
}

static __always_inline int on_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_EXEC);
		return 0;
	}
	fill_hdr(&e->h, task, K_EXEC, S_EXEC, cgroup);

	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	struct file *file = BPF_CORE_READ(bprm, file);
	struct dentry *root_d = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_m = BPF_CORE_READ(task, fs, root.mnt);
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	e->bin_off = build_path(s, 0, d, BPF_CORE_READ(file, f_path.mnt), root_d, root_m);
	e->cwd_off = build_path(s, 1, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt),
				root_d, root_m);
	bpf_probe_read_kernel(e->bin, sizeof(e->bin), s->paths[0]);
	bpf_probe_read_kernel(e->cwd, sizeof(e->cwd), s->paths[1]);

	struct inode *ino = BPF_CORE_READ(file, f_inode);
	char prefix[6] = {};
	bpf_probe_read_kernel(prefix, sizeof(prefix), BPF_CORE_READ(d, d_name.name));
	if (prefix[0] == 'm' && prefix[1] == 'e' && prefix[2] == 'm' && prefix[3] == 'f' && prefix[4] == 'd' &&
	    prefix[5] == ':' && BPF_CORE_READ(ino, i_nlink) == 0)
		e->h.flags |= F_MEMFD;
	if (bpf_core_type_exists(struct ovl_inode) && BPF_CORE_READ(ino, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = (void *)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode);
		if (BPF_CORE_READ(oi, __upperdentry))
			e->h.flags |= F_UPPER;
	}
	if (is_socket(task, 0))
		e->h.flags |= F_STDIN_SOCK;
	if (is_socket(task, 1))
		e->h.flags |= F_STDOUT_SOCK;

	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	u64 len = end - start;
	if (len >= ARGS_SZ)
		len = ARGS_SZ - 1; /* BOUND masks with ARGS_SZ-1: 512 would become 0 */
	if (bpf_probe_read_user(e->args, BOUND(len, ARGS_SZ - 1), (void *)start) == 0)
		e->args_len = len & (ARGS_SZ - 1);
	else
		e->args_len = 0;

	u32 killed = kill_check(task, e, cgroup);
	if (killed) {
		bpf_send_signal(9);
		e->h.killed = killed;
	}
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int raw_tp_exec(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec((struct task_struct *)ctx->args[0], (struct linux_binprm *)ctx->args[2]);
}

static __always_inline int on_exit(struct task_struct *task)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((u32)id != (id >> 32))
		return 0; /* a thread, not the process */
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_EXIT);
		return 0;
	}
	fill_hdr(&e->h, task, K_EXIT, S_EXIT, cgroup);
	e->code = BPF_CORE_READ(task, exit_code);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf_exit, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int raw_tp_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((struct task_struct *)ctx->args[0]);
}

/* Opens: resolved from the returned fd, so relative paths, symlinks and
 * mounts cannot hide a watched file; filtered in the kernel by prefix. */
static __always_inline int on_open_exit(struct trace_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = fd_file(task, ctx->ret);
	if (!f)
		return 0;
	u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	u32 flags = BPF_CORE_READ(f, f_flags);
	u8 access = ((flags & O_ACCMODE) != 0 || (flags & (O_CREAT | O_TRUNC))) ? 2 : 1;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	u32 off = build_path(s, 0, d, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(task, fs, root.dentry),
			     BPF_CORE_READ(task, fs, root.mnt));
	bool match = false;
	if (c && c->watch_proc_mem && BPF_CORE_READ(f, f_inode, i_sb, s_magic) == PROC_SUPER_MAGIC) {
		char name[4] = {};
		bpf_probe_read_kernel(name, sizeof(name), BPF_CORE_READ(d, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 0)
			match = true;
	}
	if (!match) {
		u32 plen = PATH_SZ - 1 - off;
		if (plen == 0 || plen >= PATH_SZ)
			return 0;
		__builtin_memset(&s->key, 0, sizeof(s->key));
		bpf_probe_read_kernel(s->key.path, BOUND(plen, PATH_SZ - 1), &s->paths[0][BOUND(off, PATH_SZ - 1)]);
		s->key.prefixlen = plen * 8;
		u8 *want = bpf_map_lookup_elem(&open_prefixes, &s->key);
		if (!want || !(*want & access))
			return 0;
	}
	struct open_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_OPEN);
		return 0;
	}
	fill_hdr(&e->h, task, K_OPEN, S_OPEN, cgroup);
	e->flags = flags;
	e->path_off = off;
	bpf_probe_read_kernel(e->path, sizeof(e->path), s->paths[0]);
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int open_exit_openat(struct trace_sys_exit *ctx) { return on_open_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_openat2")
int open_exit_openat2(struct trace_sys_exit *ctx) { return on_open_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_open")
int open_exit_open(struct trace_sys_exit *ctx) { return on_open_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_creat")
int open_exit_creat(struct trace_sys_exit *ctx) { return on_open_exit(ctx); }

static __always_inline void sk_ends(struct net_event *e, struct sock *sk)
{
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->family = family;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
	}
}

/* Outbound: the destination comes from connect's own sockaddr (the socket
 * is not connected yet when a non-blocking connect returns). */
SEC("tracepoint/syscalls/sys_enter_connect")
int connect_enter(struct trace_sys_enter *ctx)
{
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	u16 family = 0;
	void *addr = (void *)ctx->args[1];
	if (bpf_probe_read_user(&family, sizeof(family), addr) || (family != AF_INET && family != AF_INET6))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = fd_file(task, ctx->args[0]);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct net_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_CONNECT);
		return 0;
	}
	fill_hdr(&e->h, task, K_CONNECT, S_CONNECT, cgroup);
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	e->family = family;
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (family == AF_INET) {
		struct sockaddr_in sa = {};
		bpf_probe_read_user(&sa, sizeof(sa), addr);
		e->dport = __builtin_bswap16(sa.sin_port);
		__builtin_memcpy(e->daddr, &sa.sin_addr, 4);
	} else {
		struct sockaddr_in6 sa = {};
		bpf_probe_read_user(&sa, sizeof(sa), addr);
		e->dport = __builtin_bswap16(sa.sin6_port);
		__builtin_memcpy(e->daddr, &sa.sin6_addr, 16);
	}
	submit(e);
	return 0;
}

static __always_inline int on_accept_exit(struct trace_sys_exit *ctx)
{
	if (ctx->ret < 0)
		return 0;
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *f = fd_file(task, ctx->ret);
	if (!f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct net_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_ACCEPT);
		return 0;
	}
	fill_hdr(&e->h, task, K_ACCEPT, S_ACCEPT, cgroup);
	sk_ends(e, sk);
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit(struct trace_sys_exit *ctx) { return on_accept_exit(ctx); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int accept4_exit(struct trace_sys_exit *ctx) { return on_accept_exit(ctx); }

/* Rare syscalls: record the arguments on entry, emit on exit. */
static __always_inline int rare_enter(struct trace_sys_enter *ctx, u8 kind, u32 strmask, int nargs)
{
	struct config *c = cfg();
	u64 cgroup = bpf_get_current_cgroup_id();
	if (skip(c, cgroup))
		return 0;
	u32 zero = 0;
	struct sys_event *e = bpf_map_lookup_elem(&sys_scratch, &zero);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	fill_hdr(&e->h, task, kind, S_SYSCALL, cgroup);
	e->nr = ctx->nr;
	e->ret = 0;
	/* Never read past the tracepoint's record: the kernel refuses to
	 * attach a program whose context reads exceed it. */
#pragma unroll
	for (int i = 0; i < 6; i++)
		e->args[i] = i < nargs ? ctx->args[i] : 0;
#pragma unroll
	for (int i = 0; i < 3; i++) {
		e->str[i][0] = 0;
		if (strmask & (1 << i))
			bpf_probe_read_user_str(e->str[i], NAME_SZ, (void *)ctx->args[i]);
	}
	u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &id, e, BPF_ANY);
	return 0;
}

static __always_inline int rare_exit(struct trace_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct sys_event *p = bpf_map_lookup_elem(&pending, &id);
	if (!p)
		return 0;
	struct sys_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(S_SYSCALL);
		bpf_map_delete_elem(&pending, &id);
		return 0;
	}
	__builtin_memcpy(e, p, sizeof(*e));
	e->ret = ctx->ret;
	const struct cred *cred = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred);
	e->cred[0] = BPF_CORE_READ(cred, uid.val);
	e->cred[1] = BPF_CORE_READ(cred, euid.val);
	e->cred[2] = BPF_CORE_READ(cred, fsuid.val);
	e->cred[3] = BPF_CORE_READ(cred, gid.val);
	e->cred[4] = BPF_CORE_READ(cred, egid.val);
	e->cred[5] = BPF_CORE_READ(cred, fsgid.val);
	bpf_map_delete_elem(&pending, &id);
	submit(e);
	return 0;
}

#define RARE(name, kind, strmask, nargs)                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                     \
	int enter_##name(struct trace_sys_enter *ctx) { return rare_enter(ctx, kind, strmask, nargs); } \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                      \
	int exit_##name(struct trace_sys_exit *ctx) { return rare_exit(ctx); }

RARE(setuid, K_PRIV, 0, 1)
RARE(setgid, K_PRIV, 0, 1)
RARE(setreuid, K_PRIV, 0, 2)
RARE(setregid, K_PRIV, 0, 2)
RARE(setresuid, K_PRIV, 0, 3)
RARE(setresgid, K_PRIV, 0, 3)
RARE(setfsuid, K_PRIV, 0, 1)
RARE(setfsgid, K_PRIV, 0, 1)
RARE(capset, K_PRIV, 0, 2)
RARE(setns, K_NS, 0, 2)
RARE(unshare, K_NS, 0, 1)
RARE(mount, K_NS, 7, 5)
RARE(fsmount, K_NS, 0, 3)
RARE(move_mount, K_NS, 0, 5)
RARE(pivot_root, K_NS, 3, 2)
RARE(ptrace, K_PTRACE, 0, 4)
RARE(memfd_create, K_MEMFD, 1, 2)
RARE(init_module, K_MODULE, 4, 3)
RARE(finit_module, K_MODULE, 2, 3)

/*
 * Attached only while recording syscalls (advise seccomp, trace syscalls)
 * or, on kernels without module syscall tracepoints, to catch module
 * loads: one hook on every syscall is the broad hook we otherwise avoid.
 */
SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct config *c = cfg();
	if (!c)
		return 0;
	long nr = ctx->args[1];
	if (c->module_via_raw && (nr == c->init_module_nr || nr == c->finit_module_nr)) {
		u64 cgroup = bpf_get_current_cgroup_id();
		if (!skip(c, cgroup)) {
			struct sys_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
			if (!e) {
				count_lost(S_SYSCALL);
			} else {
				struct task_struct *task = (struct task_struct *)bpf_get_current_task();
				fill_hdr(&e->h, task, K_MODULE, S_SYSCALL, cgroup);
				e->nr = nr;
				e->ret = 0;
				__builtin_memset(e->args, 0, sizeof(e->args));
				__builtin_memset(e->cred, 0, sizeof(e->cred));
				__builtin_memset(e->str, 0, sizeof(e->str));
				submit(e);
			}
		}
	}
	if (!c->count_syscalls)
		return 0;
	struct count_key k = {.cgroup = bpf_get_current_cgroup_id(), .nr = nr};
	if (!in_cgroups(k.cgroup))
		return 0;
	u64 *n = bpf_map_lookup_elem(&syscall_counts, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
	} else {
		u64 one = 1;
		bpf_map_update_elem(&syscall_counts, &k, &one, BPF_ANY);
	}
	return 0;
}

/* Keep the event layouts in BTF for bpf2go's Go types. */
const struct exec_event *unused_exec __attribute__((unused));
const struct exit_event *unused_exit __attribute__((unused));
const struct open_event *unused_open __attribute__((unused));
const struct net_event *unused_net __attribute__((unused));
const struct hdr *unused_hdr __attribute__((unused));
