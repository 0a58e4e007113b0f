//go:build linux

package advise

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mamori-dev/mamori/internal/runctest"
)

// TestSeccompUnderRunc is the test that matters: a profile generated from
// the syscalls `mamori-testbin syscalls` made lets runc run it again, and
// the same profile without one syscall the workload needs (or without the
// runtime baseline) does not.
func TestSeccompUnderRunc(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("the recorded syscall fixture is for amd64, not %s", runtime.GOARCH)
	}
	counts := loadCounts(t, "testdata/testbin-syscalls.amd64.txt", AMD64)
	full, err := NewSeccomp(SeccompOptions{}, counts)
	if err != nil {
		t.Fatal(err)
	}
	kill, err := NewSeccomp(SeccompOptions{DefaultAction: specs.ActKillProcess}, counts)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := NewSeccomp(SeccompOptions{NoBaseline: true}, counts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		profile *Seccomp
		ok      bool
		code    int
		signal  syscall.Signal
		output  string
	}{
		{"generated", full, true, 0, 0, "syscalls ok"},
		{"generated, kill", kill, true, 0, 0, "syscalls ok"},
		{"without sysinfo", full.Without("sysinfo"), true, 1, 0, "sysinfo: EPERM"},
		{"without uname", full.Without("uname"), true, 1, 0, "uname: EPERM"},
		{"without sysinfo, kill", kill.Without("sysinfo"), true, 128 + int(syscall.SIGSYS), syscall.SIGSYS, ""},
		// runc's init needs the baseline after the filter is in place: it
		// fails before the workload starts.
		{"without baseline", bare, false, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context(t, 60*time.Second)
			defer cancel()
			r, err := runctest.Run(ctx, t, runctest.Spec{Args: []string{runctest.TestBin, "syscalls"}, Seccomp: tc.profile.OCI()})
			if !tc.ok {
				if err == nil && r.ExitCode == 0 {
					t.Fatalf("container ran: %q", r.Stdout)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tc.code || r.Signal != tc.signal || !strings.Contains(r.Stdout+r.Stderr, tc.output) {
				t.Errorf("exit %d signal %v stdout %q stderr %q; want exit %d signal %v and %q",
					r.ExitCode, r.Signal, r.Stdout, r.Stderr, tc.code, tc.signal, tc.output)
			}
		})
	}
}
