package advise

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// netpolCase is a testdata/netpol fixture: a pod, what it did, and the
// pods behind the addresses it talked to.
type netpolCase struct {
	Pod     event.Pod             `json:"pod"`
	Pods    map[string]*event.Pod `json:"pods"`
	Conns   []event.Net           `json:"conns"`
	Options struct {
		Name       string   `json:"name"`
		ClusterDNS []string `json:"clusterDNS"`
	} `json:"options"`
}

func loadNetpolCase(t testing.TB, path string) netpolCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c netpolCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestNetworkPolicyGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/netpol/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			c := loadNetpolCase(t, f)
			opts := NetworkPolicyOptions{Name: c.Options.Name, ClusterDNS: c.Options.ClusterDNS}
			np, err := NetworkPolicy(&c.Pod, c.Conns, func(ip string) *event.Pod { return c.Pods[ip] }, opts)
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.Marshal(np)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "netpol-"+name+".yaml", y)

			// The same observations in reverse order give the same policy.
			rev := make([]event.Net, len(c.Conns))
			for i, n := range c.Conns {
				rev[len(rev)-1-i] = n
			}
			np2, err := NetworkPolicy(&c.Pod, rev, func(ip string) *event.Pod { return c.Pods[ip] }, opts)
			if err != nil {
				t.Fatal(err)
			}
			y2, _ := yaml.Marshal(np2)
			if string(y) != string(y2) {
				t.Errorf("order of connections changed the policy:\n%s\nvs\n%s", y, y2)
			}
		})
	}
}

func TestNetworkPolicyErrors(t *testing.T) {
	pod := &event.Pod{Namespace: "shop", Name: "web", Labels: map[string]string{"app": "web"}}
	ok := event.Net{Protocol: "tcp", Direction: event.Outbound, DstAddr: "10.0.0.1", DstPort: 80}
	for _, tc := range []struct {
		name  string
		pod   *event.Pod
		conns []event.Net
		opts  NetworkPolicyOptions
		want  string
	}{
		{"no pod", nil, nil, NetworkPolicyOptions{}, "namespace are required"},
		{"no labels", &event.Pod{Namespace: "shop", Name: "p", Labels: map[string]string{"pod-template-hash": "x"}}, nil, NetworkPolicyOptions{}, "pod shop/p has no labels"},
		{"bad protocol", pod, []event.Net{ok, {Protocol: "icmp", Direction: event.Outbound, DstAddr: "10.0.0.1", DstPort: 1}}, NetworkPolicyOptions{}, `connection 1: protocol "icmp"`},
		{"bad direction", pod, []event.Net{{Protocol: "tcp", Direction: "sideways", DstAddr: "10.0.0.1", DstPort: 1}}, NetworkPolicyOptions{}, `direction "sideways"`},
		{"bad address", pod, []event.Net{{Protocol: "tcp", Direction: event.Outbound, DstAddr: "10.0.0", DstPort: 1}}, NetworkPolicyOptions{}, "connection 0 (outbound tcp): remote address"},
		{"inbound without source", pod, []event.Net{{Protocol: "tcp", Direction: event.Inbound, DstAddr: "10.0.0.1", DstPort: 80}}, NetworkPolicyOptions{}, "remote address"},
		{"port 0", pod, []event.Net{{Protocol: "udp", Direction: event.Outbound, DstAddr: "10.0.0.1"}}, NetworkPolicyOptions{}, "port 0"},
		{"bad DNS address", pod, nil, NetworkPolicyOptions{ClusterDNS: []string{"kube-dns"}}, `cluster DNS address "kube-dns"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NetworkPolicy(tc.pod, tc.conns, nil, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNetworkPolicySelectorOption(t *testing.T) {
	pod := &event.Pod{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web", "version": "v2"}}
	np, err := NetworkPolicy(pod, nil, nil, NetworkPolicyOptions{Selector: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := np.Spec.PodSelector.MatchLabels; len(got) != 1 || got["app"] != "web" || np.Name != "web-1-mamori" {
		t.Errorf("selector %v name %q", got, np.Name)
	}
}

func BenchmarkNetworkPolicy(b *testing.B) {
	// A chatty pod: 10,000 connections to 500 peers (half pods) on 20 ports.
	pod := &event.Pod{Namespace: "shop", Name: "web", Labels: map[string]string{"app": "web"}}
	pods := map[string]*event.Pod{}
	conns := make([]event.Net, 0, 10000)
	for i := range 10000 {
		ip := "10.1." + strconv.Itoa(i%500/250) + "." + strconv.Itoa(i%250)
		if i%500 < 250 {
			pods[ip] = &event.Pod{Namespace: "ns" + strconv.Itoa(i%7), Labels: map[string]string{"app": "a" + strconv.Itoa(i%250)}}
		}
		conns = append(conns, event.Net{Protocol: "tcp", Direction: event.Outbound, DstAddr: ip, DstPort: uint16(8000 + i%20)})
	}
	resolve := func(ip string) *event.Pod { return pods[ip] }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NetworkPolicy(pod, conns, resolve, NetworkPolicyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
