package enrich

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

func TestWorkload(t *testing.T) {
	ctrl := true
	owner := func(kind, name string, controller bool) []metav1.OwnerReference {
		r := metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u"}
		if controller {
			r.Controller = &ctrl
		}
		return []metav1.OwnerReference{r}
	}
	for _, tc := range []struct {
		name   string
		owners []metav1.OwnerReference
		labels map[string]string
		annots map[string]string
		want   *event.Workload
	}{
		{"no owner", nil, nil, nil, nil},
		{"deployment", owner("ReplicaSet", "web-7d9f8b6c5", true), map[string]string{"pod-template-hash": "7d9f8b6c5"}, nil,
			&event.Workload{Kind: "Deployment", Name: "web"}},
		{"deployment with dashes", owner("ReplicaSet", "my-api-v2-5f6d7c8b9", true), map[string]string{"pod-template-hash": "5f6d7c8b9"}, nil,
			&event.Workload{Kind: "Deployment", Name: "my-api-v2"}},
		{"replicaset without hash label", owner("ReplicaSet", "web-7d9f8b6c5", true), nil, nil,
			&event.Workload{Kind: "ReplicaSet", Name: "web-7d9f8b6c5"}},
		{"replicaset whose hash is not its suffix", owner("ReplicaSet", "hand-made", true), map[string]string{"pod-template-hash": "abc"}, nil,
			&event.Workload{Kind: "ReplicaSet", Name: "hand-made"}},
		{"statefulset", owner("StatefulSet", "db", true), nil, nil, &event.Workload{Kind: "StatefulSet", Name: "db"}},
		{"daemonset", owner("DaemonSet", "agent", true), nil, nil, &event.Workload{Kind: "DaemonSet", Name: "agent"}},
		{"static pod", owner("Node", "node-1", true), nil, nil, &event.Workload{Kind: "Node", Name: "node-1"}},
		{"cronjob by scheduled minute", owner("Job", "backup-29123456", true), nil, nil,
			&event.Workload{Kind: "CronJob", Name: "backup"}},
		{"cronjob marked by annotation", owner("Job", "report-42", true), nil, map[string]string{cronJobTimestampKey: "2026-01-01T00:00:00Z"},
			&event.Workload{Kind: "CronJob", Name: "report"}},
		{"job with a date suffix is no cronjob", owner("Job", "backup-20240101", true), nil, nil,
			&event.Workload{Kind: "Job", Name: "backup-20240101"}},
		{"job with a short number", owner("Job", "migrate-3", true), nil, nil, &event.Workload{Kind: "Job", Name: "migrate-3"}},
		{"job with a long number", owner("Job", "x-1234567890", true), nil, nil, &event.Workload{Kind: "Job", Name: "x-1234567890"}},
		{"job without suffix", owner("Job", "once", true), nil, nil, &event.Workload{Kind: "Job", Name: "once"}},
		{"non-controller owner", owner("ConfigMap", "cm", false), nil, nil, &event.Workload{Kind: "ConfigMap", Name: "cm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: tc.owners, Labels: tc.labels, Annotations: tc.annots}}
			if diff := cmp.Diff(tc.want, Workload(pod)); diff != "" {
				t.Errorf("Workload (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitContainerID(t *testing.T) {
	for _, tc := range []struct{ in, runtime, id string }{
		{"containerd://abc", Containerd, "abc"},
		{"cri-o://abc", CRIO, "abc"},
		{"docker://abc", Docker, "abc"},
		{"rkt://abc", "", ""},
		{"containerd://", "", ""},
		{"", "", ""},
		{"abc", "", ""},
	} {
		runtime, id, ok := SplitContainerID(tc.in)
		if runtime != tc.runtime || id != tc.id || ok != (tc.id != "") {
			t.Errorf("SplitContainerID(%q) = %q, %q, %v", tc.in, runtime, id, ok)
		}
	}
}
