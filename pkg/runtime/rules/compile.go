package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/internal/ruledoc"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// list is a compiled RuntimeList: a CEL constant.
type list struct {
	name  string
	items []any // string or int64
	doc   *document
}

// macro is a compiled RuntimeMacro: a bool computed lazily, once per
// event, when a rule reads it.
type macro struct {
	name  string
	index int
	prog  cel.Program
	deps  []string // macros it reads
	vars  []string // event variables it reads, directly or through deps
	doc   *document
}

// kindsOf says which event kinds set the variables that only some kinds
// have: a rule reading one for none of its kinds can never match.
var kindsOf = map[string][]event.Kind{
	"file":      {event.Open},
	"net":       {event.Connect, event.Accept},
	"privilege": {event.Privilege},
	"ns":        {event.Namespace},
	"module":    {event.Module},
	"ptrace":    {event.Ptrace},
	"memfd":     {event.Memfd},
	"exit":      {event.Exit},
}

func knownKind(k string) bool { return slices.Contains(event.Kinds, event.Kind(k)) }

func kindNames() string {
	names := make([]string, len(event.Kinds))
	for i, k := range event.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// compile compiles shared (lists and macros in scope, their own rules not
// part of the set) and docs into a set. An override of a rule in external
// (rules defined elsewhere, that a later Merge brings) is checked but
// applies only once merged. All problems are reported.
func compile(shared, docs []*document, external map[string]bool) (*Set, error) {
	var errs []error
	all := append(slices.Clone(shared), docs...)
	s := &Set{lists: map[string]*list{}, byKind: map[event.Kind][]*Rule{}}

	// Lists, in order: append extends the one defined before.
	var listOrder []string
	for _, d := range all {
		if d.list == nil {
			continue
		}
		prev := s.lists[d.Name]
		switch {
		case prev == nil && d.list.Append:
			errs = append(errs, d.Errorf("spec.append", "append: no list %s is defined before", d.Name))
		case prev != nil && !d.list.Append:
			errs = append(errs, d.Errorf("metadata.name", "list already defined at %s:%d (set spec.append: true to extend it)", prev.doc.File, prev.doc.Line))
		case prev != nil:
			if len(prev.items) > 0 && len(d.list.Items) > 0 && fmt.Sprintf("%T", prev.items[0]) != fmt.Sprintf("%T", d.list.Items[0]) {
				errs = append(errs, d.Errorf("spec.items", "appends items of another type than the list defined at %s:%d", prev.doc.File, prev.doc.Line))
				continue
			}
			prev.items = append(slices.Clone(prev.items), d.list.Items...)
		default:
			s.lists[d.Name] = &list{name: d.Name, items: slices.Clone(d.list.Items), doc: d}
			listOrder = append(listOrder, d.Name)
		}
	}

	// Macros are declared first, all of them, so that they may read each
	// other in any order; cycles are refused below.
	macros := map[string]*macro{}
	for _, d := range all {
		if d.macro == nil {
			continue
		}
		if prev := macros[d.Name]; prev != nil {
			errs = append(errs, d.Errorf("metadata.name", "macro already defined at %s:%d", prev.doc.File, prev.doc.Line))
			continue
		}
		m := &macro{name: d.Name, index: len(s.macros), doc: d}
		macros[d.Name] = m
		s.macros = append(s.macros, m)
	}

	opts := []cel.EnvOption{
		ext.Strings(), ext.Lists(), ext.Network(), envOption(&s.types),
		ruledoc.Basename("basename_string"),
		// startsWithAny is the prefix test rules make most (paths under
		// any of a list of directories), without a comprehension's
		// per-item variable.
		cel.Function("startsWithAny", cel.MemberOverload("string_starts_with_any_list",
			[]*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.BoolType,
			cel.BinaryBinding(startsWithAny))),
	}
	for _, name := range listOrder {
		l := s.lists[name]
		t, v := listConstant(l.items)
		opts = append(opts, cel.Constant("lists."+name, t, v))
	}
	for _, m := range s.macros {
		opts = append(opts, cel.Variable("macros."+m.name, cel.BoolType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("rules: CEL environment: %w", err)
	}

	for _, m := range s.macros {
		prog, refs, e := compileBool(env, m.doc, "spec.condition", m.doc.macro.Condition)
		m.prog, errs = prog, append(errs, e...)
		m.deps, m.vars = ruledoc.SplitRefs(refs) // none when it failed
	}
	errs = append(errs, macroCycles(s.macros, macros)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, m := range s.macros {
		m.vars = macroVars(m, macros, map[string]bool{})
	}

	byID := map[string]*Rule{}
	for _, d := range docs {
		if d.rule == nil {
			continue
		}
		if prev := byID[d.Name]; prev != nil {
			errs = append(errs, d.Errorf("metadata.name", "rule already defined at %s:%d", prev.File, prev.Line))
			continue
		}
		r, e := compileRule(env, d, macros)
		if e != nil {
			errs = append(errs, e...)
			continue
		}
		byID[r.ID] = r
		s.rules = append(s.rules, r)
	}
	for _, d := range docs {
		if d.override == nil {
			continue
		}
		r := byID[d.Name]
		if r == nil {
			if !external[d.Name] {
				errs = append(errs, d.Errorf("metadata.name", "no rule %s to override", d.Name))
			}
			continue
		}
		o := d.override
		if o.Enabled != nil {
			r.Enabled = *o.Enabled
		}
		if o.Mode != "" {
			r.Mode = o.Mode
		}
		if o.Severity != "" {
			r.Severity = o.Severity
		}
		r.KillInKernel = r.Action == Kill && r.Mode == Enforce && r.Kernel != nil
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(s.rules, func(a, b *Rule) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range s.rules {
		if !r.Enabled {
			continue
		}
		for _, k := range r.Events {
			s.byKind[k] = append(s.byKind[k], r)
		}
	}
	s.macroIndex = make(map[string]int, len(s.macros))
	for _, m := range s.macros {
		s.macroIndex["macros."+m.name] = m.index
	}
	s.listOrder = listOrder
	s.initPool()
	return s, nil
}

// listNames are the set's lists in definition order.
func (s *Set) listNames() []string { return s.listOrder }

func startsWithAny(sv, lv ref.Val) ref.Val {
	s, ok := sv.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(sv)
	}
	l, ok := lv.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(lv)
	}
	if native, err := l.ConvertToNative(stringSliceType); err == nil {
		for _, p := range native.([]string) {
			if strings.HasPrefix(string(s), p) {
				return types.True
			}
		}
		return types.False
	}
	return types.NewErr("startsWithAny: want a list of strings")
}

var stringSliceType = reflect.TypeFor[[]string]()

// listConstant is a list's CEL type and value: a list of strings or of
// ints (an empty list is a list of strings).
func listConstant(items []any) (*cel.Type, ref.Val) {
	if len(items) > 0 {
		if _, ok := items[0].(int64); ok {
			ints := make([]int64, len(items))
			for i, it := range items {
				ints[i] = it.(int64)
			}
			return cel.ListType(cel.IntType), types.NewDynamicList(types.DefaultTypeAdapter, ints)
		}
	}
	strs := make([]string, len(items))
	for i, it := range items {
		strs[i] = it.(string)
	}
	return cel.ListType(cel.StringType), types.NewStringList(types.DefaultTypeAdapter, strs)
}

// compileBool compiles a condition, which must be a bool, and returns the
// variables it references.
func compileBool(env *cel.Env, d *document, path, expr string) (cel.Program, []string, []error) {
	return ruledoc.CompileBool(env, d.Doc, path, expr, func(iss *cel.Issues) []error { return celErrors(d, path, expr, iss) })
}

// celErrors reports CEL issues at the file line of the expression line
// they are on, with the column in the expression.
func celErrors(d *document, path, expr string, iss *cel.Issues) []error {
	var errs []error
	lines := strings.Split(expr, "\n")
	for _, e := range iss.Errors() {
		l, c := e.Location.Line(), e.Location.Column()
		line := d.conditionPos(path, l)
		msg := fmt.Sprintf("%s %s: %s: CEL", d.Kind, d.Name, path)
		if l > 0 {
			msg += fmt.Sprintf(" line %d column %d", l, c+1)
		}
		text := e.Message
		// "undeclared reference to 'lists'" names neither the list nor
		// the fix.
		if l > 0 && l <= len(lines) && c >= 0 && c < len(lines[l-1]) {
			if m := listOrMacroRef.FindStringSubmatch(lines[l-1][c:]); m != nil {
				text = fmt.Sprintf("no %s named %s is defined (a Runtime%s document defines one)", m[1][:len(m[1])-1], m[2],
					map[string]string{"lists": "List", "macros": "Macro"}[m[1]])
			}
		}
		errs = append(errs, &Error{File: d.File, Line: line, Msg: msg + ": " + text})
	}
	return errs
}

var listOrMacroRef = regexp.MustCompile(`^(lists|macros)\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// macroCycles refuses unknown macro references (impossible: the checker
// resolves them) and cycles.
func macroCycles(order []*macro, byName map[string]*macro) []error {
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var errs []error
	var visit func(m *macro, path []string) bool
	visit = func(m *macro, path []string) bool {
		switch state[m.name] {
		case visiting:
			i := slices.Index(path, m.name)
			cycle := append(slices.Clone(path[i:]), m.name)
			errs = append(errs, m.doc.Errorf("spec.condition", "macros read each other in a cycle: %s", strings.Join(cycle, " -> ")))
			return false
		case done:
			return true
		}
		state[m.name] = visiting
		for _, dep := range m.deps {
			if d := byName[dep]; d != nil && !visit(d, append(path, m.name)) {
				state[m.name] = done
				return false
			}
		}
		state[m.name] = done
		return true
	}
	for _, m := range order {
		if state[m.name] == unseen {
			visit(m, nil)
		}
	}
	return errs
}

// macroVars is the event variables a macro reads through its
// dependencies too.
func macroVars(m *macro, byName map[string]*macro, seen map[string]bool) []string {
	if seen[m.name] {
		return nil
	}
	seen[m.name] = true
	out := slices.Clone(m.vars)
	for _, dep := range m.deps {
		for _, v := range macroVars(byName[dep], byName, seen) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// compileRule validates and compiles one rule document.
func compileRule(env *cel.Env, d *document, macros map[string]*macro) (*Rule, []error) {
	s := d.rule
	r := &Rule{
		ID: d.Name, Title: strings.TrimSpace(s.Title), Description: strings.TrimSpace(s.Description),
		Severity: s.Severity, Technique: s.Technique, Tactic: s.Tactic,
		Condition: strings.TrimSpace(s.Condition), Output: s.Output,
		Action: s.Action, Mode: s.Mode, Enabled: s.Enabled == nil || *s.Enabled,
		Paths: s.Paths, Builtin: d.Builtin, File: d.File, Line: d.Line,
	}
	if r.Action == "" {
		r.Action = Alert
	}
	if r.Mode == "" {
		r.Mode = Monitor
	}
	for _, k := range s.Events {
		r.Events = append(r.Events, event.Kind(k))
	}
	if k := s.Kernel; k != nil {
		r.Kernel = &Kernel{Names: k.Names, Binaries: k.Binaries, ContainersOnly: k.ContainersOnly}
		if k.Selector != nil {
			sel, _ := metav1.LabelSelectorAsSelector(k.Selector) // validated
			if !sel.Empty() {
				r.Kernel.Selector = sel
				r.selector = sel
			}
		}
	}
	r.KillInKernel = r.Action == Kill && r.Mode == Enforce && r.Kernel != nil

	cond := r.Condition
	if cond == "" {
		// A kernel block alone: user space matches what the kernel would.
		cond = kernelCondition(r.Kernel)
		r.Condition = cond
	}
	prog, refs, errs := compileBool(env, d, "spec.condition", cond)
	if errs != nil {
		return nil, errs
	}
	r.prog = prog
	var vars []string
	for _, ref := range refs {
		if name, ok := strings.CutPrefix(ref, "macros."); ok {
			vars = append(vars, macros[name].vars...)
		} else {
			vars = append(vars, ref)
		}
	}
	for v, kinds := range kindsOf {
		if slices.Contains(vars, v) && !slices.ContainsFunc(r.Events, func(k event.Kind) bool { return slices.Contains(kinds, k) }) {
			errs = append(errs, d.Errorf("spec.condition", "spec.condition reads %s, which is null for every event the rule sees (%s)", v, joinKinds(r.Events)))
		}
	}
	out, e := compileOutput(env, d, s.Output)
	errs = append(errs, e...)
	if len(errs) > 0 {
		return nil, errs
	}
	r.output = out
	return r, nil
}

func joinKinds(ks []event.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// kernelCondition is the CEL of what a kernel block matches.
func kernelCondition(k *Kernel) string {
	quote := func(items []string) string {
		q := make([]string, len(items))
		for i, it := range items {
			q[i] = strconv.Quote(it)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	c := fmt.Sprintf("(basename(process.binary) in %s || process.binary in %s)", quote(k.Names), quote(k.Binaries))
	if k.ContainersOnly {
		c = "container != null && " + c
	}
	return c
}

// outputPart is a literal or a {{CEL}} interpolation of an output.
type outputPart struct {
	lit  string
	prog cel.Program
}

func compileOutput(env *cel.Env, d *document, out string) ([]outputPart, []error) {
	var parts []outputPart
	var errs []error
	rest := out
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			parts = append(parts, outputPart{lit: rest})
			break
		}
		if i > 0 {
			parts = append(parts, outputPart{lit: rest[:i]})
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			errs = append(errs, d.Errorf("spec.output", "spec.output: {{ at column %d is not closed", len(out)-len(rest)+i+1))
			break
		}
		expr := strings.TrimSpace(rest[i+2 : i+j])
		rest = rest[i+j+2:]
		if expr == "" {
			errs = append(errs, d.Errorf("spec.output", "spec.output: empty {{}}"))
			continue
		}
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			for _, e := range iss.Errors() {
				errs = append(errs, d.Errorf("spec.output", "spec.output: {{%s}}: CEL column %d: %s", expr, e.Location.Column()+1, e.Message))
			}
			continue
		}
		prog, err := env.Program(ast)
		if err != nil {
			errs = append(errs, d.Errorf("spec.output", "spec.output: {{%s}}: %v", expr, err))
			continue
		}
		parts = append(parts, outputPart{prog: prog})
	}
	return parts, errs
}

// selectorMatches reports whether the event's pod matches a selector.
func selectorMatches(sel labels.Selector, e *event.Event) bool {
	if e.Container == nil || e.Container.Pod == nil {
		return false
	}
	return sel.Matches(labels.Set(e.Container.Pod.Labels))
}
