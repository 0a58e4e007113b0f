package auditpolicy

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// The sampled requests name a few namespaces, users and groups, so a rule
// that drops only some of them (namespaces: [prod], userGroups:
// [oidc:admins]) never decides a sample. checkSubsets moves each sample
// into the subset such a rule selects and asks the evaluator again: a
// starvation is reported only when the evaluator itself decides the moved
// request by that rule at a level the requirement cannot use.

// subsetRule is a policy rule that selects namespaces, users, groups or
// object names, with the subset it starves described.
type subsetRule struct {
	index  int
	subset string // "namespaces prod, payments and groups oidc:admins"
	// Values to move a sample to; empty means "keep the sample's".
	namespaces, users, groups, names []string
	// byUser is set when the rule selects users or groups at all.
	byUser bool
}

// subsetRules lists the rules of p that select a subset the requirements
// care about. Selectors naming only system components are dropped: no
// requirement judges them.
func (p *Policy) subsetRules() []subsetRule {
	var out []subsetRule
	for i, r := range p.internal.Rules {
		s := subsetRule{index: i, namespaces: r.Namespaces, byUser: len(r.Users) > 0 || len(r.UserGroups) > 0}
		for _, u := range r.Users {
			if !ignoredUser(u) {
				s.users = append(s.users, u)
			}
		}
		for _, g := range r.UserGroups {
			if !slices.Contains(systemGroups, g) {
				s.groups = append(s.groups, g)
			}
		}
		for _, gr := range r.Resources {
			for _, n := range gr.ResourceNames {
				if !slices.Contains(s.names, n) {
					s.names = append(s.names, n)
				}
			}
		}
		if len(r.Users) > 0 && len(s.users) == 0 || len(r.UserGroups) > 0 && len(s.groups) == 0 {
			continue // only system components
		}
		if len(s.namespaces) == 0 && !s.byUser && len(s.names) == 0 {
			continue // selects no subset: the samples judge it
		}
		var parts []string
		if len(s.namespaces) > 0 {
			ns := slices.Clone(s.namespaces)
			for j, n := range ns {
				if n == "" {
					ns[j] = `"" (cluster-scoped)`
				}
			}
			parts = append(parts, "namespaces "+strings.Join(ns, ", "))
		}
		if len(s.users) > 0 {
			parts = append(parts, "users "+strings.Join(s.users, ", "))
		}
		if len(s.groups) > 0 {
			parts = append(parts, "groups "+strings.Join(s.groups, ", "))
		}
		if len(s.names) > 0 {
			parts = append(parts, "names "+strings.Join(s.names, ", "))
		}
		s.subset = strings.Join(parts, " and ")
		out = append(out, s)
	}
	return out
}

// ignoredUser: the cluster's own components, which no requirement judges
// (see principals).
func ignoredUser(name string) bool {
	if ns, _, ok := audit.ServiceAccount(name); ok {
		return ns == "kube-system"
	}
	return audit.IsSystemUser(name)
}

// moved is a sample moved into a rule's subset; group is the group added
// to its requester, if any, for the example.
type moved struct {
	q     request
	group string
}

// moves returns the requests of subset s nearest to sample q, within
// what req covers; none when s cannot hold q (a namespace for a
// cluster-scoped resource, a name for a list).
func (s subsetRule) moves(req audit.Requirement, q request) []moved {
	namespaces := []string{q.namespace}
	if len(s.namespaces) > 0 && !slices.Contains(s.namespaces, q.namespace) {
		namespaces = nil
		for _, ns := range s.namespaces {
			// Stay in the requirement's namespaces and in the sample's
			// scope: cluster-scoped resources have namespace "".
			if q.path != "" || (ns == "") != (q.namespace == "") || len(req.Namespaces) > 0 && !slices.Contains(req.Namespaces, ns) {
				continue
			}
			namespaces = append(namespaces, ns)
		}
	}
	names := []string{q.name}
	if len(s.names) > 0 && q.name != "" && !slices.Contains(s.names, q.name) {
		names = s.names
	}
	type who struct {
		p     principal
		group string
	}
	whos := []who{{p: q.who}}
	if s.byUser {
		userOK := len(s.users) == 0 || slices.Contains(s.users, q.who.name)
		groupOK := len(s.groups) == 0 || slices.ContainsFunc(q.who.groups, func(g string) bool { return slices.Contains(s.groups, g) })
		if !userOK || !groupOK {
			whos = nil
			names := []string{q.who.name}
			if !userOK {
				names = s.users
			}
			for _, n := range names {
				groups := q.who.groups
				if n != q.who.name {
					groups = []string{user.AllAuthenticated}
				}
				if groupOK {
					whos = append(whos, who{p: principal{n, groups}})
					continue
				}
				for _, g := range s.groups {
					whos = append(whos, who{p: principal{n, append(slices.Clone(groups), g)}, group: g})
				}
			}
		}
	}
	var out []moved
	for _, ns := range namespaces {
		for _, name := range names {
			for _, w := range whos {
				m := q
				m.namespace, m.name, m.who = ns, name, w.p
				out = append(out, moved{m, w.group})
			}
		}
	}
	return out
}

// checkSubsets reports the subset rules of p that starve req for a part
// of its requests the samples miss.
func (p *Policy) checkSubsets(rep *Report, req audit.Requirement, need string, want []string, samples []request, decisions []Decision) {
	subsets := p.subsetRules()
	index := map[string]int{}
	for _, s := range subsets {
		// Judge the rule's own level and stages first: most subset rules
		// (reads of system components dropped) cannot starve anything.
		r := p.internal.Rules[s.index]
		own := Decision{Level: string(r.Level), OmitStages: union(p.internal.OmitStages, r.OmitStages), Rule: s.index, Line: p.Lines[s.index]}
		if kind, _ := judge(req, need, want, own, ""); kind == "" {
			continue
		}
		// The samples already report this rule.
		if slices.ContainsFunc(rep.Starved, func(x Starvation) bool { return x.Rule == req.Rule && x.PolicyLine == own.Line }) {
			continue
		}
		for i, q := range samples {
			if decisions[i].Rule == s.index {
				continue
			}
			for _, m := range s.moves(req, q) {
				if m.q.namespace == q.namespace && m.q.name == q.name && m.q.who.name == q.who.name && slices.Equal(m.q.who.groups, q.who.groups) {
					continue
				}
				d := p.Evaluate(m.q.attrs())
				if d.Rule != s.index {
					continue
				}
				kind, _ := judge(req, need, want, d, "")
				if kind == "" {
					continue
				}
				key := fmt.Sprintf("%d/%s", d.Line, kind)
				if j, ok := index[key]; ok {
					rep.Starved[j].Requests++
					break
				}
				index[key] = len(rep.Starved)
				example := m.q.String()
				if m.q.name != q.name {
					example = strings.Replace(example, " by ", " named "+m.q.name+" by ", 1)
				}
				if m.group != "" {
					example += " in group " + m.group
				}
				rep.Starved = append(rep.Starved, Starvation{Rule: req.Rule, Reason: subsetReason(req, need, want, s.subset, d), PolicyLine: d.Line, Example: example, Requests: 1})
				break
			}
		}
	}
}

// subsetReason: "starves pod-exec for namespaces prod, payments: level None".
func subsetReason(req audit.Requirement, need string, want []string, subset string, d Decision) string {
	switch {
	case d.Level == audit.LevelNone:
		return fmt.Sprintf("starves %s for %s: level None", req.Rule, subset)
	case audit.LevelRank(d.Level) < audit.LevelRank(need):
		return fmt.Sprintf("starves %s for %s: level %s, and %s reads the %s body and needs %s", req.Rule, subset, d.Level, req.Rule, bodyOf(need), need)
	}
	return fmt.Sprintf("starves %s for %s: omitStages drops %s", req.Rule, subset, joinAnd(want))
}
