package builtin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/policy/builtin"
	"github.com/mamori-dev/mamori/pkg/source/helm"
	"github.com/mamori-dev/mamori/pkg/source/kustomize"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// notWritten are the hygiene checks with no built-in policy, and why.
var notWritten = map[string]string{
	"k8s-automount-sa-token": "depends on the pod's ServiceAccount object",
}

var loadOnce = sync.OnceValues(func() (*policy.Set, error) { return builtin.Load(policy.Options{}) })

func load(t testing.TB) *policy.Set {
	t.Helper()
	set, err := loadOnce()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestPoliciesMatchCatalogue(t *testing.T) {
	set := load(t)
	catalogue := map[string]*finding.Rule{}
	for _, r := range misconfig.Catalogue() {
		catalogue[r.ID] = r
	}
	names, err := fs.Glob(builtin.Files(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(set.Policies) || len(names) == 0 {
		t.Fatalf("%d files, %d policies: want one policy per file", len(names), len(set.Policies))
	}
	seen := map[string]bool{}
	for _, p := range set.Policies {
		t.Run(p.ID(), func(t *testing.T) {
			if seen[p.ID()] {
				t.Fatalf("ID %s defined twice", p.ID())
			}
			seen[p.ID()] = true
			if !p.Builtin {
				t.Error("not marked Builtin")
			}
			if want := builtin.Dir + "/" + p.ID() + ".yaml"; p.File != want {
				t.Errorf("File = %s, want %s", p.File, want)
			}
			if p.Mode != policy.Warn {
				t.Errorf("mode %s, want warn", p.Mode)
			}
			want, ok := catalogue[p.ID()]
			if !ok {
				t.Fatalf("no check %s in misconfig.Catalogue()", p.ID())
			}
			if diff := cmp.Diff(want, p.Rule); diff != "" {
				t.Errorf("Rule differs from the Go check's (-Go +policy):\n%s", diff)
			}
			if p.NeedsNamespace() {
				t.Error("verdict depends on the namespace object: a scan would defer it")
			}
			for i, v := range p.Spec.Validations {
				if v.Message == "" {
					t.Errorf("validation %d has no message to fall back on", i)
				}
			}
		})
	}
	// Every hygiene check is a policy, or is listed as not written.
	for id := range catalogue {
		if !strings.HasPrefix(id, "k8s-") {
			continue
		}
		if _, skip := notWritten[id]; skip == (set.Get(id) != nil) {
			t.Errorf("check %s: written as a policy %t, listed as not written %t", id, set.Get(id) != nil, skip)
		}
	}
}

// doc is one manifest file of the corpus.
type doc struct {
	name string
	data []byte
	// exact marks files every object of which must be judged: no object
	// may fall outside what the comparison covers.
	exact bool
}

// corpus gathers the manifests the policies are compared with the Go checks
// on: the repository's examples (plain files and rendered Helm and
// Kustomize sources), other packages' manifest test data, this package's
// fixtures and generated workloads.
func corpus(t testing.TB, generated int) []doc {
	t.Helper()
	var docs []doc
	files := func(exact bool, globs ...string) {
		for _, g := range globs {
			matches, err := filepath.Glob(g)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range matches {
				data, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, doc{name: filepath.ToSlash(m), data: data, exact: exact})
			}
		}
	}
	var examples []string
	err := filepath.WalkDir("../../../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			if !strings.Contains(filepath.ToSlash(p), "/templates/") { // Helm templates are rendered below
				examples = append(examples, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files(true, examples...)
	render := func(name string, objs []*manifest.Object, problems []finding.Problem) {
		if len(problems) > 0 || len(objs) == 0 {
			t.Fatalf("%s: %d objects, problems %v", name, len(objs), problems)
		}
		var b bytes.Buffer
		for _, o := range objs {
			j, err := json.Marshal(o.Data())
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(j)
			b.WriteString("\n")
		}
		docs = append(docs, doc{name: name + " (rendered)", data: b.Bytes(), exact: true})
	}
	objs, problems := helm.Render("examples/helm/gateway", "../../../examples/helm/gateway", helm.Values{})
	render("examples/helm/gateway", objs, problems)
	objs, problems = kustomize.Render("examples/kustomize/catalog/overlays/staging", "../../../examples/kustomize/catalog/overlays/staging", "kustomization.yaml")
	render("examples/kustomize/catalog/overlays/staging", objs, problems)
	files(false,
		"../../misconfig/testdata/*.yaml", "../../misconfig/testdata/*/*.yaml",
		"../../../internal/cli/testdata/*.yaml", "../../source/manifest/testdata/*.yaml")
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		files(!strings.HasPrefix(filepath.Base(f), "invalid-"), f)
	}
	const perFile = 40
	for from := 0; from < generated; from += perFile {
		to := min(from+perFile, generated)
		docs = append(docs, doc{name: fmt.Sprintf("generated/w%04d.yaml", from/perFile), data: gen.Generate(from, to, 1), exact: true})
	}
	return docs
}

// judged is what the Go checks and the policies say about one object.
type judged struct {
	obj *manifest.Object
	// goIDs and celIDs are the check IDs with findings on the object.
	goIDs, celIDs map[string][]string // ID -> messages
	// podChecked is false when the Go scanner could not read the object's
	// pod template (it reports an input error instead, and the API server
	// rejects the object): its pod checks have no verdict to compare with.
	podChecked bool
	// errors are violations the policies could not evaluate.
	errors []string
}

// judge runs the Go checks and the policies on every object of a file.
func judge(t testing.TB, sc *misconfig.Scanner, ev *policy.Evaluator, set *policy.Set, d doc) []judged {
	t.Helper()
	parsed := manifest.Parse(d.name, d.data)
	objs := slices.Clone(parsed.Objects)
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Line < objs[j].Line })
	out := make([]judged, len(objs))
	for i, o := range objs {
		out[i] = judged{obj: o, goIDs: map[string][]string{}, celIDs: map[string][]string{}, podChecked: true}
	}
	// Findings and problems point into the object they are about: the
	// last object starting at or before their line.
	at := func(line int) int {
		return sort.Search(len(objs), func(i int) bool { return objs[i].Line > line }) - 1
	}
	fr := sc.ScanFile(d.name, d.data)
	for _, f := range fr.Findings {
		i := at(f.Location.Line)
		if i < 0 || f.Location.File != d.name || f.Resource != objs[i].Resource() {
			t.Fatalf("%s: finding %s at line %d is not in an object of the file", d.name, f.Rule.ID, f.Location.Line)
		}
		out[i].goIDs[f.Rule.ID] = append(out[i].goIDs[f.Rule.ID], f.Message)
	}
	for _, p := range fr.Errors {
		if strings.Contains(p.Message, "pod template not checked") {
			if i := at(p.Line); i >= 0 {
				out[i].podChecked = false
			}
		}
	}
	for i, o := range objs {
		verdicts, err := ev.Evaluate(context.Background(), policy.ObjectRequest(o, set.Mapper()))
		if err != nil {
			t.Fatalf("%s: %s %s: %v", d.name, o.Kind(), o.Name(), err)
		}
		for _, v := range verdicts {
			for _, vi := range v.Violations {
				if vi.Error {
					out[i].errors = append(out[i].errors, v.Policy.ID()+": "+vi.Message)
				}
			}
		}
		for _, f := range policy.Findings(o, verdicts) {
			out[i].celIDs[f.Rule.ID] = append(out[i].celIDs[f.Rule.ID], f.Message)
		}
	}
	return out
}

// TestSameVerdictAsGoChecks compares, on every object of the corpus, each
// policy's verdict (it reports a finding or not) with that of the Go check
// of the same ID.
func TestSameVerdictAsGoChecks(t *testing.T) {
	set := load(t)
	sc, err := misconfig.New(misconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := set.NewEvaluator(policy.NewNamespaceLister(nil), nil)
	generated := 480
	if testing.Short() {
		generated = 96
	}
	type tally struct{ fired, clean int }
	tallies := map[string]*tally{}
	for _, p := range set.Policies {
		tallies[p.ID()] = &tally{}
	}
	objects := 0
	for _, d := range corpus(t, generated) {
		for _, j := range judge(t, sc, ev, set, d) {
			o := j.obj
			where := fmt.Sprintf("%s:%d: %s %s/%s", d.name, o.Line, o.APIVersion(), o.Kind(), o.Name())
			objects++
			if !j.podChecked {
				if d.exact {
					t.Errorf("%s: the Go scanner could not read the pod template", where)
				}
			} else if len(j.errors) > 0 {
				t.Errorf("%s: policies could not be evaluated:\n  %s", where, strings.Join(j.errors, "\n  "))
			}
			for _, p := range set.Policies {
				id := p.ID()
				if !j.podChecked && id != "k8s-default-namespace" {
					continue
				}
				goMsgs, cel := j.goIDs[id], j.celIDs[id]
				if (len(goMsgs) > 0) != (len(cel) > 0) {
					t.Errorf("%s: %s: Go check fires %t, policy fires %t\n  Go:     %q\n  policy: %q",
						where, id, len(goMsgs) > 0, len(cel) > 0, goMsgs, cel)
				}
				if len(goMsgs) > 0 {
					tallies[id].fired++
				} else {
					tallies[id].clean++
				}
			}
		}
	}
	t.Logf("compared %d objects", objects)
	for _, p := range set.Policies {
		t.Logf("%-30s fired on %4d objects, not on %4d", p.ID(), tallies[p.ID()].fired, tallies[p.ID()].clean)
	}
	// The corpus must exercise both verdicts of every policy.
	for id, n := range tallies {
		if n.fired == 0 || n.clean == 0 {
			t.Errorf("%s: fired on %d objects and not on %d: the corpus does not test both verdicts", id, n.fired, n.clean)
		}
	}
}

// BenchmarkBuiltin evaluates every built-in policy on generated workloads,
// as a scan would (the object's unstructured form is built once, as a
// scan builds it for any policy), and reports the time per object.
func BenchmarkBuiltin(b *testing.B) {
	set := load(b)
	var objs []*manifest.Object
	for _, d := range corpus(b, 1600)[0:] {
		if !strings.HasPrefix(d.name, "generated/") {
			continue
		}
		objs = append(objs, manifest.Parse(d.name, d.data).Objects...)
	}
	for _, o := range objs {
		o.Data()
	}
	ctx := context.Background()
	b.Run("policies", func(b *testing.B) {
		ev := set.NewEvaluator(policy.NewNamespaceLister(nil), nil)
		findings := 0
		for b.Loop() {
			for _, o := range objs {
				verdicts, err := ev.Evaluate(ctx, policy.ObjectRequest(o, set.Mapper()))
				if err != nil {
					b.Fatal(err)
				}
				findings += len(policy.Findings(o, verdicts))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/object")
		b.ReportMetric(float64(findings)/float64(b.N*len(objs)), "findings/object")
	})
}
