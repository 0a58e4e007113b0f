package advise

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// revisionLabels differ between a workload's pods or revisions, so a
// selector must not use them.
var revisionLabels = []string{
	"pod-template-hash", "controller-revision-hash", "pod-template-generation",
	"statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
	"batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name", "job-name",
}

// Resolver maps an IP address to the pod that has it, or nil. Since
// connect(2) sees a Service's ClusterIP before kube-proxy rewrites it, a
// resolver should map ClusterIPs to one of the Service's pods too.
type Resolver func(ip string) *event.Pod

// NetworkPolicyOptions shape a generated NetworkPolicy.
type NetworkPolicyOptions struct {
	// Name is the policy's name (default: the workload's name, or the
	// pod's, with "-mamori" appended).
	Name string
	// Selector selects the pods the policy is for (default: the pod's
	// labels without per-revision ones such as pod-template-hash).
	Selector map[string]string
	// ClusterDNS are the cluster DNS Service's addresses. Port-53 traffic to
	// them, or to an address no pod has when ClusterDNS is empty, becomes
	// one rule allowing DNS to kube-dns (kube-system, k8s-app=kube-dns).
	ClusterDNS []string
}

// peer is one side a rule allows: pods by selector, or an address.
type peer struct {
	namespace string
	labels    map[string]string
	addr      netip.Addr // valid for an ipBlock peer
}

func (p peer) key() string {
	if p.addr.IsValid() {
		return "2/" + p.addr.String()
	}
	keys := slices.Sorted(maps.Keys(p.labels))
	var b strings.Builder
	b.WriteString("1/" + p.namespace)
	for _, k := range keys {
		b.WriteString("/" + k + "=" + p.labels[k])
	}
	return b.String()
}

type portKey struct {
	proto corev1.Protocol
	port  uint16
}

type rule struct {
	peer  peer
	ports map[portKey]bool
}

// NetworkPolicy builds the policy that allows pod exactly the connections
// it was seen to make and accept: policyTypes Ingress and Egress, one
// egress rule per peer (pods by their labels and namespace, other
// addresses as /32 or /128 blocks) with the ports used, DNS to kube-dns,
// and one ingress rule per peer with the local ports it connected to.
// Loopback traffic stays inside the pod and needs no rule. Rules and ports
// are sorted, so the same observations give the same policy.
func NetworkPolicy(pod *event.Pod, conns []event.Net, resolve Resolver, opts NetworkPolicyOptions) (*networkingv1.NetworkPolicy, error) {
	if pod == nil || pod.Namespace == "" {
		return nil, fmt.Errorf("networkpolicy: the pod and its namespace are required")
	}
	sel := opts.Selector
	if sel == nil {
		sel = selectorLabels(pod.Labels)
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("networkpolicy: pod %s/%s has no labels to select it by (set a selector)", pod.Namespace, pod.Name)
	}
	name := opts.Name
	if name == "" {
		name = pod.Name
		if pod.Workload != nil && pod.Workload.Name != "" {
			name = pod.Workload.Name
		}
		name += "-mamori"
	}
	dns := map[netip.Addr]bool{}
	for _, a := range opts.ClusterDNS {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("networkpolicy: cluster DNS address %q: %w", a, err)
		}
		dns[ip.Unmap()] = true
	}
	if resolve == nil {
		resolve = func(string) *event.Pod { return nil }
	}

	egress, ingress := map[string]*rule{}, map[string]*rule{}
	needDNS := false
	type keyedPeer struct {
		peer peer
		key  string
	}
	peers := map[netip.Addr]keyedPeer{}
	for i, c := range conns {
		proto, err := protocol(c.Protocol)
		if err != nil {
			return nil, fmt.Errorf("networkpolicy: connection %d: %w", i, err)
		}
		var remote string
		var port uint16
		rules := egress
		switch c.Direction {
		case event.Outbound:
			remote, port = c.DstAddr, c.DstPort
		case event.Inbound:
			remote, port, rules = c.SrcAddr, c.DstPort, ingress
		default:
			return nil, fmt.Errorf("networkpolicy: connection %d: direction %q is not outbound or inbound", i, c.Direction)
		}
		ip, err := netip.ParseAddr(remote)
		if err != nil {
			return nil, fmt.Errorf("networkpolicy: connection %d (%s %s): remote address: %w", i, c.Direction, c.Protocol, err)
		}
		ip = ip.Unmap()
		if port == 0 {
			return nil, fmt.Errorf("networkpolicy: connection %d (%s %s to %s): port 0", i, c.Direction, c.Protocol, remote)
		}
		if ip.IsLoopback() {
			continue
		}
		// Resolve and key each address once: a chatty pod repeats peers.
		pk, ok := peers[ip]
		if !ok {
			pk.peer = peerOf(ip, resolve(ip.String()))
			pk.key = pk.peer.key()
			peers[ip] = pk
		}
		p := pk.peer
		if c.Direction == event.Outbound && port == 53 && (dns[ip] || (len(dns) == 0 && p.namespace == "") || isKubeDNS(p)) {
			needDNS = true
			continue
		}
		r := rules[pk.key]
		if r == nil {
			r = &rule{peer: p, ports: map[portKey]bool{}}
			rules[pk.key] = r
		}
		r.ports[portKey{proto, port}] = true
	}

	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: sel},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			// With both policy types and no rules, nothing is allowed.
		},
	}
	if needDNS {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
			}},
			Ports: policyPorts(map[portKey]bool{{corev1.ProtocolUDP, 53}: true, {corev1.ProtocolTCP, 53}: true}),
		})
	}
	for _, r := range sorted(egress) {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{policyPeer(r.peer, pod.Namespace)}, Ports: policyPorts(r.ports),
		})
	}
	for _, r := range sorted(ingress) {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{policyPeer(r.peer, pod.Namespace)}, Ports: policyPorts(r.ports),
		})
	}
	return np, nil
}

func protocol(p string) (corev1.Protocol, error) {
	switch strings.ToLower(p) {
	case "tcp":
		return corev1.ProtocolTCP, nil
	case "udp":
		return corev1.ProtocolUDP, nil
	case "sctp":
		return corev1.ProtocolSCTP, nil
	}
	return "", fmt.Errorf("protocol %q is not tcp, udp or sctp", p)
}

// selectorLabels are a pod's labels without the per-revision ones.
func selectorLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if !slices.Contains(revisionLabels, k) {
			out[k] = v
		}
	}
	return out
}

// peerOf is the pod with ip (by its stable labels), or the address itself
// for no pod or a pod without labels.
func peerOf(ip netip.Addr, p *event.Pod) peer {
	if p != nil && p.Namespace != "" {
		if l := selectorLabels(p.Labels); len(l) > 0 {
			return peer{namespace: p.Namespace, labels: l}
		}
	}
	return peer{addr: ip}
}

func isKubeDNS(p peer) bool {
	return p.namespace == "kube-system" && p.labels["k8s-app"] == "kube-dns"
}

func sorted(rules map[string]*rule) []*rule {
	return slices.SortedFunc(maps.Values(rules), func(a, b *rule) int {
		if a.peer.addr.IsValid() && b.peer.addr.IsValid() {
			return a.peer.addr.Compare(b.peer.addr)
		}
		return cmp.Compare(a.peer.key(), b.peer.key())
	})
}

func policyPeer(p peer, ns string) networkingv1.NetworkPolicyPeer {
	if p.addr.IsValid() {
		return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(p.addr, p.addr.BitLen()).String()}}
	}
	np := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: p.labels}}
	if p.namespace != ns {
		np.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: p.namespace}}
	}
	return np
}

func policyPorts(ports map[portKey]bool) []networkingv1.NetworkPolicyPort {
	keys := slices.SortedFunc(maps.Keys(ports), func(a, b portKey) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port))
	})
	out := make([]networkingv1.NetworkPolicyPort, 0, len(keys))
	for _, k := range keys {
		port := intstr.FromInt32(int32(k.port))
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: &k.proto, Port: &port})
	}
	return out
}
