package misconfig

import (
	"slices"
	"testing"

	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// TestPSSMatchesOfficialEvaluator checks that running the official checks
// one by one, as mamori does to attribute failures, gives exactly the
// verdicts of the official evaluator for every level and version.
func TestPSSMatchesOfficialEvaluator(t *testing.T) {
	official, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var pods []*pod
	for _, tc := range checkCases() {
		texts := []string{mutate(t, tc.fail...)}
		if tc.pass != nil {
			texts = append(texts, mutate(t, tc.pass...))
		}
		for _, text := range texts {
			res := manifest.Parse("t.yaml", []byte(text))
			for _, o := range res.Objects {
				if p, err := podOf(o); err != nil {
					t.Fatal(err)
				} else if p != nil {
					pods = append(pods, p)
				}
			}
		}
	}
	versions := []string{"v1.0", "v1.19", "v1.22", "v1.25", "v1.30", "v1.35", "latest"}
	failures := 0
	for _, level := range []api.Level{api.LevelBaseline, api.LevelRestricted} {
		for _, vs := range versions {
			v, err := api.ParseVersion(vs)
			if err != nil {
				t.Fatal(err)
			}
			e, err := newPSSEvaluator(level, v)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pods {
				want := policy.AggregateCheckResults(official.EvaluatePod(api.LevelVersion{Level: level, Version: v}, p.meta, p.spec))
				var got []policy.CheckResult
				for _, c := range e.checks {
					got = append(got, c.fn(p.meta, p.spec))
				}
				g := policy.AggregateCheckResults(got)
				wr, gr := slices.Sorted(slices.Values(want.ForbiddenReasons)), slices.Sorted(slices.Values(g.ForbiddenReasons))
				if want.Allowed != g.Allowed || !slices.Equal(wr, gr) {
					failures++
					t.Errorf("%s %s: official %v %q, mamori %v %q", level, vs, want.Allowed, wr, g.Allowed, gr)
				}
			}
		}
	}
	if len(pods) < 40 {
		t.Fatalf("only %d pods compared", len(pods))
	}
}

func TestPSSOptions(t *testing.T) {
	for _, bad := range []Options{{PSSLevel: "privileged"}, {PSSLevel: "strict"}, {PSSVersion: "one"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): no error", bad)
		}
	}
	old, err := New(Options{PSSLevel: "restricted", PSSVersion: "1.22"})
	if err != nil {
		t.Fatal(err)
	}
	// At v1.22 the restricted checks for capabilities existed, the v1.25 ones did not apply yet.
	ids := map[string]bool{}
	for _, r := range old.Rules() {
		ids[r.ID] = true
	}
	if !ids["pss-capabilities-restricted"] || ids["pss-host-probes"] {
		t.Errorf("v1.22 rules = %v", ids)
	}
}

// TestPSSUnknownCheckAttribution runs a check without mamori metadata (a
// check newer than the catalogue) through attribution: it must not panic
// and must name the container.
func TestPSSUnknownCheckAttribution(t *testing.T) {
	text := mutate(t, "      allowPrivilegeEscalation: false\n", "      allowPrivilegeEscalation: false\n      privileged: true\n")
	o := manifest.Parse("t.yaml", []byte(text)).Objects[0]
	p, err := podOf(o)
	if err != nil {
		t.Fatal(err)
	}
	var fn policy.CheckPodFn
	for _, c := range policy.DefaultChecks() {
		if c.ID == "privileged" {
			fn = c.Versions[len(c.Versions)-1].CheckPod
		}
	}
	m := pssMeta{slug: "future", title: "future", severity: finding.Medium}
	c := pssCheck{id: "future", level: api.LevelBaseline, fn: fn, rule: m.rule("future", api.LevelBaseline), meta: m}
	em := newEmitter(o, nil)
	(&pssEvaluator{}).attribute(p, &c, fn(p.meta, p.spec), em)
	if len(em.findings) != 1 || em.findings[0].Location.Path != "spec.containers[0]" {
		t.Errorf("findings = %+v", em.findings)
	}
}
