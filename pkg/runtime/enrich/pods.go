package enrich

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// Pods is a node-local view of the API server's pods, indexed by pod UID
// and by container ID. It is safe for concurrent use.
type Pods struct {
	// gen counts changes, so that a Resolver can tell cheaply whether a
	// cached answer may be stale.
	gen atomic.Uint64

	mu          sync.RWMutex
	byUID       map[string]*podEntry
	byContainer map[string]*containerEntry
	onChange    []func()
}

// podEntry is what Pods keeps of one pod. Its fields are replaced, never
// changed in place: readers hold on to the pointers they got.
type podEntry struct {
	pod        *event.Pod
	containers []containerEntry
}

// containerEntry is one container of a known pod.
type containerEntry struct {
	pod     *event.Pod
	id      string
	runtime string
	name    string
	image   string
}

// newPods returns an empty index.
func newPods() *Pods {
	return &Pods{
		byUID:       make(map[string]*podEntry),
		byContainer: make(map[string]*containerEntry),
	}
}

// WatchPods lists and watches the pods bound to nodeName (only those: the
// memory it takes scales with the node, not the cluster) until ctx ends. It
// returns once the initial list is indexed.
func WatchPods(ctx context.Context, cfg *rest.Config, nodeName string) (*Pods, error) {
	if nodeName == "" {
		return nil, errors.New("watch pods: no node name (it keeps the watch node-local)")
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	selector := fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	lw := cache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "pods", metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.FieldSelector = selector })
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	if err := inf.SetTransform(trimPod); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	p := newPods()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.set(obj) },
		UpdateFunc: func(_, obj any) { p.set(obj) },
		DeleteFunc: func(obj any) { p.remove(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil, fmt.Errorf("watch pods on node %s: %w", nodeName, context.Cause(ctx))
	}
	return p, nil
}

// Generation changes whenever what Pods knows changes.
func (p *Pods) Generation() uint64 { return p.gen.Load() }

// OnChange registers f to be called, from the watch's goroutine, after
// every change: a pod or container appeared, changed labels or workload,
// or went away. f must not block; it is where an agent learns that the
// cgroups Matching a selector may have changed.
func (p *Pods) OnChange(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onChange = append(p.onChange, f)
}

// Pod returns the pod with this UID.
func (p *Pods) Pod(uid string) (*event.Pod, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.byUID[uid]
	if !ok {
		return nil, false
	}
	return e.pod, true
}

// Container returns the container with this runtime ID (without the
// "containerd://" scheme), its pod, name, image and runtime.
func (p *Pods) Container(id string) (c event.Container, ok bool) {
	p.mu.RLock()
	e, ok := p.byContainer[id]
	p.mu.RUnlock()
	if !ok {
		return event.Container{}, false
	}
	return event.Container{ID: e.id, Runtime: e.runtime, Name: e.name, Image: e.image, Pod: e.pod}, true
}

// lookup finds a container by ID, or else its pod by UID.
func (p *Pods) lookup(containerID, podUID string) (*containerEntry, *event.Pod) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e, ok := p.byContainer[containerID]; ok {
		return e, e.pod
	}
	if e, ok := p.byUID[podUID]; ok {
		return nil, e.pod
	}
	return nil, nil
}

// set indexes a pod from the watch.
func (p *Pods) set(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	uid := string(pod.UID)
	p.mu.Lock()
	old := p.byUID[uid]
	e := newPodEntry(pod, old)
	if old != nil && old.pod == e.pod && equalContainers(old.containers, e.containers) {
		p.mu.Unlock() // a status change enrichment does not see
		return
	}
	if old != nil {
		p.unindex(old)
	}
	p.byUID[uid] = e
	for i := range e.containers {
		p.byContainer[e.containers[i].id] = &e.containers[i]
	}
	p.changed()
}

// remove forgets a deleted pod.
func (p *Pods) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	p.mu.Lock()
	old, ok := p.byUID[string(pod.UID)]
	if !ok {
		p.mu.Unlock()
		return
	}
	p.unindex(old)
	delete(p.byUID, string(pod.UID))
	p.changed()
}

// unindex drops e's containers from the container index (p.mu held).
func (p *Pods) unindex(e *podEntry) {
	for i := range e.containers {
		if p.byContainer[e.containers[i].id] == &e.containers[i] {
			delete(p.byContainer, e.containers[i].id)
		}
	}
}

// changed bumps the generation and, with p.mu released, tells the
// listeners. It is called with p.mu held for writing.
func (p *Pods) changed() {
	p.gen.Add(1)
	fs := p.onChange
	p.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// newPodEntry builds the index entry of pod, keeping old's *event.Pod
// when nothing in it changed, so that cached containers stay valid.
func newPodEntry(pod *corev1.Pod, old *podEntry) *podEntry {
	ep := &event.Pod{
		Namespace:      pod.Namespace,
		Name:           pod.Name,
		UID:            string(pod.UID),
		Labels:         pod.Labels,
		Workload:       Workload(pod),
		ServiceAccount: pod.Spec.ServiceAccountName,
	}
	if old != nil && equalPod(old.pod, ep) {
		ep = old.pod
	}
	e := &podEntry{pod: ep}
	images := make(map[string]string)
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			images[c.Name] = c.Image
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		images[c.Name] = c.Image
	}
	for _, ss := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, s := range ss {
			runtime, id, ok := SplitContainerID(s.ContainerID)
			if !ok {
				continue // not started yet, or a runtime we cannot name
			}
			image := images[s.Name]
			if image == "" {
				image = s.Image
			}
			e.containers = append(e.containers, containerEntry{pod: ep, id: id, runtime: runtime, name: s.Name, image: image})
		}
	}
	return e
}

// SplitContainerID splits a container status's "containerd://<id>",
// "cri-o://<id>" or "docker://<id>" into the runtime and the ID.
func SplitContainerID(s string) (runtime, id string, ok bool) {
	scheme, id, ok := strings.Cut(s, "://")
	if !ok || id == "" {
		return "", "", false
	}
	switch scheme {
	case "containerd":
		return Containerd, id, true
	case "cri-o":
		return CRIO, id, true
	case "docker":
		return Docker, id, true
	}
	return "", "", false
}

func equalPod(a, b *event.Pod) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.UID == b.UID &&
		a.ServiceAccount == b.ServiceAccount && maps.Equal(a.Labels, b.Labels) &&
		(a.Workload == nil) == (b.Workload == nil) && (a.Workload == nil || *a.Workload == *b.Workload)
}

func equalContainers(a, b []containerEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Annotation and label that mark what created a Job or its pods.
const (
	podTemplateHashLabel = "pod-template-hash"
	// cronJobTimestampKey is set by the CronJob controller on the Jobs it
	// creates (Kubernetes ≥1.28); pod templates that copy it carry it too.
	cronJobTimestampKey = "batch.kubernetes.io/cronjob-scheduled-timestamp"
)

// Workload names the controller that owns pod, looking through the
// objects Kubernetes controllers create in between when the pod's own
// metadata tells:
//
//   - a ReplicaSet named "<d>-<hash>" where hash is the pod's
//     pod-template-hash label is Deployment d's;
//   - a Job named "<c>-<n>", n the scheduled time in minutes since the
//     epoch as the CronJob controller names its Jobs, is CronJob c's when
//     the pod carries the CronJob controller's scheduled-timestamp label
//     or annotation, or, without it, when n is a plausible such time
//     (8 or 9 digits, after 2015): an inference, since only the Job
//     object's owner reference would say for sure.
//
// Otherwise it is the owner itself (StatefulSet, DaemonSet, Job, a bare
// ReplicaSet, a Node for static pods); nil for a pod no controller owns.
func Workload(pod *corev1.Pod) *event.Workload {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		if len(pod.OwnerReferences) == 0 {
			return nil
		}
		ref = &pod.OwnerReferences[0]
	}
	w := &event.Workload{Kind: ref.Kind, Name: ref.Name}
	switch ref.Kind {
	case "ReplicaSet":
		if hash := pod.Labels[podTemplateHashLabel]; hash != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && d != "" {
				return &event.Workload{Kind: "Deployment", Name: d}
			}
		}
	case "Job":
		i := strings.LastIndexByte(ref.Name, '-')
		if i <= 0 {
			break
		}
		n, err := strconv.ParseUint(ref.Name[i+1:], 10, 64)
		if err != nil {
			break
		}
		_, marked := pod.Labels[cronJobTimestampKey]
		if _, ok := pod.Annotations[cronJobTimestampKey]; ok {
			marked = true
		}
		// Minutes since the epoch: 2015-01-01 is 23,667,840; 9 digits
		// last until the year 3871.
		if marked || (len(ref.Name)-i-1 <= 9 && n >= 23_667_840) {
			return &event.Workload{Kind: "CronJob", Name: ref.Name[:i]}
		}
	}
	return w
}

// trimPod keeps of a watched pod only what enrichment reads, so that the
// informer's cache stays small.
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone
	}
	t := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            pod.Name,
			Namespace:       pod.Namespace,
			UID:             pod.UID,
			ResourceVersion: pod.ResourceVersion,
			Labels:          pod.Labels,
			OwnerReferences: pod.OwnerReferences,
		},
		Spec: corev1.PodSpec{
			NodeName:           pod.Spec.NodeName,
			ServiceAccountName: pod.Spec.ServiceAccountName,
		},
	}
	if v, ok := pod.Annotations[cronJobTimestampKey]; ok {
		t.Annotations = map[string]string{cronJobTimestampKey: v}
	}
	for _, c := range pod.Spec.InitContainers {
		t.Spec.InitContainers = append(t.Spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.Containers {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		var e corev1.EphemeralContainer
		e.Name, e.Image = c.Name, c.Image
		t.Spec.EphemeralContainers = append(t.Spec.EphemeralContainers, e)
	}
	trim := func(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, s := range ss {
			out = append(out, corev1.ContainerStatus{Name: s.Name, Image: s.Image, ContainerID: s.ContainerID})
		}
		return out
	}
	t.Status.InitContainerStatuses = trim(pod.Status.InitContainerStatuses)
	t.Status.ContainerStatuses = trim(pod.Status.ContainerStatuses)
	t.Status.EphemeralContainerStatuses = trim(pod.Status.EphemeralContainerStatuses)
	return t, nil
}
