package enrich

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/mamori-dev/mamori/internal/testenv"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

var cluster = testenv.NewShared()

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

// podSpec describes a test pod: its containers get random runtime IDs.
type podSpec struct {
	name, node string
	labels     map[string]string
	owner      *metav1.OwnerReference
	containers []string // names; image is name+":1"
	init       []string
}

// createPod creates the pod, then reports its containers as running with
// fresh containerd IDs through the status subresource, as a kubelet would.
// It returns the pod and the IDs by container name.
func createPod(t *testing.T, cs kubernetes.Interface, ns string, s podSpec) (*corev1.Pod, map[string]string) {
	t.Helper()
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: ns, Labels: s.labels},
		Spec:       corev1.PodSpec{NodeName: s.node, ServiceAccountName: s.name + "-sa"},
	}
	if s.owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*s.owner}
	}
	for _, c := range s.init {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: c, Image: c + ":1"})
	}
	for _, c := range s.containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: c + ":1"})
	}
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", s.name, err)
	}
	ids := make(map[string]string)
	status := func(names []string) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, n := range names {
			ids[n] = randHex(t, 32)
			out = append(out, corev1.ContainerStatus{
				Name: n, Image: "registry.example/" + n + ":1", ImageID: "sha256:" + randHex(t, 32),
				ContainerID: "containerd://" + ids[n],
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
			})
		}
		return out
	}
	pod.Status.InitContainerStatuses = status(s.init)
	pod.Status.ContainerStatuses = status(s.containers)
	pod.Status.Phase = corev1.PodRunning
	pod, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status of pod %s: %v", s.name, err)
	}
	return pod, ids
}

// eventually polls cond until it holds or a generous deadline passes
// (a watch event takes milliseconds; the deadline only bounds a failure).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newNamespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "enrich-" + randHex(t, 4)}}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func TestWatchPods(t *testing.T) {
	cfg := cluster.Config(t)
	cs := testenv.Clientset(t, cfg)
	ns := newNamespace(t, cs)
	node, other := "node-"+randHex(t, 4), "node-"+randHex(t, 4)
	ctrl := true

	// One pod exists before the watch starts (the initial list), the rest
	// arrive through the watch.
	web, webIDs := createPod(t, cs, ns, podSpec{
		name: "web-7d9f8b6c5-x2x7q", node: node,
		labels:     map[string]string{"app": "web", "pod-template-hash": "7d9f8b6c5"},
		owner:      &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9f8b6c5", UID: types.UID(randUID(t)), Controller: &ctrl},
		containers: []string{"app", "sidecar"}, init: []string{"setup"},
	})
	elsewhere, elsewhereIDs := createPod(t, cs, ns, podSpec{name: "elsewhere", node: other, labels: map[string]string{"app": "web"}, containers: []string{"app"}})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := WatchPods(ctx, cfg, ""); err == nil || !strings.Contains(err.Error(), "node name") {
		t.Errorf("WatchPods without a node: %v, want an error", err)
	}
	pods, err := WatchPods(ctx, cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 100)
	pods.OnChange(func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	})

	got, ok := pods.Pod(string(web.UID))
	if !ok {
		t.Fatalf("pod %s from the initial list not indexed", web.Name)
	}
	want := &event.Pod{
		Namespace: ns, Name: web.Name, UID: string(web.UID), Labels: web.Labels,
		Workload: &event.Workload{Kind: "Deployment", Name: "web"}, ServiceAccount: web.Name + "-sa",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pod(web) (-want +got):\n%s", diff)
	}
	for name, id := range webIDs {
		c, ok := pods.Container(id)
		if !ok {
			t.Errorf("container %s (%s) not indexed", name, id)
			continue
		}
		if c.ID != id || c.Name != name || c.Image != name+":1" || c.Runtime != Containerd || c.Pod != got {
			t.Errorf("Container(%s) = %+v; want %s, image %s:1, containerd, the web pod", id, c, name, name)
		}
	}
	if _, ok := pods.Pod(string(elsewhere.UID)); ok {
		t.Errorf("pod on node %s seen by the watch of node %s", other, node)
	}
	if _, ok := pods.Container(elsewhereIDs["app"]); ok {
		t.Errorf("container of a pod on another node indexed")
	}

	// A CronJob's pod arrives through the watch.
	gen := pods.Generation()
	job, jobIDs := createPod(t, cs, ns, podSpec{
		name: "backup-29123456-abcde", node: node, labels: map[string]string{"app": "backup"},
		owner:      &metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: "backup-29123456", UID: types.UID(randUID(t)), Controller: &ctrl},
		containers: []string{"backup"},
	})
	eventually(t, "the job pod's container is indexed", func() bool { _, ok := pods.Container(jobIDs["backup"]); return ok })
	if pods.Generation() == gen {
		t.Errorf("generation unchanged after a pod was added")
	}
	select {
	case <-changes:
	default:
		t.Errorf("OnChange not called after a pod was added")
	}
	if p, _ := pods.Pod(string(job.UID)); p == nil || p.Workload == nil || *p.Workload != (event.Workload{Kind: "CronJob", Name: "backup"}) {
		t.Errorf("job pod workload = %+v, want CronJob backup", p)
	}

	// Labels change: the pod is replaced; a status-only change is not a change.
	web.Labels["tier"] = "frontend"
	web, err = cs.CoreV1().Pods(ns).Update(t.Context(), web, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the label change is seen", func() bool { p, _ := pods.Pod(string(web.UID)); return p.Labels["tier"] == "frontend" })
	gen = pods.Generation()
	web.Status.Conditions = append(web.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	if web, err = cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Fence: a later change to another pod is seen after the condition update.
	job.Labels["fence"] = "1"
	if _, err := cs.CoreV1().Pods(ns).Update(t.Context(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fence is seen", func() bool { p, _ := pods.Pod(string(job.UID)); return p.Labels["fence"] == "1" })
	if g := pods.Generation(); g != gen+1 {
		t.Errorf("generation went %d -> %d over a readiness change and one label change; want +1", gen, g)
	}

	// Deletes are seen, container index included.
	if err := cs.CoreV1().Pods(ns).Delete(t.Context(), web.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod is dropped", func() bool { _, ok := pods.Pod(string(web.UID)); return !ok })
	for name, id := range webIDs {
		if _, ok := pods.Container(id); ok {
			t.Errorf("container %s of a deleted pod still indexed", name)
		}
	}
}

// TestResolveWithPods resolves real cgroups to pods of the API server,
// including a pod that appears only after its container's first event, and
// matches label selectors to cgroup IDs.
func TestResolveWithPods(t *testing.T) {
	tr := newTestTree(t)
	cfg := cluster.Config(t)
	cs := testenv.Clientset(t, cfg)
	ns := newNamespace(t, cs)
	node := "node-" + randHex(t, 4)

	pods, err := WatchPods(t.Context(), cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 1)
	pods.OnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	r := newResolver(t, Options{Pods: pods})

	api, apiIDs := createPod(t, cs, ns, podSpec{name: "api", node: node, labels: map[string]string{"app": "api"}, containers: []string{"server"}})
	eventually(t, "api is indexed", func() bool { _, ok := pods.Container(apiIDs["server"]); return ok })
	uid := strings.ReplaceAll(string(api.UID), "-", "_")
	apiPath, apiCgroup := tr.mkdir("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice/cri-containerd-" + apiIDs["server"] + ".scope")
	// crun's subgroup, where the processes really are.
	_, apiSub := tr.mkdir("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice/cri-containerd-" + apiIDs["server"] + ".scope/container")

	c, host := r.Resolve(apiCgroup)
	if host || c == nil || c.Pod == nil {
		t.Fatalf("Resolve(api) = %+v, host %v; want the api pod's container", c, host)
	}
	want := &event.Container{ID: apiIDs["server"], Runtime: Containerd, Name: "server", Image: "server:1", CgroupPath: apiPath, Pod: c.Pod}
	if diff := cmp.Diff(want, c); diff != "" || c.Pod.Name != "api" || c.Pod.Namespace != ns {
		t.Errorf("Resolve(api) (-want +got):\n%s\npod %+v", diff, c.Pod)
	}

	// A container whose pod the watch has not delivered yet: the cgroupfs
	// layout, a pod UID the API server will not know until we create it.
	lateID := randHex(t, 32)
	late := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns, Labels: map[string]string{"app": "api"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "worker", Image: "worker:2"}}},
	}
	// The API server assigns pod UIDs, so the cgroup's pod UID cannot be
	// the pod's: the container ID in the status is what ties them.
	_, lateCgroup := tr.mkdir("/kubepods/besteffort/pod" + randUID(t) + "/" + lateID)
	c, host = r.Resolve(lateCgroup)
	if host || c == nil || c.Pod != nil || c.ID != lateID || c.Runtime != "" {
		t.Fatalf("Resolve(late, before its pod) = %+v, host %v; want a pod-less container", c, host)
	}
	late, err = cs.CoreV1().Pods(ns).Create(t.Context(), late, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	late.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "worker", Image: "worker:2", ContainerID: "containerd://" + lateID,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), late, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late pod completes the cached container", func() bool {
		c, _ := r.Resolve(lateCgroup)
		return c != nil && c.Pod != nil && c.Pod.Name == "late" && c.Name == "worker" && c.Runtime == Containerd
	})

	// Matching: both api cgroups (the scope and crun's subgroup) and the
	// late container match app=api; nothing matches app=none.
	sel := labels.SelectorFromSet(labels.Set{"app": "api"})
	ids, err := r.Matching(sel)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []uint64{apiCgroup, apiSub, lateCgroup}
	slices.Sort(wantIDs)
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("Matching(app=api) = %v, want %v", ids, wantIDs)
	}
	if ids, err := r.Matching(labels.SelectorFromSet(labels.Set{"app": "none"})); err != nil || len(ids) != 0 {
		t.Errorf("Matching(app=none) = %v, %v; want nothing", ids, err)
	}

	// Relabel api: OnChange fires and the match set follows.
	for len(changed) > 0 {
		<-changed
	}
	api, err = cs.CoreV1().Pods(ns).Get(t.Context(), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api.Labels["app"] = "api-v2"
	if _, err := cs.CoreV1().Pods(ns).Update(t.Context(), api, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("no OnChange after relabeling a pod")
	}
	eventually(t, "api no longer matches app=api", func() bool {
		ids, err := r.Matching(sel)
		return err == nil && slices.Equal(ids, []uint64{lateCgroup})
	})
	if c, _ := r.Resolve(apiCgroup); c == nil || c.Pod == nil || c.Pod.Labels["app"] != "api-v2" {
		t.Errorf("cached container not refreshed after relabel: %+v", c)
	}
}
