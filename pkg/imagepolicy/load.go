package imagepolicy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Set is the loaded policies of one run, sorted by ID.
type Set struct {
	Policies []*Policy

	env *celEnv
}

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

// Load reads the ImageVerificationPolicy documents of files and
// directories. Directories are walked for .yaml, .yml and .json files
// (hidden ones skipped); documents of other kinds are left alone, so
// policies of both kinds can share a directory. Every problem names its
// file and line; a bad policy does not stop the others from loading.
func Load(ctx context.Context, targets []string) (*Set, []finding.Problem) {
	s := &Set{}
	var problems []finding.Problem
	for _, t := range targets {
		files, err := policy.Files(t)
		if err != nil {
			problems = append(problems, finding.Problem{File: t, Message: "image policy: " + err.Error()})
			continue
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return s, append(problems, finding.Problem{File: f, Message: err.Error()})
			}
			data, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, finding.Problem{File: f, Message: fmt.Sprintf("read: %v", unwrapPath(err))})
				continue
			}
			problems = append(problems, s.Add(f, data)...)
		}
	}
	return s, problems
}

// Add loads the ImageVerificationPolicy documents of one file. Key files
// and trusted roots are read relative to the file's directory. An ID
// defined before is an error.
func (s *Set) Add(file string, data []byte) []finding.Problem {
	if s.env == nil {
		env, err := newCELEnv()
		if err != nil {
			return []finding.Problem{{File: file, Message: fmt.Sprintf("CEL environment: %v", err)}}
		}
		s.env = env
	}
	parsed := manifest.Parse(file, data)
	// A document that does not parse may have been an image policy.
	problems := slices.Clone(parsed.Errors)
	for _, o := range parsed.Objects {
		if o.Group() != policy.Group || o.Kind() != Kind {
			continue
		}
		if o.APIVersion() != policy.APIVersion {
			problems = append(problems, finding.Problem{File: file, Line: o.Line,
				Message: fmt.Sprintf("%s %s: apiVersion %q is not supported (want %s)", Kind, o.Name(), o.APIVersion(), policy.APIVersion)})
			continue
		}
		p, errs := s.compile(o)
		problems = append(problems, errs...)
		if p == nil {
			continue
		}
		if prev := s.Get(p.ID()); prev != nil {
			problems = append(problems, finding.Problem{File: p.File, Line: p.Line,
				Message: fmt.Sprintf("%s %s: already defined at %s:%d", Kind, p.ID(), prev.File, prev.Line)})
			continue
		}
		s.Policies = append(s.Policies, p)
	}
	slices.SortFunc(s.Policies, func(a, b *Policy) int { return strings.Compare(a.ID(), b.ID()) })
	return problems
}

// document is the file form of an ImageVerificationPolicy.
type document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

type metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type spec struct {
	Title             string            `json:"title"`
	Severity          string            `json:"severity,omitempty"`
	Description       string            `json:"description,omitempty"`
	Remediation       string            `json:"remediation,omitempty"`
	References        []string          `json:"references,omitempty"`
	Controls          []finding.Control `json:"controls,omitempty"`
	Mode              policy.Mode       `json:"mode,omitempty"`
	FailurePolicy     FailurePolicy     `json:"failurePolicy,omitempty"`
	Images            []string          `json:"images"`
	ExcludeImages     []string          `json:"excludeImages,omitempty"`
	AllowedRegistries []string          `json:"allowedRegistries,omitempty"`
	MutateDigest      bool              `json:"mutateDigest,omitempty"`
	CacheTTL          string            `json:"cacheTTL,omitempty"`
	Authorities       []authorityDoc    `json:"authorities,omitempty"`
	Signatures        *signaturesDoc    `json:"signatures,omitempty"`
	Attestations      []attestationDoc  `json:"attestations,omitempty"`
}

type authorityDoc struct {
	Name            string      `json:"name"`
	Key             *keyDoc     `json:"key,omitempty"`
	Keyless         *keylessDoc `json:"keyless,omitempty"`
	TransparencyLog string      `json:"transparencyLog,omitempty"`
	SignedTimestamp string      `json:"signedTimestamp,omitempty"`
}

type keyDoc struct {
	File string `json:"file,omitempty"`
	PEM  string `json:"pem,omitempty"`
	// TrustedRoot is optional for a key: the logs and timestamp
	// authorities its signatures' evidence is checked against.
	TrustedRoot string `json:"trustedRoot,omitempty"`
}

type keylessDoc struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
	TrustedRoot   string `json:"trustedRoot,omitempty"`
}

type signaturesDoc struct {
	Require     Require  `json:"require,omitempty"`
	Authorities []string `json:"authorities,omitempty"`
}

type attestationDoc struct {
	Name          string         `json:"name"`
	PredicateType string         `json:"predicateType"`
	Authorities   []string       `json:"authorities,omitempty"`
	Conditions    []conditionDoc `json:"conditions,omitempty"`
}

type conditionDoc struct {
	Expression string `json:"expression"`
	Message    string `json:"message,omitempty"`
}

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// compiler carries one document through validation, collecting problems
// that name the line of the field at fault.
type compiler struct {
	o        *manifest.Object
	dir      string
	problems []finding.Problem
	hash     []byte // what the policy reads besides its document
}

func (c *compiler) fail(path, format string, args ...any) {
	line := c.o.Line
	if path != "" {
		line, _, _ = c.o.Locate(path)
	}
	c.problems = append(c.problems, finding.Problem{File: c.o.File, Line: line,
		Message: fmt.Sprintf("%s %s: %s", Kind, c.o.Name(), fmt.Sprintf(format, args...))})
}

// compile validates and compiles one document; a policy with problems is
// not returned.
func (s *Set) compile(o *manifest.Object) (*Policy, []finding.Problem) {
	var doc document
	if problems := decodeStrict(o, &doc); len(problems) > 0 {
		return nil, problems
	}
	c := &compiler{o: o, dir: filepath.Dir(o.File)}
	d, sp := &doc, &doc.Spec
	if d.Metadata.Name == "" {
		c.fail("metadata", "metadata.name is required: it is the policy's check ID")
	} else if !idPattern.MatchString(d.Metadata.Name) || len(d.Metadata.Name) > 253 {
		c.fail("metadata.name", "metadata.name %q: want a DNS subdomain (lower case letters, digits, '-', '.')", d.Metadata.Name)
	}
	if strings.TrimSpace(sp.Title) == "" {
		c.fail("spec", "spec.title is required")
	}
	sev := DefaultSeverity
	if sp.Severity != "" {
		var err error
		if sev, err = finding.ParseSeverity(sp.Severity); err != nil {
			c.fail("spec.severity", "spec.severity: %v", err)
		}
	}
	p := &Policy{
		Rule: &finding.Rule{ID: d.Metadata.Name, Title: strings.TrimSpace(sp.Title), Severity: sev,
			Description: strings.TrimSpace(sp.Description), Remediation: strings.TrimSpace(sp.Remediation),
			References: sp.References, Controls: sp.Controls},
		Mode: sp.Mode, FailurePolicy: sp.FailurePolicy, MutateDigest: sp.MutateDigest,
		Images: sp.Images, ExcludeImages: sp.ExcludeImages, AllowedRegistries: sp.AllowedRegistries,
		File: o.File, Line: o.Line, byName: map[string]*imagesig.Authority{},
	}
	switch p.Mode {
	case "":
		p.Mode = policy.Enforce
	case policy.Enforce, policy.Warn, policy.Audit:
	default:
		c.fail("spec.mode", "spec.mode %q: want enforce, warn or audit", p.Mode)
	}
	switch p.FailurePolicy {
	case "":
		p.FailurePolicy = Fail
	case Fail, Ignore:
	default:
		c.fail("spec.failurePolicy", "spec.failurePolicy %q: want Fail or Ignore", p.FailurePolicy)
	}
	p.CacheTTL = DefaultCacheTTL
	if sp.CacheTTL != "" {
		ttl, err := time.ParseDuration(sp.CacheTTL)
		switch {
		case err != nil:
			c.fail("spec.cacheTTL", "spec.cacheTTL %q: want a duration such as 10m", sp.CacheTTL)
		case ttl < 0:
			c.fail("spec.cacheTTL", "spec.cacheTTL %q: must not be negative", sp.CacheTTL)
		default:
			p.CacheTTL = ttl
		}
	}
	if len(sp.Images) == 0 {
		c.fail("spec", `spec.images: at least one pattern is required ("**" for every image)`)
	}
	for i, pat := range sp.Images {
		g, err := compileGlob(pat)
		if err != nil {
			c.fail(fmt.Sprintf("spec.images[%d]", i), "spec.images[%d]: %v", i, err)
			continue
		}
		p.images = append(p.images, g)
	}
	for i, pat := range sp.ExcludeImages {
		g, err := compileGlob(pat)
		if err != nil {
			c.fail(fmt.Sprintf("spec.excludeImages[%d]", i), "spec.excludeImages[%d]: %v", i, err)
			continue
		}
		p.exclude = append(p.exclude, g)
	}
	for i, r := range sp.AllowedRegistries {
		g, err := compileRegistry(r)
		if err != nil {
			c.fail(fmt.Sprintf("spec.allowedRegistries[%d]", i), "spec.allowedRegistries[%d]: %v", i, err)
			continue
		}
		p.registries = append(p.registries, g)
	}
	for i := range sp.Authorities {
		a := c.authority(i, &sp.Authorities[i])
		if a == nil {
			continue
		}
		if _, dup := p.byName[a.Name]; dup {
			c.fail(fmt.Sprintf("spec.authorities[%d].name", i), "spec.authorities[%d].name %q: declared twice", i, a.Name)
			continue
		}
		p.byName[a.Name] = a
		p.Authorities = append(p.Authorities, a)
	}
	// Names are checked against all declared names, also those of
	// authorities that failed to load, so one bad key file is one problem.
	declared := map[string]bool{}
	var all []string
	for _, a := range sp.Authorities {
		if a.Name != "" && !declared[a.Name] {
			declared[a.Name] = true
			all = append(all, a.Name)
		}
	}
	refs := func(path string, names []string) []string {
		if len(names) == 0 {
			if len(all) == 0 {
				c.fail(path, "%s: no authorities are declared (spec.authorities)", path)
			}
			return all
		}
		seen := map[string]bool{}
		for i, n := range names {
			switch {
			case !declared[n]:
				c.fail(fmt.Sprintf("%s.authorities[%d]", path, i), "%s.authorities[%d]: unknown authority %q (declared: %s)", path, i, n, strings.Join(all, ", "))
			case seen[n]:
				c.fail(fmt.Sprintf("%s.authorities[%d]", path, i), "%s.authorities[%d]: %q is listed twice", path, i, n)
			}
			seen[n] = true
		}
		return names
	}
	if sg := sp.Signatures; sg != nil {
		p.Signatures = &Signatures{Require: sg.Require, Authorities: refs("spec.signatures", sg.Authorities)}
		switch sg.Require {
		case "":
			p.Signatures.Require = AnyOf
		case AnyOf, AllOf:
		default:
			c.fail("spec.signatures.require", "spec.signatures.require %q: want anyOf or allOf", sg.Require)
		}
	}
	names := map[string]int{}
	for i, ad := range sp.Attestations {
		path := fmt.Sprintf("spec.attestations[%d]", i)
		at := &Attestation{Name: ad.Name, PredicateType: ad.PredicateType}
		switch {
		case ad.Name == "":
			c.fail(path, "%s.name is required", path)
		case !namePattern.MatchString(ad.Name):
			c.fail(path+".name", "%s.name %q: want lower case letters, digits and '-'", path, ad.Name)
		default:
			if j, dup := names[ad.Name]; dup {
				c.fail(path+".name", "%s.name %q: already used by spec.attestations[%d]", path, ad.Name, j)
			}
			names[ad.Name] = i
		}
		if strings.TrimSpace(ad.PredicateType) == "" {
			c.fail(path, "%s.predicateType is required (such as %s)", path, imagesig.PredicateCycloneDX)
		}
		at.Authorities = refs(path, ad.Authorities)
		for j, cd := range ad.Conditions {
			cpath := fmt.Sprintf("%s.conditions[%d]", path, j)
			if strings.TrimSpace(cd.Expression) == "" {
				c.fail(cpath, "%s.expression is required", cpath)
				continue
			}
			if strings.Contains(cd.Message, "\n") {
				c.fail(cpath+".message", "%s.message must not contain line breaks", cpath)
			}
			prog, err := s.env.compile(cd.Expression)
			if err != nil {
				c.fail(cpath+".expression", "%s.expression: %v", cpath, err)
				continue
			}
			at.Conditions = append(at.Conditions, &Condition{Expression: cd.Expression, Message: cd.Message, prog: prog})
			p.readsImage = p.readsImage || strings.Contains(cd.Expression, "image")
		}
		p.Attestations = append(p.Attestations, at)
	}
	if sp.Signatures == nil && len(sp.Attestations) == 0 && len(sp.AllowedRegistries) == 0 {
		c.fail("spec", "the policy checks nothing: give spec.signatures, spec.attestations or spec.allowedRegistries")
	}
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	raw, _ := json.Marshal(o.Data())
	h := sha256.New()
	h.Write(raw)
	h.Write(c.hash)
	p.Hash = hex.EncodeToString(h.Sum(nil)[:16])
	return p, nil
}

// authority loads one authority: its key or identity and trusted root.
func (c *compiler) authority(i int, ad *authorityDoc) *imagesig.Authority {
	path := fmt.Sprintf("spec.authorities[%d]", i)
	n := len(c.problems)
	a := &imagesig.Authority{Name: ad.Name}
	switch {
	case ad.Name == "":
		c.fail(path, "%s.name is required", path)
	case !namePattern.MatchString(ad.Name):
		c.fail(path+".name", "%s.name %q: want lower case letters, digits and '-'", path, ad.Name)
	}
	req := func(field, v string, allowed ...imagesig.Requirement) imagesig.Requirement {
		switch v {
		case "", "ifPresent":
			return imagesig.IfPresent
		case "required":
			return imagesig.Required
		case "ignore":
			if slices.Contains(allowed, imagesig.Ignore) {
				return imagesig.Ignore
			}
		}
		want := "ifPresent or required"
		if slices.Contains(allowed, imagesig.Ignore) {
			want = "ifPresent, required or ignore"
		}
		c.fail(path+"."+field, "%s.%s %q: want %s", path, field, v, want)
		return imagesig.IfPresent
	}
	a.TransparencyLog = req("transparencyLog", ad.TransparencyLog, imagesig.Ignore)
	a.SignedTimestamp = req("signedTimestamp", ad.SignedTimestamp)
	trustedRootFile := ""
	switch {
	case ad.Key != nil && ad.Keyless != nil:
		c.fail(path, "%s: give key or keyless, not both", path)
	case ad.Key != nil:
		k := ad.Key
		var data []byte
		switch {
		case k.File != "" && k.PEM != "":
			c.fail(path+".key", "%s.key: give file or pem, not both", path)
		case k.File != "":
			f := c.rel(k.File)
			b, err := os.ReadFile(f)
			if err != nil {
				c.fail(path+".key.file", "%s.key.file: %v", path, unwrapPathNamed(f, err))
				break
			}
			data, a.KeyRef = b, k.File
		case k.PEM != "":
			data, a.KeyRef = []byte(k.PEM), "pem"
		default:
			c.fail(path+".key", "%s.key: give file (a PEM public key such as cosign.pub) or pem", path)
		}
		if data != nil {
			field := path + ".key.file"
			if k.PEM != "" {
				field = path + ".key.pem"
			}
			key, err := imagesig.LoadPublicKey(data)
			if err != nil {
				c.fail(field, "%s: %v", field, err)
			} else {
				a.Key = key
				c.hash = append(c.hash, data...)
			}
		}
		trustedRootFile = k.TrustedRoot
		if k.TrustedRoot == "" && (a.TransparencyLog == imagesig.Required || a.SignedTimestamp == imagesig.Required) {
			c.fail(path+".key", "%s.key.trustedRoot is required to verify the log entries or timestamps the authority requires", path)
		}
	case ad.Keyless != nil:
		kl := ad.Keyless
		id := &imagesig.Identity{Issuer: kl.Issuer, IssuerRegExp: kl.IssuerRegExp, Subject: kl.Subject, SubjectRegExp: kl.SubjectRegExp}
		pair := func(exact, re, exactField, reField string) {
			switch {
			case exact != "" && re != "":
				c.fail(path+".keyless."+reField, "%s.keyless: give %s or %s, not both", path, exactField, reField)
			case exact == "" && re == "":
				c.fail(path+".keyless", "%s.keyless: %s or %s is required", path, exactField, reField)
			case re != "":
				if _, err := regexp.Compile(re); err != nil {
					c.fail(path+".keyless."+reField, "%s.keyless.%s: %v", path, reField, err)
				}
			}
		}
		pair(kl.Issuer, kl.IssuerRegExp, "issuer", "issuerRegExp")
		pair(kl.Subject, kl.SubjectRegExp, "subject", "subjectRegExp")
		a.Identity = id
		trustedRootFile = kl.TrustedRoot
		if kl.TrustedRoot == "" {
			c.fail(path+".keyless", "%s.keyless.trustedRoot is required: the Sigstore trusted_root.json whose certificate authorities issue the identity's certificates", path)
		}
	default:
		c.fail(path, "%s: give key or keyless", path)
	}
	if trustedRootFile != "" {
		field := path + ".keyless.trustedRoot"
		if ad.Key != nil {
			field = path + ".key.trustedRoot"
		}
		f := c.rel(trustedRootFile)
		data, err := os.ReadFile(f)
		if err != nil {
			c.fail(field, "%s: %v", field, unwrapPathNamed(f, err))
		} else if tr, err := root.NewTrustedRootFromJSON(data); err != nil {
			c.fail(field, "%s: %s: %v", field, f, err)
		} else {
			a.TrustedRoot = tr
			c.hash = append(c.hash, data...)
		}
	}
	if len(c.problems) > n {
		return nil
	}
	return a
}

// rel resolves a path relative to the policy file.
func (c *compiler) rel(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// decodeStrict decodes the object into dst, rejecting unknown and
// mistyped fields. Problems name the line of the field at fault.
func decodeStrict(o *manifest.Object, dst any) []finding.Problem {
	prefix := fmt.Sprintf("%s %s: ", Kind, o.Name())
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
	var problems []finding.Problem
	for _, e := range strict {
		line := o.Line
		var fe sigsjson.FieldError
		if errors.As(e, &fe) {
			line, _, _ = o.Locate(fe.FieldPath())
		}
		problems = append(problems, finding.Problem{File: o.File, Line: line, Message: prefix + e.Error()})
	}
	return problems
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unwrapPathNamed says which file, as resolved, could not be read.
func unwrapPathNamed(file string, err error) error {
	return fmt.Errorf("%s: %w", file, unwrapPath(err))
}
