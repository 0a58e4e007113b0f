package sensor

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/runtime/proc"
)

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"hdr", unsafe.Sizeof(sensorHdr{}), hdrSize},
		{"exec", unsafe.Sizeof(sensorExecEvent{}), execSize},
		{"exec.bin", unsafe.Offsetof(sensorExecEvent{}.Bin), execBinOff},
		{"exec.cwd", unsafe.Offsetof(sensorExecEvent{}.Cwd), execCwdOff},
		{"exec.args", unsafe.Offsetof(sensorExecEvent{}.Args), execArgOff},
		{"exit", unsafe.Sizeof(sensorExitEvent{}), exitSize},
		{"open", unsafe.Sizeof(sensorOpenEvent{}), openSize},
		{"net", unsafe.Sizeof(sensorNetEvent{}), netSize},
		{"sys", unsafe.Sizeof(sensorSysEvent{}), sysSize},
		{"hdr.ktime", unsafe.Offsetof(sensorHdr{}.Ktime), 32},
		{"hdr.comm", unsafe.Offsetof(sensorHdr{}.Comm), 56},
		{"hdr.killed", unsafe.Offsetof(sensorHdr{}.Killed), 28},
	} {
		if c.got != c.want {
			t.Errorf("%s: generated layout %d, decoder assumes %d", c.name, c.got, c.want)
		}
	}
}

// needSensor skips unless the sensor can load here; with
// MAMORI_REQUIRE_RUNTIME=1 (CI runs as root) it fails instead.
func needSensor(t *testing.T) {
	t.Helper()
	if err := Supported(); err != nil {
		if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
			t.Fatalf("MAMORI_REQUIRE_RUNTIME=1 but: %v", err)
		}
		t.Skip(err)
	}
}

// collect runs the sensor while fn runs and returns what it saw.
func collect(t *testing.T, opts Options, fn func()) ([]*event.Event, *Sensor) {
	t.Helper()
	needSensor(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := Load(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	evc := make(chan *event.Event, 1<<16)
	done := make(chan error, 1)
	go func() { done <- s.Read(ctx, func(e *event.Event) { evc <- e }) }()
	fn()
	// Exit events of the last children arrive right after Wait returns.
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(evc)
	var out []*event.Event
	for e := range evc {
		out = append(out, e)
	}
	return out, s
}

func TestExecExitOpen(t *testing.T) {
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched") + "/"
	if err := os.Mkdir(watched, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(watched, "shadow")
	os.WriteFile(secret, []byte("x"), 0o600)
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("x"), 0o600)
	evs, s := collect(t, Options{Paths: []PathWatch{{Prefix: watched, Access: Any}}}, func() {
		if err := exec.Command("/bin/sh", "-c", "exit 3").Run(); err == nil {
			t.Error("sh exit 3 succeeded")
		}
		cmd := exec.Command("/bin/cat", "shadow", other)
		cmd.Dir = watched
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cat: %v: %s", err, out)
		}
	})
	var sawExec, sawExit, sawOpen bool
	for _, e := range evs {
		switch {
		case e.Kind == event.Exec && e.Process.PPID == uint32(os.Getpid()) && e.Process.Comm == "cat":
			sawExec = true
			if want := []string{"/bin/cat", "shadow", other}; strings.Join(e.Process.Args, " ") != strings.Join(want, " ") {
				t.Errorf("args %q, want %q", e.Process.Args, want)
			}
			if e.Process.Cwd != strings.TrimSuffix(watched, "/") {
				t.Errorf("cwd %q, want %q", e.Process.Cwd, watched)
			}
			if b, _ := filepath.EvalSymlinks("/bin/cat"); e.Process.Binary != b {
				t.Errorf("binary %q, want %q", e.Process.Binary, b)
			}
		case e.Kind == event.Exit && e.Process.Comm == "sh" && e.Process.PPID == uint32(os.Getpid()):
			if e.Exit.Code == 3 {
				sawExit = true
			}
		case e.Kind == event.Open:
			if e.File.Path == other {
				t.Errorf("open of unwatched %s reported", other)
			}
			if e.File.Path == secret && e.Process.Comm == "cat" && !e.File.Write {
				sawOpen = true
			}
		}
	}
	if !sawExec || !sawExit || !sawOpen {
		t.Errorf("exec %v, exit(3) %v, open %v; events:", sawExec, sawExit, sawOpen)
		for _, e := range evs {
			t.Logf("%s %s %s %+v %+v", e.Kind, e.Process.Comm, e.Process.Binary, e.File, e.Exit)
		}
	}
	for name, n := range s.Lost() {
		if n != 0 {
			t.Errorf("sensor %s lost %d events", name, n)
		}
	}
}

func TestConnectAccept(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "tcp6" {
				host = "::1"
			}
			ln, err := net.Listen(network, net.JoinHostPort(host, "0"))
			if err != nil {
				t.Skip(err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			evs, _ := collect(t, Options{Kinds: []event.Kind{event.Connect, event.Accept}}, func() {
				go func() {
					c, err := ln.Accept()
					if err == nil {
						c.Close()
					}
				}()
				// The agent's own events are filtered: connect from a child.
				out, err := exec.Command("/bin/bash", "-c", "exec 3<>/dev/tcp/"+host+"/"+strconv.Itoa(port)).CombinedOutput()
				if err != nil {
					t.Fatalf("connect: %v %s", err, out)
				}
			})
			var sawConnect bool
			for _, e := range evs {
				if e.Kind == event.Connect && e.Net.DstAddr == host && e.Net.DstPort == uint16(port) {
					sawConnect = true
					if e.Net.Protocol != "tcp" || e.Net.Direction != event.Outbound {
						t.Errorf("connect %+v", e.Net)
					}
				}
			}
			if !sawConnect {
				t.Errorf("no connect to %s:%d in %d events", host, port, len(evs))
			}
		})
	}
}

// Command lines longer than the 512 bytes the exec event carries are cut,
// never dropped: padding argv must not hide the arguments.
func TestLongArgs(t *testing.T) {
	long := strings.Repeat("x", 2000)
	evs, _ := collect(t, Options{Kinds: []event.Kind{event.Exec, event.Exit}}, func() {
		exec.Command("/bin/true", "marker-arg", long).Run()
	})
	for _, e := range evs {
		if e.Kind == event.Exec && e.Process.PPID == uint32(os.Getpid()) && e.Process.Comm == "true" {
			if len(e.Process.Args) < 3 || e.Process.Args[1] != "marker-arg" || len(e.Process.Args[2]) < 400 {
				t.Errorf("args of a 2 KB command line: %d args, %q", len(e.Process.Args), e.Process.Args)
			}
			return
		}
	}
	t.Error("no exec event")
}

func TestLoadErrors(t *testing.T) {
	needSensor(t)
	_, err := Load(context.Background(), Options{Paths: []PathWatch{{Prefix: "etc/"}}})
	if err == nil || !strings.Contains(err.Error(), "must be absolute") {
		t.Errorf("relative path: %v", err)
	}
	_, err = Load(context.Background(), Options{RingBytes: 3 << 20})
	if err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("3 MiB ring: %v", err)
	}
	_, err = Load(context.Background(), Options{Kills: []Kill{{Rule: "r", Binaries: []string{"xmrig"}}}})
	if err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative kill binary: %v", err)
	}
	if errors.Is(err, ErrNotSupported) {
		t.Error("config error reported as not supported")
	}
}

// The exec event's start time is the one /proc reports, so user space can
// check that a PID still names the process an event came from.
func TestStartTimeMatchesProc(t *testing.T) {
	var pid uint32
	var fromProc uint64
	evs, _ := collect(t, Options{Kinds: []event.Kind{event.Exec, event.Exit}}, func() {
		cmd := exec.Command("/bin/sleep", "0.3")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid = uint32(cmd.Process.Pid)
		st, err := proc.ReadStat("/proc", pid)
		if err != nil {
			t.Fatal(err)
		}
		fromProc = st.StartTime
		cmd.Wait()
	})
	for _, e := range evs {
		if e.Kind == event.Exec && e.Process.PID == pid {
			if d := int64(e.Process.StartTime) - int64(fromProc); d < -20e6 || d > 20e6 {
				t.Errorf("event start %d ns, /proc %d ns: %v apart", e.Process.StartTime, fromProc, time.Duration(d))
			}
			return
		}
	}
	t.Errorf("no exec event for pid %d", pid)
}
