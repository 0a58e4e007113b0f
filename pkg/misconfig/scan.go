package misconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/netpol"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/rbac"
	"github.com/mamori-dev/mamori/pkg/secret"
	"github.com/mamori-dev/mamori/pkg/source/helm"
	"github.com/mamori-dev/mamori/pkg/source/kustomize"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Options configure a Scanner.
type Options struct {
	// PSSLevel is baseline or restricted (the default).
	PSSLevel string
	// PSSVersion is the PSS version, e.g. v1.31 or latest (the default).
	PSSVersion string
	// Workers bounds how many files are read and checked at once; zero
	// means GOMAXPROCS.
	Workers int
	// MaxFileSize bounds each file; zero means manifest.DefaultMaxFileSize.
	MaxFileSize int64
	// Skip holds glob patterns of files and directories not to read.
	Skip []string
	// Stdin is read for the target "-".
	Stdin io.Reader
	// IgnoreFiles are exception files applying to everything scanned, in
	// addition to the .mamori-ignore.yaml files found in scanned trees.
	IgnoreFiles []string
	// Now is the day exceptions are judged on; nil means today.
	Now func() time.Time
	// Helm holds the values charts are rendered with beyond their defaults.
	Helm helm.Values
	// Policies are CEL policies evaluated beside the built-in checks.
	Policies *policy.Set
	// Secrets, when set, finds credentials in the objects' fields.
	Secrets *secret.Engine
	// Dockerfiles, when set, lints the Dockerfiles found in scanned trees
	// (Dockerfile, *.Dockerfile, Containerfile).
	Dockerfiles *dockerfile.Linter
}

// Scanner checks Kubernetes manifests.
type Scanner struct {
	opts   Options
	pss    *pssEvaluator
	checks []check
	pols   *policyRunner
}

// New returns a Scanner with every built-in check.
func New(opts Options) (*Scanner, error) {
	if opts.PSSLevel == "" {
		opts.PSSLevel = string(api.LevelRestricted)
	}
	if opts.PSSVersion == "" {
		opts.PSSVersion = "latest"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = manifest.DefaultMaxFileSize
	}
	level, err := api.ParseLevel(opts.PSSLevel)
	if err != nil || level == api.LevelPrivileged {
		return nil, fmt.Errorf("--pss-level %q: want baseline or restricted", opts.PSSLevel)
	}
	v := opts.PSSVersion
	if v != "latest" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	version, err := api.ParseVersion(v)
	if err != nil {
		return nil, fmt.Errorf("--pss-version %q: want latest or a Kubernetes minor version such as v1.31", opts.PSSVersion)
	}
	pss, err := newPSSEvaluator(level, version)
	if err != nil {
		return nil, err
	}
	return &Scanner{opts: opts, pss: pss, checks: hygieneChecks(), pols: newPolicyRunner(opts.Policies)}, nil
}

// Rules returns the metadata of every check this scanner runs, sorted by ID.
func (s *Scanner) Rules() []*finding.Rule {
	rules := make([]*finding.Rule, 0, len(s.pss.checks)+len(s.checks))
	for _, c := range s.pss.checks {
		rules = append(rules, c.rule)
	}
	for _, c := range s.checks {
		rules = append(rules, c.rule)
	}
	rules = append(rules, rbac.Rules()...)
	rules = append(rules, netpol.Rules()...)
	rules = append(rules, s.opts.Policies.Rules()...)
	if s.opts.Secrets != nil {
		rules = append(rules, s.opts.Secrets.FindingRules()...)
		rules = append(rules, secret.KubernetesSecretRule())
	}
	if s.opts.Dockerfiles != nil {
		rules = append(rules, dockerfile.Rules()...)
	}
	slices.SortFunc(rules, func(a, b *finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return rules
}

// Catalogue returns every built-in check: those of both PSS levels (a
// restricted check replaces some baseline ones) and the hygiene checks.
func Catalogue() []*finding.Rule {
	var rules []*finding.Rule
	seen := map[string]bool{}
	for _, level := range []string{"restricted", "baseline"} {
		s, err := New(Options{PSSLevel: level})
		if err != nil {
			panic(err) // the options are constants
		}
		for _, r := range s.Rules() {
			if !seen[r.ID] {
				seen[r.ID] = true
				rules = append(rules, r)
			}
		}
	}
	slices.SortFunc(rules, func(a, b *finding.Rule) int { return strings.Compare(a.ID, b.ID) })
	return rules
}

// FileResult is what scanning one file yields.
type FileResult struct {
	Objects  int
	Findings []finding.Finding
	Errors   []finding.Problem
	Notes    []finding.Problem
	saChecks []saCheck
	accounts []serviceAccount
	rbac     []*rbac.Object
	kinds    map[string]int
	// What NetworkPolicy coverage needs, judged once every file is read.
	workloads  []netpol.Workload
	policies   []*netpol.Policy
	namespaces []netpol.Namespace
	// What namespace-dependent policies need, judged once every file is read.
	deferred  []*manifest.Object
	nsObjects []*corev1.Namespace
}

type serviceAccount struct {
	namespace, name string
	automount       *bool
}

// Scan reads the targets (files, directories, "-" for stdin) and checks
// every object. Input problems are reported in the report, never returned:
// one bad file does not hide the others. The error is for cancellation.
func (s *Scanner) Scan(ctx context.Context, targets []string) (*finding.Report, error) {
	dopts := manifest.DiscoverOptions{
		Skip: s.opts.Skip, Sidecars: []string{exception.FileName},
		Renderers: append([]string{helm.Marker}, kustomize.Markers...), Absorbing: []string{helm.Marker}, Archives: []string{helm.Archive},
	}
	if s.opts.Dockerfiles != nil {
		dopts.Extra = dockerfile.IsDockerfile
	}
	inputs, ignoreFiles, discoverErrs := manifest.Discover(ctx, targets, dopts)
	results := make([]FileResult, len(inputs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(s.opts.Workers, max(len(inputs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				in := inputs[i]
				if in.Extra {
					results[i] = s.lintDockerfile(in)
					continue
				}
				if in.Rendered != "" {
					var objs []*manifest.Object
					var problems []finding.Problem
					if in.Rendered == helm.Marker || in.Rendered == helm.Archive {
						objs, problems = helm.Render(in.Name, in.Path(), s.opts.Helm)
					} else {
						objs, problems = kustomize.Render(in.Name, in.Path(), in.Rendered)
					}
					results[i] = s.scanObjects(objs, problems, nil)
					continue
				}
				data, err := manifest.Read(in, s.opts.Stdin, s.opts.MaxFileSize)
				if err != nil {
					results[i].Errors = []finding.Problem{{File: in.Name, Message: err.Error()}}
					continue
				}
				results[i] = s.ScanFile(in.Name, data)
			}
		}()
	}
feed:
	for i := range inputs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &finding.Report{Targets: targets, Files: len(inputs), Errors: discoverErrs, Rules: s.Rules()}
	resolveServiceAccounts(results)
	s.pols.finish(ctx, results)
	rep.Errors = append(rep.Errors, addCrossObject(inputs, results)...)
	total := 0
	for i := range results {
		total += len(results[i].Findings)
	}
	rep.Findings, rep.Errors, rep.Notes = make([]finding.Finding, 0, total), append([]finding.Problem{}, rep.Errors...), []finding.Problem{}
	rep.Kinds = map[string]int{}
	for i := range results {
		r := &results[i]
		rep.Objects += r.Objects
		for k, n := range r.kinds {
			rep.Kinds[k] += n
		}
		rep.Findings = append(rep.Findings, r.Findings...)
		rep.Errors = append(rep.Errors, r.Errors...)
		rep.Notes = append(rep.Notes, r.Notes...)
	}
	s.applyExceptions(ctx, rep, ignoreFiles)
	rep.Sort()
	return rep, nil
}

// applyExceptions loads the ignore files found in the scanned trees (each
// scoped to its directory) and those named with --ignorefile, and applies
// them. Bad entries are input errors.
func (s *Scanner) applyExceptions(ctx context.Context, rep *finding.Report, found []manifest.Input) {
	set := &exception.Set{}
	load := func(in manifest.Input, base string) {
		data, err := manifest.Read(in, nil, s.opts.MaxFileSize)
		if err != nil {
			rep.Errors = append(rep.Errors, finding.Problem{File: in.Name, Message: err.Error()})
			return
		}
		loaded, errs := exception.Load(in.Name, data, base)
		rep.Errors = append(rep.Errors, errs...)
		set.Add(loaded)
	}
	for _, in := range found {
		load(in, path.Dir(in.Name))
	}
	for _, f := range s.opts.IgnoreFiles {
		in, _, errs := manifest.Discover(ctx, []string{f}, manifest.DiscoverOptions{})
		rep.Errors = append(rep.Errors, errs...)
		for _, i := range in {
			load(i, "")
		}
	}
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	set.Apply(rep, now())
}

// ScanFile checks the objects of one manifest file. The result's
// ServiceAccount-dependent findings are settled by Scan.
func (s *Scanner) ScanFile(name string, data []byte) FileResult {
	parsed := manifest.Parse(name, data)
	return s.scanObjects(parsed.Objects, parsed.Errors, parsed.Notes)
}

// scanObjects checks the objects of one input.
func (s *Scanner) scanObjects(objs []*manifest.Object, errs, notes []finding.Problem) FileResult {
	fr := FileResult{Objects: len(objs), Errors: errs, Notes: notes}
	// Findings go straight into the input's list; an insecure workload has
	// a dozen or two.
	fr.Findings = make([]finding.Finding, 0, 16*len(objs))
	for _, o := range objs {
		em := s.checkObject(o, &fr)
		fr.saChecks = append(fr.saChecks, em.saChecks...)
		if s.opts.Secrets != nil {
			s.checkSecrets(o, &fr)
		}
	}
	// Sorting here spreads the work over the workers; Scan then only
	// concatenates.
	slices.SortFunc(fr.Findings, finding.Compare)
	return fr
}

func (s *Scanner) checkObject(o *manifest.Object, fr *FileResult) *emitter {
	em := newEmitter(o, &fr.Findings)
	if fr.kinds == nil {
		fr.kinds = map[string]int{}
	}
	fr.kinds[o.Group()+"/"+o.Kind()]++
	if o.Group() == "" && o.Kind() == "ServiceAccount" {
		sa := serviceAccount{namespace: o.Namespace(), name: o.Name()}
		if _, err := o.Decode("automountServiceAccountToken", &sa.automount); err != nil {
			fr.Errors = append(fr.Errors, finding.Problem{File: o.File, Line: o.Line, Message: fmt.Sprintf("ServiceAccount %s: %v", o.Name(), err)})
		}
		fr.accounts = append(fr.accounts, sa)
	}
	switch {
	case o.Group() == "networking.k8s.io" && o.Kind() == "NetworkPolicy":
		if p, err := netpol.DecodePolicy(o); err != nil {
			fr.Errors = append(fr.Errors, problemOf(o, err))
		} else {
			fr.policies = append(fr.policies, p)
		}
	case o.Group() == "" && o.Kind() == "Namespace":
		fr.namespaces = append(fr.namespaces, netpol.Namespace{Name: o.Name(), At: o.Location("metadata.name"), Res: o.Resource()})
	}
	if o.Group() == rbac.Group {
		r, err := rbac.Decode(o)
		if err != nil {
			fr.Errors = append(fr.Errors, problemOf(o, err))
		} else if r != nil {
			fr.rbac = append(fr.rbac, r)
		}
	}
	switch {
	case o.Group() == policy.Group:
		fr.Notes = append(fr.Notes, finding.Problem{File: o.File, Line: o.Line,
			Message: fmt.Sprintf("mamori %s %s: a policy document, not a workload (evaluate policies with --policy)", o.Kind(), o.Name())})
	case !builtinGroups[o.Group()]:
		fr.Notes = append(fr.Notes, finding.Problem{File: o.File, Line: o.Line,
			Message: fmt.Sprintf("custom resource %s %s: no built-in checks apply", o.APIVersion(), o.Kind())})
	}
	if s.pols != nil {
		s.pols.check(o, fr)
	}
	for _, c := range s.checks {
		if c.object != nil {
			em.cur = c.rule
			c.object(o, em)
		}
	}
	p, err := podOf(o)
	if err != nil {
		p := problemOf(o, err)
		p.Message = fmt.Sprintf("%s %s: pod template not checked: %v", o.Kind(), o.Name(), err)
		fr.Errors = append(fr.Errors, p)
		return em
	}
	if p == nil {
		return em
	}
	fr.workloads = append(fr.workloads, netpol.Workload{Resource: em.res, Labels: p.meta.Labels,
		LabelsAt: o.Location(p.metaPath + ".labels"), Namespace: o.Location("metadata.namespace")})
	s.pss.evaluate(p, em)
	for _, c := range s.checks {
		if c.pod != nil {
			em.cur = c.rule
			c.pod(p, em)
		}
	}
	return em
}

// checkSecrets reports credentials in an object's fields. Only scans do:
// admission sees Secrets by design. Objects a Helm chart rendered get the
// credential rules only, as their other values are as often generated
// (randAlphaNum) as written.
func (s *Scanner) checkSecrets(o *manifest.Object, fr *FileResult) {
	matches, err := s.opts.Secrets.ScanObject(o, secret.ObjectOptions{Generic: !strings.HasPrefix(o.Rendered(), "helm ")})
	if err != nil {
		fr.Errors = append(fr.Errors, finding.Problem{File: o.File, Line: o.Line, Message: fmt.Sprintf("%s: %v", o.Resource(), err)})
	}
	// A literal env value the k8s-secret-in-env check already reports is
	// not reported again by the generic rule; a credential rule says more
	// (which credential, how severe) and stays.
	res := o.Resource()
	matches = slices.DeleteFunc(matches, func(m secret.FieldMatch) bool {
		if m.FindingRule != nil || !m.Match.Rule.Generic {
			return false
		}
		return slices.ContainsFunc(fr.Findings, func(f finding.Finding) bool {
			return f.CheckID() == secretInEnvID && f.Resource == res && f.Location.Path == m.Path
		})
	})
	fr.Findings = append(fr.Findings, s.opts.Secrets.ObjectFindings(o, matches)...)
}

// secretInEnv is the built-in policy on credentials in env values.
const secretInEnvID = "k8s-secret-in-env"

// lintDockerfile judges a Dockerfile found in a scanned tree.
func (s *Scanner) lintDockerfile(in manifest.Input) FileResult {
	found, problems := s.opts.Dockerfiles.LintFile(in.Name, in.Path())
	slices.SortFunc(found, finding.Compare)
	return FileResult{Findings: found, Errors: problems}
}

// problemOf reports a decoding error at the line of the field at fault.
func problemOf(o *manifest.Object, err error) finding.Problem {
	line := o.Line
	var fe *manifest.FieldError
	if errors.As(err, &fe) && fe.Line > 0 {
		line = fe.Line
	}
	return finding.Problem{File: o.File, Line: line, Message: fmt.Sprintf("%s %s: %v", o.Kind(), o.Name(), err)}
}

// addCrossObject runs the analyses that need every file: RBAC (roles
// aggregate across files) and NetworkPolicy coverage. Their findings are
// merged into their files' sorted results; their problems are returned.
func addCrossObject(inputs []manifest.Input, results []FileResult) []finding.Problem {
	var (
		roles      []*rbac.Object
		workloads  []netpol.Workload
		policies   []*netpol.Policy
		namespaces []netpol.Namespace
	)
	for _, r := range results {
		roles = append(roles, r.rbac...)
		workloads = append(workloads, r.workloads...)
		policies = append(policies, r.policies...)
		namespaces = append(namespaces, r.namespaces...)
	}
	found := rbac.Analyze(roles)
	netFindings, problems := netpol.Analyze(workloads, policies, namespaces)
	found = append(found, netFindings...)
	byFile := map[string][]finding.Finding{}
	for _, f := range found {
		byFile[f.Location.File] = append(byFile[f.Location.File], f)
	}
	for i, in := range inputs {
		if fs := byFile[in.Name]; len(fs) > 0 {
			slices.SortFunc(fs, finding.Compare)
			results[i].Findings = merge(results[i].Findings, fs)
			delete(byFile, in.Name)
		}
	}
	// Findings relocated into files that were not inputs themselves (a
	// Kustomize base) join the last input's list; the report's final sort
	// puts them in place.
	for _, fs := range byFile {
		if len(results) == 0 {
			break // no inputs, so nothing was found; kept for safety
		}
		results[len(results)-1].Findings = append(results[len(results)-1].Findings, fs...)
	}
	return problems
}

// resolveServiceAccounts adds the automount findings to their files'
// results, except where a scanned ServiceAccount with that name disables
// automounting. A ServiceAccount without a namespace matches pods in any
// namespace: both get theirs from the same `kubectl apply -n`.
func resolveServiceAccounts(results []FileResult) {
	accounts := map[[2]string]*bool{}
	for _, r := range results {
		for _, a := range r.accounts {
			accounts[[2]string{a.namespace, a.name}] = a.automount
		}
	}
	disabled := func(ns, name string) bool {
		for _, key := range [][2]string{{ns, name}, {"", name}} {
			if a, ok := accounts[key]; ok {
				return a != nil && !*a
			}
		}
		return false
	}
	for i := range results {
		r := &results[i]
		var kept []finding.Finding
		for _, c := range r.saChecks {
			if !disabled(c.namespace, c.name) {
				kept = append(kept, c.finding)
			}
		}
		if len(kept) > 0 {
			slices.SortFunc(kept, finding.Compare)
			r.Findings = merge(r.Findings, kept)
		}
	}
}

// merge merges two sorted lists of findings.
func merge(a, b []finding.Finding) []finding.Finding {
	out := make([]finding.Finding, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if finding.Compare(b[0], a[0]) < 0 {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Applies reports whether check had anything to judge among the scanned
// kinds (see finding.Report.Kinds): RBAC checks need RBAC objects,
// k8s-default-namespace any object, the others a workload.
func Applies(checkID string, kinds map[string]int) bool {
	switch {
	case strings.HasPrefix(checkID, "rbac-"):
		for k := range kinds {
			if strings.HasPrefix(k, rbac.Group+"/") {
				return true
			}
		}
		return false
	case checkID == "k8s-default-namespace":
		return len(kinds) > 0
	}
	for k := range kinds {
		if _, ok := templatePaths[k]; ok {
			return true
		}
	}
	return false
}

// builtinGroups are the API groups Kubernetes itself serves: anything else
// is a custom resource.
var builtinGroups = map[string]bool{
	"": true, "apps": true, "batch": true, "autoscaling": true, "policy": true, "extensions": true,
	"rbac.authorization.k8s.io": true, "networking.k8s.io": true, "storage.k8s.io": true,
	"apiextensions.k8s.io": true, "admissionregistration.k8s.io": true, "scheduling.k8s.io": true,
	"coordination.k8s.io": true, "discovery.k8s.io": true, "certificates.k8s.io": true, "node.k8s.io": true,
	"events.k8s.io": true, "flowcontrol.apiserver.k8s.io": true, "resource.k8s.io": true,
	"apiregistration.k8s.io": true, "authentication.k8s.io": true, "authorization.k8s.io": true,
	"storagemigration.k8s.io": true, "internal.apiserver.k8s.io": true,
}

// ServiceAccounts tells whether a ServiceAccount exists and whether it
// disables token automounting (automount nil: not set).
type ServiceAccounts func(namespace, name string) (automount *bool, found bool)

// CheckObject runs the built-in checks that judge one object on its own,
// as admission does: the cross-object analyses (RBAC, NetworkPolicy
// coverage) need the whole set and are not run. sa settles whether the
// pod's ServiceAccount disables token automounting; nil means unknown.
func (s *Scanner) CheckObject(o *manifest.Object, sa ServiceAccounts) ([]finding.Finding, []finding.Problem) {
	var fr FileResult
	em := s.checkObject(o, &fr)
	for _, c := range em.saChecks {
		if sa != nil {
			if a, found := sa(c.namespace, c.name); found && a != nil && !*a {
				continue
			}
		}
		fr.Findings = append(fr.Findings, c.finding)
	}
	slices.SortFunc(fr.Findings, finding.Compare)
	return fr.Findings, fr.Errors
}
