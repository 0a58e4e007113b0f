package rules

import (
	"container/list"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// EngineOptions configure an Engine.
type EngineOptions struct {
	// Exceptions suppress alerts: an alert is a finding of check = rule
	// ID, resource {Kind: objectRef.resource, Namespace, Name} and user.
	Exceptions *exception.Set
	// Now is the day exceptions are judged on (expiry); nil means today.
	Now func() time.Time
	// MaxKeys bounds the aggregation state (rule × user or source IP);
	// the least recently seen key is dropped beyond it. Default 100,000.
	MaxKeys int
	// Logger receives expired exceptions and the first evaluation error
	// of each rule; nil discards.
	Logger *slog.Logger
	// OnSuppressed, if set, is told of each alert an exception suppressed
	// (for metrics); its Output is not rendered.
	OnSuppressed func(*audit.Alert)
}

// Stats counts what an Engine did.
type Stats struct {
	Events     int
	Alerts     map[string]int // by rule
	Suppressed map[string]int // by rule, by exceptions
	EvalErrors map[string]int // by rule
}

// dedupeSize is how many recent audit IDs each rule remembers: one request
// passes several stages, close together.
const dedupeSize = 1024

// indexCap bounds the prefilter cache (verb × group × resource seen).
const indexCap = 4096

type indexKey struct{ verb, group, resource string }

// Engine runs a Set over a stream of events. It is not safe for
// concurrent use: one goroutine calls Process (it keeps per-stream state:
// dedupe, aggregation windows); run one Engine per stream.
type Engine struct {
	s     *Set
	o     EngineOptions
	index map[indexKey][]*Rule
	all   []*Rule // enabled rules
	act   activation

	seen   []dedupe
	agg    aggregator
	fRules []*finding.Rule

	events                       int
	alerts, suppressed, evalErrs []int
	expiredLogged                map[*exception.Entry]bool

	sc           *misconfig.Scanner
	scannerTried bool
}

// NewEngine returns an engine running the enabled rules of s.
func NewEngine(s *Set, o EngineOptions) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := len(s.rules)
	e := &Engine{s: s, o: o, index: map[indexKey][]*Rule{},
		seen: make([]dedupe, n), fRules: make([]*finding.Rule, n),
		alerts: make([]int, n), suppressed: make([]int, n), evalErrs: make([]int, n),
		expiredLogged: map[*exception.Entry]bool{}}
	for _, r := range s.rules {
		if r.Enabled {
			e.all = append(e.all, r)
		}
		e.fRules[r.index] = &finding.Rule{ID: r.ID, Title: r.Title}
	}
	e.act = activation{s: s, e: e, macros: make([]ref.Val, len(s.macros))}
	e.agg = aggregator{max: o.MaxKeys, keys: map[aggKey]*list.Element{}, lru: list.New()}
	return e
}

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	st := Stats{Events: e.events, Alerts: map[string]int{}, Suppressed: map[string]int{}, EvalErrors: map[string]int{}}
	for _, r := range e.s.rules {
		if n := e.alerts[r.index]; n > 0 {
			st.Alerts[r.ID] = n
		}
		if n := e.suppressed[r.index]; n > 0 {
			st.Suppressed[r.ID] = n
		}
		if n := e.evalErrs[r.index]; n > 0 {
			st.EvalErrors[r.ID] = n
		}
	}
	return st
}

// AggregationKeys is how many aggregation keys the engine holds.
func (e *Engine) AggregationKeys() int { return len(e.agg.keys) }

// candidates returns the enabled rules whose verbs and resources admit
// the event, from a cache filled on first sight of each verb × resource.
func (e *Engine) candidates(ev *audit.Event) []*Rule {
	k := indexKey{verb: ev.Verb}
	if r := ev.ObjectRef; r != nil {
		k.group, k.resource = r.APIGroup, ev.Resource()
		if k.resource == "" {
			k.resource = "\x00" // a resource request without a resource: never a non-resource one
		}
	}
	if rs, ok := e.index[k]; ok {
		return rs
	}
	var rs []*Rule
	for _, r := range e.all {
		if r.admits(k) {
			rs = append(rs, r)
		}
	}
	if len(e.index) < indexCap {
		e.index[k] = rs
	}
	return rs
}

func (r *Rule) admits(k indexKey) bool {
	if len(r.verbs) > 0 && !r.verbs[k.verb] {
		return false
	}
	if len(r.Match.Resources) == 0 {
		return true
	}
	if k.resource == "" {
		return false // non-resource request
	}
	res, sub, _ := cut(k.resource)
	for _, gr := range r.Match.Resources {
		if gr.Group != "*" && gr.Group != k.group {
			continue
		}
		for _, want := range gr.Resources {
			wr, ws, hasSub := cut(want)
			switch {
			case want == "*":
				return true
			case !hasSub && sub == "" && wr == res:
				return true
			case hasSub && (wr == "*" || wr == res) && (ws == "*" || ws == sub) && sub != "":
				return true
			}
		}
	}
	return false
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Process judges one event and calls emit for every alert it raises.
func (e *Engine) Process(ev *audit.Event, emit func(*audit.Alert)) {
	e.events++
	rs := e.candidates(ev)
	if len(rs) == 0 {
		return
	}
	a := &e.act
	a.reset(ev)
	for _, r := range rs {
		if !slices.Contains(r.Match.Stages, ev.Stage) {
			continue
		}
		if len(r.Match.Namespaces) > 0 && (ev.ObjectRef == nil || !slices.Contains(r.Match.Namespaces, ev.ObjectRef.Namespace)) {
			continue
		}
		out, _, err := r.prog.Eval(a)
		if err != nil {
			if e.evalErrs[r.index] == 0 {
				e.o.Logger.Warn("audit rule evaluation error", "rule", r.ID, "event", ev.Pos.String(), "error", err)
			}
			e.evalErrs[r.index]++
			continue
		}
		if out != types.True {
			continue
		}
		if ev.AuditID != "" && !e.seen[r.index].add(requestKey(ev)) {
			continue
		}
		e.raise(r, ev, emit)
	}
}

func (e *Engine) raise(r *Rule, ev *audit.Event, emit func(*audit.Alert)) {
	var count int
	var ids []string
	if g := r.Aggregate; g != nil {
		key := ev.User.Username
		if g.By == "sourceIP" {
			key = ""
			if len(ev.SourceIPs) > 0 {
				key = ev.SourceIPs[0]
			}
		}
		var fire bool
		fire, count, ids = e.agg.add(r, key, ev.Time(), ev.AuditID)
		if !fire {
			return
		}
	}
	al := audit.NewAlert(ev)
	al.Rule, al.Title, al.Severity = r.ID, r.Title, r.Severity
	al.Technique, al.TechniqueName, al.Tactic = r.Technique, r.TechniqueName, r.Tactic
	if r.Aggregate != nil {
		al.Count, al.Window, al.AuditIDs = count, r.Aggregate.Window.String(), ids
	}
	if e.excepted(r, &al) {
		e.suppressed[r.index]++
		if e.o.OnSuppressed != nil {
			e.o.OnSuppressed(&al)
		}
		return
	}
	al.Output = r.output.render(&e.act)
	e.alerts[r.index]++
	emit(&al)
}

// excepted reports whether a live exception covers the alert, logging
// once per entry an expired one that would have.
func (e *Engine) excepted(r *Rule, al *audit.Alert) bool {
	x := e.o.Exceptions
	if x == nil || len(x.Entries) == 0 {
		return false
	}
	f := finding.Finding{Rule: e.fRules[r.index], User: al.User}
	if ev := e.act.ev; ev.ObjectRef != nil {
		f.Resource = finding.Resource{Kind: ev.ObjectRef.Resource, Namespace: ev.ObjectRef.Namespace, Name: ev.ObjectRef.Name}
	}
	now := e.o.Now()
	// Only the authenticated user: whoever may impersonate an excepted
	// user must not inherit the exception.
	live, expired := x.Match(&f, now)
	if live != nil {
		return true
	}
	if expired != nil && !e.expiredLogged[expired] {
		e.expiredLogged[expired] = true
		e.o.Logger.Warn("exception expired: its alerts are raised again", "file", expired.File, "line", expired.Line,
			"check", expired.Check, "owner", expired.Owner, "expires", expired.Expires.Format(time.DateOnly))
	}
	return false
}

// requestKey identifies one request across the stages it is logged at.
// The audit ID alone does not: the API server takes it from the client's
// Audit-ID header when one is sent, so an attacker repeating one would
// have every request after the first deduplicated away. The stages of one
// request share its receipt time to the microsecond, its user, verb and
// URI.
func requestKey(ev *audit.Event) string {
	return ev.AuditID + "\x00" + ev.RequestReceivedTimestamp.Format(time.RFC3339Nano) + "\x00" +
		ev.User.Username + "\x00" + ev.Verb + "\x00" + ev.RequestURI
}

// dedupe is a bounded set of recent requests (requestKey).
type dedupe struct {
	ids  map[string]struct{}
	ring []string
	next int
}

// add reports whether id is new, remembering it.
func (d *dedupe) add(id string) bool {
	if d.ids == nil {
		d.ids = make(map[string]struct{}, 64)
		d.ring = make([]string, dedupeSize)
	}
	if _, ok := d.ids[id]; ok {
		return false
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.ids, old)
	}
	d.ring[d.next] = id
	d.next = (d.next + 1) % len(d.ring)
	d.ids[id] = struct{}{}
	return true
}

// aggregator holds the sliding windows of aggregating rules, by rule and
// key, least recently seen last, at most max of them.
type aggregator struct {
	max  int
	keys map[aggKey]*list.Element
	lru  *list.List // of *aggState, most recent first
	now  time.Time  // latest event time seen
}

type aggKey struct {
	rule int
	key  string
}

type aggState struct {
	k      aggKey
	times  []time.Time // the last Count matching events, oldest first
	ids    []string    // the first audit IDs of the current burst, ≤ 10
	quiet  time.Time   // no alert again before
	seen   time.Time
	window time.Duration
}

const maxAuditIDs = 10

// add counts an event and reports whether it completes a burst.
func (g *aggregator) add(r *Rule, key string, t time.Time, id string) (bool, int, []string) {
	if t.After(g.now) {
		g.now = t
	}
	g.sweep()
	k := aggKey{r.index, key}
	var st *aggState
	if el, ok := g.keys[k]; ok {
		st = el.Value.(*aggState)
		g.lru.MoveToFront(el)
	} else {
		if len(g.keys) >= g.max {
			old := g.lru.Back()
			delete(g.keys, old.Value.(*aggState).k)
			g.lru.Remove(old)
		}
		st = &aggState{k: k, window: r.Aggregate.Window}
		g.keys[k] = g.lru.PushFront(st)
	}
	st.seen = t
	n := r.Aggregate.Count
	// Drop what fell out of the window, and keep at most n times.
	cut := 0
	for cut < len(st.times) && t.Sub(st.times[cut]) >= st.window {
		cut++
	}
	if cut > 0 {
		st.times = append(st.times[:0], st.times[cut:]...)
		if len(st.times) == 0 {
			st.ids = st.ids[:0]
		}
	}
	if len(st.times) == n {
		st.times = append(st.times[:0], st.times[1:]...)
	}
	st.times = append(st.times, t)
	if len(st.ids) < maxAuditIDs {
		st.ids = append(st.ids, id)
	}
	if len(st.times) < n || t.Before(st.quiet) {
		return false, 0, nil
	}
	ids := slices.Clone(st.ids)
	count := len(st.times)
	st.quiet = t.Add(st.window)
	st.times, st.ids = st.times[:0], st.ids[:0]
	return true, count, ids
}

// sweep drops the least recently seen keys whose window and quiet time
// have passed.
func (g *aggregator) sweep() {
	for el := g.lru.Back(); el != nil; el = g.lru.Back() {
		st := el.Value.(*aggState)
		if g.now.Sub(st.seen) < st.window || g.now.Before(st.quiet) {
			return
		}
		delete(g.keys, st.k)
		g.lru.Remove(el)
	}
}

// activation resolves the variables of one event for CEL; macros,
// bodies and checks are computed on first use and kept for the other
// rules of the event.
type activation struct {
	s  *Set
	e  *Engine
	ev *audit.Event

	user, imp, objRef, status record
	macros                    []ref.Val
	reqBody, respBody         *bodyCache
	bodies                    [2]bodyCache
	checks                    []string
	checksDone                bool
}

type bodyCache struct {
	done bool
	v    any
}

func (a *activation) reset(ev *audit.Event) {
	a.ev = ev
	clear(a.macros)
	a.bodies = [2]bodyCache{}
	a.reqBody, a.respBody = &a.bodies[0], &a.bodies[1]
	a.checks, a.checksDone = nil, false
}

// body decodes a body once; nil when absent or not JSON.
func (a *activation) body(c **bodyCache, raw json.RawMessage) any {
	b := *c
	if b == nil {
		return nil
	}
	if !b.done {
		b.done = true
		if len(raw) > 0 {
			_ = json.Unmarshal(raw, &b.v)
		}
	}
	return b.v
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	ev := a.ev
	switch name {
	case "verb":
		return types.String(ev.Verb), true
	case "stage":
		return types.String(ev.Stage), true
	case "level":
		return types.String(ev.Level), true
	case "auditID":
		return types.String(ev.AuditID), true
	case "requestURI":
		return types.String(ev.RequestURI), true
	case "userAgent":
		return types.String(ev.UserAgent), true
	case "sourceIPs":
		return types.NewStringList(types.DefaultTypeAdapter, ev.SourceIPs), true
	case "user":
		a.user = record{u: &ev.User}
		return &a.user, true
	case "impersonatedUser":
		if ev.ImpersonatedUser == nil {
			return types.NullValue, true
		}
		a.imp = record{u: ev.ImpersonatedUser}
		return &a.imp, true
	case "objectRef":
		if ev.ObjectRef == nil {
			return types.NullValue, true
		}
		a.objRef = record{r: ev.ObjectRef}
		return &a.objRef, true
	case "responseStatus":
		if ev.ResponseStatus == nil {
			return types.NullValue, true
		}
		a.status = record{s: ev.ResponseStatus}
		return &a.status, true
	case "annotations":
		return types.DefaultTypeAdapter.NativeToValue(ev.Annotations), true
	case "requestObject":
		return nullable(a.body(&a.reqBody, ev.RequestObject)), true
	case "responseObject":
		return nullable(a.body(&a.respBody, ev.ResponseObject)), true
	case "checks":
		return types.NewStringList(types.DefaultTypeAdapter, a.checkIDs()), true
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
	a.macros[i] = v
	return v, true
}

func nullable(v any) any {
	if v == nil {
		return types.NullValue
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// checkIDs runs mamori's configuration checks on the pod or pod
// controller a create, update or patch stored (the response body, when the
// log holds it: a patch's request body is only a patch) or else on the
// request body: the IDs of the checks it fails, sorted, as mamori scan
// config would report them.
func (a *activation) checkIDs() []string {
	if a.checksDone {
		return a.checks
	}
	a.checksDone = true
	ev := a.ev
	if (ev.Verb != "create" && ev.Verb != "update" && ev.Verb != "patch") || ev.ObjectRef == nil || ev.ObjectRef.Subresource != "" {
		return nil
	}
	o := podObject(ev.AuditID, ev.ResponseObject)
	if o == nil && ev.Verb != "patch" {
		o = podObject(ev.AuditID, ev.RequestObject)
	}
	if o == nil {
		return nil
	}
	sc := a.e.scanner()
	if sc == nil {
		return nil
	}
	fs, _ := sc.CheckObject(o, nil)
	for _, f := range fs {
		if id := f.CheckID(); !slices.Contains(a.checks, id) {
			a.checks = append(a.checks, id)
		}
	}
	sort.Strings(a.checks)
	return a.checks
}

// podObject parses body as a pod or pod controller, or returns nil (no
// body, a Status, a patch).
func podObject(name string, body []byte) *manifest.Object {
	if len(body) == 0 {
		return nil
	}
	res := manifest.Parse(name, body)
	if len(res.Objects) != 1 {
		return nil
	}
	o := res.Objects[0]
	if _, ok := misconfig.PodSpecPath(o.Group(), o.Kind()); !ok {
		return nil
	}
	return o
}

// scanner is the configuration scanner at the baseline level (the
// built-in rule looks for what breaks out of a container, not hardening),
// built on first use: most streams never need it.
func (e *Engine) scanner() *misconfig.Scanner {
	if !e.scannerTried {
		e.scannerTried = true
		sc, err := misconfig.New(misconfig.Options{PSSLevel: "baseline"})
		if err != nil {
			e.o.Logger.Error("audit rules: configuration scanner", "error", err)
		}
		e.sc = sc
	}
	return e.sc
}
