// Package rbac finds risky grants in Roles, ClusterRoles and their
// bindings: wildcards, secret reads, exec, escalation verbs, paths to any
// service account, and bindings of cluster-admin or of anonymous and
// all-authenticated users. Aggregated ClusterRoles are judged by the rules
// they aggregate. Built-in system: roles and bindings are not user mistakes
// and are not reported.
package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Group is the RBAC API group.
const Group = "rbac.authorization.k8s.io"

// Object is an RBAC object with the source it was read from.
type Object struct {
	Source *manifest.Object
	// Exactly one of these is set, by kind.
	Role    *rbacv1.Role
	Cluster *rbacv1.ClusterRole
	Binding *rbacv1.RoleBinding
	CRB     *rbacv1.ClusterRoleBinding
}

// Decode reads an RBAC object, or returns nil for other objects.
func Decode(o *manifest.Object) (*Object, error) {
	if o.Group() != Group {
		return nil, nil
	}
	r := &Object{Source: o}
	var dst any
	switch o.Kind() {
	case "Role":
		r.Role = &rbacv1.Role{}
		dst = r.Role
	case "ClusterRole":
		r.Cluster = &rbacv1.ClusterRole{}
		dst = r.Cluster
	case "RoleBinding":
		r.Binding = &rbacv1.RoleBinding{}
		dst = r.Binding
	case "ClusterRoleBinding":
		r.CRB = &rbacv1.ClusterRoleBinding{}
		dst = r.CRB
	default:
		return nil, nil
	}
	if _, err := o.Decode("", dst); err != nil {
		return nil, err
	}
	return r, nil
}

// builtin reports whether the object is one of Kubernetes' own.
func (r *Object) builtin() bool { return strings.HasPrefix(r.Source.Name(), "system:") }

// Analyze judges every RBAC object against the others (aggregation).
// Findings come in input order.
func Analyze(objs []*Object) []finding.Finding {
	var out []finding.Finding
	emit := func(o *Object, rule *finding.Rule, path, msg string) {
		loc := o.Source.Location(path)
		res := o.Source.Resource()
		out = append(out, finding.Finding{Rule: rule, Message: msg, Resource: res, Location: loc,
			Fingerprint: finding.ComputeFingerprint(rule.ID, loc.File, res, path)})
	}
	for _, o := range objs {
		if o.builtin() {
			continue
		}
		switch {
		case o.Role != nil:
			judgeRules(o, o.Role.Rules, "rules", "", emit)
		case o.Cluster != nil:
			judgeRules(o, o.Cluster.Rules, "rules", "", emit)
			if o.Cluster.AggregationRule != nil {
				for _, src := range aggregated(o.Cluster, objs) {
					judgeRules(o, src.Cluster.Rules, "aggregationRule", fmt.Sprintf(" (aggregated from ClusterRole %s)", src.Cluster.Name), emit)
				}
			}
		case o.Binding != nil:
			judgeBinding(o, o.Binding.RoleRef, o.Binding.Subjects, emit)
		case o.CRB != nil:
			judgeBinding(o, o.CRB.RoleRef, o.CRB.Subjects, emit)
		}
	}
	return out
}

// aggregated returns the ClusterRoles that cr's aggregation rule selects,
// with exact label selector semantics.
func aggregated(cr *rbacv1.ClusterRole, objs []*Object) []*Object {
	var out []*Object
	for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if o.Cluster == nil || o.Cluster == cr || slices.Contains(out, o) {
				continue
			}
			if s.Matches(labels.Set(o.Cluster.Labels)) {
				out = append(out, o)
			}
		}
	}
	return out
}
