package webhook

import (
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mamori-dev/mamori/pkg/policy"
)

// ManifestOptions describe the ValidatingWebhookConfiguration to write.
type ManifestOptions struct {
	Name string // configuration name; the webhook is validate.<Name>.dev
	// Either a Service (Namespace/Service, port 443, /validate) or a URL.
	Namespace, Service string
	URL                string
	CABundle           []byte
	TimeoutSeconds     int32
	FailurePolicy      admissionregistrationv1.FailurePolicyType
	// ExcludeNamespaces are never sent to the webhook, beside kube-system,
	// kube-node-lease and the webhook's own namespace.
	ExcludeNamespaces []string
	// Builtin adds the rules the built-in checks need (pods and the
	// workloads that carry pod templates).
	Builtin bool
	// Policies add the resources their matchConstraints select.
	Policies *policy.Set
}

// WebhookName is the name of mamori's webhook in its configuration.
const WebhookName = "validate.mamori.dev"

// Configuration builds a safe-by-default ValidatingWebhookConfiguration: a
// timeout, the failure policy the user chose, the control plane's and the
// webhook's own namespaces excluded (so the webhook can never block its
// own recovery), sideEffects None (dry-run requests are sent), and rules
// for just the resources mamori judges, never leases or events.
func Configuration(o ManifestOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return nil, fmt.Errorf("timeout %ds: want 1 to 30 seconds", o.TimeoutSeconds)
	}
	if o.FailurePolicy != admissionregistrationv1.Fail && o.FailurePolicy != admissionregistrationv1.Ignore {
		return nil, fmt.Errorf("failure policy %q: want Fail or Ignore", o.FailurePolicy)
	}
	if (o.URL == "") == (o.Service == "") {
		return nil, fmt.Errorf("name either a service or a URL")
	}
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.URL != "" {
		u := o.URL
		cc.URL = &u
	} else {
		path, port := "/validate", int32(443)
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: o.Service, Path: &path, Port: &port}
	}
	excluded := []string{"kube-system", "kube-node-lease"}
	if o.Namespace != "" {
		excluded = append(excluded, o.Namespace)
	}
	excluded = append(excluded, o.ExcludeNamespaces...)
	slices.Sort(excluded)
	excluded = slices.Compact(excluded)
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	timeout := o.TimeoutSeconds
	fp := o.FailurePolicy
	wh := admissionregistrationv1.ValidatingWebhook{
		Name: WebhookName, ClientConfig: cc, Rules: rules(o),
		FailurePolicy: &fp, MatchPolicy: &equivalent, SideEffects: &none, TimeoutSeconds: &timeout,
		AdmissionReviewVersions: []string{"v1"},
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
		}}},
		ObjectSelector: &metav1.LabelSelector{},
	}
	if len(wh.Rules) == 0 {
		return nil, fmt.Errorf("nothing to judge: no built-in checks and no policies")
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "mamori"}},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{wh},
	}, nil
}

func rules(o ManifestOptions) []admissionregistrationv1.RuleWithOperations {
	var out []admissionregistrationv1.RuleWithOperations
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	ns := admissionregistrationv1.NamespacedScope
	add := func(ops []admissionregistrationv1.OperationType, groups, versions, resources []string, scope *admissionregistrationv1.ScopeType) {
		out = append(out, admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: groups, APIVersions: versions, Resources: resources, Scope: scope}})
	}
	if o.Builtin {
		add(cu, []string{""}, []string{"v1"}, []string{"pods", "replicationcontrollers"}, &ns)
		add(cu, []string{"apps"}, []string{"v1"}, []string{"deployments", "statefulsets", "daemonsets", "replicasets"}, &ns)
		add(cu, []string{"batch"}, []string{"v1"}, []string{"jobs", "cronjobs"}, &ns)
	}
	if o.Policies != nil {
		for _, p := range o.Policies.Policies {
			mc := p.Spec.MatchConstraints
			if mc == nil {
				continue
			}
			for _, r := range mc.ResourceRules {
				add(r.Operations, r.APIGroups, r.APIVersions, r.Resources, r.Scope)
			}
		}
	}
	return out
}
