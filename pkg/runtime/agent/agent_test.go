package agent

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/runtime/proc"
)

func TestKillProcessChecksStartTime(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := uint32(cmd.Process.Pid)
	st, err := proc.ReadStat("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	// Another process's start time: the PID was reused, nothing is killed.
	err = killProcess("/proc", pid, st.StartTime+uint64(time.Second))
	if err == nil || !strings.Contains(err.Error(), "PID reused") {
		t.Fatalf("kill with a stale start time: %v", err)
	}
	if err := killProcess("/proc", pid, st.StartTime); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("process ended with %v, want killed", err)
	}
}
