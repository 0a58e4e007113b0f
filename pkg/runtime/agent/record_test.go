package agent

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/mamori-dev/mamori/internal/runctest"
	"github.com/mamori-dev/mamori/pkg/runtime/advise"
	"github.com/mamori-dev/mamori/pkg/runtime/enrich"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// TestAdviseFromRecording records a real container with the sensor, writes
// a seccomp profile and a NetworkPolicy from what it did, and runs the
// same workload again under the profile.
func TestAdviseFromRecording(t *testing.T) {
	needRuntime(t)
	rootfs := runctest.Rootfs(t)
	// Loopback traffic is not subject to NetworkPolicy: talk to one of the
	// host's own addresses instead (the container shares its network).
	host := "127.0.0.1"
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				host = ipn.IP.String()
				break
			}
		}
	}
	ln, err := net.Listen("tcp4", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	workload := []string{"/bin/sh", "-c", runctest.TestBin + " syscalls && " + runctest.TestBin + " connect " + addr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// As in Kubernetes, the pod's cgroup exists before the workload's
	// container starts (here a pause-like container holds it): selecting
	// the pod records its containers from their first instruction.
	const podUID = "1f0c2d4e-0000-4000-8000-00000000abcd"
	pause, err := runctest.Start(ctx, t, runctest.Spec{PodUID: podUID, Rootfs: rootfs, Args: []string{"/bin/sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pause.Kill(9)
	podCgroup, err := enrich.CgroupID(filepath.Dir(pause.CgroupDir()))
	if err != nil {
		t.Fatal(err)
	}
	recCtx, stop := context.WithCancel(ctx)
	var rec *Recording
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var err error
		rec, err = Record(recCtx, RecordOptions{
			Cgroups: func() ([]uint64, error) { return []uint64{podCgroup}, nil },
			Ready:   func() { close(ready) },
		})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	ctr, err := runctest.Start(ctx, t, runctest.Spec{PodUID: podUID, Rootfs: rootfs, Args: workload})
	if err != nil {
		t.Fatal(err)
	}
	var cgroup atomic.Uint64
	cgroup.Store(ctr.CgroupID())
	res, err := ctr.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("recorded run: %v %+v\n%s", err, res, ctr.Stdout())
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	counts := rec.Syscalls[cgroup.Load()]
	if len(counts) < 10 {
		t.Fatalf("recorded %d syscalls for the container %d; recording %+v", len(counts), cgroup.Load(), rec)
	}
	prof, err := advise.NewSeccomp(advise.SeccompOptions{DefaultAction: specs.ActErrno}, counts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connect", "execve", "uname"} {
		if !strings.Contains(" "+strings.Join(prof.Syscalls, " ")+" ", " "+want+" ") {
			t.Errorf("profile lacks %s: %v", want, prof.Syscalls)
		}
	}
	// The same workload under the profile runs.
	again, err := runctest.Run(ctx, t, runctest.Spec{Rootfs: rootfs, Args: workload, Seccomp: prof.OCI()})
	if err != nil || again.ExitCode != 0 {
		t.Fatalf("workload under its recorded profile: %v %+v", err, again)
	}
	// And a profile missing what it used does not.
	cut, err := runctest.Run(ctx, t, runctest.Spec{Rootfs: rootfs, Args: workload, Seccomp: prof.Without("connect").OCI()})
	if err != nil || cut.ExitCode == 0 {
		t.Errorf("workload ran without connect allowed: %v %+v", err, cut)
	}

	if host == "127.0.0.1" {
		t.Skip("no non-loopback address to write a NetworkPolicy for")
	}
	pod := &event.Pod{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}}
	np, err := advise.NetworkPolicy(pod, rec.Conns, func(string) *event.Pod { return nil }, advise.NetworkPolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if np.Spec.PodSelector.MatchLabels["app"] != "web" || len(np.Spec.PodSelector.MatchLabels) != 1 {
		t.Errorf("policy selects %v", np.Spec.PodSelector.MatchLabels)
	}
	if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 1 || np.Spec.Egress[0].To[0].IPBlock == nil ||
		np.Spec.Egress[0].To[0].IPBlock.CIDR != host+"/32" || np.Spec.Egress[0].Ports[0].Port.IntValue() != ln.Addr().(*net.TCPAddr).Port {
		t.Errorf("egress %+v, want exactly %s/32 port %d", np.Spec.Egress, host, ln.Addr().(*net.TCPAddr).Port)
	}
	if len(np.Spec.Ingress) != 0 || !hasType(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("ingress %+v types %v: nothing inbound was seen, so nothing may be allowed", np.Spec.Ingress, np.Spec.PolicyTypes)
	}
}

func hasType(ts []networkingv1.PolicyType, t networkingv1.PolicyType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
