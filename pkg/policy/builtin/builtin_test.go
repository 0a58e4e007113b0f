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
	"github.com/mamori-dev/mamori/pkg/k8sschema"
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

// options are the compile options the policies are tested with: none, and
// the built-in kinds' REST mappings and schemas, as mamori's commands
// compile policies (expressions type-checked).
var options = []struct {
	name string
	load func() (*policy.Set, error)
}{
	{"plain", sync.OnceValues(func() (*policy.Set, error) { return builtin.Load(policy.Options{}) })},
	{"k8sschema", sync.OnceValues(func() (*policy.Set, error) {
		return builtin.Load(policy.Options{Mapper: k8sschema.RESTMapper(), Schemas: k8sschema.Resolver()})
	})},
}

// load compiles the policies with the options named.
func load(t testing.TB, name string) *policy.Set {
	t.Helper()
	for _, o := range options {
		if o.name == name {
			set, err := o.load()
			if err != nil {
				t.Fatal(err)
			}
			return set
		}
	}
	t.Fatalf("no options %s", name)
	return nil
}

func TestLoad(t *testing.T) {
	for _, o := range options {
		t.Run(o.name, func(t *testing.T) {
			set := load(t, o.name)
			if len(set.Policies) == 0 {
				t.Fatal("no policies")
			}
		})
	}
}

func TestPoliciesMatchCatalogue(t *testing.T) {
	set := load(t, "plain")
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
	// readable is set when the Go checks must be able to read every pod
	// template of the file.
	readable bool
	// illTyped is set when the file may hold fields of the wrong type
	// (a string where a list belongs), which the API server rejects and
	// the Go checks report as input errors instead of judging: there the
	// policies' verdicts on pod templates the Go checks cannot read are
	// not compared.
	illTyped bool
}

// corpus gathers the manifests the policies are compared with the Go checks
// on: the repository's examples (plain files and rendered Helm and
// Kustomize sources), other packages' manifest test data, this package's
// fixtures and generated workloads.
func corpus(t testing.TB, generated int) []doc {
	t.Helper()
	var docs []doc
	files := func(readable, illTyped bool, globs ...string) {
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
				docs = append(docs, doc{name: filepath.ToSlash(m), data: data, readable: readable, illTyped: illTyped})
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
	files(true, false, examples...)
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
		docs = append(docs, doc{name: name + " (rendered)", data: b.Bytes(), readable: true})
	}
	objs, problems := helm.Render("examples/helm/gateway", "../../../examples/helm/gateway", helm.Values{})
	render("examples/helm/gateway", objs, problems)
	objs, problems = kustomize.Render("examples/kustomize/catalog/overlays/staging", "../../../examples/kustomize/catalog/overlays/staging", "kustomization.yaml")
	render("examples/kustomize/catalog/overlays/staging", objs, problems)
	files(false, true,
		"../../misconfig/testdata/*.yaml", "../../misconfig/testdata/*/*.yaml",
		"../../../internal/cli/testdata/*.yaml", "../../source/manifest/testdata/*.yaml")
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		switch base := filepath.Base(f); {
		case strings.HasPrefix(base, "invalid-"):
			files(false, true, f)
		case base == "no-pod-template.yaml":
			files(false, false, f)
		default:
			files(true, false, f)
		}
	}
	const perFile = 40
	for from := 0; from < generated; from += perFile {
		to := min(from+perFile, generated)
		docs = append(docs, doc{name: fmt.Sprintf("generated/w%04d.yaml", from/perFile), data: gen.Generate(from, to, 1), readable: true})
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
	if d.readable && len(parsed.Errors) > 0 {
		t.Fatalf("%s: %v", d.name, parsed.Errors)
	}
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
	sc, err := misconfig.New(misconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		t.Run(o.name, func(t *testing.T) { sameVerdict(t, sc, load(t, o.name)) })
	}
}

func sameVerdict(t *testing.T, sc *misconfig.Scanner, set *policy.Set) {
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
			lenient := !j.podChecked && d.illTyped
			switch {
			case !j.podChecked && d.readable:
				t.Errorf("%s: the Go checks could not read the pod template", where)
			case !lenient && len(j.errors) > 0:
				t.Errorf("%s: policies could not be evaluated:\n  %s", where, strings.Join(j.errors, "\n  "))
			}
			for _, p := range set.Policies {
				id := p.ID()
				if lenient && id != "k8s-default-namespace" {
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

// TestEdgeCases pins what the Go checks and the policies both say about
// the fixtures' edge cases, so that the two cannot drift together.
func TestEdgeCases(t *testing.T) {
	const (
		latest  = "k8s-image-tag-latest"
		digest  = "k8s-image-digest"
		caps    = "k8s-dangerous-capabilities"
		group   = "k8s-root-group"
		port    = "k8s-sensitive-host-port"
		path    = "k8s-sensitive-host-path"
		live    = "k8s-liveness-probe"
		ready   = "k8s-readiness-probe"
		cpu     = "k8s-cpu-requests"
		mem     = "k8s-memory-limits"
		sa      = "k8s-default-service-account"
		secret  = "k8s-secret-in-env"
		ns      = "k8s-default-namespace"
		rofs    = "k8s-readonly-root-filesystem"
		testDir = "testdata/"
	)
	tests := []struct {
		file, object, check string
		fires               bool
	}{
		{"images.yaml", "image-registry-port-no-tag", latest, true}, // the port is no tag
		{"images.yaml", "image-registry-port-no-tag", digest, true},
		{"images.yaml", "image-registry-port-tag", latest, false},
		{"images.yaml", "image-registry-port-digest", digest, false},
		{"images.yaml", "image-latest-and-digest", latest, false}, // the digest pins it
		{"images.yaml", "image-tag-and-digest", digest, false},
		{"images.yaml", "image-empty-digest", digest, true}, // app@
		{"images.yaml", "image-empty-tag", latest, true},    // nginx:
		{"images.yaml", "image-latest-upper", latest, false},
		{"images.yaml", "image-spaces", latest, false}, // trimmed
		{"images.yaml", "image-blank", latest, true},   // no image
		{"images.yaml", "image-blank", digest, false},
		{"images.yaml", "image-missing", latest, true},
		{"images.yaml", "image-init-latest", latest, true},
		{"images.yaml", "image-ephemeral-latest", latest, true},
		{"images.yaml", "image-ephemeral-latest", digest, true},
		{"capabilities.yaml", "caps-lower", caps, true},
		{"capabilities.yaml", "caps-cap-prefix-lower", caps, true},
		{"capabilities.yaml", "caps-dotless-i", caps, true}, // strings.ToUpper("ı") is "I"
		{"capabilities.yaml", "caps-long-s", caps, true},    // strings.ToUpper("ſ") is "S"
		{"capabilities.yaml", "caps-double-prefix", caps, false},
		{"capabilities.yaml", "caps-spaces", caps, false},
		{"capabilities.yaml", "caps-benign", caps, false},
		{"capabilities.yaml", "caps-init", caps, true},
		{"capabilities.yaml", "caps-sidecar", caps, true},
		{"capabilities.yaml", "caps-ephemeral", caps, false},
		{"root-group.yaml", "group-pod-supplemental", group, true},
		{"root-group.yaml", "group-init", group, true},
		{"root-group.yaml", "group-ephemeral", group, false},
		{"root-group.yaml", "group-float", group, true},
		{"root-group.yaml", "group-run-as-user-zero", group, false},
		{"host-ports.yaml", "host-port-22-0", port, true},
		{"host-ports.yaml", "host-port-8080", port, false},
		{"host-ports.yaml", "host-port-container-port", port, false},
		{"host-ports.yaml", "host-port-init", port, true},
		{"host-ports.yaml", "host-port-ephemeral", port, false},
		{"host-paths.yaml", "host-path-07", path, true},  // /var//lib/../lib/kubelet/pods
		{"host-paths.yaml", "host-path-08", path, false}, // var/log
		{"host-paths.yaml", "host-path-10", path, false}, // /etc/../data
		{"host-paths.yaml", "host-path-12", path, true},  // /data/../../../etc/ssl
		{"host-paths.yaml", "host-path-13", path, true},  // "" is /
		{"host-paths.yaml", "host-path-18", path, false}, // /var/lib/kubelet2
		{"host-paths.yaml", "host-path-none", path, true},
		{"host-paths.yaml", "host-path-empty-dir", path, false},
		{"probes-resources.yaml", "probes-init-without", live, false},
		{"probes-resources.yaml", "probes-sidecar-without", live, true},
		{"probes-resources.yaml", "probes-sidecar-without", ready, true},
		{"probes-resources.yaml", "probes-init-restart-lower", live, false},
		{"probes-resources.yaml", "probes-ephemeral-without", ready, false},
		{"probes-resources.yaml", "probes-empty", live, false},
		{"probes-resources.yaml", "job-without-probes", live, false},
		{"probes-resources.yaml", "cronjob-without-probes", ready, false},
		{"probes-resources.yaml", "cronjob-without-probes", port, true},
		{"probes-resources.yaml", "cronjob-without-probes", group, true},
		{"probes-resources.yaml", "resources-init-without", cpu, true},
		{"probes-resources.yaml", "resources-ephemeral-without", cpu, false},
		{"probes-resources.yaml", "resources-zero", mem, false},
		{"probes-resources.yaml", "resources-other-keys", mem, true},
		{"service-accounts.yaml", "sa-implicit", sa, true},
		{"service-accounts.yaml", "sa-deprecated-default", sa, true},
		{"service-accounts.yaml", "sa-deprecated-named", sa, false},
		{"service-accounts.yaml", "sa-empty-name-deprecated", sa, false},
		{"service-accounts.yaml", "sa-upper", sa, false},
		{"secrets-in-env.yaml", "env-aws-in-text", secret, true},
		{"secrets-in-env.yaml", "env-aws-short", secret, false},
		{"secrets-in-env.yaml", "env-name-password-short", secret, false},
		{"secrets-in-env.yaml", "env-name-password-file", secret, false},
		{"secrets-in-env.yaml", "env-non-ascii-bytes", secret, true}, // 4 bytes, 2 letters
		{"secrets-in-env.yaml", "env-non-ascii-short", secret, false},
		{"secrets-in-env.yaml", "env-kelvin-name", secret, true},   // strings.ToLower("K") is "k"
		{"secrets-in-env.yaml", "env-dotted-i-name", secret, true}, // strings.ToLower("İ") is "i"
		{"secrets-in-env.yaml", "env-placeholder-true", secret, false},
		{"secrets-in-env.yaml", "env-digits-seven", secret, true},
		{"secrets-in-env.yaml", "env-value-from", secret, false},
		{"secrets-in-env.yaml", "env-ephemeral", secret, true},
		{"nulls.yaml", "null-probes", live, true},
		{"nulls.yaml", "null-readonly", rofs, true},
		{"nulls.yaml", "null-list-items", group, true}, // a null GID is 0
		{"nulls.yaml", "null-host-path-only", path, false},
		{"nulls.yaml", "null-service-account", sa, true},
		{"nulls.yaml", "null-env", secret, true},
		{"nulls.yaml", "null-container", latest, true},
		{"namespaces.yaml", "no-namespace", ns, false},
		{"namespaces.yaml", "cluster-scoped-in-default", ns, true},
		{"namespaces.yaml", "listed", ns, true},
		{"kinds.yaml", "pod-template", latest, true},
		{"kinds.yaml", "extensions-deployment", port, true},
		{"kinds.yaml", "old-cronjob", latest, true},
		{"kinds.yaml", "old-cronjob", live, false},
		{"kinds.yaml", "extensions-statefulset-is-not-a-kind", latest, false},
		{"kinds.yaml", "lower-case-kind", latest, false},
		{"kinds.yaml", "pod-in-apps", latest, false},
		{"no-pod-template.yaml", "no-template", sa, false},
	}
	sc, err := misconfig.New(misconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := load(t, "plain")
	ev := set.NewEvaluator(policy.NewNamespaceLister(nil), nil)
	files := map[string][]judged{}
	for _, tt := range tests {
		t.Run(tt.object+"/"+tt.check, func(t *testing.T) {
			js, ok := files[tt.file]
			if !ok {
				data, err := os.ReadFile(testDir + tt.file)
				if err != nil {
					t.Fatal(err)
				}
				js = judge(t, sc, ev, set, doc{name: testDir + tt.file, data: data})
				files[tt.file] = js
			}
			i := slices.IndexFunc(js, func(j judged) bool { return j.obj.Name() == tt.object })
			if i < 0 {
				t.Fatalf("no object %s in %s", tt.object, tt.file)
			}
			if got := len(js[i].goIDs[tt.check]) > 0; got != tt.fires {
				t.Errorf("Go check fires %t, want %t: %q", got, tt.fires, js[i].goIDs[tt.check])
			}
			if got := len(js[i].celIDs[tt.check]) > 0; got != tt.fires {
				t.Errorf("policy fires %t, want %t: %q", got, tt.fires, js[i].celIDs[tt.check])
			}
		})
	}
}

// BenchmarkBuiltin evaluates every built-in policy on generated workloads
// and reports the time per object (policies), as a scan would run them: the
// object's unstructured form, which the policies read, is built beforehand
// (parse+data measures that). For scale, go-checks is the Go scanner on
// the same files: parsing and every Go check (PSS included). policy/ID is
// one policy alone.
func BenchmarkBuiltin(b *testing.B) {
	set := load(b, "k8sschema")
	var files [][]byte
	var objs []*manifest.Object
	for from := 0; from < 480; from += 40 {
		data := gen.Generate(from, from+40, 1)
		files = append(files, data)
		objs = append(objs, manifest.Parse("w.yaml", data).Objects...)
	}
	for _, o := range objs {
		o.Data()
	}
	perObject := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(objs)), "ns/object")
	}
	evaluate := func(set *policy.Set) func(b *testing.B) {
		return func(b *testing.B) {
			ev := set.NewEvaluator(policy.NewNamespaceLister(nil), nil)
			ctx := context.Background()
			for b.Loop() {
				for _, o := range objs {
					verdicts, err := ev.Evaluate(ctx, policy.ObjectRequest(o, set.Mapper()))
					if err != nil {
						b.Fatal(err)
					}
					policy.Findings(o, verdicts)
				}
			}
			perObject(b)
		}
	}
	b.Run("policies", evaluate(set))
	b.Run("parse+data", func(b *testing.B) {
		for b.Loop() {
			for _, f := range files {
				for _, o := range manifest.Parse("w.yaml", f).Objects {
					o.Data()
				}
			}
		}
		perObject(b)
	})
	b.Run("go-checks", func(b *testing.B) {
		sc, err := misconfig.New(misconfig.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for _, f := range files {
				sc.ScanFile("w.yaml", f)
			}
		}
		perObject(b)
	})
	for _, p := range set.Policies {
		b.Run("policy/"+p.ID(), evaluate(set.Subset(func(q *policy.Policy) bool { return q == p })))
	}
}
