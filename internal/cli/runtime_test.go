package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/runtime/sensor"
)

func TestAdviseCgroup(t *testing.T) {
	code, _, stderr := run(t, "", "advise", "seccomp", "--no-cluster", "--cgroup", "/no-such-cgroup", "--duration", "1s")
	if code != ExitError || !strings.Contains(stderr, "--cgroup /no-such-cgroup") {
		t.Errorf("missing cgroup: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{
		{"--cgroup", "/", "--format", "yaml"},
		{"--pod", "web"},
	} {
		code, _, stderr := run(t, "", append([]string{"advise", "seccomp", "--no-cluster", "--duration", "1h"}, args...)...)
		if code != ExitError || !strings.Contains(stderr, "--") {
			t.Errorf("%v: exit %d, %q (want an error at once, naming the flag)", args, code, stderr)
		}
	}
	if err := sensor.Supported(); err != nil {
		if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// "/" is the root cgroup as /proc/<pid>/cgroup names it: every
	// process, this one included, so the profile cannot be empty.
	code, stdout, stderr := run(t, "", "advise", "seccomp", "--no-cluster", "--cgroup", "/", "--duration", "1s", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var prof struct {
		Syscalls []struct{ Names []string } `json:"syscalls"`
	}
	if err := json.Unmarshal([]byte(stdout), &prof); err != nil || len(prof.Syscalls) == 0 || len(prof.Syscalls[0].Names) < 20 {
		t.Errorf("profile %s: %v", stdout, err)
	}
}

func TestAgentCheck(t *testing.T) {
	if err := sensor.Supported(); err != nil {
		if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	code, stdout, stderr := run(t, "", "agent", "--check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"tp_btf", "bpf_send_signal", "shell-in-container", "kill-crypto-miners"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--check output lacks %s:\n%s", want, stdout)
		}
	}
}
