package cli

import (
	"context"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// loadPolicies compiles the policies of the given files and directories.
// Problems are per file and line; the error is for what stops everything.
func loadPolicies(ctx context.Context, paths []string) (*policy.Set, []finding.Problem, error) {
	set, err := policy.NewSet(policyOptions())
	if err != nil {
		return nil, nil, err
	}
	problems := set.Load(ctx, paths)
	return set, problems, nil
}

// policyOptions are the compile options of every command: the built-in
// kinds' resources and schemas, so expressions are type-checked.
func policyOptions() policy.Options {
	return policy.Options{}
}
