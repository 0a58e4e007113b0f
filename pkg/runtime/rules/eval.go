package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// activation resolves the rule variables of one event: the event's own
// pointers, which the field getters read directly, and macros, evaluated
// on first use and kept for the other rules of the event.
type activation struct {
	s      *Set
	e      *event.Event
	objs   [len(variables)]object // wrappers of the event's objects, by variable index
	macros []ref.Val              // nil: not evaluated yet
	used   bool
}

// Variable indexes, in the order of variables.
const (
	vEvent = iota
	vProcess
	vParent
	vContainer
	vPod
	vFile
	vNet
	vPrivilege
	vNamespace
	vModule
	vPtrace
	vMemfd
	vExit
)

func (s *Set) initPool() {
	s.pool.New = func() any {
		a := &activation{s: s, macros: make([]ref.Val, len(s.macros))}
		for i, v := range variables {
			a.objs[i] = object{et: s.types, t: s.types.byName[v.typ]}
		}
		return a
	}
}

// obj returns the wrapper of variable i holding v, or null.
func (a *activation) obj(i int, v any, isNil bool) ref.Val {
	if isNil {
		return types.NullValue
	}
	o := &a.objs[i]
	o.v = v
	return o
}

// ResolveName implements interpreter.Activation. Objects are returned in
// wrappers the activation owns: a field selection unwraps them, and a
// comparison with null needs no allocation.
func (a *activation) ResolveName(name string) (any, bool) {
	e := a.e
	switch name {
	case "event":
		return a.obj(vEvent, e, e == nil), true
	case "process":
		return a.obj(vProcess, &e.Process, false), true
	case "parent":
		return a.obj(vParent, e.Parent, e.Parent == nil), true
	case "container":
		return a.obj(vContainer, e.Container, e.Container == nil), true
	case "pod":
		if e.Container == nil || e.Container.Pod == nil {
			return types.NullValue, true
		}
		return a.obj(vPod, e.Container.Pod, false), true
	case "file":
		return a.obj(vFile, e.File, e.File == nil), true
	case "net":
		return a.obj(vNet, e.Net, e.Net == nil), true
	case "privilege":
		return a.obj(vPrivilege, e.Privilege, e.Privilege == nil), true
	case "ns":
		return a.obj(vNamespace, e.Namespace, e.Namespace == nil), true
	case "module":
		return a.obj(vModule, e.Module, e.Module == nil), true
	case "ptrace":
		return a.obj(vPtrace, e.Ptrace, e.Ptrace == nil), true
	case "memfd":
		return a.obj(vMemfd, e.Memfd, e.Memfd == nil), true
	case "exit":
		return a.obj(vExit, e.Exit, e.Exit == nil), true
	}
	i, ok := a.s.macroIndex[name]
	if !ok {
		return nil, false
	}
	if v := a.macros[i]; v != nil {
		return v, true
	}
	v, _, err := a.s.macros[i].prog.Eval(a)
	if err != nil {
		v = types.WrapErr(err)
	}
	a.macros[i], a.used = v, true
	return v, true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// Evaluate runs the enabled rules of the event's kind and returns an alert
// for each that matches, in rule ID order. A condition that fails to
// evaluate does not match (see Rule.EvalErrors). An event the kernel
// killed (Event.Killed) alerts for its kill rule whatever the condition.
// Evaluate is safe for concurrent use.
func (s *Set) Evaluate(e *event.Event) []event.Alert {
	rules := s.byKind[e.Kind]
	if len(rules) == 0 {
		return nil
	}
	a := s.pool.Get().(*activation)
	a.e = e
	var out []event.Alert
	for _, r := range rules {
		if r.selector != nil && !selectorMatches(r.selector, e) {
			continue
		}
		killed := r.KillInKernel && e.Killed == r.ID
		if !killed {
			v, _, err := r.prog.Eval(a)
			if err != nil {
				r.errors.Add(1)
				continue
			}
			if v != types.True {
				continue
			}
		}
		out = append(out, r.alert(e, a, killed))
	}
	if a.used {
		clear(a.macros)
		a.used = false
	}
	a.e = nil
	for i := range a.objs {
		a.objs[i].v = nil
	}
	s.pool.Put(a)
	return out
}

func (r *Rule) alert(e *event.Event, a *activation, killed bool) event.Alert {
	action := ActionAlert
	if r.Action == Kill && r.Mode == Enforce {
		action = ActionKill
		if killed {
			action = ActionKillKernel
		}
	}
	return event.Alert{
		Time: e.Time, Rule: r.ID, Title: r.Title, Severity: r.Severity,
		Technique: r.Technique, Tactic: r.Tactic, Output: r.render(a),
		Action: action, Mode: string(r.Mode), Event: e,
	}
}

// none stands for a value the event does not have.
const none = "<none>"

func (r *Rule) render(a *activation) string {
	var b strings.Builder
	for _, p := range r.output {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, _, err := p.prog.Eval(a)
		if err != nil {
			b.WriteString(none)
			continue
		}
		writeValue(&b, v)
	}
	return b.String()
}

func writeValue(b *strings.Builder, v ref.Val) {
	switch v := v.(type) {
	case types.String:
		if v == "" {
			b.WriteString(none)
			return
		}
		b.WriteString(string(v))
	case types.Int:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case types.Uint:
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	case types.Double:
		b.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
	case types.Bool:
		b.WriteString(strconv.FormatBool(bool(v)))
	case types.Null:
		b.WriteString(none)
	case types.Timestamp:
		b.WriteString(v.Time.UTC().Format(time.RFC3339Nano))
	case *object:
		j, err := json.Marshal(v.v)
		if err != nil {
			b.WriteString(none)
			return
		}
		b.Write(j)
	case traits.Lister:
		n, _ := v.Size().(types.Int)
		if n == 0 {
			b.WriteString(none)
			return
		}
		for i := types.Int(0); i < n; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			writeValue(b, v.Get(i))
		}
	default:
		if types.IsError(v) {
			b.WriteString(none)
			return
		}
		fmt.Fprint(b, v.Value())
	}
}
