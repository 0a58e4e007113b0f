package auditpolicy

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Report is what Check found.
type Report struct {
	// Starved lists, per requirement and deciding policy rule, why the
	// rule gets less than it needs.
	Starved []Starvation
	// Notes are volume and leak warnings: they starve no rule.
	Notes []string
}

// Starvation is one reason a rule misses requests.
type Starvation struct {
	Rule   string
	Reason string
	// PolicyLine is the line of the policy rule that decides, 0 when no
	// rule matches and the default (None) applies.
	PolicyLine int
	// Example is the first request judged so, e.g. "create pods/exec in
	// ns default by alice"; Requests counts all judged so.
	Example  string
	Requests int
}

// String renders the report, one line per finding.
func (r *Report) String() string {
	var b strings.Builder
	for _, s := range r.Starved {
		at := "default"
		if s.PolicyLine > 0 {
			at = fmt.Sprintf("line %d", s.PolicyLine)
		}
		fmt.Fprintf(&b, "starved %s (%s): %s; e.g. %s (%d requests)\n", s.Rule, at, s.Reason, s.Example, s.Requests)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(r.Starved) == 0 && len(r.Notes) == 0 {
		b.WriteString("ok\n")
	}
	return b.String()
}

// Check says which requirements the policy in data starves, and why.
func Check(file string, data []byte, reqs []audit.Requirement) (*Report, error) {
	p, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	return p.Check(reqs), nil
}

// principal is a requester Check judges requests of.
type principal struct {
	name   string
	groups []string
}

// The principals every requirement is judged for. audit.Requirement does
// not say whom a rule ignores; the built-in rules ignore the cluster's own
// components (system users, nodes, kube-system service accounts), or look
// at anonymous requests only, so they are judged for people, workloads and
// anonymous, never for system components: a policy that drops reads of
// system:nodes starves nothing.
var principals = []principal{
	{"alice", []string{user.AllAuthenticated}},
	{"admin", []string{user.SystemPrivilegedGroup, user.AllAuthenticated}},
	{"system:serviceaccount:default:app", []string{"system:serviceaccounts", "system:serviceaccounts:default", user.AllAuthenticated}},
	{user.Anonymous, []string{user.AllUnauthenticated}},
}

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// representative resources per group, for requirements on all resources
// (of a group).
var representative = map[string][]string{
	"":                             {"pods", "pods/exec", "secrets", "configmaps", "services", "serviceaccounts", "nodes", "namespaces"},
	"apps":                         {"deployments", "daemonsets"},
	"batch":                        {"jobs"},
	"rbac.authorization.k8s.io":    {"clusterroles", "clusterrolebindings", "roles", "rolebindings"},
	"admissionregistration.k8s.io": {"validatingwebhookconfigurations"},
	"certificates.k8s.io":          {"certificatesigningrequests"},
	"example.com":                  {"widgets"}, // a custom resource
}

var clusterScoped = map[string]bool{
	"nodes": true, "namespaces": true, "persistentvolumes": true, "clusterroles": true, "clusterrolebindings": true,
	"certificatesigningrequests": true, "customresourcedefinitions": true, "storageclasses": true, "priorityclasses": true,
	"tokenreviews": true, "subjectaccessreviews": true, "selfsubjectaccessreviews": true, "apiservices": true,
	"mutatingwebhookconfigurations": true, "validatingwebhookconfigurations": true, "validatingadmissionpolicies": true,
	"validatingadmissionpolicybindings": true, "mutatingadmissionpolicies": true, "mutatingadmissionpolicybindings": true,
	"runtimeclasses": true, "ingressclasses": true, "csidrivers": true, "csinodes": true, "volumeattachments": true,
}

// Non-resource paths judged for rules on every request. The health,
// version and discovery paths of the anonymous_allowed_paths list are left
// out: the default system:public-info-viewer binding lets everyone read
// them, so no rule alerts on them and a policy may drop them.
var nonResourcePaths = []string{"/api", "/apis", "/metrics", "/logs/", "/debug/pprof/"}

// request is one representative request.
type request struct {
	verb, group, resource, sub, namespace, name, path string
	who                                               principal
}

func (q request) attrs() authorizer.Attributes {
	a := authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: q.who.name, Groups: q.who.groups},
		Verb: q.verb, Namespace: q.namespace, APIGroup: q.group, Resource: q.resource, Subresource: q.sub,
		Name: q.name, Path: q.path, ResourceRequest: q.path == "",
	}
	return a
}

// what is "create pods/exec", "get deployments.apps", "get /metrics".
func (q request) what() string {
	if q.path != "" {
		return q.verb + " " + q.path
	}
	r := q.resource
	if q.group != "" {
		r += "." + q.group
	}
	if q.sub != "" {
		r += "/" + q.sub
	}
	return q.verb + " " + r
}

func (q request) String() string {
	s := q.what()
	if q.namespace != "" {
		s += " in ns " + q.namespace
	}
	return s + " by " + q.who.name
}

// requests enumerates representative requests of a requirement.
func requests(req audit.Requirement, who []principal) []request {
	verbs := req.Verbs
	if len(verbs) == 0 {
		verbs = allVerbs
	}
	type target struct{ group, resource, sub string }
	var targets []target
	add := func(group, res string) {
		r, sub, _ := strings.Cut(res, "/")
		targets = append(targets, target{group, r, sub})
	}
	groupsOf := func(g string) []string {
		if g == "*" {
			return []string{"", "apps"}
		}
		return []string{g}
	}
	for _, gr := range req.Resources {
		for _, g := range groupsOf(gr.Group) {
			if len(gr.Resources) == 0 || slices.Contains(gr.Resources, "*") {
				reps := representative[g]
				if len(reps) == 0 {
					reps = []string{"widgets"}
				}
				for _, r := range reps {
					add(g, r)
				}
			}
			for _, r := range gr.Resources {
				switch {
				case r == "*":
				case strings.HasPrefix(r, "*/"):
					base := "pods"
					if g != "" {
						base = "deployments"
					}
					add(g, base+strings.TrimPrefix(r, "*"))
				case strings.HasSuffix(r, "/*"):
					add(g, strings.TrimSuffix(r, "*")+"status")
				default:
					add(g, r)
				}
			}
		}
	}
	allResources := len(req.Resources) == 0 && (len(req.NonResourceURLs) == 0 || len(req.Namespaces) > 0 || slices.Contains(req.NonResourceURLs, "*"))
	if allResources {
		for _, g := range []string{"", "apps", "batch", "rbac.authorization.k8s.io", "admissionregistration.k8s.io", "certificates.k8s.io", "example.com"} {
			for _, r := range representative[g] {
				add(g, r)
			}
		}
	}
	var out []request
	for _, w := range who {
		for _, v := range verbs {
			for _, t := range targets {
				namespaces := req.Namespaces
				if len(namespaces) == 0 {
					namespaces = []string{"default", "kube-system"}
					if clusterScoped[t.resource] {
						namespaces = []string{""}
					}
				} else if clusterScoped[t.resource] != slices.Contains(namespaces, "") {
					continue
				}
				for _, ns := range namespaces {
					q := request{verb: v, group: t.group, resource: t.resource, sub: t.sub, namespace: ns, who: w}
					if t.sub != "" || !slices.Contains([]string{"list", "watch", "create", "deletecollection"}, v) {
						q.name = "app"
					}
					out = append(out, q)
				}
			}
		}
		if len(req.Namespaces) == 0 {
			for _, u := range req.NonResourceURLs {
				paths := []string{strings.TrimSuffix(u, "*")}
				if u == "*" {
					paths = nonResourcePaths
				}
				for _, path := range paths {
					for _, v := range verbs {
						if v == "get" || len(req.Verbs) > 0 {
							out = append(out, request{verb: v, path: path, who: w})
						}
					}
				}
			}
		}
	}
	return out
}

// Check judges the policy on representative requests of each requirement.
func (p *Policy) Check(reqs []audit.Requirement) *Report {
	rep := &Report{}
	for _, req := range reqs {
		need := req.Level
		if need == "" {
			need = audit.LevelMetadata
		}
		want := req.Stages
		if len(want) == 0 {
			want = []string{audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
		}
		// Panic events are rare accidents; a rule judging ResponseComplete
		// that is left with Panic alone is starved.
		if len(want) > 1 {
			want = slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == audit.StagePanic })
		}
		index := map[string]int{}
		samples := requests(req, principals)
		decisions := make([]Decision, len(samples))
		for i, q := range samples {
			d := p.Evaluate(q.attrs())
			decisions[i] = d
			kind, reason := judge(req, need, want, d, q.what())
			if kind == "" {
				continue
			}
			key := fmt.Sprintf("%d/%s/%s", d.Line, kind, d.Level)
			if i, ok := index[key]; ok {
				rep.Starved[i].Requests++
				continue
			}
			index[key] = len(rep.Starved)
			rep.Starved = append(rep.Starved, Starvation{Rule: req.Rule, Reason: reason, PolicyLine: d.Line, Example: q.String(), Requests: 1})
		}
		p.checkSubsets(rep, req, need, want, samples, decisions)
	}
	rep.Notes = p.notes()
	return rep
}

// judge says whether decision d starves req for a request doing what,
// and why; kind is "" when it does not.
func judge(req audit.Requirement, need string, want []string, d Decision, what string) (kind, reason string) {
	switch {
	case d.Level == audit.LevelNone && d.Rule < 0:
		return "default", fmt.Sprintf("no policy rule matches %s and the default level is None: %s sees none of them", what, req.Rule)
	case d.Level == audit.LevelNone:
		return "none", fmt.Sprintf("level None for %s: %s sees none of them", what, req.Rule)
	case audit.LevelRank(d.Level) < audit.LevelRank(need):
		return "level", fmt.Sprintf("level %s for %s: %s reads the %s body and needs %s", d.Level, what, req.Rule, bodyOf(need), need)
	case allOmitted(want, d.OmitStages):
		return "stages", fmt.Sprintf("omitStages drops %s for %s: %s judges those stages", joinAnd(want), what, req.Rule)
	}
	return "", ""
}

func bodyOf(level string) string {
	if level == audit.LevelRequestResponse {
		return "response"
	}
	return "request"
}

func allOmitted(want, omitted []string) bool {
	for _, s := range want {
		if !slices.Contains(omitted, s) {
			return false
		}
	}
	return true
}

func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (p *Policy) at(d Decision) string {
	if d.Line == 0 {
		return "the default"
	}
	return fmt.Sprintf("the policy rule at line %d", d.Line)
}

// notes are the volume and leak warnings.
func (p *Policy) notes() []string {
	var notes []string
	seen := map[string]bool{}
	note := func(key, s string) {
		if !seen[key] {
			seen[key] = true
			notes = append(notes, s)
		}
	}
	node := principal{"system:node:node-1", []string{user.NodesGroup, user.AllAuthenticated}}
	kcm := principal{user.KubeControllerManager, []string{user.AllAuthenticated}}
	alice := principals[0]
	volume := []request{
		{verb: "watch", resource: "pods", who: node},
		{verb: "get", resource: "secrets", namespace: "default", name: "app", who: node},
		{verb: "list", group: "apps", resource: "replicasets", who: kcm},
		{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "kube-system", name: "kube-controller-manager", who: kcm},
		{verb: "create", resource: "pods", namespace: "default", who: alice},
		{verb: "get", resource: "pods", namespace: "default", name: "app", who: alice},
	}
	for _, q := range volume {
		d := p.Evaluate(q.attrs())
		if d.Level == audit.LevelNone {
			continue
		}
		if !slices.Contains(d.OmitStages, audit.StageRequestReceived) {
			note(fmt.Sprintf("rr/%d", d.Line), fmt.Sprintf("volume: %s records stage RequestReceived (%s): every request is logged twice and no rule needs it; add omitStages: [RequestReceived]", p.at(d), q))
		}
		if q.who.name != alice.name {
			note(fmt.Sprintf("sys/%d", d.Line), fmt.Sprintf("volume: %s records reads and routine writes of the cluster's own components at %s (%s): most of the log, and no rule reads them", p.at(d), d.Level, q))
		}
	}
	for _, q := range []request{
		{verb: "list", resource: "pods", namespace: "default", who: alice},
		{verb: "list", group: "example.com", resource: "widgets", namespace: "default", who: alice},
	} {
		if d := p.Evaluate(q.attrs()); d.Level == audit.LevelRequestResponse {
			note(fmt.Sprintf("rr-all/%d", d.Line), fmt.Sprintf("volume: %s records RequestResponse for reads (%s): whole lists in the log; only rules reading response bodies need it", p.at(d), q))
		}
	}
	// Bodies that hold credentials.
	for _, t := range []struct{ group, resource, sub, ns string }{
		{"", "secrets", "", "default"}, {"", "secrets", "", "kube-system"},
		{"", "configmaps", "", "default"}, {"", "configmaps", "", "kube-system"},
		{"authentication.k8s.io", "tokenreviews", "", ""},
		{"", "serviceaccounts", "token", "default"},
	} {
		for _, v := range []string{"create", "update", "patch", "get", "list"} {
			q := request{verb: v, group: t.group, resource: t.resource, sub: t.sub, namespace: t.ns, who: alice}
			if v != "create" && v != "list" || t.sub != "" {
				q.name = "app"
			}
			d := p.Evaluate(q.attrs())
			read := v == "get" || v == "list"
			if read && d.Level != audit.LevelRequestResponse || !read && audit.LevelRank(d.Level) < audit.LevelRank(audit.LevelRequest) {
				continue
			}
			what := t.resource
			if t.sub != "" {
				what += "/" + t.sub
			}
			note(fmt.Sprintf("leak/%d/%s", d.Line, what), fmt.Sprintf("warning: %s records the bodies of %s at %s (%s): the credentials they hold leak into the audit log; keep them at Metadata", p.at(d), what, d.Level, q))
		}
	}
	return notes
}
