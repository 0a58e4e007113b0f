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
	macros []ref.Val // nil: not evaluated yet
	used   bool
}

func (s *Set) initPool() {
	s.pool.New = func() any { return &activation{s: s, macros: make([]ref.Val, len(s.macros))} }
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	e := a.e
	switch name {
	case "event":
		return e, true
	case "process":
		return &e.Process, true
	case "parent":
		return e.Parent, true
	case "container":
		return e.Container, true
	case "pod":
		if e.Container == nil {
			return (*event.Pod)(nil), true
		}
		return e.Container.Pod, true
	case "file":
		return e.File, true
	case "net":
		return e.Net, true
	case "privilege":
		return e.Privilege, true
	case "ns":
		return e.Namespace, true
	case "module":
		return e.Module, true
	case "ptrace":
		return e.Ptrace, true
	case "memfd":
		return e.Memfd, true
	case "exit":
		return e.Exit, true
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
