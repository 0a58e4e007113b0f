package policy

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/policy/matching"
	validating "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
)

// Request is one admission request, or what a scan makes of a manifest
// object: a CREATE of it by an anonymous user.
type Request struct {
	Operation   admission.Operation
	Kind        schema.GroupVersionKind
	Resource    schema.GroupVersionResource
	SubResource string
	Namespace   string
	Name        string
	// Object and OldObject are nil where the operation has none (DELETE,
	// CREATE).
	Object, OldObject *unstructured.Unstructured
	// Options is the operation's options object (CreateOptions...), if any.
	Options  runtime.Object
	DryRun   bool
	UserInfo user.Info
}

// Verdict is one policy's judgement of one request. A policy that does not
// match the request gives no verdict.
type Verdict struct {
	Policy *Policy
	// Violations are the validations that failed (or could not be
	// evaluated, with failurePolicy Fail).
	Violations []Violation
	// AuditAnnotations are the published audit annotations, keyed as the
	// API server keys them: <policy>/<key>.
	AuditAnnotations map[string]string
}

// Violation is one failed validation.
type Violation struct {
	// Validation is the index of the validation in Spec.Validations; -1
	// when the policy as a whole failed (a matchCondition error).
	Validation int
	Message    string
	Reason     string
	// Error is set when the validation could not be evaluated and the
	// policy's failurePolicy is Fail.
	Error bool
}

// Namespaces gives the namespace objects requests are matched with.
type Namespaces interface {
	listersv1.NamespaceLister
}

// Evaluator evaluates a set of policies against requests.
type Evaluator struct {
	set     *Set
	matcher *matching.Matcher
	nsl     Namespaces
	oi      admission.ObjectInterfaces
}

// NewEvaluator returns an evaluator that finds namespaces with nsl and, for
// namespaces nsl does not have, with client (nil for none: a missing
// namespace then has only its name label, as a new one would).
func (s *Set) NewEvaluator(nsl Namespaces, client kubernetes.Interface) *Evaluator {
	if client == nil {
		nsl = stubbing{nsl}
	}
	return &Evaluator{
		set: s, nsl: nsl,
		matcher: matching.NewMatcher(nsl, client),
		oi:      admission.NewObjectInterfacesFromScheme(runtime.NewScheme()),
	}
}

// Evaluate judges the request with every policy that matches it.
func (e *Evaluator) Evaluate(ctx context.Context, req *Request) ([]Verdict, error) {
	var out []Verdict
	attr, vattr := e.attributes(req)
	st := &evalState{}
	for _, p := range e.set.Policies {
		v, err := e.evaluate(ctx, p, attr, vattr, req, st)
		if err != nil {
			return out, err
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	return out, nil
}

// EvaluatePolicy judges the request with one policy; nil when it does not
// match.
func (e *Evaluator) EvaluatePolicy(ctx context.Context, p *Policy, req *Request) (*Verdict, error) {
	attr, vattr := e.attributes(req)
	return e.evaluate(ctx, p, attr, vattr, req, &evalState{})
}

// evalState is what the policies judging one request share: the
// namespace, looked up once, and the request's CEL inputs.
type evalState struct {
	ns       *corev1.Namespace
	nsLoaded bool
	in       *inputs
	inGVR    schema.GroupVersionResource
}

// Matches reports whether the policy's match constraints select the
// request, without evaluating any expression.
func (e *Evaluator) Matches(p *Policy, req *Request) (bool, error) {
	attr, _ := e.attributes(req)
	ok, _, _, err := e.matcher.Matches(attr, e.oi, criteria{p.Spec.MatchConstraints})
	return ok, err
}

func (e *Evaluator) attributes(req *Request) (admission.Attributes, *admission.VersionedAttributes) {
	var obj, old runtime.Object
	if req.Object != nil {
		obj = req.Object
	}
	if req.OldObject != nil {
		old = req.OldObject
	}
	ui := req.UserInfo
	if ui == nil {
		ui = &user.DefaultInfo{}
	}
	attr := admission.NewAttributesRecord(obj, old, req.Kind, req.Namespace, req.Name, req.Resource, req.SubResource,
		req.Operation, req.Options, req.DryRun, ui)
	return attr, &admission.VersionedAttributes{Attributes: attr, VersionedKind: req.Kind,
		VersionedObject: admission.NewLazyObject(obj), VersionedOldObject: admission.NewLazyObject(old)}
}

func (e *Evaluator) evaluate(ctx context.Context, p *Policy, attr admission.Attributes, vattr *admission.VersionedAttributes,
	req *Request, st *evalState) (*Verdict, error) {
	ok, gvr, _, err := e.matcher.Matches(attr, e.oi, criteria{p.Spec.MatchConstraints})
	if err != nil {
		// The API server treats a matching error as the policy's failure.
		if *p.Spec.FailurePolicy == "Ignore" {
			return nil, nil
		}
		return &Verdict{Policy: p, Violations: []Violation{{Validation: -1, Message: "matching: " + err.Error(), Error: true}}}, nil
	}
	if !ok {
		return nil, nil
	}
	if !st.nsLoaded && req.Namespace != "" {
		st.nsLoaded = true
		n, err := e.nsl.Get(req.Namespace)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %s: %w", req.Namespace, err)
		}
		st.ns = n
	}
	var params runtime.Object
	if p.Params != nil {
		params = p.Params
	}
	var res validating.ValidateResult
	if p.progs != nil {
		if st.in == nil || st.inGVR != gvr {
			in, err := newInputs(vattr, gvr)
			if err != nil {
				return nil, err
			}
			st.in, st.inGVR = in, gvr
		}
		res = p.evalFast(ctx, st.in, params, st.ns)
	} else {
		res = p.validator.Validate(ctx, gvr, vattr, params, st.ns, celconfig.RuntimeCELCostBudget, nil)
	}
	v := &Verdict{Policy: p}
	for i, d := range res.Decisions {
		switch d.Action {
		case validating.ActionDeny:
			idx := i
			if d.Evaluation == validating.EvalError && len(res.Decisions) != len(p.Spec.Validations) {
				idx = -1 // a policy-wide failure: compile or match condition error
			}
			v.Violations = append(v.Violations, Violation{Validation: idx, Message: d.Message, Reason: string(d.Reason),
				Error: d.Evaluation == validating.EvalError})
		}
	}
	for _, a := range res.AuditAnnotations {
		if a.Action == validating.AuditAnnotationActionPublish {
			if v.AuditAnnotations == nil {
				v.AuditAnnotations = map[string]string{}
			}
			v.AuditAnnotations[p.ID()+"/"+a.Key] = a.Value
		}
	}
	return v, nil
}

// criteria adapts match constraints to the API server's matcher.
type criteria struct {
	mc *admissionregistrationv1.MatchResources
}

func (c criteria) GetParsedNamespaceSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(c.mc.NamespaceSelector)
}

func (c criteria) GetParsedObjectSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(c.mc.ObjectSelector)
}

func (c criteria) GetMatchResources() admissionregistrationv1.MatchResources { return *c.mc }

// stubbing answers for namespaces the lister lacks with the namespace a
// plain create would make: only the kubernetes.io/metadata.name label.
type stubbing struct{ Namespaces }

func (s stubbing) Get(name string) (*corev1.Namespace, error) {
	if s.Namespaces != nil {
		ns, err := s.Namespaces.Get(name)
		if err == nil || !apierrors.IsNotFound(err) {
			return ns, err
		}
	}
	return StubNamespace(name, nil), nil
}

func (s stubbing) List(sel labels.Selector) ([]*corev1.Namespace, error) {
	if s.Namespaces == nil {
		return nil, nil
	}
	return s.Namespaces.List(sel)
}

// StubNamespace returns a namespace as the API server stores it: with the
// immutable kubernetes.io/metadata.name label beside the given ones.
func StubNamespace(name string, lbls map[string]string) *corev1.Namespace {
	ns := &corev1.Namespace{}
	ns.Name = name
	ns.Labels = map[string]string{corev1.LabelMetadataName: name}
	for k, v := range lbls {
		if k != corev1.LabelMetadataName {
			ns.Labels[k] = v
		}
	}
	return ns
}

// ResourceFor maps a kind to its resource and scope with mapper; kinds it
// does not know (custom resources) get the guessed plural, namespaced.
func ResourceFor(mapper meta.RESTMapper, gvk schema.GroupVersionKind) (gvr schema.GroupVersionResource, namespaced bool) {
	if mapper != nil {
		if m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace
		}
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural, !clusterScoped[gvk.Kind] || strings.Contains(gvk.Group, ".")
}

// clusterScoped lists built-in cluster-scoped kinds, for when no mapper is
// given.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"StorageClass": true, "CustomResourceDefinition": true, "PriorityClass": true, "IngressClass": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true, "RuntimeClass": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "CSIDriver": true, "CSINode": true,
	"VolumeAttachment": true, "APIService": true, "CertificateSigningRequest": true,
}

// MatchesIgnoringNamespace is Matches with the namespace selector taken
// as matching everything: a prefilter for when namespaces are not known yet.
func (e *Evaluator) MatchesIgnoringNamespace(p *Policy, req *Request) (bool, error) {
	mc := *p.Spec.MatchConstraints
	mc.NamespaceSelector = &metav1.LabelSelector{}
	attr, _ := e.attributes(req)
	ok, _, _, err := e.matcher.Matches(attr, e.oi, criteria{&mc})
	return ok, err
}
