package policy

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	validating "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/lazy"
)

// programs are a policy's expressions compiled by the API server's
// compiler, in its environment and with its cost limits, for mamori's own
// evaluation loop (evalFast). The loop follows the API server's validator
// (k8s.io/apiserver/pkg/admission/plugin/policy/validating.Validate) rule
// for rule, but builds the request's CEL inputs once for all policies and
// evaluates a variable that several policies declare alike once: with 50
// policies that is most of the work. TestFastMatchesValidator pins it to
// the API server's validator; internal/parity to a real API server.
type programs struct {
	vars        []variable
	conds       []plugincel.CompilationResult
	validations []plugincel.CompilationResult
	messages    []plugincel.CompilationResult // Program nil where none
	audits      []plugincel.CompilationResult
}

type variable struct {
	name string
	res  plugincel.CompilationResult
	// key identifies the variable across policies: its expression and
	// those of the variables before it (which it may use). Empty when it
	// reads params, which differ between policies.
	key string
}

func (c *compiler) programs(s *admissionregistrationv1.ValidatingAdmissionPolicySpec) (*programs, error) {
	comp, err := plugincel.NewCompositedCompiler(c.env)
	if err != nil {
		return nil, err
	}
	hasParams := s.ParamKind != nil
	vars := plugincel.OptionalVariableDeclarations{HasParams: hasParams, HasAuthorizer: true}
	exprVars := plugincel.OptionalVariableDeclarations{HasParams: hasParams}
	p := &programs{}
	var prefix strings.Builder
	if hasParams {
		prefix.WriteString("params\x00")
	}
	for _, v := range s.Variables {
		r := comp.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, vars, environment.StoredExpressions)
		prefix.WriteString(v.Name + "=" + v.Expression + "\x00")
		key := prefix.String()
		if hasParams {
			key = "" // params differ per policy: never share
		}
		p.vars = append(p.vars, variable{name: v.Name, res: r, key: key})
	}
	compile := func(acc plugincel.ExpressionAccessor, o plugincel.OptionalVariableDeclarations) plugincel.CompilationResult {
		return comp.CompileCELExpression(acc, o, environment.StoredExpressions)
	}
	for i := range s.MatchConditions {
		p.conds = append(p.conds, compile((*matchconditions.MatchCondition)(&s.MatchConditions[i]), vars))
	}
	for _, v := range s.Validations {
		p.validations = append(p.validations, compile(&validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}, vars))
		var m plugincel.CompilationResult
		if v.MessageExpression != "" {
			m = compile(&validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}, exprVars)
		}
		p.messages = append(p.messages, m)
	}
	for _, a := range s.AuditAnnotations {
		p.audits = append(p.audits, compile(&validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression}, vars))
	}
	return p, nil
}

// inputs are one request's CEL values, shared by every policy.
type inputs struct {
	object, oldObject, request ref.Val
	namespace                  ref.Val // nil until first needed
	ns                         *corev1.Namespace
	// memo holds variables already evaluated for this request, by key,
	// with the cost each evaluation was charged.
	memo map[string]memoVal
}

type memoVal struct {
	val  ref.Val
	cost int64
}

func newInputs(vattr *admission.VersionedAttributes, gvr schema.GroupVersionResource) (*inputs, error) {
	obj, err := vattr.VersionedObject.CELValue()
	if err != nil {
		return nil, fmt.Errorf("failed to prepare object variable for evaluation: %w", err)
	}
	old, err := vattr.VersionedOldObject.CELValue()
	if err != nil {
		return nil, fmt.Errorf("failed to prepare oldObject variable for evaluation: %w", err)
	}
	req := plugincel.CreateAdmissionRequest(vattr.Attributes, metav1.GroupVersionResource(gvr), metav1.GroupVersionKind(vattr.VersionedKind))
	return &inputs{object: obj, oldObject: old, request: common.SchemalessTypedToVal(req), memo: map[string]memoVal{}}, nil
}

// activation resolves the names an expression reads. Like the API
// server's, object and oldObject may be nil (null), and authorizer is not
// bound (mamori has no authorizer).
type activation struct {
	in        *inputs
	params    ref.Val
	namespace ref.Val
	variables ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case plugincel.ObjectVarName:
		return a.in.object, true
	case plugincel.OldObjectVarName:
		return a.in.oldObject, true
	case plugincel.ParamsVarName:
		return a.params, true
	case plugincel.RequestVarName:
		return a.in.request, true
	case plugincel.NamespaceVarName:
		return a.namespace, true
	case plugincel.VariableVarName:
		return a.variables, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// budget is a policy's runtime cost budget, charged as the API server
// charges it.
type budget struct{ left int64 }

var errOutOfBudget = fmt.Errorf("validation failed due to running out of cost budget, no further validation rules will be run")

// eval runs one compiled expression, charging its cost (and that of the
// variables it evaluates) to b.
func eval(ctx context.Context, r plugincel.CompilationResult, act *activation, b *budget, vcost *int64) (ref.Val, error, error) {
	if r.Error != nil {
		return nil, fmt.Errorf("compilation error: %v", r.Error), nil
	}
	if r.Program == nil {
		return nil, fmt.Errorf("unexpected internal error compiling expression"), nil
	}
	*vcost = 0
	val, details, err := r.Program.ContextEval(ctx, act)
	if *vcost > b.left {
		return nil, nil, errOutOfBudget
	}
	b.left -= *vcost
	if details == nil || details.ActualCost() == nil {
		return nil, nil, fmt.Errorf("runtime cost could not be calculated for expression: %v, no further expression will be run", r.ExpressionAccessor.GetExpression())
	}
	if c := *details.ActualCost(); c > math.MaxInt64 || int64(c) > b.left {
		return nil, nil, errOutOfBudget
	} else {
		b.left -= int64(c)
	}
	if err != nil {
		return nil, fmt.Errorf("expression '%v' resulted in error: %v", r.ExpressionAccessor.GetExpression(), err), nil
	}
	return val, nil, nil
}

// variablesOf returns the lazy variables map of one policy evaluation.
func (p *programs) variablesOf(ctx context.Context, in *inputs, act *activation, vcost *int64) ref.Val {
	m := lazy.NewMapValue(types.NewObjectType("kubernetes.variables"))
	for _, v := range p.vars {
		m.Append(v.name, func(*lazy.MapValue) ref.Val {
			if v.res.Error != nil {
				return types.NewErr("composited variable %q fails to compile: %v", v.name, v.res.Error)
			}
			if v.key != "" {
				if mv, ok := in.memo[v.key]; ok {
					*vcost += mv.cost
					return mv.val
				}
			}
			saved := *vcost
			*vcost = 0
			val, details, err := v.res.Program.ContextEval(ctx, act)
			inner := *vcost // variables this one read
			*vcost = saved
			if details == nil || details.ActualCost() == nil {
				return types.NewErr("unable to calculate cost of variable %q", v.name)
			}
			cost := inner
			if c := *details.ActualCost(); c > math.MaxInt64-uint64(max(cost, 0)) {
				cost = math.MaxInt64
			} else {
				cost += int64(c)
			}
			if err != nil {
				val = types.NewErr("composited variable %q fails to evaluate: %v", v.name, err)
			}
			if v.key != "" {
				in.memo[v.key] = memoVal{val: val, cost: cost}
			}
			*vcost += cost
			return val
		})
	}
	return m
}

// evalFast judges one policy the way the API server's validator does.
func (p *Policy) evalFast(ctx context.Context, in *inputs, params runtime.Object, ns *corev1.Namespace) validating.ValidateResult {
	fp := admissionregistrationv1.Fail
	if p.Spec.FailurePolicy != nil {
		fp = *p.Spec.FailurePolicy
	}
	failAction := validating.ActionAdmit
	if fp == admissionregistrationv1.Fail {
		failAction = validating.ActionDeny
	}
	fail := func(msg string) validating.ValidateResult {
		return validating.ValidateResult{Decisions: []validating.PolicyDecision{{Action: failAction, Evaluation: validating.EvalError, Message: msg}}}
	}
	var paramsVal ref.Val = types.NullValue
	if params != nil {
		paramsVal = common.SchemalessTypedToVal(params)
	}
	var vcost int64
	progs := p.progs
	// matchConditions: no namespaceObject, their own budget, as the API
	// server's matcher evaluates them.
	if len(progs.conds) > 0 {
		act := &activation{in: in, params: paramsVal, namespace: types.NullValue}
		act.variables = progs.variablesOf(ctx, in, act, &vcost)
		b := &budget{left: celconfig.RuntimeCELCostBudgetMatchConditions}
		var errs []string
		for _, r := range progs.conds {
			val, evalErr, fatal := eval(ctx, r, act, b, &vcost)
			if fatal != nil {
				if fp == admissionregistrationv1.Ignore {
					return validating.ValidateResult{}
				}
				return fail(fatal.Error())
			}
			if evalErr != nil {
				errs = append(errs, evalErr.Error())
			}
			if val == types.False {
				return validating.ValidateResult{}
			}
		}
		if len(errs) > 0 {
			if fp == admissionregistrationv1.Ignore {
				return validating.ValidateResult{}
			}
			if len(errs) == 1 {
				return fail(errs[0])
			}
			return fail("[" + strings.Join(errs, ", ") + "]")
		}
	}
	nsVal := in.namespaceVal(ns)
	act := &activation{in: in, params: paramsVal, namespace: nsVal}
	act.variables = progs.variablesOf(ctx, in, act, &vcost)
	b := &budget{left: celconfig.RuntimeCELCostBudget}
	res := validating.ValidateResult{Decisions: make([]validating.PolicyDecision, len(progs.validations))}
	for i, r := range progs.validations {
		d := &res.Decisions[i]
		val, evalErr, fatal := eval(ctx, r, act, b, &vcost)
		switch {
		case fatal != nil:
			return fail(fatal.Error())
		case evalErr != nil:
			d.Action, d.Evaluation, d.Message = failAction, validating.EvalError, evalErr.Error()
		case val != types.True:
			cond := r.ExpressionAccessor.(*validating.ValidationCondition)
			d.Action, d.Evaluation, d.Reason = validating.ActionDeny, validating.EvalDeny, metav1.StatusReasonInvalid
			if cond.Reason != nil {
				d.Reason = *cond.Reason
			}
			d.Message = p.message(ctx, i, in, paramsVal, nsVal, b, cond)
		default:
			d.Action, d.Evaluation = validating.ActionAdmit, validating.EvalAdmit
		}
	}
	for _, r := range progs.audits {
		cond := r.ExpressionAccessor.(*validating.AuditAnnotationCondition)
		a := validating.PolicyAuditAnnotation{Key: cond.Key}
		val, evalErr, fatal := eval(ctx, r, act, b, &vcost)
		switch {
		case fatal != nil:
			return fail(fatal.Error())
		case evalErr != nil:
			a.Action, a.Error = validating.AuditAnnotationActionError, evalErr.Error()
			if fp == admissionregistrationv1.Ignore {
				a.Action = validating.AuditAnnotationActionExclude
			}
		case val.Type() == types.StringType && strings.TrimSpace(val.Value().(string)) != "":
			a.Action, a.Value = validating.AuditAnnotationActionPublish, strings.TrimSpace(val.Value().(string))
		default:
			a.Action = validating.AuditAnnotationActionExclude
		}
		res.AuditAnnotations = append(res.AuditAnnotations, a)
	}
	return res
}

// message is the failure message of validation i: its messageExpression's
// value when that is a usable string, else its message, else the
// expression, as the API server chooses.
func (p *Policy) message(ctx context.Context, i int, in *inputs, params, ns ref.Val, b *budget, cond *validating.ValidationCondition) string {
	if m := p.progs.messages[i]; m.Program != nil || m.Error != nil {
		// messageExpressions are compiled without the authorizer; they see
		// the same variables.
		var vcost int64
		act := &activation{in: in, params: params, namespace: ns}
		act.variables = p.progs.variablesOf(ctx, in, act, &vcost)
		val, evalErr, fatal := eval(ctx, m, act, b, &vcost)
		if fatal == nil && evalErr == nil && val != nil {
			if s, ok := val.Value().(string); ok {
				s = strings.TrimSpace(s)
				if s != "" && len(s) <= celconfig.MaxEvaluatedMessageExpressionSizeBytes && !strings.Contains(s, "\n") {
					return s
				}
			}
		}
	}
	if msg := strings.TrimSpace(cond.Message); msg != "" {
		return msg
	}
	return fmt.Sprintf("failed expression: %v", strings.TrimSpace(cond.Expression))
}

func (in *inputs) namespaceVal(ns *corev1.Namespace) ref.Val {
	if in.namespace == nil || in.ns != ns {
		in.ns = ns
		in.namespace = common.SchemalessTypedToVal(plugincel.CreateNamespaceObject(ns))
	}
	return in.namespace
}
