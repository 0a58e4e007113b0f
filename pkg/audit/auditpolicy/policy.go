// Package auditpolicy writes the Kubernetes audit policy that feeds
// mamori's audit rules, and checks an existing policy against them.
//
// The rules say what they need as []audit.Requirement (verbs, resources,
// level, stages). Recommended turns them into an audit.k8s.io/v1 Policy
// that records exactly that and drops the bulk of a cluster's traffic, the
// reads of its own components. Check evaluates an existing policy, with
// the API server's own policy evaluator, on representative requests of
// each requirement and says which rules it starves, and why.
package auditpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// Policy is a parsed audit policy with the line of each of its rules.
type Policy struct {
	File string
	V1   *auditv1.Policy
	// Lines[i] is the line of rule i in File.
	Lines []int

	internal *auditinternal.Policy
	// probes[i] matches exactly what rule i matches: the upstream
	// evaluator of a policy holding rule i alone, at level Metadata, so a
	// Metadata answer means "rule i matched" and the default None means
	// it did not. The evaluator does not say which rule decided.
	probes []k8saudit.PolicyRuleEvaluator
}

// Decision is what a policy decides for one request.
type Decision struct {
	Level      string
	OmitStages []string
	// Rule is the index of the deciding policy rule, -1 when none matched
	// and the default (level None) applies; Line is its line, 0 then.
	Rule int
	Line int
}

var policyKeys = []string{"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
var ruleKeys = []string{"level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs", "omitStages", "omitManagedFields"}
var groupResourceKeys = []string{"group", "resources", "resourceNames"}
var levels = []string{audit.LevelNone, audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse}
var stages = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}

// Parse reads an audit.k8s.io/v1 Policy. Errors name file:line and what
// is wrong; all problems found are reported together.
func Parse(file string, data []byte) (*Policy, error) {
	root, err := document(file, data)
	if err != nil {
		return nil, err
	}
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: not an audit policy: want a mapping with apiVersion audit.k8s.io/v1 and kind Policy", file, root.Line)
	}
	apiVersion, kind := value(root, "apiVersion"), value(root, "kind")
	switch {
	case kind == nil || kind.Value != "Policy":
		return nil, fmt.Errorf("%s:%d: not an audit policy: kind %s, want Policy", file, lineOf(kind, root), describe(kind))
	case apiVersion == nil || apiVersion.Value != "audit.k8s.io/v1":
		return nil, fmt.Errorf("%s:%d: apiVersion %s, want audit.k8s.io/v1 (the only version the API server reads)", file, lineOf(apiVersion, root), describe(apiVersion))
	}
	checkKeys(root, policyKeys, "policy", fail)
	checkStages(value(root, "omitStages"), "omitStages", fail)
	var lines []int
	rules := value(root, "rules")
	switch {
	case rules == nil || rules.Kind == yaml.ScalarNode && rules.Tag == "!!null":
		fail(root.Line, "policy has no rules: the API server refuses it")
	case rules.Kind != yaml.SequenceNode:
		fail(rules.Line, "rules: want a list of rules")
	default:
		for i, r := range rules.Content {
			lines = append(lines, r.Line)
			if r.Kind != yaml.MappingNode {
				fail(r.Line, "rules[%d]: want a mapping (level, users, verbs, resources, ...)", i)
				continue
			}
			checkRule(i, r, fail)
		}
		if len(rules.Content) == 0 {
			fail(rules.Line, "policy has no rules: the API server refuses it")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	var v1 auditv1.Policy
	if err := sigsyaml.UnmarshalStrict(data, &v1); err != nil {
		// Find the rule that does not decode, for its line.
		for i, r := range rules.Content {
			b, _ := yaml.Marshal(r)
			var pr auditv1.PolicyRule
			if err := sigsyaml.UnmarshalStrict(b, &pr); err != nil {
				fail(r.Line, "rules[%d]: %v", i, cleanJSONErr(err))
			}
		}
		if len(errs) == 0 {
			fail(root.Line, "%v", cleanJSONErr(err))
		}
		return nil, errors.Join(errs...)
	}
	var internal auditinternal.Policy
	if err := auditv1.Convert_v1_Policy_To_audit_Policy(&v1, &internal, nil); err != nil {
		return nil, fmt.Errorf("%s: convert policy: %w", file, err)
	}
	for _, fe := range validation.ValidatePolicy(&internal) {
		line := root.Line
		if m := ruleIndex.FindStringSubmatch(fe.Field); m != nil {
			if i, _ := strconv.Atoi(m[1]); i < len(lines) {
				line = lines[i]
			}
		}
		fail(line, "%s", fe.Error())
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Policy{File: file, V1: &v1, Lines: lines, internal: &internal}
	for _, r := range internal.Rules {
		r := *r.DeepCopy()
		r.Level = auditinternal.LevelMetadata
		r.OmitStages = nil
		ev := policy.NewPolicyRuleEvaluator(&auditinternal.Policy{Rules: []auditinternal.PolicyRule{r}})
		p.probes = append(p.probes, ev)
	}
	return p, nil
}

var ruleIndex = regexp.MustCompile(`^rules\[(\d+)\]`)

// document returns the one YAML document of data.
func document(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root *yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, yamlErr(file, err))
		}
		if len(doc.Content) == 0 {
			continue
		}
		if root != nil {
			return nil, fmt.Errorf("%s:%d: a second document: an audit policy file holds one Policy", file, doc.Content[0].Line)
		}
		root = doc.Content[0]
	}
	if root == nil {
		return nil, fmt.Errorf("%s: empty: want an audit.k8s.io/v1 Policy", file)
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErr rewrites "yaml: line 3: ..." as "3: ..." so that the caller's
// "file:" prefix makes file:line.
func yamlErr(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return errors.New(m[1] + ": " + strings.TrimPrefix(err.Error(), m[0]))
	}
	return err
}

func cleanJSONErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error unmarshaling JSON: ")
	s = strings.TrimPrefix(s, "while decoding JSON: ")
	return s
}

// value returns the value of key in mapping m, nil if absent.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func lineOf(n, parent *yaml.Node) int {
	if n != nil {
		return n.Line
	}
	return parent.Line
}

func describe(n *yaml.Node) string {
	if n == nil {
		return "missing"
	}
	return strconv.Quote(n.Value)
}

func checkKeys(m *yaml.Node, known []string, what string, fail func(int, string, ...any)) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; !slices.Contains(known, k.Value) {
			fail(k.Line, "%s: unknown field %q (want one of %s)", what, k.Value, strings.Join(known, ", "))
		}
	}
}

func checkStages(n *yaml.Node, what string, fail func(int, string, ...any)) {
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		fail(n.Line, "%s: want a list of stages", what)
		return
	}
	for _, s := range n.Content {
		if !slices.Contains(stages, s.Value) {
			fail(s.Line, "%s: unknown stage %q (want one of %s)", what, s.Value, strings.Join(stages, ", "))
		}
	}
}

func checkRule(i int, r *yaml.Node, fail func(int, string, ...any)) {
	what := fmt.Sprintf("rules[%d]", i)
	checkKeys(r, ruleKeys, what, fail)
	switch lv := value(r, "level"); {
	case lv == nil:
		fail(r.Line, "%s: no level (want one of %s)", what, strings.Join(levels, ", "))
	case !slices.Contains(levels, lv.Value):
		fail(lv.Line, "%s: unknown level %q (want one of %s)", what, lv.Value, strings.Join(levels, ", "))
	}
	checkStages(value(r, "omitStages"), what+".omitStages", fail)
	if res := value(r, "resources"); res != nil && res.Kind == yaml.SequenceNode {
		for j, gr := range res.Content {
			if gr.Kind != yaml.MappingNode {
				fail(gr.Line, "%s.resources[%d]: want a mapping (group, resources, resourceNames)", what, j)
				continue
			}
			checkKeys(gr, groupResourceKeys, fmt.Sprintf("%s.resources[%d]", what, j), fail)
		}
	}
}

// Evaluate decides a request as the API server would: the first matching
// rule wins, its omitStages joined with the policy's; no match is level
// None.
func (p *Policy) Evaluate(attrs authorizer.Attributes) Decision {
	for i, pr := range p.probes {
		if pr.EvaluatePolicyRule(attrs).Level != auditinternal.LevelMetadata {
			continue
		}
		r := p.internal.Rules[i]
		return Decision{Level: string(r.Level), OmitStages: union(p.internal.OmitStages, r.OmitStages), Rule: i, Line: p.Lines[i]}
	}
	return Decision{Level: audit.LevelNone, OmitStages: union(p.internal.OmitStages, nil), Rule: -1}
}

// Evaluate decides a request under a policy without line numbers (one
// built in code); line is the 1-based index of the deciding rule, 0 for
// the default.
func Evaluate(p *auditv1.Policy, attrs authorizer.Attributes) (level string, omitStages []string, line int) {
	var internal auditinternal.Policy
	if err := auditv1.Convert_v1_Policy_To_audit_Policy(p, &internal, nil); err != nil {
		return audit.LevelNone, nil, 0
	}
	pp := &Policy{V1: p, internal: &internal}
	for i, r := range internal.Rules {
		r := *r.DeepCopy()
		r.Level, r.OmitStages = auditinternal.LevelMetadata, nil
		pp.probes = append(pp.probes, policy.NewPolicyRuleEvaluator(&auditinternal.Policy{Rules: []auditinternal.PolicyRule{r}}))
		pp.Lines = append(pp.Lines, i+1)
	}
	d := pp.Evaluate(attrs)
	return d.Level, d.OmitStages, d.Line
}

func union(a, b []auditinternal.Stage) []string {
	var out []string
	for _, s := range slices.Concat(a, b) {
		if !slices.Contains(out, string(s)) {
			out = append(out, string(s))
		}
	}
	slices.Sort(out)
	return out
}
