package enrich

import (
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// TestResolveConcurrentWithPodUpdates runs the event loop's lookups, the
// agent's Forget and Matching, and the watch's updates at once: under
// -race it proves the locking, and at the end every container must carry
// the pod's last labels.
func TestResolveConcurrentWithPodUpdates(t *testing.T) {
	tr := newTestTree(t)
	pods := newPods()
	r := newResolver(t, Options{Pods: pods, MaxEntries: 4})
	uid := randUID(t)
	var ids []uint64
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: types.UID(uid)}}
	for i := range 8 {
		cid := randHex(t, 32)
		_, id := tr.mkdir("/kubepods/pod" + uid + "/" + cid)
		ids = append(ids, id)
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses,
			corev1.ContainerStatus{Name: "c" + strconv.Itoa(i), ContainerID: "docker://" + cid})
	}
	const rounds = 300
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range rounds {
				id := ids[(i+w)%len(ids)]
				if c, host := r.Resolve(id); c == nil || host {
					t.Errorf("Resolve(%d) = %v, %v", id, c, host)
					return
				}
				if i%50 == 0 {
					r.Forget(id)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			p := pod.DeepCopy()
			p.Labels = map[string]string{"round": strconv.Itoa(i)}
			pods.set(p)
		}
	})
	wg.Go(func() {
		for range 5 {
			if _, err := r.Matching(labels.Everything()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	last := strconv.Itoa(rounds - 1)
	for _, id := range ids {
		c, _ := r.Resolve(id)
		if c == nil || c.Pod == nil || c.Pod.Labels["round"] != last || c.Runtime != Docker {
			t.Fatalf("Resolve(%d) after the updates = %+v; want the pod with round=%s, runtime docker", id, c, last)
		}
	}
	got, err := r.Matching(labels.SelectorFromSet(labels.Set{"round": last}))
	if err != nil || len(got) != len(ids) {
		t.Errorf("Matching(round=%s) = %v, %v; want the %d containers", last, got, err, len(ids))
	}
	pods.remove(pod)
	if c, _ := r.Resolve(ids[0]); c == nil || c.Pod != nil {
		t.Errorf("Resolve after the pod's deletion = %+v; want a pod-less container", c)
	}
}
