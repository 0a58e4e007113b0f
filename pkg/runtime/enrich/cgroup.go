package enrich

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrNoCgroup is returned for a cgroup ID that names no cgroup (any more):
// cgroup IDs are not reused, so it never will.
var ErrNoCgroup = errors.New("no such cgroup")

// fileidKernfs is the kernel's FILEID_KERNFS handle type: its 8 bytes are
// the kernfs node ID, which for a cgroup is its cgroup ID.
const fileidKernfs = 0xfe

// DetectCgroupRoot returns where the cgroup v2 hierarchy is mounted, from
// /proc/self/mountinfo: /sys/fs/cgroup on a pure v2 host,
// /sys/fs/cgroup/unified on a hybrid one.
func DetectCgroupRoot() (string, error) {
	const name = "/proc/self/mountinfo"
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	return FindCgroup2Mount(f, name)
}

// FindCgroup2Mount reads a mountinfo file (proc(5)) from r and returns the
// mount point of the cgroup2 file system, preferring a mount of the
// hierarchy's root, then /sys/fs/cgroup, then /sys/fs/cgroup/unified. name
// is used in errors.
func FindCgroup2Mount(r io.Reader, name string) (string, error) {
	var best string
	bestScore := -1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+1 >= len(f) {
			return "", fmt.Errorf("%s:%d: malformed mountinfo line (want fields, then \"-\", then the file system type): %q", name, n, line)
		}
		if f[sep+1] != "cgroup2" {
			continue
		}
		root, err := unescapeMountField(f[3])
		if err != nil {
			return "", fmt.Errorf("%s:%d: root: %w", name, n, err)
		}
		mnt, err := unescapeMountField(f[4])
		if err != nil {
			return "", fmt.Errorf("%s:%d: mount point: %w", name, n, err)
		}
		if !strings.HasPrefix(mnt, "/") {
			return "", fmt.Errorf("%s:%d: mount point %q is not absolute", name, n, mnt)
		}
		score := 0
		if root == "/" {
			score += 4
		}
		switch mnt {
		case "/sys/fs/cgroup":
			score += 2
		case "/sys/fs/cgroup/unified":
			score++
		}
		if score > bestScore {
			best, bestScore = mnt, score
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	if bestScore < 0 {
		return "", fmt.Errorf("%s: no cgroup2 file system mounted", name)
	}
	return best, nil
}

// unescapeMountField undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountField(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("truncated escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape %q in %q", s[i:i+4], s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// CgroupID returns the cgroup ID of the cgroup v2 directory at path, as
// bpf_get_current_cgroup_id() reports it for processes in it: the
// directory's kernfs inode number.
func CgroupID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup ID of %s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, fmt.Errorf("cgroup ID of %s: not a directory", path)
	}
	return st.Ino, nil
}

// hierarchy resolves cgroup IDs to paths under one cgroup2 mount.
type hierarchy struct {
	root string
	dir  *os.File // the mount, for open_by_handle_at
	// walk is set once open_by_handle_at proved unusable (it needs
	// CAP_DAC_READ_SEARCH); lookups then walk the tree.
	walk atomic.Bool
}

func openHierarchy(root string) (*hierarchy, error) {
	root = filepath.Clean(root)
	dir, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("open cgroup2 hierarchy: %w", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(dir.Fd()), &sfs); err != nil {
		dir.Close()
		return nil, fmt.Errorf("open cgroup2 hierarchy: statfs %s: %w", root, err)
	}
	if sfs.Type != unix.CGROUP2_SUPER_MAGIC {
		dir.Close()
		return nil, fmt.Errorf("open cgroup2 hierarchy: %s is not a cgroup2 file system", root)
	}
	return &hierarchy{root: root, dir: dir}, nil
}

func (h *hierarchy) close() error { return h.dir.Close() }

// path returns the cgroup's path relative to the hierarchy root ("/" for
// the root itself).
func (h *hierarchy) path(id uint64) (string, error) {
	if !h.walk.Load() {
		p, err := h.pathByHandle(id)
		switch {
		case err == nil:
			return p, nil
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			h.walk.Store(true)
		default:
			return "", err
		}
	}
	return h.pathByWalk(id)
}

// pathByHandle opens the cgroup by its kernfs file handle and reads the
// path back from /proc/self/fd.
func (h *hierarchy) pathByHandle(id uint64) (string, error) {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(int(h.dir.Fd()), unix.NewFileHandle(fileidKernfs, b[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("cgroup %d: %w", id, ErrNoCgroup)
		}
		return "", fmt.Errorf("cgroup %d: open_by_handle_at: %w", id, err)
	}
	defer unix.Close(fd)
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("cgroup %d: %w", id, err)
	}
	return h.relative(p)
}

// relative makes an absolute path under the mount relative to it.
func (h *hierarchy) relative(p string) (string, error) {
	if p == h.root {
		return "/", nil
	}
	rest, ok := strings.CutPrefix(p, h.root)
	if !ok || (h.root != "/" && !strings.HasPrefix(rest, "/")) {
		return "", fmt.Errorf("cgroup path %s is outside %s", p, h.root)
	}
	if h.root == "/" {
		return p, nil
	}
	return rest, nil
}

// errFound stops a walk.
var errFound = errors.New("found")

// pathByWalk searches the hierarchy for the directory with inode id.
func (h *hierarchy) pathByWalk(id uint64) (string, error) {
	var found string
	err := filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != h.root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Ino != id {
			return nil
		}
		found = p
		return errFound
	})
	switch {
	case errors.Is(err, errFound):
		return h.relative(found)
	case err != nil:
		return "", fmt.Errorf("cgroup %d: walk %s: %w", id, h.root, err)
	}
	return "", fmt.Errorf("cgroup %d: %w", id, ErrNoCgroup)
}

// containers calls f for each cgroup under the hierarchy that
// ParseCgroupPath takes for a container, with its ID.
func (h *hierarchy) containers(f func(id uint64, path string, ref Ref)) error {
	return filepath.WalkDir(h.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != h.root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := h.relative(p)
		if err != nil {
			return err
		}
		ref, ok := ParseCgroupPath(rel)
		if !ok {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil {
			return nil // gone
		}
		f(st.Ino, rel, ref)
		return nil
	})
}
