package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Test is a PolicyTest document: fixture resources and the verdict each
// policy must give on each of them, like `kyverno test`.
//
//	apiVersion: mamori.dev/v1alpha1
//	kind: PolicyTest
//	metadata: {name: team-label}
//	spec:
//	  resources: [fixtures/deployments.yaml]   # relative to this file
//	  exceptions: [fixtures/ignore.yaml]       # optional
//	  now: "2026-11-23"                        # optional: the day exceptions are judged on
//	  userInfo: {username: alice, groups: [dev]}   # optional
//	  results:
//	  - policy: team-label-required
//	    resources: [shop/web, Deployment shop/api]
//	    result: deny                           # allow | deny | skip
//	    message: team label                    # optional: part of the message
type Test struct {
	Name string
	File string
	Line int
	Spec TestSpec

	obj *manifest.Object
}

// TestSpec is the body of a PolicyTest.
type TestSpec struct {
	Resources  []string     `json:"resources"`
	Exceptions []string     `json:"exceptions,omitempty"`
	Now        string       `json:"now,omitempty"`
	UserInfo   *TestUser    `json:"userInfo,omitempty"`
	Results    []TestResult `json:"results"`
}

// TestUser is the user fixture requests are made as.
type TestUser struct {
	Username string   `json:"username,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// TestResult is one expectation.
type TestResult struct {
	Policy    string   `json:"policy"`
	Resources []string `json:"resources"`
	Result    string   `json:"result"`
	Message   string   `json:"message,omitempty"`
}

type testDoc struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       TestSpec `json:"spec"`
}

func parseTest(o *manifest.Object) (*Test, []finding.Problem) {
	var doc testDoc
	if problems := decodeStrict(o, &doc); len(problems) > 0 {
		return nil, problems
	}
	var problems []finding.Problem
	fail := func(path, format string, args ...any) {
		line, _, _ := o.Locate(path)
		problems = append(problems, finding.Problem{File: o.File, Line: line, Message: fmt.Sprintf("PolicyTest %s: ", o.Name()) + fmt.Sprintf(format, args...)})
	}
	if len(doc.Spec.Resources) == 0 {
		fail("spec", "spec.resources: at least one fixture file is required")
	}
	if doc.Spec.Now != "" {
		if _, err := time.Parse(time.DateOnly, doc.Spec.Now); err != nil {
			fail("spec.now", "spec.now %q: want a date such as 2027-03-31", doc.Spec.Now)
		}
	}
	if len(doc.Spec.Results) == 0 {
		fail("spec", "spec.results: at least one expected result is required")
	}
	for i, r := range doc.Spec.Results {
		p := fmt.Sprintf("spec.results[%d]", i)
		switch r.Result {
		case "allow", "deny", "skip":
		default:
			fail(p+".result", "%s.result %q: want allow, deny or skip", p, r.Result)
		}
		if r.Policy == "" || len(r.Resources) == 0 {
			fail(p, "%s: policy and resources are required", p)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &Test{Name: o.Name(), File: o.File, Line: o.Line, Spec: doc.Spec, obj: o}, nil
}

// Outcome is the result of one expectation of a test on one resource.
type Outcome struct {
	Test     string
	File     string
	Line     int
	Policy   string
	Resource string
	Want     string
	Got      string
	// Detail says why Got is what it is: the violations, or the exception.
	Detail string
	Pass   bool
}

// RunTests runs every PolicyTest of the set. Problems are broken tests
// (missing fixtures, unknown policies or resources); they fail the run.
func (s *Set) RunTests(ctx context.Context) ([]Outcome, []finding.Problem) {
	var outcomes []Outcome
	var problems []finding.Problem
	for _, t := range s.Tests {
		o, p := s.runTest(ctx, t)
		outcomes = append(outcomes, o...)
		problems = append(problems, p...)
	}
	return outcomes, problems
}

type fixture struct {
	obj      *manifest.Object
	findings []finding.Finding
	matched  map[string]bool // policies that matched it
	excepted map[string]finding.ExceptionRef
}

func (s *Set) runTest(ctx context.Context, t *Test) ([]Outcome, []finding.Problem) {
	var problems []finding.Problem
	at := func(path string) int { l, _, _ := t.obj.Locate(path); return l }
	dir := filepath.Dir(t.File)
	var objs []*manifest.Object
	for i, r := range t.Spec.Resources {
		f := filepath.Join(dir, r)
		data, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, finding.Problem{File: t.File, Line: at(fmt.Sprintf("spec.resources[%d]", i)),
				Message: fmt.Sprintf("PolicyTest %s: fixture %s: %v", t.Name, r, unwrapPath(err))})
			continue
		}
		parsed := manifest.Parse(f, data)
		problems = append(problems, parsed.Errors...)
		objs = append(objs, parsed.Objects...)
	}
	var namespaces []*corev1.Namespace
	for _, o := range objs {
		if o.Group() == "" && o.Kind() == "Namespace" {
			var ns corev1.Namespace
			if _, err := o.Decode("", &ns); err != nil {
				problems = append(problems, finding.Problem{File: o.File, Line: o.Line, Message: err.Error()})
				continue
			}
			namespaces = append(namespaces, StubNamespace(ns.Name, ns.Labels))
		}
	}
	ev := s.NewEvaluator(NewNamespaceLister(namespaces), nil)
	var ui user.Info
	if u := t.Spec.UserInfo; u != nil {
		ui = &user.DefaultInfo{Name: u.Username, Groups: u.Groups}
	}
	fixtures := map[string][]*fixture{}
	rep := &finding.Report{}
	for _, o := range objs {
		req := ObjectRequest(o, s.compiler.opts.Mapper)
		if ui != nil {
			req.UserInfo = ui
		}
		fx := &fixture{obj: o, matched: map[string]bool{}, excepted: map[string]finding.ExceptionRef{}}
		for _, p := range s.Policies {
			v, err := ev.EvaluatePolicy(ctx, p, req)
			if err != nil {
				problems = append(problems, finding.Problem{File: o.File, Line: o.Line, Message: err.Error()})
				continue
			}
			if v != nil {
				fx.matched[p.ID()] = true
				fx.findings = append(fx.findings, Findings(o, []Verdict{*v})...)
			}
		}
		for _, key := range resourceKeys(o) {
			fixtures[key] = append(fixtures[key], fx)
		}
		rep.Findings = append(rep.Findings, fx.findings...)
	}
	// Exceptions are applied as a scan applies them.
	if len(t.Spec.Exceptions) > 0 {
		set := &exception.Set{}
		for i, e := range t.Spec.Exceptions {
			f := filepath.Join(dir, e)
			data, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, finding.Problem{File: t.File, Line: at(fmt.Sprintf("spec.exceptions[%d]", i)),
					Message: fmt.Sprintf("PolicyTest %s: exceptions %s: %v", t.Name, e, unwrapPath(err))})
				continue
			}
			loaded, errs := exception.Load(f, data, "")
			problems = append(problems, errs...)
			set.Add(loaded)
		}
		now := time.Now()
		if t.Spec.Now != "" {
			now, _ = time.Parse(time.DateOnly, t.Spec.Now)
		}
		set.Apply(rep, now)
		for _, sup := range rep.Suppressed {
			for _, fxs := range fixtures {
				for _, fx := range fxs {
					if fx.obj.Resource() == sup.Finding.Resource {
						fx.excepted[sup.Finding.CheckID()] = sup.Exception
					}
				}
			}
		}
	}
	live := map[string]bool{}
	for _, f := range rep.Findings {
		live[f.Fingerprint+"\x00"+f.Message] = true
	}
	var outcomes []Outcome
	for i, r := range t.Spec.Results {
		if s.Get(r.Policy) == nil {
			problems = append(problems, finding.Problem{File: t.File, Line: at(fmt.Sprintf("spec.results[%d].policy", i)),
				Message: fmt.Sprintf("PolicyTest %s: policy %q is not loaded", t.Name, r.Policy)})
			continue
		}
		for j, name := range r.Resources {
			fxs := fixtures[name]
			if len(fxs) != 1 {
				why := "is in no fixture (want namespace/name or Kind namespace/name)"
				if len(fxs) > 1 {
					why = "names several fixture objects: say which with Kind namespace/name"
				}
				problems = append(problems, finding.Problem{File: t.File, Line: at(fmt.Sprintf("spec.results[%d].resources[%d]", i, j)),
					Message: fmt.Sprintf("PolicyTest %s: resource %q %s", t.Name, name, why)})
				continue
			}
			fx := fxs[0]
			out := Outcome{Test: t.Name, File: t.File, Line: at(fmt.Sprintf("spec.results[%d]", i)), Policy: r.Policy, Resource: name, Want: r.Result}
			var msgs []string
			for _, f := range fx.findings {
				if f.CheckID() == r.Policy && live[f.Fingerprint+"\x00"+f.Message] {
					msgs = append(msgs, f.Message)
				}
			}
			switch {
			case !fx.matched[r.Policy]:
				out.Got, out.Detail = "skip", "the policy does not match the resource"
			case len(msgs) > 0:
				out.Got, out.Detail = "deny", strings.Join(msgs, "; ")
			default:
				out.Got = "allow"
				if ex, ok := fx.excepted[r.Policy]; ok {
					out.Detail = fmt.Sprintf("excepted by %s:%d (owner %s, expires %s)", ex.File, ex.Line, ex.Owner, ex.Expires)
				}
			}
			out.Pass = out.Got == out.Want && (r.Message == "" || strings.Contains(out.Detail, r.Message))
			outcomes = append(outcomes, out)
		}
	}
	return outcomes, problems
}

// resourceKeys are the names a test may call an object by.
func resourceKeys(o *manifest.Object) []string {
	name := o.Name()
	if o.Namespace() != "" {
		name = o.Namespace() + "/" + name
	}
	return []string{name, o.Kind() + " " + name}
}

// NewNamespaceLister returns a lister over the given namespaces.
func NewNamespaceLister(nss []*corev1.Namespace) listersv1.NamespaceLister {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, ns := range nss {
		_ = idx.Add(ns) // MetaNamespaceKeyFunc cannot fail on a Namespace
	}
	return listersv1.NewNamespaceLister(idx)
}
