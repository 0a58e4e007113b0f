package rules

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"

	"github.com/mamori-dev/mamori/internal/ruledoc"
	"github.com/mamori-dev/mamori/pkg/audit"
)

// macro is a compiled AuditMacro: a bool computed lazily, once per event.
type macro struct {
	name  string
	index int
	prog  cel.Program
	deps  []string
	vars  []string
	doc   *document
}

// bodyVars are the variables that need the request or response body, and
// the least audit level that records it.
var bodyVars = map[string]string{
	"requestObject":  audit.LevelRequest,
	"checks":         audit.LevelRequest,
	"responseObject": audit.LevelRequestResponse,
}

// compile compiles docs in order. All problems are reported.
func compile(docs []*document, listFlags map[string][]string) (*Set, []error) {
	var errs []error
	s := &Set{lists: map[string][]string{}, macroIndex: map[string]int{}}
	listDoc := map[string]*document{}
	for _, d := range docs {
		if d.list == nil {
			continue
		}
		prev, ok := s.lists[d.Name]
		switch {
		case !ok && d.list.Append:
			errs = append(errs, d.Errorf("spec.append", "append: no list %s is defined before", d.Name))
		case ok && d.list.Append:
			s.lists[d.Name] = append(slices.Clone(prev), d.list.Items...)
		default:
			if !ok {
				s.listOrder = append(s.listOrder, d.Name)
			}
			s.lists[d.Name] = slices.Clone(d.list.Items)
			listDoc[d.Name] = d
		}
	}
	flagNames := make([]string, 0, len(listFlags))
	for name := range listFlags {
		flagNames = append(flagNames, name)
	}
	slices.Sort(flagNames)
	for _, name := range flagNames {
		if _, ok := s.lists[name]; !ok {
			errs = append(errs, fmt.Errorf("--list %s: no such list", name))
			continue
		}
		s.lists[name] = slices.Clone(listFlags[name])
	}

	// Macros: a later definition replaces an earlier one; all are declared
	// before any is compiled so that they may read each other.
	byName := map[string]*macro{}
	for _, d := range docs {
		if d.macro == nil {
			continue
		}
		if m := byName[d.Name]; m != nil {
			m.doc = d
			continue
		}
		m := &macro{name: d.Name, index: len(s.macros), doc: d}
		byName[d.Name] = m
		s.macros = append(s.macros, m)
		s.macroIndex["macros."+d.Name] = m.index
	}

	s.nets = &netCache{byList: map[*constList][]netip.Prefix{}}
	opts := []cel.EnvOption{
		ext.Strings(), ext.Network(),
		cel.Variable("verb", cel.StringType),
		cel.Variable("stage", cel.StringType),
		cel.Variable("level", cel.StringType),
		cel.Variable("auditID", cel.StringType),
		cel.Variable("requestURI", cel.StringType),
		cel.Variable("userAgent", cel.StringType),
		cel.Variable("sourceIPs", cel.ListType(cel.StringType)),
		cel.Variable("user", cel.DynType),
		cel.Variable("impersonatedUser", cel.DynType),
		cel.Variable("objectRef", cel.DynType),
		cel.Variable("responseStatus", cel.DynType),
		cel.Variable("annotations", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("requestObject", cel.DynType),
		cel.Variable("responseObject", cel.DynType),
		cel.Variable("checks", cel.ListType(cel.StringType)),
		ruledoc.Basename("audit_basename_string"),
		cel.Function("startsWithAny", cel.MemberOverload("audit_string_starts_with_any",
			[]*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
			cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				return eachString(l, r, strings.HasPrefix)
			}))),
		// matchesAny: s matches any of the globs (path.Match: * does not
		// cross '/'), so that lists can hold system:serviceaccount:ci:*.
		cel.Function("matchesAny", cel.Overload("audit_matches_any",
			[]*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
			cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				return eachString(l, r, func(s, g string) bool {
					ok, _ := path.Match(g, s)
					return ok
				})
			}))),
		cel.Function("inNetworks", cel.Overload("audit_in_networks",
			[]*cel.Type{cel.ListType(cel.StringType), cel.ListType(cel.StringType)}, cel.BoolType,
			cel.BinaryBinding(s.nets.inNetworks))),
	}
	for _, name := range s.listOrder {
		opts = append(opts, cel.Constant("lists."+name, cel.ListType(cel.StringType), newConstList(s.lists[name])))
	}
	for _, m := range s.macros {
		opts = append(opts, cel.Variable("macros."+m.name, cel.BoolType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, append(errs, fmt.Errorf("audit rules: CEL environment: %w", err))
	}
	for _, d := range listDoc {
		for i, it := range s.lists[d.Name] {
			if strings.Contains(d.Name, "network") {
				if _, err := parsePrefix(it); err != nil && i < len(d.list.Items) {
					errs = append(errs, d.Errorf(fmt.Sprintf("spec.items[%d]", i), "spec.items[%d]: %v", i, err))
				}
			}
		}
	}

	for _, m := range s.macros {
		prog, refs, e := compileBool(env, m.doc, "spec.condition", m.doc.macro.Condition)
		m.prog, errs = prog, append(errs, e...)
		m.deps, m.vars = ruledoc.SplitRefs(refs) // none when it failed
	}
	errs = append(errs, macroCycles(s.macros, byName)...)

	byID := map[string]*Rule{}
	ruleDoc := map[string]*document{}
	for _, d := range docs {
		if d.rule == nil {
			continue
		}
		if prev := byID[d.Name]; prev != nil {
			errs = append(errs, d.Errorf("metadata.name", "rule already defined at %s:%d", prev.File, prev.Line))
			continue
		}
		sp := d.rule
		r := &Rule{ID: d.Name, Title: sp.Title, Description: strings.TrimSpace(sp.Description), Severity: sp.Severity,
			Technique: sp.Technique, TechniqueName: techniqueNames[sp.Technique], Tactic: sp.Tactic,
			Match: Match(sp.Match), Condition: strings.TrimSpace(sp.Condition), Output: sp.Output,
			Enabled: sp.Enabled == nil || *sp.Enabled, Builtin: d.Builtin, File: d.File, Line: d.Line}
		if sp.Aggregate != nil {
			r.Aggregate, _ = parseAggregate(sp.Aggregate)
		}
		r.output, _ = parseTemplate(sp.Output)
		r.index = len(s.rules)
		byID[r.ID] = r
		ruleDoc[r.ID] = d
		s.rules = append(s.rules, r)
	}
	condDoc := map[string]*document{}
	for _, d := range docs {
		if d.override == nil {
			continue
		}
		r := byID[d.Name]
		if r == nil {
			errs = append(errs, d.Errorf("metadata.name", "no rule %s to override", d.Name))
			continue
		}
		o := d.override
		if o.Enabled != nil {
			r.Enabled = *o.Enabled
		}
		if o.Severity != "" {
			r.Severity = o.Severity
		}
		if o.Aggregate != nil {
			r.Aggregate, _ = parseAggregate(o.Aggregate)
		}
		if o.Condition != "" {
			if o.Append {
				r.Condition = "(" + r.Condition + ") && (" + strings.TrimSpace(o.Condition) + ")"
			} else {
				r.Condition = strings.TrimSpace(o.Condition)
			}
			condDoc[r.ID] = d
		}
	}
	for _, r := range s.rules {
		d := ruleDoc[r.ID]
		if od := condDoc[r.ID]; od != nil {
			d = od
		}
		prog, refs, e := compileBool(env, d, "spec.condition", r.Condition)
		if e != nil {
			errs = append(errs, e...)
			continue
		}
		r.prog = prog
		r.vars = map[string]bool{}
		for _, ref := range refs {
			if name, ok := strings.CutPrefix(ref, "macros."); ok {
				for _, v := range macroVars(byName[name], byName, map[string]bool{}) {
					r.vars[v] = true
				}
			} else {
				r.vars[ref] = true
			}
		}
		for _, v := range r.output.vars() {
			r.vars[v] = true
		}
		for v, lvl := range bodyVars {
			if r.vars[v] && audit.LevelRank(r.Match.Level) < audit.LevelRank(lvl) {
				errs = append(errs, ruleDoc[r.ID].Errorf("spec.match.level",
					"reads %s: spec.match.level must be at least %s, not %s", v, lvl, r.Match.Level))
			}
		}
		r.verbs = map[string]bool{}
		for _, v := range r.Match.Verbs {
			r.verbs[v] = true
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func compileBool(env *cel.Env, d *document, p, expr string) (cel.Program, []string, []error) {
	return ruledoc.CompileBool(env, d.Doc, p, expr, func(iss *cel.Issues) []error {
		var errs []error
		for _, e := range iss.Errors() {
			l, c := e.Location.Line(), e.Location.Column()
			errs = append(errs, &Error{File: d.File, Line: d.exprLine(p, l), Col: c + 1,
				Msg: fmt.Sprintf("%s %s: %s: %s", d.Kind, d.Name, p, e.Message)})
		}
		return errs
	})
}

func macroCycles(ms []*macro, byName map[string]*macro) []error {
	var errs []error
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(m *macro, stack []string) bool
	visit = func(m *macro, stack []string) bool {
		switch state[m.name] {
		case 1:
			errs = append(errs, m.doc.Errorf("spec.condition", "macro cycle: %s", strings.Join(append(stack, m.name), " -> ")))
			return false
		case 2:
			return true
		}
		state[m.name] = 1
		ok := true
		for _, d := range m.deps {
			if dm := byName[d]; dm != nil && !visit(dm, append(stack, m.name)) {
				ok = false
				break
			}
		}
		state[m.name] = 2
		return ok
	}
	for _, m := range ms {
		visit(m, nil)
	}
	return errs
}

func macroVars(m *macro, byName map[string]*macro, seen map[string]bool) []string {
	if m == nil || seen[m.name] {
		return nil
	}
	seen[m.name] = true
	out := slices.Clone(m.vars)
	for _, d := range m.deps {
		out = append(out, macroVars(byName[d], byName, seen)...)
	}
	return out
}

func eachString(l, r ref.Val, pred func(s, item string) bool) ref.Val {
	s, ok := l.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(l)
	}
	if c, ok := r.(*constList); ok {
		for _, it := range c.items {
			if pred(string(s), it) {
				return types.True
			}
		}
		return types.False
	}
	list, ok := r.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(r)
	}
	for it := list.Iterator(); it.HasNext() == types.True; {
		if v, ok := it.Next().(types.String); ok && pred(string(s), string(v)) {
			return types.True
		}
	}
	return types.False
}

// constList is the value of a list constant: a CEL list of strings that
// keeps its Go items, so that functions read them without iterating CEL
// values and inNetworks parses its prefixes once.
type constList struct {
	traits.Lister
	items []string
}

func newConstList(items []string) *constList {
	return &constList{Lister: types.NewStringList(types.DefaultTypeAdapter, items), items: items}
}

// netCache holds the parsed prefixes of the network lists.
type netCache struct {
	mu     sync.Mutex // Sets may be shared by engines on several goroutines
	byList map[*constList][]netip.Prefix
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (n *netCache) prefixes(r ref.Val) ([]netip.Prefix, bool) {
	if c, ok := r.(*constList); ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		if p, ok := n.byList[c]; ok {
			return p, true
		}
		var ps []netip.Prefix
		for _, it := range c.items {
			if p, err := parsePrefix(it); err == nil {
				ps = append(ps, p)
			}
		}
		n.byList[c] = ps
		return ps, true
	}
	list, ok := r.(traits.Lister)
	if !ok {
		return nil, false
	}
	var ps []netip.Prefix
	for it := list.Iterator(); it.HasNext() == types.True; {
		if v, ok := it.Next().(types.String); ok {
			if p, err := parsePrefix(string(v)); err == nil {
				ps = append(ps, p)
			}
		}
	}
	return ps, true
}

// inNetworks reports whether every address of ips is in one of the
// networks: a request is inside only if all its hops are. No addresses
// is false; an unparsable address is outside.
func (n *netCache) inNetworks(ipsV, netsV ref.Val) ref.Val {
	nets, ok := n.prefixes(netsV)
	if !ok {
		return types.MaybeNoSuchOverloadErr(netsV)
	}
	ips, ok := ipsV.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(ipsV)
	}
	any := false
	for it := ips.Iterator(); it.HasNext() == types.True; {
		v, ok := it.Next().(types.String)
		if !ok {
			return types.False
		}
		a, err := netip.ParseAddr(string(v))
		if err != nil {
			return types.False
		}
		a = a.Unmap()
		in := false
		for _, p := range nets {
			if p.Contains(a) {
				in = true
				break
			}
		}
		if !in {
			return types.False
		}
		any = true
	}
	return types.Bool(any)
}
