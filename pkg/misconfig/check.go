package misconfig

import (
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// check is a built-in check written in Go. Exactly one of pod and object
// is set: pod runs on every pod template, object on every object.
type check struct {
	rule   *finding.Rule
	pod    func(p *pod, em *emitter)
	object func(o *manifest.Object, em *emitter)
}

// emitter collects the findings of one object.
type emitter struct {
	obj *manifest.Object
	res finding.Resource
	cur *finding.Rule // the rule of the check running now
	// out is the list findings are appended to; findings are this
	// object's part of it.
	out      *[]finding.Finding
	start    int
	findings []finding.Finding
	// saChecks are findings that hold only if the pod's ServiceAccount,
	// when it is among the scanned objects, does not settle the question.
	saChecks []saCheck
}

// newEmitter returns an emitter appending to out, or to a list of its own
// when out is nil.
func newEmitter(o *manifest.Object, out *[]finding.Finding) *emitter {
	if out == nil {
		out = new([]finding.Finding)
	}
	return &emitter{obj: o, res: o.Resource(), out: out, start: len(*out)}
}

func (e *emitter) add(rule *finding.Rule, path, msg string) {
	for _, f := range e.findings {
		if f.Rule == rule && f.Location.Path == path && f.Message == msg {
			return
		}
	}
	*e.out = append(*e.out, e.build(rule, path, msg))
	e.findings = (*e.out)[e.start:]
}

// build makes a finding on the object at path.
func (e *emitter) build(rule *finding.Rule, path, msg string) finding.Finding {
	loc := e.obj.Location(path)
	return finding.Finding{
		Rule: rule, Message: msg, Resource: e.res, Location: loc,
		Fingerprint: finding.ComputeFingerprint(rule.ID, loc.File, e.res, path),
	}
}

// rule is the rule of the running check.
func (e *emitter) rule() *finding.Rule { return e.cur }

// saCheck is a finding that depends on a ServiceAccount.
type saCheck struct {
	namespace, name string
	finding         finding.Finding
}
