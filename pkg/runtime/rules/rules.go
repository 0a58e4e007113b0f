// Package rules decides which runtime events are alerts and what to do
// about them: rules written in CEL over the event model of package event,
// mapped to MITRE ATT&CK for Containers, in the file style of mamori's
// policies (API group mamori.dev/v1alpha1).
//
// A rule file holds documents of four kinds:
//
//	apiVersion: mamori.dev/v1alpha1
//	kind: RuntimeRule
//	metadata:
//	  name: shell-in-container             # the rule ID
//	spec:
//	  title: Shell spawned in a container
//	  severity: HIGH                       # LOW MEDIUM HIGH CRITICAL
//	  technique: T1059.004                 # MITRE ATT&CK technique
//	  tactic: Execution                    # its tactic
//	  events: [exec]                       # the kinds the rule sees (required)
//	  condition: "container != null && macros.shell_exec"   # CEL, bool
//	  output: "shell {{process.binary}} in {{pod.namespace}}/{{pod.name}}"
//	  action: alert                        # alert | kill
//	  mode: monitor                        # monitor | enforce (kill only in enforce)
//	  enabled: true                        # false: loaded and checked, never evaluated
//	  kernel:                              # kill rules: a kill the exec hook can do itself
//	    names: [xmrig]                     # basenames of the executable
//	    binaries: [/usr/bin/xmrig]         # exact resolved paths
//	    containersOnly: true
//	    selector: {matchLabels: {app: web}}   # pods it applies to
//	  paths:                               # what the in-kernel open filter must watch
//	  - {prefix: /etc/, access: write}     # access: read | write | any; suffix optional
//	---
//	kind: RuntimeList                      # lists.<name> in CEL: a constant list
//	metadata: {name: shell_binaries}
//	spec: {items: [sh, bash], append: false}   # append: extend a list defined before
//	---
//	kind: RuntimeMacro                     # macros.<name> in CEL: a bool, computed once per event
//	metadata: {name: shell_exec}
//	spec: {condition: "basename(process.binary) in lists.shell_binaries"}
//	---
//	kind: RuntimeRuleOverride              # changes a rule defined before (a built-in)
//	metadata: {name: shell-in-container}
//	spec: {enabled: false, mode: enforce, severity: CRITICAL}
//
// CEL sees the variables event, process, parent, container, pod, file,
// net, privilege, ns (the namespace change: namespace is a reserved word
// in CEL), module, ptrace, memfd and exit, with the field
// names of the event model's JSON tags; the ones an event does not have
// are null. Besides CEL's standard library, rules have the strings and
// network (ip, cidr) extensions, basename(string) and
// string.startsWithAny(list).
//
// Everything is compiled at load: a rule file with any problem does not
// load, and every problem names its file and line. Evaluate runs only the
// rules of the event's kind.
package rules

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// APIVersion is the apiVersion of rule documents.
const APIVersion = "mamori.dev/v1alpha1"

// Document kinds.
const (
	KindRule     = "RuntimeRule"
	KindList     = "RuntimeList"
	KindMacro    = "RuntimeMacro"
	KindOverride = "RuntimeRuleOverride"
)

// Action is what a rule does when it matches.
type Action string

// Actions.
const (
	Alert Action = "alert"
	Kill  Action = "kill"
)

// Mode says whether a kill rule kills (enforce) or only alerts (monitor).
type Mode string

// Modes.
const (
	Monitor Mode = "monitor"
	Enforce Mode = "enforce"
)

// Alert actions, as event.Alert.Action reports them.
const (
	ActionAlert      = "alert"
	ActionKill       = "kill"
	ActionKillKernel = "kill-kernel"
)

// Access is the kind of open a path watch reports.
type Access string

// Accesses.
const (
	Read      Access = "read"
	Write     Access = "write"
	AnyAccess Access = "any"
)

// PathWatch is a path the in-kernel open filter must report opens of:
// every path that starts with Prefix (and ends with Suffix, when set),
// opened for Access.
type PathWatch struct {
	Prefix string `json:"prefix"`
	Suffix string `json:"suffix,omitempty"`
	Access Access `json:"access,omitempty"`
}

// Kernel is a kill condition the exec hook checks itself: the process is
// killed before its first instruction.
type Kernel struct {
	// Names are basenames of the executable; Binaries exact resolved paths.
	Names    []string `json:"names,omitempty"`
	Binaries []string `json:"binaries,omitempty"`
	// ContainersOnly leaves host processes alone.
	ContainersOnly bool `json:"containersOnly,omitempty"`
	// Selector picks the pods whose containers it applies to; nil is all.
	Selector labels.Selector `json:"-"`
}

// KernelKill is an enforcing kill rule the sensor loads into the kernel.
type KernelKill struct {
	Rule string
	Kernel
}

// Rule is one compiled rule.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    string
	Technique   string
	Tactic      string
	Events      []event.Kind
	Condition   string
	Output      string
	Action      Action
	Mode        Mode
	Enabled     bool
	// Kernel is the rule's in-kernel kill condition, or nil.
	Kernel *Kernel
	// KillInKernel is true for an enforcing kill rule with a kernel block:
	// the exec hook kills; user space kills (Action "kill") only what the
	// condition catches and the kernel did not.
	KillInKernel bool
	Paths        []PathWatch
	// Builtin marks mamori's own rules.
	Builtin bool
	// File and Line say where the rule is written.
	File string
	Line int

	prog     cel.Program
	output   []outputPart
	errors   atomic.Uint64
	selector labels.Selector // Kernel.Selector, applied in user space too
}

// EvalErrors counts the events on which the condition failed to evaluate
// (and so did not match), e.g. a field of a null object not guarded.
func (r *Rule) EvalErrors() uint64 { return r.errors.Load() }

// Set is a compiled rule set.
type Set struct {
	rules  []*Rule // sorted by ID
	byKind map[event.Kind][]*Rule
	lists  map[string]*list
	// listOrder is the lists' names in definition order.
	listOrder []string
	macros    []*macro
	// macroIndex maps "macros.<name>" to the macro's index.
	macroIndex map[string]int
	types      *eventTypes
	pool       sync.Pool // *activation
	// docs are the documents compiled, kept so that Merge can compile a
	// union with lists and overrides applying across sets.
	docs []*document
}

// Rules returns every rule, sorted by ID, including disabled ones.
func (s *Set) Rules() []*Rule { return slices.Clone(s.rules) }

// Get returns the rule with the ID, or nil.
func (s *Set) Get(id string) *Rule {
	i, ok := slices.BinarySearchFunc(s.rules, id, func(r *Rule, id string) int { return strings.Compare(r.ID, id) })
	if !ok {
		return nil
	}
	return s.rules[i]
}

// Kinds returns the event kinds some enabled rule sees, in event.Kinds
// order: the sensor need not report the others.
func (s *Set) Kinds() []event.Kind {
	var out []event.Kind
	for _, k := range event.Kinds {
		if len(s.byKind[k]) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// WatchedPaths returns the union of the paths of enabled rules, sorted,
// without a watch another one already covers.
func (s *Set) WatchedPaths() []PathWatch {
	var all []PathWatch
	for _, r := range s.rules {
		if r.Enabled {
			all = append(all, r.Paths...)
		}
	}
	return unionPaths(all)
}

// KernelKills returns the enabled, enforcing kill rules with a kernel
// block, sorted by rule ID.
func (s *Set) KernelKills() []KernelKill {
	var out []KernelKill
	for _, r := range s.rules {
		if r.Enabled && r.KillInKernel {
			out = append(out, KernelKill{Rule: r.ID, Kernel: *r.Kernel})
		}
	}
	return out
}

// unionPaths merges watches: one prefix watched for read and for write is
// watched for any; a watch under a shorter prefix with the same suffix
// and a covering access is dropped.
func unionPaths(all []PathWatch) []PathWatch {
	type key struct{ prefix, suffix string }
	acc := map[key]Access{}
	for _, p := range all {
		k := key{p.Prefix, p.Suffix}
		switch prev, ok := acc[k]; {
		case !ok:
			acc[k] = p.Access
		case prev != p.Access:
			acc[k] = AnyAccess
		}
	}
	covers := func(a, b Access) bool { return a == AnyAccess || a == b }
	var out []PathWatch
	for k, a := range acc {
		covered := false
		for k2, a2 := range acc {
			if k2 != k && k2.suffix == k.suffix && strings.HasPrefix(k.prefix, k2.prefix) && covers(a2, a) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, PathWatch{Prefix: k.prefix, Suffix: k.suffix, Access: a})
		}
	}
	slices.SortFunc(out, func(a, b PathWatch) int {
		if c := strings.Compare(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return strings.Compare(a.Suffix, b.Suffix)
	})
	return out
}
