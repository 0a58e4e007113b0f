package webhook

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// ManifestOptions describe the webhook configurations to write.
type ManifestOptions struct {
	Name string // configuration name (both kinds)
	// Either a Service (Namespace/Service, port 443, /validate and
	// /mutate) or a URL: the validating webhook's, whose trailing
	// /validate the mutating one replaces with /mutate.
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
	// ImagePolicies, when it holds any, add pods (and their
	// ephemeralcontainers subresource) and the workloads with pod
	// templates, whose images it verifies.
	ImagePolicies *imagepolicy.Set
	// RegistryTimeout is how long the webhook may spend verifying images;
	// with image policies TimeoutSeconds must exceed it by
	// RegistryHeadroom, or the API server gives up first and its failure
	// policy, not the image policies', decides.
	RegistryTimeout time.Duration
}

// RegistryHeadroom is what timeoutSeconds must leave beside the registry
// timeout: the rest of the review and the round trip.
const RegistryHeadroom = 2 * time.Second

// MinTimeoutSeconds is the smallest timeoutSeconds that leaves
// RegistryHeadroom beside a registry timeout.
func MinTimeoutSeconds(registryTimeout time.Duration) int32 {
	return int32(math.Ceil((registryTimeout + RegistryHeadroom).Seconds()))
}

// verifiesImages reports whether the options ask for image verification.
func (o ManifestOptions) verifiesImages() bool {
	return o.ImagePolicies != nil && len(o.ImagePolicies.Policies) > 0
}

// WebhookName is the name of mamori's webhook in its configuration.
const WebhookName = "validate.mamori.dev"

// Configuration builds a safe-by-default ValidatingWebhookConfiguration: a
// timeout, the failure policy the user chose, the control plane's and the
// webhook's own namespaces excluded (so the webhook can never block its
// own recovery), sideEffects None (dry-run requests are sent), and rules
// for just the resources mamori judges, never leases or events.
func Configuration(o ManifestOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	c, err := common(o, "/validate")
	if err != nil {
		return nil, err
	}
	wh := admissionregistrationv1.ValidatingWebhook{
		Name: WebhookName, ClientConfig: c.client, Rules: rules(o),
		FailurePolicy: &c.failurePolicy, MatchPolicy: &c.matchPolicy, SideEffects: &c.sideEffects, TimeoutSeconds: &c.timeout,
		AdmissionReviewVersions: []string{"v1"},
		NamespaceSelector:       c.namespaces,
		ObjectSelector:          &metav1.LabelSelector{},
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

// MutatingWebhookName is the name of mamori's mutating webhook.
const MutatingWebhookName = "mutate.mamori.dev"

// MutatingConfiguration builds the MutatingWebhookConfiguration of
// /mutate, which pins images verified by policies with mutateDigest to
// their digests: pods, their ephemeral containers and the workloads with
// pod templates, CREATE and UPDATE; reinvocationPolicy IfNeeded, so
// images another mutating webhook adds later are pinned too; otherwise
// as safe as Configuration. It needs image policies.
func MutatingConfiguration(o ManifestOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if !o.verifiesImages() {
		return nil, fmt.Errorf("nothing to mutate: no ImageVerificationPolicy")
	}
	c, err := common(o, "/mutate")
	if err != nil {
		return nil, err
	}
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	wh := admissionregistrationv1.MutatingWebhook{
		Name: MutatingWebhookName, ClientConfig: c.client, Rules: podRules(),
		FailurePolicy: &c.failurePolicy, MatchPolicy: &c.matchPolicy, SideEffects: &c.sideEffects, TimeoutSeconds: &c.timeout,
		ReinvocationPolicy:      &reinvoke,
		AdmissionReviewVersions: []string{"v1"},
		NamespaceSelector:       c.namespaces,
		ObjectSelector:          &metav1.LabelSelector{},
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/managed-by": "mamori"}},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{wh},
	}, nil
}

// commonSettings are what both configurations share.
type commonSettings struct {
	client        admissionregistrationv1.WebhookClientConfig
	failurePolicy admissionregistrationv1.FailurePolicyType
	matchPolicy   admissionregistrationv1.MatchPolicyType
	sideEffects   admissionregistrationv1.SideEffectClass
	timeout       int32
	namespaces    *metav1.LabelSelector
}

// common checks the options and builds the settings both configurations
// share; path is the service's path (a URL is taken as given).
func common(o ManifestOptions, path string) (*commonSettings, error) {
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return nil, fmt.Errorf("timeout %ds: want 1 to 30 seconds", o.TimeoutSeconds)
	}
	if o.verifiesImages() && o.RegistryTimeout > 0 && o.TimeoutSeconds < MinTimeoutSeconds(o.RegistryTimeout) {
		return nil, fmt.Errorf("timeout %ds: image verification may take the registry timeout %s, so want at least %ds, or the API server's failure policy decides instead of the image policies'",
			o.TimeoutSeconds, o.RegistryTimeout, MinTimeoutSeconds(o.RegistryTimeout))
	}
	if o.FailurePolicy != admissionregistrationv1.Fail && o.FailurePolicy != admissionregistrationv1.Ignore {
		return nil, fmt.Errorf("failure policy %q: want Fail or Ignore", o.FailurePolicy)
	}
	if (o.URL == "") == (o.Service == "") {
		return nil, fmt.Errorf("name either a service or a URL")
	}
	c := &commonSettings{
		client:        admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle},
		failurePolicy: o.FailurePolicy,
		matchPolicy:   admissionregistrationv1.Equivalent,
		sideEffects:   admissionregistrationv1.SideEffectClassNone,
		timeout:       o.TimeoutSeconds,
	}
	if o.URL != "" {
		u := o.URL
		if path == "/mutate" {
			// One URL names the server: its validating path is
			// replaced by the mutating one.
			u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), "/validate") + path
		}
		c.client.URL = &u
	} else {
		port := int32(443)
		c.client.Service = &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: o.Service, Path: &path, Port: &port}
	}
	excluded := []string{"kube-system", "kube-node-lease"}
	if o.Namespace != "" {
		excluded = append(excluded, o.Namespace)
	}
	excluded = append(excluded, o.ExcludeNamespaces...)
	slices.Sort(excluded)
	excluded = slices.Compact(excluded)
	c.namespaces = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded,
	}}}
	return c, nil
}

// podRules select pods, their ephemeral containers and the workloads that
// carry pod templates.
func podRules() []admissionregistrationv1.RuleWithOperations {
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	ns := admissionregistrationv1.NamespacedScope
	rule := func(ops []admissionregistrationv1.OperationType, group string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources, Scope: &ns}}
	}
	return []admissionregistrationv1.RuleWithOperations{
		rule(cu, "", "pods", "replicationcontrollers"),
		// kubectl debug adds ephemeral containers through this
		// subresource, with UPDATE.
		rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Update}, "", "pods/ephemeralcontainers"),
		rule(cu, "apps", "deployments", "statefulsets", "daemonsets", "replicasets"),
		rule(cu, "batch", "jobs", "cronjobs"),
	}
}

func rules(o ManifestOptions) []admissionregistrationv1.RuleWithOperations {
	var out []admissionregistrationv1.RuleWithOperations
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	ns := admissionregistrationv1.NamespacedScope
	add := func(ops []admissionregistrationv1.OperationType, groups, versions, resources []string, scope *admissionregistrationv1.ScopeType) {
		out = append(out, admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: groups, APIVersions: versions, Resources: resources, Scope: scope}})
	}
	switch {
	case o.verifiesImages():
		out = append(out, podRules()...)
	case o.Builtin:
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
