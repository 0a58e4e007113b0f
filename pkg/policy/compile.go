package policy

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	validating "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// compiler turns policy documents into evaluators with the API server's
// CEL environment: the same base environment, library versions, variable
// declarations and cost limits as its ValidatingAdmissionPolicy plugin.
type compiler struct {
	opts Options
	env  *environment.EnvSet
	tc   *validating.TypeChecker
}

func newCompiler(opts Options) (*compiler, error) {
	c := &compiler{opts: opts, env: environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())}
	if opts.Schemas != nil && opts.Mapper != nil {
		c.tc = &validating.TypeChecker{SchemaResolver: opts.Schemas, RestMapper: opts.Mapper}
	}
	return c, nil
}

// compile validates, type-checks and compiles one Policy document. Every
// problem names the line of the field at fault; a policy with problems is
// not returned.
func (c *compiler) compile(o *manifest.Object) (*Policy, []finding.Problem) {
	var doc document
	if problems := decodeStrict(o, &doc); len(problems) > 0 {
		return nil, problems
	}
	var problems []finding.Problem
	report := func(path, msg string) {
		line := o.Line
		if path != "" {
			line, _, _ = o.Locate(path)
		}
		problems = append(problems, finding.Problem{File: o.File, Line: line, Message: fmt.Sprintf("Policy %s: %s", o.Name(), msg)})
	}
	for _, fp := range doc.validate() {
		report(fp.path, fp.msg)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	p := &Policy{
		Rule: doc.rule(), Mode: doc.Spec.Mode, Spec: doc.vapSpec(),
		Params: unstructuredOf(doc.Spec.Params), File: o.File, Line: o.Line, obj: o,
	}
	if p.Mode == "" {
		p.Mode = Enforce
	}
	for _, v := range doc.Spec.Validations {
		p.Paths = append(p.Paths, v.Path)
	}
	if p.Params != nil {
		p.Params.SetAPIVersion(p.Spec.ParamKind.APIVersion)
		p.Params.SetKind(p.Spec.ParamKind.Kind)
	}
	for _, e := range c.check(&p.Spec) {
		report(e.path, e.msg)
	}
	if c.tc != nil && len(problems) == 0 {
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: p.ID()}, Spec: p.Spec}
		for _, w := range c.tc.Check(vap) {
			report(w.FieldRef, fmt.Sprintf("%s: type error: %s", w.FieldRef, strings.TrimSpace(w.Warning)))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	if c.opts.Reference {
		p.validator = c.validator(&p.Spec)
		if err := p.validator.CompileError(); err != nil {
			report("spec", err.Error())
			return nil, problems
		}
	} else {
		progs, err := c.programs(&p.Spec)
		if err != nil {
			report("spec", err.Error())
			return nil, problems
		}
		p.progs = progs
	}
	p.needsNamespace = needsNamespace(&p.Spec)
	return p, nil
}

// check compiles every expression on its own in the environment the API
// server validates new policies with, so that each error names its field.
func (c *compiler) check(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) []fieldProblem {
	var errs []fieldProblem
	comp, err := plugincel.NewCompositedCompiler(c.env)
	if err != nil {
		return []fieldProblem{{"spec", fmt.Sprintf("CEL environment: %v", err)}}
	}
	vars := plugincel.OptionalVariableDeclarations{HasParams: s.ParamKind != nil, HasAuthorizer: true}
	exprVars := plugincel.OptionalVariableDeclarations{HasParams: s.ParamKind != nil}
	fail := func(path string, r plugincel.CompilationResult) {
		if r.Error != nil {
			errs = append(errs, fieldProblem{path, fmt.Sprintf("%s: %s", path, r.Error.Detail)})
		}
	}
	// The API server validates matchConditions without variables in scope
	// (they decide whether the policy applies at all): compile them before
	// any variable is declared, so a policy it would reject fails here too.
	for i := range s.MatchConditions {
		fail(fmt.Sprintf("spec.matchConditions[%d].expression", i),
			comp.CompileCELExpression((*matchconditions.MatchCondition)(&s.MatchConditions[i]), vars, environment.NewExpressions))
	}
	for i, v := range s.Variables {
		fail(fmt.Sprintf("spec.variables[%d].expression", i),
			comp.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, vars, environment.NewExpressions))
	}
	for i, v := range s.Validations {
		fail(fmt.Sprintf("spec.validations[%d].expression", i),
			comp.CompileCELExpression(&validating.ValidationCondition{Expression: v.Expression}, vars, environment.NewExpressions))
		if v.MessageExpression != "" {
			fail(fmt.Sprintf("spec.validations[%d].messageExpression", i),
				comp.CompileCELExpression(&validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}, exprVars, environment.NewExpressions))
		}
	}
	for i, a := range s.AuditAnnotations {
		fail(fmt.Sprintf("spec.auditAnnotations[%d].valueExpression", i),
			comp.CompileCELExpression(&validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression}, vars, environment.NewExpressions))
	}
	return errs
}

// validator builds the evaluator exactly as the API server's
// ValidatingAdmissionPolicy plugin does (compilePolicy in
// k8s.io/apiserver/pkg/admission/plugin/policy/validating), so that the
// verdicts are the API server's.
func (c *compiler) validator(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) validating.Validator {
	hasParam := s.ParamKind != nil
	vars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: true}
	exprVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: false}
	comp, err := plugincel.NewCompositedCompiler(c.env)
	if err != nil {
		return validating.NewValidator(nil, nil, nil, nil, s.FailurePolicy, err)
	}
	named := make([]plugincel.NamedExpressionAccessor, len(s.Variables))
	for i, v := range s.Variables {
		named[i] = &validating.Variable{Name: v.Name, Expression: v.Expression}
	}
	comp.CompileAndStoreVariables(named, vars, environment.StoredExpressions)
	var matcher matchconditions.Matcher
	if len(s.MatchConditions) > 0 {
		acc := make([]plugincel.ExpressionAccessor, len(s.MatchConditions))
		for i := range s.MatchConditions {
			acc[i] = (*matchconditions.MatchCondition)(&s.MatchConditions[i])
		}
		matcher = matchconditions.NewMatcher(comp.CompileCondition(acc, vars, environment.StoredExpressions), s.FailurePolicy, "policy", "validate", "")
	}
	validations := make([]plugincel.ExpressionAccessor, len(s.Validations))
	messages := make([]plugincel.ExpressionAccessor, len(s.Validations))
	for i, v := range s.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	audits := make([]plugincel.ExpressionAccessor, len(s.AuditAnnotations))
	for i, a := range s.AuditAnnotations {
		audits[i] = &validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression}
	}
	return validating.NewValidator(
		comp.CompileCondition(validations, vars, environment.StoredExpressions),
		matcher,
		comp.CompileCondition(audits, vars, environment.StoredExpressions),
		comp.CompileCondition(messages, exprVars, environment.StoredExpressions),
		s.FailurePolicy, nil)
}

// needsNamespace reports whether the policy's verdict can depend on the
// object's namespace, so a scan must know every namespace first.
func needsNamespace(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) bool {
	if mc := s.MatchConstraints; mc != nil && mc.NamespaceSelector != nil &&
		(len(mc.NamespaceSelector.MatchLabels) > 0 || len(mc.NamespaceSelector.MatchExpressions) > 0) {
		return true
	}
	uses := func(e string) bool { return strings.Contains(e, "namespaceObject") }
	for _, v := range s.Variables {
		if uses(v.Expression) {
			return true
		}
	}
	for _, m := range s.MatchConditions {
		if uses(m.Expression) {
			return true
		}
	}
	for _, v := range s.Validations {
		if uses(v.Expression) || uses(v.MessageExpression) {
			return true
		}
	}
	for _, a := range s.AuditAnnotations {
		if uses(a.ValueExpression) {
			return true
		}
	}
	return false
}
