// Package netpol judges NetworkPolicy coverage over a set of manifests:
// namespaces with workloads but no default-deny ingress or egress policy,
// workloads in partly covered namespaces that no policy selects, and
// policy selectors that match nothing. Selectors have the API server's
// exact semantics (matchLabels, and matchExpressions with In, NotIn, Exists
// and DoesNotExist).
package netpol

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Workload is what coverage needs of a workload: where its pods run, their
// labels, and where to point findings.
type Workload struct {
	Resource  finding.Resource
	Labels    map[string]string
	LabelsAt  finding.Location // the pod template's labels (or metadata)
	Namespace finding.Location // metadata.namespace, or the object
}

// Policy is a NetworkPolicy with its source.
type Policy struct {
	Source *manifest.Object
	Spec   networkingv1.NetworkPolicy
}

// DecodePolicy reads a NetworkPolicy, or returns nil for other objects.
func DecodePolicy(o *manifest.Object) (*Policy, error) {
	if o.Group() != "networking.k8s.io" || o.Kind() != "NetworkPolicy" {
		return nil, nil
	}
	p := &Policy{Source: o}
	if _, err := o.Decode("", &p.Spec); err != nil {
		return nil, err
	}
	return p, nil
}

// Namespace is a Namespace object's position, to point namespace findings
// at it when it was scanned.
type Namespace struct {
	Name string
	At   finding.Location
	Res  finding.Resource
}

// Analyze returns coverage findings and the problems met (invalid
// selectors), in a stable order.
func Analyze(workloads []Workload, policies []*Policy, namespaces []Namespace) ([]finding.Finding, []finding.Problem) {
	var out []finding.Finding
	var problems []finding.Problem
	emit := func(rule *finding.Rule, res finding.Resource, loc finding.Location, msg string) {
		out = append(out, finding.Finding{Rule: rule, Message: msg, Resource: res, Location: loc,
			Fingerprint: finding.ComputeFingerprint(rule.ID, loc.File, res, loc.Path)})
	}
	type compiled struct {
		p                      *Policy
		sel                    labels.Selector
		in, eg, denyIn, denyEg bool
	}
	byNS := map[string][]*compiled{}
	invalid := map[*Policy]bool{}
	for _, p := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.Spec.PodSelector)
		if err != nil {
			loc := p.Source.Location("spec.podSelector")
			problems = append(problems, finding.Problem{File: loc.File, Line: loc.Line, Message: fmt.Sprintf("NetworkPolicy %s: spec.podSelector: %v", p.Source.Name(), err)})
			invalid[p] = true
			continue
		}
		c := &compiled{p: p, sel: sel}
		c.in, c.eg = policyTypes(&p.Spec.Spec)
		everyPod := len(p.Spec.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.Spec.PodSelector.MatchExpressions) == 0
		c.denyIn = everyPod && c.in && !allowsAll(p.Spec.Spec.Ingress)
		c.denyEg = everyPod && c.eg && !allowsAllEgress(p.Spec.Spec.Egress)
		ns := p.Source.Namespace()
		byNS[ns] = append(byNS[ns], c)
	}

	// Namespaces with workloads, in order of first appearance.
	var order []string
	first := map[string]Workload{}
	for _, w := range workloads {
		if _, ok := first[w.Resource.Namespace]; !ok {
			first[w.Resource.Namespace] = w
			order = append(order, w.Resource.Namespace)
		}
	}
	for _, ns := range order {
		res := finding.Resource{APIVersion: "v1", Kind: "Namespace", Name: nsName(ns)}
		loc := first[ns].Namespace
		if i := slices.IndexFunc(namespaces, func(n Namespace) bool { return n.Name == ns }); i >= 0 {
			res, loc = namespaces[i].Res, namespaces[i].At
		}
		denyIn := slices.ContainsFunc(byNS[ns], func(c *compiled) bool { return c.denyIn })
		denyEg := slices.ContainsFunc(byNS[ns], func(c *compiled) bool { return c.denyEg })
		if !denyIn {
			emit(ruleNoDenyIngress, res, loc, fmt.Sprintf("namespace %s has workloads but no default-deny ingress NetworkPolicy", nsName(ns)))
		}
		if !denyEg {
			emit(ruleNoDenyEgress, res, loc, fmt.Sprintf("namespace %s has workloads but no default-deny egress NetworkPolicy", nsName(ns)))
		}
	}

	// Workloads no policy selects, where the namespace has policies: in
	// one without any, the namespace finding says it all.
	for _, w := range workloads {
		cs := byNS[w.Resource.Namespace]
		if len(cs) == 0 {
			continue
		}
		set := labels.Set(w.Labels)
		if !slices.ContainsFunc(cs, func(c *compiled) bool { return c.sel.Matches(set) }) {
			emit(ruleNotSelected, w.Resource, w.LabelsAt, fmt.Sprintf("%s %s: no NetworkPolicy selects its pods (labels %v)", w.Resource.Kind, w.Resource.Name, set))
		}
	}

	// Selectors that match no workload of their namespace.
	for _, p := range policies {
		if invalid[p] {
			continue // already reported
		}
		ns := p.Source.Namespace()
		matchesAny := func(sel *metav1.LabelSelector) (bool, error) {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				return false, err
			}
			return slices.ContainsFunc(workloads, func(w Workload) bool {
				return w.Resource.Namespace == ns && s.Matches(labels.Set(w.Labels))
			}), nil
		}
		check := func(sel *metav1.LabelSelector, path string) {
			if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
				return // empty selects everything
			}
			ok, err := matchesAny(sel)
			if err != nil {
				loc := p.Source.Location(path)
				problems = append(problems, finding.Problem{File: loc.File, Line: loc.Line, Message: fmt.Sprintf("NetworkPolicy %s: %s: %v", p.Source.Name(), path, err)})
				return
			}
			if !ok {
				emit(ruleSelectsNothing, p.Source.Resource(), p.Source.Location(path), fmt.Sprintf("NetworkPolicy %s: %s matches no workload in namespace %s", p.Source.Name(), path, nsName(ns)))
			}
		}
		check(&p.Spec.Spec.PodSelector, "spec.podSelector")
		peers := func(kind string, i int, list []networkingv1.NetworkPolicyPeer) {
			for j, peer := range list {
				if peer.NamespaceSelector == nil && peer.IPBlock == nil {
					check(peer.PodSelector, fmt.Sprintf("spec.%s[%d].%s[%d].podSelector", kind, i, map[string]string{"ingress": "from", "egress": "to"}[kind], j))
				}
			}
		}
		for i, r := range p.Spec.Spec.Ingress {
			peers("ingress", i, r.From)
		}
		for i, r := range p.Spec.Spec.Egress {
			peers("egress", i, r.To)
		}
	}
	return out, problems
}

// policyTypes applies the API's defaulting: Ingress always, Egress when
// the policy has egress rules, unless policyTypes says otherwise.
func policyTypes(s *networkingv1.NetworkPolicySpec) (ingress, egress bool) {
	if len(s.PolicyTypes) == 0 {
		return true, len(s.Egress) > 0
	}
	return slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeIngress), slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// allowsAll reports whether some ingress rule admits all traffic: no peers
// and no ports.
func allowsAll(rules []networkingv1.NetworkPolicyIngressRule) bool {
	return slices.ContainsFunc(rules, func(r networkingv1.NetworkPolicyIngressRule) bool { return len(r.From) == 0 && len(r.Ports) == 0 })
}

func allowsAllEgress(rules []networkingv1.NetworkPolicyEgressRule) bool {
	return slices.ContainsFunc(rules, func(r networkingv1.NetworkPolicyEgressRule) bool { return len(r.To) == 0 && len(r.Ports) == 0 })
}

func nsName(ns string) string {
	if ns == "" {
		return "(unset: the namespace applied to)"
	}
	return ns
}

func control(f finding.Framework, id, title string) finding.Control {
	return finding.Control{Framework: f, ID: id, Title: title}
}

var (
	refNetpol = "https://kubernetes.io/docs/concepts/services-networking/network-policies/"
	controls  = []finding.Control{
		control(finding.CIS, "5.3.2", "Ensure that all Namespaces have NetworkPolicies defined"),
		control(finding.NSACISA, "network/network-policies", "Network separation and hardening: Network policies"),
		control(finding.NIST800190, "4.3.3", "Poorly separated inter-container network traffic"),
		control(finding.NIST800190, "4.4.2", "Unbounded network access from containers"),
		control(finding.MITREATTACK, "T1046", "Network Service Discovery"),
	}
	ruleNoDenyIngress = &finding.Rule{
		ID: "netpol-no-default-deny-ingress", Title: "Namespace without default-deny ingress", Severity: finding.Medium,
		Description: "Pods that no ingress policy isolates accept connections from every pod in the cluster; a default-deny ingress policy (empty podSelector, Ingress, no allow-all rule) makes every other policy an allow-list.",
		Remediation: "Add a NetworkPolicy with podSelector: {} and policyTypes: [Ingress] to the namespace, then allow what each workload needs.",
		References:  []string{refNetpol + "#default-deny-all-ingress-traffic"}, Controls: controls,
	}
	ruleNoDenyEgress = &finding.Rule{
		ID: "netpol-no-default-deny-egress", Title: "Namespace without default-deny egress", Severity: finding.Low,
		Description: "Without a default-deny egress policy a compromised pod can reach any pod, the cloud metadata service and the internet.",
		Remediation: "Add a NetworkPolicy with podSelector: {} and policyTypes: [Egress], then allow DNS and what each workload needs.",
		References:  []string{refNetpol + "#default-deny-all-egress-traffic"}, Controls: controls,
	}
	ruleNotSelected = &finding.Rule{
		ID: "netpol-workload-not-selected", Title: "Workload no NetworkPolicy selects", Severity: finding.Medium,
		Description: "In a namespace that uses NetworkPolicies, a workload that none selects is not isolated at all; usually its labels drifted from the policies'.",
		Remediation: "Select the workload in a policy, or add a default-deny policy to the namespace.",
		References:  []string{refNetpol}, Controls: controls,
	}
	ruleSelectsNothing = &finding.Rule{
		ID: "netpol-selector-matches-nothing", Title: "NetworkPolicy selector matches nothing", Severity: finding.Low,
		Description: "A selector that matches no workload in the scanned set protects nothing, or allows traffic from pods that do not exist; a typo in a label is the usual cause.",
		Remediation: "Fix the selector's labels, or remove the policy or rule.",
		References:  []string{refNetpol}, Controls: controls,
	}
)

// Rules returns the metadata of every NetworkPolicy check.
func Rules() []*finding.Rule {
	return []*finding.Rule{ruleNoDenyIngress, ruleNoDenyEgress, ruleNotSelected, ruleSelectsNothing}
}
