package builtin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

func BenchmarkZZOne(b *testing.B) {
	set := load(b)
	var objs []*manifest.Object
	for _, d := range corpus(b, 320) {
		if strings.HasPrefix(d.name, "generated/") {
			objs = append(objs, manifest.Parse(d.name, d.data).Objects...)
		}
	}
	for _, o := range objs {
		o.Data()
	}
	for _, p := range set.Policies {
		id := p.ID()
		sub := set.Subset(func(q *policy.Policy) bool { return q.ID() == id })
		ev := sub.NewEvaluator(policy.NewNamespaceLister(nil), nil)
		b.Run(id, func(b *testing.B) {
			for b.Loop() {
				for _, o := range objs {
					ev.Evaluate(context.Background(), policy.ObjectRequest(o, nil))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/object")
		})
	}
}
