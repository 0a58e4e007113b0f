// Package builtin holds mamori's built-in checks written as policies: the
// hygiene checks of package misconfig whose verdict CEL can reproduce from
// the object alone, as kind Policy documents (see package policy) with the
// same IDs and metadata as the Go checks. Compiled with Load, a policy
// denies an object exactly when the Go check of the same ID reports a
// finding on it, and it exports to a native ValidatingAdmissionPolicy that
// judges the same objects the same way in a cluster. The tests hold the two
// to that on the examples, generated workloads and edge-case fixtures.
//
// Every policy follows the same conventions:
//   - matchConstraints list the kinds the Go check reads a pod template
//     from (Pod, PodTemplate, ReplicationController, Deployment,
//     ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), in every API
//     version ("*"), so that old manifests (extensions/v1beta1,
//     apps/v1beta2) are judged too; the probe checks leave out Jobs and
//     CronJobs, as the Go checks do.
//   - variables.podSpec is the pod spec where the Go checks read it for
//     the object's kind, or null when the object has none: then nothing is
//     judged, as the Go checks report an input error instead.
//   - a field written as null counts as absent, as the Go decoder and the
//     API server read it (x.?f.orValue(null) == null tests for both).
//   - one validation per container list (initContainers, containers,
//     ephemeralContainers) or pod field, whose path is that list or field
//     in a pod template (spec.template.spec...): a path cannot vary with
//     the kind, so a Pod's or a CronJob's finding points at the nearest
//     field that exists. Messages name every offending container.
//   - no matchConditions, and values computed inline rather than in
//     variables where that is cheaper: the API server evaluates each group
//     of expressions (match conditions, validations, message expressions)
//     with fresh variables, so each costs a pass over the object.
//   - mode is warn: these are advisory hygiene checks; whoever exports or
//     enforces them sets the mode (policy export --builtin does, by
//     severity).
//
// Not written as a policy: k8s-automount-sa-token, whose verdict depends on
// the pod's ServiceAccount object when the pod does not set
// automountServiceAccountToken itself; no expression over the pod alone can
// reproduce it.
package builtin

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/policy"
)

//go:embed policies/*.yaml
var files embed.FS

// Dir is the directory policy files are reported in: Policy.File of a
// built-in policy is Dir + "/" + its file name.
const Dir = "builtin"

// Files returns the policy files, one policy per file named after its ID
// (k8s-image-tag-latest.yaml), at the root of the returned file system.
func Files() fs.FS {
	sub, err := fs.Sub(files, "policies")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return sub
}

// Load compiles every built-in policy with the options, marked Builtin.
// The policies are mamori's own: any problem is an error.
func Load(opts policy.Options) (*policy.Set, error) {
	set, err := policy.NewSet(opts)
	if err != nil {
		return nil, err
	}
	fsys := Files()
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		file := path.Join(Dir, name)
		problems := set.Add(file, data)
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s:%d: %s", p.File, p.Line, p.Message))
		}
		// One policy per file, named after it, so that a policy is found
		// by its ID.
		id := strings.TrimSuffix(name, ".yaml")
		switch p := set.Get(id); {
		case len(problems) > 0:
		case p == nil || p.File != file:
			errs = append(errs, fmt.Errorf("%s: holds no policy named %s", file, id))
		default:
			p.Builtin = true
		}
	}
	if len(set.Policies) != len(names) {
		errs = append(errs, fmt.Errorf("%d policies in %d files: want one per file", len(set.Policies), len(names)))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("built-in policies: %w", errors.Join(errs...))
	}
	return set, nil
}
