package imagepolicy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

func TestConditionEval(t *testing.T) {
	env, err := newCELEnv()
	if err != nil {
		t.Fatal(err)
	}
	components := make([]any, 300)
	for i := range components {
		components[i] = map[string]any{"name": "pkg", "version": json.Number("1")}
	}
	st := &imagesig.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: imagesig.PredicateCycloneDX,
		Subject:   []map[string]any{{"name": "registry.example.com/team/app", "digest": map[string]any{"sha256": "ab"}}},
		Predicate: map[string]any{"components": components, "metadata": map[string]any{"timestamp": "2026-04-30T12:00:00Z"}}}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	v := statementVars(st, "registry.example.com/team/app:1", "sha256:ab", now)
	for _, tc := range []struct {
		expr string
		want bool
		err  string
	}{
		{"predicate.components.size() == 300", true, ""},
		{"predicate.components[0].version == 1", true, ""}, // json.Number is a number
		{"statement.subject[0].digest.sha256 == digest.substring(7)", true, ""},
		{"image.startsWith('registry.example.com/') && image.split(':')[1] == '1'", true, ""},
		{"now - timestamp(predicate.metadata.timestamp) <= duration('24h')", true, ""},
		{"now - timestamp(predicate.metadata.timestamp) < duration('23h')", false, ""},
		{"predicate.?missing.orValue(0) == 0", true, ""},
		{"predicate.missing == 1", false, "no such key: missing"},
		{"predicate.components", false, "evaluated to list, not bool"},
		// Quadratic and worse work on attacker-supplied data is stopped.
		{"predicate.components.all(a, predicate.components.all(b, predicate.components.all(c, a.name == c.name)))", false, "cost limit"},
	} {
		prog, err := env.compile(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		c := &Condition{Expression: tc.expr, prog: prog}
		got, err := c.eval(context.Background(), v)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.expr, got, err, tc.want)
		}
	}
	// The statement is shared by concurrent checks: it is never edited.
	if _, ok := components[0].(map[string]any)["version"].(json.Number); !ok {
		t.Error("the statement's predicate was edited")
	}
}
