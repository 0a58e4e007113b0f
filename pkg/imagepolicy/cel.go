package imagepolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// costLimit bounds one condition's evaluation, as the API server bounds a
// ValidatingAdmissionPolicy expression: a predicate is attacker-supplied
// data and an SBOM can be large.
const costLimit = 1_000_000

// maxExpression bounds the source of one condition.
const maxExpression = 10_000

// celEnv is the environment conditions compile in.
type celEnv struct {
	env *cel.Env
}

func newCELEnv() (*celEnv, error) {
	env, err := cel.NewEnv(
		cel.Variable("predicate", cel.DynType),
		cel.Variable("statement", cel.DynType),
		cel.Variable("image", cel.StringType),
		cel.Variable("digest", cel.StringType),
		cel.Variable("now", cel.TimestampType),
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, err
	}
	return &celEnv{env: env}, nil
}

// compile checks that expr compiles to a bool (or to dyn, judged when it
// runs) and builds its program.
func (e *celEnv) compile(expr string) (cel.Program, error) {
	if len(expr) > maxExpression {
		return nil, fmt.Errorf("longer than %d characters", maxExpression)
	}
	ast, iss := e.env.Compile(expr)
	if iss.Err() != nil {
		// One line per error, without the caret drawing: problems are
		// printed one a line.
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, fmt.Errorf("compilation failed: %s", strings.Join(msgs, "; "))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must evaluate to bool, not %s", t)
	}
	return e.env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
}

// vars are the values a condition sees.
type vars struct {
	predicate any
	statement map[string]any
	image     string
	digest    string
	now       time.Time
}

// statementVars builds the condition variables for one verified
// attestation.
func statementVars(st *imagesig.Statement, image, digest string, now time.Time) vars {
	v := vars{image: image, digest: digest, now: now}
	if st == nil {
		v.statement = map[string]any{}
		return v
	}
	v.predicate = plain(st.Predicate)
	subjects := make([]any, len(st.Subject))
	for i, s := range st.Subject {
		subjects[i] = plain(map[string]any(s))
	}
	v.statement = map[string]any{
		"_type": st.Type, "predicateType": st.PredicateType,
		"subject": subjects, "predicate": v.predicate,
	}
	return v
}

// plain turns decoded JSON into the values CEL's adapter knows: numbers
// decoded as json.Number become int64 or float64. The statement is shared
// by concurrent checks, so it is copied when it must change, never edited.
func plain(v any) any {
	if !hasNumber(v) {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = plain(e)
		}
		return l
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func hasNumber(v any) bool {
	switch x := v.(type) {
	case json.Number:
		return true
	case map[string]any:
		for _, e := range x {
			if hasNumber(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNumber(e) {
				return true
			}
		}
	}
	return false
}

// eval runs the condition; an error says what went wrong, not which
// condition (the caller knows).
func (c *Condition) eval(ctx context.Context, v vars) (bool, error) {
	out, _, err := c.prog.ContextEval(ctx, map[string]any{
		"predicate": v.predicate, "statement": v.statement,
		"image": v.image, "digest": v.digest, "now": v.now,
	})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false, fmt.Errorf("timed out: %w", ctx.Err())
		}
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluated to %s, not bool", out.Type().TypeName())
	}
	return b, nil
}

// CompileCondition compiles a condition on attestations in the environment
// of policy conditions, so that `mamori verify image --condition` and a
// policy judge an expression alike.
func CompileCondition(expr string) (*Condition, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	prog, err := env.compile(expr)
	if err != nil {
		return nil, err
	}
	return &Condition{Expression: expr, prog: prog}, nil
}

// Eval evaluates the condition on a verified attestation's statement.
func (c *Condition) Eval(ctx context.Context, st *imagesig.Statement, image, digest string, now time.Time) (bool, error) {
	return c.eval(ctx, statementVars(st, image, digest, now))
}
