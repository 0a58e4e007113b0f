package misconfig

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// policyRunner evaluates CEL policies during a scan. Policies whose
// verdict depends on the namespace (a namespaceSelector, namespaceObject)
// wait until every file is read, so that a Namespace in any file counts;
// the rest run as each file is read.
type policyRunner struct {
	now, later *policy.Set
	// nowEval judges namespace-independent policies; missing namespaces
	// are never consulted.
	nowEval *policy.Evaluator
	// matchEval prefilters objects for the deferred policies.
	matchEval *policy.Evaluator
}

func newPolicyRunner(set *policy.Set) *policyRunner {
	if set.IsEmpty() {
		return nil
	}
	now := set.Subset(func(p *policy.Policy) bool { return !p.NeedsNamespace() })
	later := set.Subset(func(p *policy.Policy) bool { return p.NeedsNamespace() })
	return &policyRunner{now: now, later: later,
		nowEval: now.NewEvaluator(policy.NewNamespaceLister(nil), nil), matchEval: later.NewEvaluator(policy.NewNamespaceLister(nil), nil)}
}

// check judges one object with the namespace-independent policies, and
// keeps it for the others when one of them may match it.
func (r *policyRunner) check(o *manifest.Object, fr *FileResult) {
	req := policy.ObjectRequest(o, r.now.Mapper())
	if o.Group() == "" && o.Kind() == "Namespace" {
		var ns corev1.Namespace
		if _, err := o.Decode("", &ns); err != nil {
			fr.Errors = append(fr.Errors, problemOf(o, err))
		} else {
			fr.nsObjects = append(fr.nsObjects, policy.StubNamespace(ns.Name, ns.Labels))
		}
	}
	if !r.now.IsEmpty() {
		verdicts, err := r.nowEval.Evaluate(context.Background(), req)
		if err != nil {
			fr.Errors = append(fr.Errors, problemOf(o, fmt.Errorf("policies: %w", err)))
		}
		fr.Findings = append(fr.Findings, policy.Findings(o, verdicts)...)
	}
	for _, p := range r.later.Policies {
		if ok, _ := r.matchEval.MatchesIgnoringNamespace(p, req); ok {
			fr.deferred = append(fr.deferred, o)
			return
		}
	}
}

// finish judges the kept objects with the namespace-dependent policies,
// now that every Namespace is known, and merges the findings into their
// files' results.
func (r *policyRunner) finish(ctx context.Context, results []FileResult) {
	if r == nil || r.later.IsEmpty() {
		return
	}
	var nss []*corev1.Namespace
	for _, res := range results {
		nss = append(nss, res.nsObjects...)
	}
	ev := r.later.NewEvaluator(policy.NewNamespaceLister(nss), nil)
	for i := range results {
		res := &results[i]
		var found []finding.Finding
		for _, o := range res.deferred {
			verdicts, err := ev.Evaluate(ctx, policy.ObjectRequest(o, r.later.Mapper()))
			if err != nil {
				res.Errors = append(res.Errors, problemOf(o, fmt.Errorf("policies: %w", err)))
			}
			found = append(found, policy.Findings(o, verdicts)...)
		}
		res.deferred = nil
		if len(found) > 0 {
			slices.SortFunc(found, finding.Compare)
			res.Findings = merge(res.Findings, found)
		}
	}
}
