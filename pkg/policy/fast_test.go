package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
	"github.com/mamori-dev/mamori/pkg/k8sschema"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/policy/builtin"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// policySets loads the same policies twice: evaluated by mamori's loop and
// by the API server's validator.
func policySets(t testing.TB) (fast, ref *policy.Set) {
	load := func(reference bool) *policy.Set {
		// Type checking is not what is compared, and costs seconds.
		opts := policy.Options{Mapper: k8sschema.RESTMapper(), Reference: reference}
		set, err := builtin.Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		custom, err := policy.NewSet(opts)
		if err != nil {
			t.Fatal(err)
		}
		// The benchmark's 50 policies are 8 shapes; one of each, plus two
		// that share their variables (the loop shares such evaluations).
		bench, _ := filepath.Glob("../../internal/webhook/testdata/bench/p0*.yaml")
		for _, dir := range append([]string{"testdata/good/team-label.yaml", "testdata/fast"}, bench...) {
			if p := custom.Load(context.Background(), []string{dir}); len(p) > 0 {
				t.Fatal(p)
			}
		}
		if err := set.Merge(custom); err != nil {
			t.Fatal(err)
		}
		return set
	}
	return load(false), load(true)
}

// corpus is every manifest object the comparison judges.
func corpus(t testing.TB) []*manifest.Object {
	var objs []*manifest.Object
	add := func(name string, data []byte) {
		parsed := manifest.Parse(name, data)
		objs = append(objs, parsed.Objects...)
	}
	for _, pattern := range []string{"../../examples/*/*.yaml", "testdata/good/fixtures/*.yaml", "testdata/fast/*.yaml",
		"../../internal/parity/testdata/manifests/*.yaml", "builtin/testdata/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			add(f, data)
		}
	}
	add("generated.yaml", gen.Generate(0, 16, 7))
	return objs
}

// TestFastMatchesValidator: mamori's evaluation loop and the API server's
// validator give identical verdicts (violations, messages, reasons, audit
// annotations) for every policy on every object, for creates, updates
// and deletes.
func TestFastMatchesValidator(t *testing.T) {
	fast, ref := policySets(t)
	objs := corpus(t)
	nss := policy.NewNamespaceLister([]*corev1.Namespace{policy.StubNamespace("shop", map[string]string{"tier": "web"}), policy.StubNamespace("batch", map[string]string{"tier": "batch"})})
	fe, re := fast.NewEvaluator(nss, nil), ref.NewEvaluator(nss, nil)
	users := []user.Info{policy.ScanUser, &user.DefaultInfo{Name: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts"}}}
	compared, violations := 0, 0
	for i, o := range objs {
		for _, op := range []admission.Operation{admission.Create, admission.Update, admission.Delete} {
			req := policy.ObjectRequest(o, k8sschema.RESTMapper())
			req.Operation = op
			req.UserInfo = users[i%len(users)]
			switch op {
			case admission.Update:
				req.OldObject = req.Object
			case admission.Delete:
				req.OldObject, req.Object = req.Object, nil
			}
			got, err := fe.Evaluate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := re.Evaluate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(summary(want), summary(got)); d != "" {
				t.Errorf("%s %s (%s): fast loop differs from the API server's validator (-validator +fast):\n%s", op, o.Resource(), o.File, d)
			}
			compared += len(want)
			for _, v := range want {
				violations += len(v.Violations)
			}
		}
	}
	if compared < 1000 || violations < 200 {
		t.Errorf("compared %d verdicts with %d violations: the corpus exercises too little", compared, violations)
	}
	t.Logf("%d objects, %d policies: %d verdicts, %d violations identical", len(objs), len(fast.Policies), compared, violations)
}

type verdictSummary struct {
	Policy           string
	Violations       []policy.Violation
	AuditAnnotations map[string]string
}

func summary(vs []policy.Verdict) []verdictSummary {
	var out []verdictSummary
	for _, v := range vs {
		out = append(out, verdictSummary{v.Policy.ID(), v.Violations, v.AuditAnnotations})
	}
	return out
}

// BenchmarkEvaluate50 judges a Deployment with the 50 policies of
// hack/benchadmission: mamori's loop against the API server's validator.
func BenchmarkEvaluate50(b *testing.B) {
	for _, reference := range []bool{false, true} {
		name := "fast"
		if reference {
			name = "validator"
		}
		b.Run(name, func(b *testing.B) {
			set, err := policy.NewSet(policy.Options{Reference: reference})
			if err != nil {
				b.Fatal(err)
			}
			if p := set.Load(context.Background(), []string{"../../internal/webhook/testdata/bench"}); len(p) > 0 {
				b.Fatal(p)
			}
			objs := manifest.Parse("gen.yaml", gen.Generate(0, 64, 3)).Objects
			ev := set.NewEvaluator(nil, nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o := objs[i%len(objs)]
				i++
				if _, err := ev.Evaluate(context.Background(), policy.ObjectRequest(o, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLoadConcurrently: files compile in parallel, type-checked against
// the schemas; the result is what loading them one by one gives.
func TestLoadConcurrently(t *testing.T) {
	opts := policy.Options{Mapper: k8sschema.RESTMapper(), Schemas: k8sschema.Resolver()}
	all, err := policy.NewSet(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p := all.Load(context.Background(), []string{"../../internal/webhook/testdata/bench", "testdata/bad"}); len(p) != 11 {
		t.Fatalf("%d problems, want testdata/bad's 11: %v", len(p), p)
	}
	one, _ := policy.NewSet(opts)
	files, _ := filepath.Glob("../../internal/webhook/testdata/bench/*.yaml")
	for _, f := range files {
		if p := one.Load(context.Background(), []string{f}); len(p) > 0 {
			t.Fatal(p)
		}
	}
	if len(all.Policies) != 50 || len(one.Policies) != 50 {
		t.Fatalf("%d and %d policies, want 50", len(all.Policies), len(one.Policies))
	}
	for i := range all.Policies {
		if all.Policies[i].ID() != one.Policies[i].ID() || all.Policies[i].File != one.Policies[i].File {
			t.Errorf("policy %d: %s from %s, want %s from %s", i, all.Policies[i].ID(), all.Policies[i].File, one.Policies[i].ID(), one.Policies[i].File)
		}
	}
}
