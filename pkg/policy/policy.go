// Package policy is mamori's policy as code: guardrails written once as
// ValidatingAdmissionPolicy-shaped CEL with mamori's metadata, compiled and
// evaluated by the Kubernetes API server's own CEL and matching libraries,
// so that a CI scan, the admission webhook and an exported native
// ValidatingAdmissionPolicy reach the same verdict.
//
// A policy file holds documents of kind Policy (and PolicyTest, see
// LoadTests) in the API group mamori.dev/v1alpha1:
//
//	apiVersion: mamori.dev/v1alpha1
//	kind: Policy
//	metadata:
//	  name: team-label-required        # the check ID in findings
//	spec:
//	  title: Workloads name their owning team
//	  severity: MEDIUM
//	  mode: enforce                    # enforce | warn | audit
//	  matchConstraints: {...}          # as in ValidatingAdmissionPolicy
//	  validations:
//	  - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
//	    message: every workload needs a team label
//	    path: metadata.labels          # optional: where findings point
package policy

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	validating "k8s.io/apiserver/pkg/admission/plugin/policy/validating"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Group and Version are the API group and version of mamori's policy kinds.
const (
	Group      = "mamori.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// Mode says what a violation does at admission. Scans report every
// violation whatever the mode.
type Mode string

// Modes, mirroring ValidatingAdmissionPolicyBinding validationActions.
const (
	// Enforce denies the request (validationActions: [Deny]).
	Enforce Mode = "enforce"
	// Warn admits it with a warning to the client (validationActions: [Warn]).
	Warn Mode = "warn"
	// Audit admits it and records the violation in the audit log
	// (validationActions: [Audit]).
	Audit Mode = "audit"
)

// ValidationActions are the binding's validationActions for the mode.
func (m Mode) ValidationActions() []admissionregistrationv1.ValidationAction {
	switch m {
	case Warn:
		return []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
	case Audit:
		return []admissionregistrationv1.ValidationAction{admissionregistrationv1.Audit}
	default:
		return []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
}

// Policy is one compiled policy.
type Policy struct {
	// Rule is the policy's check metadata; Rule.ID is metadata.name.
	Rule *finding.Rule
	Mode Mode
	// Spec is the ValidatingAdmissionPolicy part, exactly as exported.
	Spec admissionregistrationv1.ValidatingAdmissionPolicySpec
	// Paths are the field paths findings of each validation point at
	// (index-aligned with Spec.Validations; "" for the object).
	Paths []string
	// Params is the object bound to `params` when Spec.ParamKind is set.
	Params *unstructured.Unstructured
	// Builtin marks mamori's own policies.
	Builtin bool

	// File and Line say where the policy is written.
	File string
	Line int

	obj *manifest.Object
	// progs are evaluated by mamori's loop; validator, the API server's
	// own, only when Options.Reference asks for it.
	progs     *programs
	validator validating.Validator
	// needsNamespace is set when the verdict depends on the namespace
	// object (namespaceSelector or namespaceObject in an expression).
	needsNamespace bool
}

// ID is the policy's check ID.
func (p *Policy) ID() string { return p.Rule.ID }

// Location returns where the field at path of the policy is written.
func (p *Policy) Location(path string) (file string, line int) {
	if p.obj == nil {
		return p.File, p.Line
	}
	l, _, _ := p.obj.Locate(path)
	if l == 0 {
		l = p.Line
	}
	return p.File, l
}

// document is the file form of a Policy.
type document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

type metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type spec struct {
	Title       string            `json:"title"`
	Severity    string            `json:"severity"`
	Description string            `json:"description,omitempty"`
	Remediation string            `json:"remediation,omitempty"`
	References  []string          `json:"references,omitempty"`
	Controls    []finding.Control `json:"controls,omitempty"`
	Mode        Mode              `json:"mode,omitempty"`

	ParamKind        *admissionregistrationv1.ParamKind         `json:"paramKind,omitempty"`
	Params           map[string]any                             `json:"params,omitempty"`
	MatchConstraints *admissionregistrationv1.MatchResources    `json:"matchConstraints,omitempty"`
	MatchConditions  []admissionregistrationv1.MatchCondition   `json:"matchConditions,omitempty"`
	Variables        []admissionregistrationv1.Variable         `json:"variables,omitempty"`
	Validations      []validation                               `json:"validations"`
	AuditAnnotations []admissionregistrationv1.AuditAnnotation  `json:"auditAnnotations,omitempty"`
	FailurePolicy    *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`
}

type validation struct {
	admissionregistrationv1.Validation `json:",inline"`
	// Path is mamori's: the field findings point at.
	Path string `json:"path,omitempty"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// validate checks what the API server's validation of a
// ValidatingAdmissionPolicy checks before compiling, plus mamori's
// metadata. Problems name the field.
func (d *document) validate() []fieldProblem {
	var errs []fieldProblem
	fail := func(path, format string, args ...any) {
		errs = append(errs, fieldProblem{path, fmt.Sprintf(format, args...)})
	}
	if d.Metadata.Name == "" {
		fail("metadata", "metadata.name is required: it is the policy's check ID")
	} else if !idPattern.MatchString(d.Metadata.Name) || len(d.Metadata.Name) > 253 {
		fail("metadata.name", "metadata.name %q: want a DNS subdomain (lower case letters, digits, '-', '.')", d.Metadata.Name)
	}
	s := &d.Spec
	if strings.TrimSpace(s.Title) == "" {
		fail("spec", "spec.title is required")
	}
	if _, err := finding.ParseSeverity(s.Severity); err != nil {
		fail("spec.severity", "spec.severity: %v", err)
	}
	switch s.Mode {
	case "", Enforce, Warn, Audit:
	default:
		fail("spec.mode", "spec.mode %q: want enforce, warn or audit", s.Mode)
	}
	if len(s.Validations) == 0 {
		fail("spec", "spec.validations: at least one validation is required")
	}
	for i, v := range s.Validations {
		p := fmt.Sprintf("spec.validations[%d]", i)
		if strings.TrimSpace(v.Expression) == "" {
			fail(p, "%s.expression is required", p)
		}
		if strings.Contains(v.Message, "\n") {
			fail(p+".message", "%s.message must not contain line breaks", p)
		}
		if v.Path != "" {
			if _, err := manifest.ParsePath(v.Path); err != nil {
				fail(p+".path", "%s.path: %v", p, err)
			}
		}
	}
	seen := map[string]bool{}
	for i, v := range s.Variables {
		p := fmt.Sprintf("spec.variables[%d]", i)
		if !cIdentifier.MatchString(v.Name) {
			fail(p+".name", "%s.name %q: want a CEL identifier", p, v.Name)
		}
		if seen[v.Name] {
			fail(p+".name", "%s.name %q: declared twice", p, v.Name)
		}
		seen[v.Name] = true
		if strings.TrimSpace(v.Expression) == "" {
			fail(p, "%s.expression is required", p)
		}
	}
	seen = map[string]bool{}
	for i, c := range s.MatchConditions {
		p := fmt.Sprintf("spec.matchConditions[%d]", i)
		if c.Name == "" {
			fail(p, "%s.name is required", p)
		}
		if seen[c.Name] {
			fail(p+".name", "%s.name %q: declared twice", p, c.Name)
		}
		seen[c.Name] = true
		if strings.TrimSpace(c.Expression) == "" {
			fail(p, "%s.expression is required", p)
		}
	}
	for i, a := range s.AuditAnnotations {
		p := fmt.Sprintf("spec.auditAnnotations[%d]", i)
		if a.Key == "" || a.ValueExpression == "" {
			fail(p, "%s: key and valueExpression are required", p)
		}
	}
	if s.FailurePolicy != nil && *s.FailurePolicy != admissionregistrationv1.Fail && *s.FailurePolicy != admissionregistrationv1.Ignore {
		fail("spec.failurePolicy", "spec.failurePolicy %q: want Fail or Ignore", *s.FailurePolicy)
	}
	if s.ParamKind != nil && s.Params == nil {
		fail("spec.paramKind", "spec.paramKind is set but spec.params is missing: mamori binds params from the policy file")
	}
	if s.ParamKind == nil && s.Params != nil {
		fail("spec.params", "spec.params needs spec.paramKind (the kind exported bindings refer to)")
	}
	if s.ParamKind != nil && (s.ParamKind.APIVersion == "" || s.ParamKind.Kind == "") {
		fail("spec.paramKind", "spec.paramKind needs apiVersion and kind")
	}
	if mc := s.MatchConstraints; mc != nil {
		for i, r := range mc.ResourceRules {
			p := fmt.Sprintf("spec.matchConstraints.resourceRules[%d]", i)
			if len(r.Operations) == 0 || len(r.APIGroups) == 0 || len(r.APIVersions) == 0 || len(r.Resources) == 0 {
				fail(p, "%s: operations, apiGroups, apiVersions and resources are required", p)
			}
		}
		if mc.MatchPolicy != nil && *mc.MatchPolicy != admissionregistrationv1.Exact && *mc.MatchPolicy != admissionregistrationv1.Equivalent {
			fail("spec.matchConstraints.matchPolicy", "matchPolicy %q: want Exact or Equivalent", *mc.MatchPolicy)
		}
	} else {
		fail("spec", "spec.matchConstraints is required: say which resources the policy applies to")
	}
	return errs
}

var cIdentifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

type fieldProblem struct {
	path, msg string
}

// rule builds the check metadata of a validated document.
func (d *document) rule() *finding.Rule {
	sev, _ := finding.ParseSeverity(d.Spec.Severity)
	return &finding.Rule{
		ID: d.Metadata.Name, Title: d.Spec.Title, Severity: sev,
		Description: strings.TrimSpace(d.Spec.Description), Remediation: strings.TrimSpace(d.Spec.Remediation),
		References: d.Spec.References, Controls: d.Spec.Controls,
	}
}

// vapSpec is the ValidatingAdmissionPolicy spec of a validated document.
func (d *document) vapSpec() admissionregistrationv1.ValidatingAdmissionPolicySpec {
	s := admissionregistrationv1.ValidatingAdmissionPolicySpec{
		ParamKind: d.Spec.ParamKind, MatchConstraints: d.Spec.MatchConstraints,
		MatchConditions: d.Spec.MatchConditions, Variables: d.Spec.Variables,
		AuditAnnotations: d.Spec.AuditAnnotations, FailurePolicy: d.Spec.FailurePolicy,
	}
	for _, v := range d.Spec.Validations {
		s.Validations = append(s.Validations, v.Validation)
	}
	// The API server's defaults, so that what we evaluate is what it does.
	if s.FailurePolicy == nil {
		f := admissionregistrationv1.Fail
		s.FailurePolicy = &f
	}
	if mc := s.MatchConstraints; mc != nil {
		// A nil selector would match nothing; the API server defaults both
		// to the empty selector, which matches everything.
		if mc.NamespaceSelector == nil {
			mc.NamespaceSelector = &metav1.LabelSelector{}
		}
		if mc.ObjectSelector == nil {
			mc.ObjectSelector = &metav1.LabelSelector{}
		}
		if mc.MatchPolicy == nil {
			p := admissionregistrationv1.Equivalent
			mc.MatchPolicy = &p
		}
		for i := range mc.ResourceRules {
			if mc.ResourceRules[i].Scope == nil {
				all := admissionregistrationv1.AllScopes
				mc.ResourceRules[i].Scope = &all
			}
		}
		for i := range mc.ExcludeResourceRules {
			if mc.ExcludeResourceRules[i].Scope == nil {
				all := admissionregistrationv1.AllScopes
				mc.ExcludeResourceRules[i].Scope = &all
			}
		}
	}
	return s
}

// paramsGVK is the kind of the policy's params.
func paramsGVK(pk *admissionregistrationv1.ParamKind) schema.GroupVersionKind {
	gv, _ := schema.ParseGroupVersion(pk.APIVersion)
	return gv.WithKind(pk.Kind)
}

// NeedsNamespace reports whether the policy's verdict can depend on the
// namespace object, so a scan must know every namespace before judging.
func (p *Policy) NeedsNamespace() bool { return p.needsNamespace }
