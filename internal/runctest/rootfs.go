//go:build linux

package runctest

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestBin is where the rootfs holds the mamori-testbin program.
const TestBin = "/bin/mamori-testbin"

// layoutVersion changes whenever buildRootfs lays out files differently,
// so that a cached rootfs of an older layout is not reused.
const layoutVersion = "1"

// rootfsCache builds the rootfs once per test process. It is the one piece
// of package state: building means a go build, which every test sharing it
// should pay for once.
var rootfsCache struct {
	once sync.Once
	dir  string
	err  error
}

// Rootfs returns a root filesystem directory for containers: static
// busybox with its applets linked in /bin, mamori-testbin at TestBin,
// /etc/passwd, /etc/group and /etc/shadow, and empty mount points. It is
// shared by every container of the process (and cached between processes
// under the user cache directory, keyed by its content): use it read-only,
// or through Spec.Overlay.
func Rootfs(t testing.TB) string {
	t.Helper()
	requireRuntime(t)
	rootfsCache.once.Do(func() {
		rootfsCache.dir, rootfsCache.err = buildRootfs()
	})
	if rootfsCache.err != nil {
		t.Fatalf("runctest: %v", rootfsCache.err)
	}
	return rootfsCache.dir
}

// buildRootfs builds the testbin and lays the rootfs out in a directory
// named after the hash of its contents, atomically (build aside, rename).
func buildRootfs() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	base = filepath.Join(base, "mamori", "runctest")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "mamori-testbin")
	if err := buildTestBin(bin); err != nil {
		return "", err
	}
	busybox, err := findBusybox()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.WriteString(h, layoutVersion)
	for _, f := range []string{bin, busybox} {
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(base, "rootfs-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}

	root := filepath.Join(tmp, "rootfs")
	if err := layout(root, busybox, bin); err != nil {
		return "", fmt.Errorf("lay out rootfs: %w", err)
	}
	if err := os.Rename(root, dir); err != nil {
		// Another test process won the race: its rootfs is the same.
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// buildTestBin compiles internal/runctest/testbin statically.
func buildTestBin(out string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "github.com/mamori-dev/mamori/internal/runctest/testbin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build mamori-testbin: %v\n%s", err, b)
	}
	return nil
}

// findBusybox returns a statically linked busybox: a dynamic one would
// need the host's libc inside the rootfs.
func findBusybox() (string, error) {
	path := "/bin/busybox"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("busybox"); err != nil {
			return "", errors.New("busybox not found (install busybox-static)")
		}
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("busybox %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("busybox %s is dynamically linked (install busybox-static)", path)
		}
	}
	return path, nil
}

const (
	passwd = `root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`
	group = `root:x:0:
app:x:1000:
nogroup:x:65534:
`
	// A dummy SHA-512 crypt hash (of nothing anyone uses): tests read
	// /etc/shadow as the credential file attackers go for.
	shadow = `root:$6$mamori$yNhJ1.W0hOUgmEBZQxjd4UHB4N1b5Eo7vZXvyh0Ij5pgNMY2jvaGs9CcS3y1dTgsvxSzzXnyZj8y5V7/pJwKW/:19700:0:99999:7:::
app:!:19700:0:99999:7:::
nobody:*:19700:0:99999:7:::
`
	hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
)

// layout writes the rootfs tree at root.
func layout(root, busybox, testbin string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home/app",
		"proc", "sys", "dev", "dev/shm", "dev/pts", "dev/mqueue", "run", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "var/tmp"} {
		if err := os.Chmod(filepath.Join(root, d), 0o1777); err != nil {
			return err
		}
	}
	if err := copyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	if err := copyFile(testbin, filepath.Join(root, TestBin), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := []struct {
		name, body string
		mode       os.FileMode
	}{
		{"etc/passwd", passwd, 0o644},
		{"etc/group", group, 0o644},
		{"etc/shadow", shadow, 0o640},
		{"etc/hosts", hosts, 0o644},
		{"etc/hostname", "runctest\n", 0o644},
		{"etc/resolv.conf", "nameserver 127.0.0.1\n", 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f.name), []byte(f.body), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
