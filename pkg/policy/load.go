package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Options configure how policies are compiled.
type Options struct {
	// Mapper maps kinds to resources and scopes; nil guesses plurals.
	Mapper meta.RESTMapper
	// Schemas resolves the OpenAPI schemas of kinds, so that expressions
	// are type-checked against the resources they match; nil checks
	// expressions against untyped objects only.
	Schemas resolver.SchemaResolver
	// Reference evaluates with the API server's validator itself rather
	// than mamori's faster loop over the same compiled expressions; tests
	// pin the two together.
	Reference bool
}

// Set is the compiled policies of one run, sorted by ID.
type Set struct {
	Policies []*Policy
	// Tests are the PolicyTest documents found beside the policies.
	Tests []*Test

	compiler *compiler
}

// IsEmpty reports whether the set has no policy.
func (s *Set) IsEmpty() bool { return s == nil || len(s.Policies) == 0 }

// Rules returns the check metadata of every policy.
func (s *Set) Rules() []*finding.Rule {
	if s == nil {
		return nil
	}
	rules := make([]*finding.Rule, len(s.Policies))
	for i, p := range s.Policies {
		rules[i] = p.Rule
	}
	return rules
}

// Get returns the policy with the ID, or nil.
func (s *Set) Get(id string) *Policy {
	for _, p := range s.Policies {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// NewSet returns an empty set compiling with the options.
func NewSet(opts Options) (*Set, error) {
	c, err := newCompiler(opts)
	if err != nil {
		return nil, err
	}
	return &Set{compiler: c}, nil
}

// Load reads policies (and policy tests) from files and directories.
// Directories are walked for .yaml, .yml and .json files; documents of other
// kinds are fixtures and are left alone. Every problem names its file and
// line; a bad policy does not stop the others from loading.
func (s *Set) Load(ctx context.Context, targets []string) []finding.Problem {
	var problems []finding.Problem
	var files []string
	for _, t := range targets {
		found, err := Files(t)
		if err != nil {
			problems = append(problems, finding.Problem{File: t, Message: "policy: " + err.Error()})
			continue
		}
		files = append(files, found...)
	}
	// Compiling and type-checking a policy takes tens of milliseconds:
	// files are compiled in parallel and merged in order.
	results := make([]compiled, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				data, err := os.ReadFile(files[i])
				if err != nil {
					results[i].problems = []finding.Problem{{File: files[i], Message: fmt.Sprintf("read: %v", err)}}
					continue
				}
				results[i] = s.compileFile(files[i], data)
			}
		}()
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return append(problems, finding.Problem{File: targets[0], Message: err.Error()})
	}
	for _, r := range results {
		problems = append(problems, s.merge(r)...)
	}
	return problems
}

// ImageVerificationPolicyKind is the kind of pkg/imagepolicy's documents,
// which this package leaves alone.
const ImageVerificationPolicyKind = "ImageVerificationPolicy"

// compiled is what one file yields.
type compiled struct {
	policies []*Policy
	tests    []*Test
	problems []finding.Problem
}

// Add compiles the policies and tests of one file.
func (s *Set) Add(file string, data []byte) []finding.Problem {
	return s.merge(s.compileFile(file, data))
}

// merge adds a file's policies and tests; an ID defined before is an error.
func (s *Set) merge(r compiled) []finding.Problem {
	problems := r.problems
	for _, p := range r.policies {
		if prev := s.Get(p.ID()); prev != nil {
			problems = append(problems, finding.Problem{File: p.File, Line: p.Line,
				Message: fmt.Sprintf("Policy %s: already defined at %s:%d", p.ID(), prev.File, prev.Line)})
			continue
		}
		s.Policies = append(s.Policies, p)
	}
	slices.SortFunc(s.Policies, func(a, b *Policy) int { return strings.Compare(a.ID(), b.ID()) })
	s.Tests = append(s.Tests, r.tests...)
	return problems
}

// compileFile compiles the policies and tests of one file; it touches no
// state of s but the compiler, so files compile concurrently.
func (s *Set) compileFile(file string, data []byte) compiled {
	var out compiled
	parsed := manifest.Parse(file, data)
	problems := parsed.Errors
	for _, o := range parsed.Objects {
		if o.Group() != Group {
			continue
		}
		if o.Kind() == ImageVerificationPolicyKind {
			// pkg/imagepolicy loads these from the same files (and judges
			// their apiVersion), so one policy directory holds both kinds.
			continue
		}
		if o.APIVersion() != APIVersion {
			problems = append(problems, finding.Problem{File: file, Line: o.Line,
				Message: fmt.Sprintf("%s %s: apiVersion %q is not supported (want %s)", o.Kind(), o.Name(), o.APIVersion(), APIVersion)})
			continue
		}
		switch o.Kind() {
		case "Policy":
			p, errs := s.compiler.compile(o)
			problems = append(problems, errs...)
			if p != nil {
				out.policies = append(out.policies, p)
			}
		case "PolicyTest":
			t, errs := parseTest(o)
			problems = append(problems, errs...)
			if t != nil {
				out.tests = append(out.tests, t)
			}
		default:
			problems = append(problems, finding.Problem{File: file, Line: o.Line,
				Message: fmt.Sprintf("kind %s: unknown (want Policy or PolicyTest)", o.Kind())})
		}
	}
	out.problems = problems
	return out
}

// Files lists the policy files of a target (a file, or the .yaml, .yml
// and .json files under a directory, hidden ones left out), sorted. Both
// policy kinds are read from the same targets.
func Files(target string) ([]string, error) {
	st, err := os.Stat(target)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !st.IsDir() {
		return []string{target}, nil
	}
	var files []string
	err = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != target && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				files = append(files, p)
			}
		}
		return nil
	})
	return files, err
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeStrict decodes the object into dst, rejecting unknown and
// mistyped fields. Problems name the line of the field at fault.
func decodeStrict(o *manifest.Object, dst any) []finding.Problem {
	var problems []finding.Problem
	at := func(path string) int {
		if path == "" {
			return o.Line
		}
		l, _, _ := o.Locate(path)
		return l
	}
	prefix := fmt.Sprintf("%s %s: ", o.Kind(), o.Name())
	if _, err := o.Decode("", dst); err != nil {
		line := o.Line
		var fe *manifest.FieldError
		if errors.As(err, &fe) && fe.Line > 0 {
			line = fe.Line
		}
		return []finding.Problem{{File: o.File, Line: line, Message: prefix + err.Error()}}
	}
	raw, err := json.Marshal(o.Data())
	if err != nil {
		return []finding.Problem{{File: o.File, Line: o.Line, Message: prefix + err.Error()}}
	}
	strict, err := sigsjson.UnmarshalStrict(raw, dst)
	if err != nil {
		return []finding.Problem{{File: o.File, Line: o.Line, Message: prefix + err.Error()}}
	}
	for _, e := range strict {
		path := ""
		var fe sigsjson.FieldError
		if errors.As(e, &fe) {
			path = fe.FieldPath()
		}
		problems = append(problems, finding.Problem{File: o.File, Line: at(path), Message: prefix + e.Error()})
	}
	return problems
}

// unstructuredOf copies a JSON-shaped map into an unstructured object.
func unstructuredOf(m map[string]any) *unstructured.Unstructured {
	if m == nil {
		return nil
	}
	return &unstructured.Unstructured{Object: m}
}

// Subset returns the policies keep selects, compiled as s's.
func (s *Set) Subset(keep func(*Policy) bool) *Set {
	out := &Set{compiler: s.compiler}
	for _, p := range s.Policies {
		if keep(p) {
			out.Policies = append(out.Policies, p)
		}
	}
	return out
}

// Mapper is the REST mapper the set was compiled with (nil for none).
func (s *Set) Mapper() meta.RESTMapper { return s.compiler.opts.Mapper }

// Merge adds the policies of other; an ID both define is an error.
func (s *Set) Merge(other *Set) error {
	for _, p := range other.Policies {
		if prev := s.Get(p.ID()); prev != nil {
			return fmt.Errorf("policy %s at %s:%d is already defined at %s:%d", p.ID(), p.File, p.Line, prev.File, prev.Line)
		}
		s.Policies = append(s.Policies, p)
	}
	slices.SortFunc(s.Policies, func(a, b *Policy) int { return strings.Compare(a.ID(), b.ID()) })
	s.Tests = append(s.Tests, other.Tests...)
	return nil
}
