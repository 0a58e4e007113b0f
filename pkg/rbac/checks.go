package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/mamori-dev/mamori/pkg/finding"
)

const rbacDocs = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/"

func cis(id, title string) finding.Control {
	return finding.Control{Framework: finding.CIS, ID: id, Title: title}
}

var (
	nsaAuthz    = finding.Control{Framework: finding.NSACISA, ID: "authn-authz/rbac", Title: "Authentication and authorization: Role-based access control"}
	nistAdmin   = finding.Control{Framework: finding.NIST800190, ID: "4.3.1", Title: "Unbounded administrative access"}
	nistUnauth  = finding.Control{Framework: finding.NIST800190, ID: "4.3.2", Title: "Unauthorized access"}
	mitreValid  = finding.Control{Framework: finding.MITREATTACK, ID: "T1078", Title: "Valid Accounts"}
	mitreAPI    = finding.Control{Framework: finding.MITREATTACK, ID: "T1552.007", Title: "Unsecured Credentials: Container API"}
	mitreExec   = finding.Control{Framework: finding.MITREATTACK, ID: "T1609", Title: "Container Administration Command"}
	mitreDeploy = finding.Control{Framework: finding.MITREATTACK, ID: "T1610", Title: "Deploy Container"}
	mitreManip  = finding.Control{Framework: finding.MITREATTACK, ID: "T1098", Title: "Account Manipulation"}
	mitreToken  = finding.Control{Framework: finding.MITREATTACK, ID: "T1528", Title: "Steal Application Access Token"}
)

// grant is a set of (API group, resource, verb) a check looks for; nil
// verbs means any verb.
type grant struct {
	groups, resources, verbs []string
}

type ruleCheck struct {
	rule   *finding.Rule
	grants []grant
	what   string // completes "grants ..." in messages
}

var (
	ruleWildcard = &finding.Rule{
		ID: "rbac-wildcard", Title: "Wildcard in RBAC rule", Severity: finding.High,
		Description: "A * in verbs, resources, apiGroups or nonResourceURLs grants everything that exists and everything added later, including subresources such as secrets and pods/exec.",
		Remediation: "List the verbs, resources and API groups the subject needs.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.3", "Minimize wildcard use in Roles and ClusterRoles"), nsaAuthz, nistAdmin, mitreValid},
	}
	ruleClusterAdmin = &finding.Rule{
		ID: "rbac-cluster-admin-binding", Title: "Binding to cluster-admin", Severity: finding.High,
		Description: "cluster-admin can do anything to any object in every namespace.",
		Remediation: "Bind a role with only the permissions the subject needs.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.1", "Ensure that the cluster-admin role is only used where required"), nsaAuthz, nistAdmin, mitreValid},
	}
	ruleAnonymous = &finding.Rule{
		ID: "rbac-anonymous-binding", Title: "Binding to anonymous or all authenticated users", Severity: finding.Critical,
		Description: "A binding to system:anonymous or system:unauthenticated grants its role to anyone who can reach the API server; one to system:authenticated grants it to every account, service accounts included.",
		Remediation: "Bind the role to the specific users, groups or service accounts that need it.",
		References:  []string{"https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests", rbacDocs},
		Controls:    []finding.Control{nsaAuthz, nistUnauth, mitreValid},
	}
	ruleSystemMasters = &finding.Rule{
		ID: "rbac-system-masters", Title: "Binding to system:masters", Severity: finding.High,
		Description: "Members of system:masters bypass RBAC entirely, and their rights cannot be revoked by editing roles.",
		Remediation: "Do not bind system:masters; use a dedicated group bound to a least-privilege role.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.7", "Avoid use of system:masters group"), nsaAuthz, nistAdmin},
	}
)

var ruleChecks = []ruleCheck{
	{rule: &finding.Rule{
		ID: "rbac-secrets-read", Title: "Read access to secrets", Severity: finding.High,
		Description: "get, list or watch on secrets reads every credential in scope, service account tokens included.",
		Remediation: "Remove secret access, or limit it with resourceNames to the secrets the subject needs.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.2", "Minimize access to secrets"), nsaAuthz, nistUnauth, mitreAPI},
	}, what: "read access to secrets", grants: []grant{{[]string{""}, []string{"secrets"}, []string{"get", "list", "watch"}}}},
	{rule: &finding.Rule{
		ID: "rbac-pod-exec", Title: "Exec, attach or port-forward into pods", Severity: finding.High,
		Description: "pods/exec, pods/attach and pods/portforward run commands in, or open connections into, any pod in scope, with its service account and secrets.",
		Remediation: "Grant exec only to break-glass roles, bound to named people.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{nsaAuthz, nistAdmin, mitreExec},
	}, what: "exec, attach or port-forward into pods", grants: []grant{{[]string{""}, []string{"pods/exec", "pods/attach", "pods/portforward"}, []string{"create", "get"}}}},
	{rule: &finding.Rule{
		ID: "rbac-escalation-verbs", Title: "escalate, bind or impersonate", Severity: finding.Critical,
		Description: "escalate and bind let a subject grant itself permissions it does not have; impersonate lets it act as any user, group or service account.",
		Remediation: "Remove the escalate, bind and impersonate verbs.",
		References:  []string{"https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping", rbacDocs},
		Controls:    []finding.Control{cis("5.1.8", "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster"), nsaAuthz, nistAdmin, mitreManip},
	}, what: "escalate, bind or impersonate", grants: []grant{
		{[]string{Group}, []string{"roles", "clusterroles"}, []string{"escalate", "bind"}},
		{[]string{"", "authentication.k8s.io"}, []string{"users", "groups", "serviceaccounts", "uids", "userextras/scopes"}, []string{"impersonate"}},
	}},
	{rule: &finding.Rule{
		ID: "rbac-create-pods", Title: "Create pods or pod controllers", Severity: finding.High,
		Description: "Whoever can create pods, directly or through a controller, can run them as any service account in the namespace and mount its secrets.",
		Remediation: "Let CI or a GitOps controller create workloads; keep create on pods and controllers away from people and application service accounts.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.4", "Minimize access to create pods"), nsaAuthz, nistAdmin, mitreDeploy},
	}, what: "create on pods or pod controllers", grants: []grant{
		{[]string{""}, []string{"pods", "replicationcontrollers"}, []string{"create"}},
		{[]string{"apps", "extensions"}, []string{"deployments", "daemonsets", "statefulsets", "replicasets"}, []string{"create"}},
		{[]string{"batch"}, []string{"jobs", "cronjobs"}, []string{"create"}},
	}},
	{rule: &finding.Rule{
		ID: "rbac-nodes-proxy", Title: "Access to nodes/proxy", Severity: finding.High,
		Description: "nodes/proxy reaches the kubelet API directly: exec into any pod on the node, bypassing audit and admission.",
		Remediation: "Remove nodes/proxy; monitoring can read metrics through nodes/metrics.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.10", "Minimize access to the proxy sub-resource of nodes"), nsaAuthz, nistAdmin, mitreExec},
	}, what: "access to nodes/proxy", grants: []grant{{[]string{""}, []string{"nodes/proxy"}, nil}}},
	{rule: &finding.Rule{
		ID: "rbac-serviceaccount-token", Title: "Create service account tokens", Severity: finding.High,
		Description: "create on serviceaccounts/token mints tokens for any service account in scope.",
		Remediation: "Remove create on serviceaccounts/token.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.13", "Minimize access to the service account token creation"), nsaAuthz, nistAdmin, mitreToken},
	}, what: "create on serviceaccounts/token", grants: []grant{{[]string{""}, []string{"serviceaccounts/token"}, []string{"create"}}}},
	{rule: &finding.Rule{
		ID: "rbac-csr-approval", Title: "Approve certificate signing requests", Severity: finding.High,
		Description: "Approving CSRs issues client certificates, which can authenticate as any user or group the signer allows.",
		Remediation: "Remove update and patch on certificatesigningrequests/approval.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.11", "Minimize access to the approval sub-resource of certificatesigningrequests objects"), nsaAuthz, nistAdmin, mitreValid},
	}, what: "approval of certificate signing requests", grants: []grant{{[]string{"certificates.k8s.io"}, []string{"certificatesigningrequests/approval"}, []string{"update", "patch"}}}},
	{rule: &finding.Rule{
		ID: "rbac-webhook-config", Title: "Write admission webhook configurations", Severity: finding.High,
		Description: "Whoever can write admission webhook configurations can read or rewrite every object sent to the API server, or switch policy off.",
		Remediation: "Keep write access to admission configuration for cluster administrators.",
		References:  []string{rbacDocs},
		Controls:    []finding.Control{cis("5.1.12", "Minimize access to webhook configuration objects"), nsaAuthz, nistAdmin, mitreManip},
	}, what: "writes to admission webhook configurations", grants: []grant{{[]string{"admissionregistration.k8s.io"},
		[]string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, []string{"create", "update", "patch", "delete", "deletecollection"}}}},
}

// Rules returns the metadata of every RBAC check.
func Rules() []*finding.Rule {
	rules := []*finding.Rule{ruleWildcard, ruleClusterAdmin, ruleAnonymous, ruleSystemMasters}
	for _, c := range ruleChecks {
		rules = append(rules, c.rule)
	}
	return rules
}

type emitFunc func(o *Object, rule *finding.Rule, path, msg string)

// judgeRules checks policy rules found at base (rules, or the aggregation
// rule that brings them in; suffix says from where).
func judgeRules(o *Object, rules []rbacv1.PolicyRule, base, suffix string, emit emitFunc) {
	kind, name := o.Source.Kind(), o.Source.Name()
	for i, r := range rules {
		at := func(field string, j int) string {
			if base != "rules" {
				return base
			}
			return fmt.Sprintf("rules[%d].%s[%d]", i, field, j)
		}
		everything := slices.Contains(r.Verbs, "*") && slices.Contains(r.Resources, "*")
		for _, f := range []struct {
			name string
			list []string
		}{{"apiGroups", r.APIGroups}, {"resources", r.Resources}, {"verbs", r.Verbs}, {"nonResourceURLs", r.NonResourceURLs}} {
			if j := slices.Index(f.list, "*"); j >= 0 {
				emit(o, ruleWildcard, at(f.name, j), fmt.Sprintf("%s %s rule %d grants * in %s%s", kind, name, i, f.name, suffix))
			}
		}
		if everything {
			continue // the wildcard finding says it all
		}
		for _, c := range ruleChecks {
			for _, g := range c.grants {
				if j, ok := allows(r, g); ok {
					emit(o, c.rule, at("resources", j), fmt.Sprintf("%s %s rule %d grants %s (%s on %s)%s", kind, name, i, c.what,
						strings.Join(r.Verbs, ","), r.Resources[j], suffix))
					break
				}
			}
		}
	}
}

// allows reports whether rule r grants some verb of g on some resource of
// g in some group of g, and the index in r.Resources of the resource.
func allows(r rbacv1.PolicyRule, g grant) (int, bool) {
	if !slices.ContainsFunc(r.APIGroups, func(x string) bool { return x == "*" || slices.Contains(g.groups, x) }) {
		return 0, false
	}
	if g.verbs != nil && !slices.ContainsFunc(r.Verbs, func(x string) bool { return x == "*" || slices.Contains(g.verbs, x) }) {
		return 0, false
	}
	for j, res := range r.Resources {
		for _, want := range g.resources {
			if matchResource(res, want) {
				return j, true
			}
		}
	}
	return 0, false
}

// matchResource applies RBAC's resource matching: * matches everything,
// pods/* every subresource of pods, */scale one subresource of everything.
func matchResource(rule, want string) bool {
	if rule == "*" || rule == want {
		return true
	}
	parent, sub, isSub := strings.Cut(want, "/")
	if !isSub {
		return false
	}
	return rule == parent+"/*" || rule == "*/"+sub
}

func judgeBinding(o *Object, ref rbacv1.RoleRef, subjects []rbacv1.Subject, emit emitFunc) {
	kind, name := o.Source.Kind(), o.Source.Name()
	if ref.Kind == "ClusterRole" && ref.Name == "cluster-admin" {
		var who []string
		for _, s := range subjects {
			who = append(who, s.Kind+" "+s.Name)
		}
		emit(o, ruleClusterAdmin, "roleRef.name", fmt.Sprintf("%s %s grants cluster-admin to %s", kind, name, strings.Join(who, ", ")))
	}
	for i, s := range subjects {
		path := fmt.Sprintf("subjects[%d].name", i)
		switch {
		case s.Kind == "Group" && (s.Name == "system:anonymous" || s.Name == "system:unauthenticated" || s.Name == "system:authenticated"),
			s.Kind == "User" && s.Name == "system:anonymous":
			emit(o, ruleAnonymous, path, fmt.Sprintf("%s %s grants %s %s to %s %s", kind, name, ref.Kind, ref.Name, s.Kind, s.Name))
		case s.Kind == "Group" && s.Name == "system:masters":
			emit(o, ruleSystemMasters, path, fmt.Sprintf("%s %s binds group system:masters", kind, name))
		}
	}
}
