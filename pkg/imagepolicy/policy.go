// Package imagepolicy is mamori's ImageVerificationPolicy kind and the
// engine that judges container images against it: which images must carry
// signatures and attestations from which authorities (keys or keyless
// identities), what the attested predicates must say (CEL), and which
// registries images may come from.
//
// Policies live beside mamori's Policy documents, in the same API group:
//
//	apiVersion: mamori.dev/v1alpha1
//	kind: ImageVerificationPolicy
//	metadata: {name: signed-releases}       # the check ID in findings
//	spec:
//	  title: Release images are signed by the release pipeline
//	  images: ["registry.example.com/team/**"]
//	  authorities:
//	  - name: release-key
//	    key: {file: keys/cosign.pub}
//	  signatures: {require: anyOf}
//
// The Engine resolves tags, fetches what is attached to each image once
// (pkg/imagesig), verifies it against every policy that matches and caches
// the verdicts by digest, so that admission pays for a registry round trip
// only when an image is new or its verdict has expired.
package imagepolicy

import (
	"time"

	"github.com/google/cel-go/cel"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// Kind is the kind of the documents this package reads.
const Kind = policy.ImageVerificationPolicyKind

// FailurePolicy says what a registry that cannot be read means.
type FailurePolicy string

const (
	// Fail denies the image (the default).
	Fail FailurePolicy = "Fail"
	// Ignore admits it.
	Ignore FailurePolicy = "Ignore"
)

// Require says how many of the listed authorities must have signed.
type Require string

const (
	// AnyOf needs one of them (the default).
	AnyOf Require = "anyOf"
	// AllOf needs every one.
	AllOf Require = "allOf"
)

// Defaults.
const (
	DefaultCacheTTL = 5 * time.Minute
	DefaultSeverity = finding.High
)

// Policy is one loaded ImageVerificationPolicy.
type Policy struct {
	// Rule is the policy's check metadata; Rule.ID is metadata.name.
	Rule *finding.Rule
	// Mode says what a denial does at admission.
	Mode          policy.Mode
	FailurePolicy FailurePolicy
	// Images and ExcludeImages are the patterns as written.
	Images        []string
	ExcludeImages []string
	// AllowedRegistries, when set, are the only registries matched images
	// may come from.
	AllowedRegistries []string
	// MutateDigest asks the mutating webhook to pin verified tags to
	// their digest.
	MutateDigest bool
	CacheTTL     time.Duration
	// Authorities are in the order written.
	Authorities []*imagesig.Authority
	// Signatures is nil when the policy asks for none.
	Signatures   *Signatures
	Attestations []*Attestation

	// File and Line say where the policy is written.
	File string
	Line int
	// Hash identifies the policy's content, the key files and trusted
	// roots it reads included: cached verdicts of a changed policy are not
	// reused.
	Hash string

	images, exclude []*glob
	registries      []*registryGlob
	byName          map[string]*imagesig.Authority
	// readsImage is set when a condition may read `image` (the reference
	// as written): its verdicts are then cached per reference.
	readsImage bool
}

// Signatures is what a policy asks of image signatures.
type Signatures struct {
	Require     Require
	Authorities []string
}

// Attestation is one attestation a policy asks for.
type Attestation struct {
	Name          string
	PredicateType string
	// Authorities are the names of the authorities any of which may have
	// signed it.
	Authorities []string
	// Conditions must all hold for at least one verified attestation.
	Conditions []*Condition
}

// Condition is a compiled CEL condition on an attestation.
type Condition struct {
	Expression string
	Message    string
	prog       cel.Program
}

// ID is the policy's check ID.
func (p *Policy) ID() string { return p.Rule.ID }

// Authority returns the authority with the name, or nil.
func (p *Policy) Authority(name string) *imagesig.Authority { return p.byName[name] }

// Matches reports whether the policy applies to the image reference: it
// matches one of Images and none of ExcludeImages. A reference that does
// not parse matches nothing.
func (p *Policy) Matches(image string) bool {
	r, err := parseRef(image)
	return err == nil && p.matches(r.forms(), r.excludeForms())
}

func (p *Policy) matches(forms, excludeForms []string) bool {
	in := false
	for _, g := range p.images {
		if g.match(forms) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, g := range p.exclude {
		if g.match(excludeForms) {
			return false
		}
	}
	return true
}

// registryAllowed reports whether AllowedRegistries admits the registry.
func (p *Policy) registryAllowed(registry string) bool {
	if len(p.registries) == 0 {
		return true
	}
	for _, g := range p.registries {
		if g.match(registry) {
			return true
		}
	}
	return false
}

// verifies reports whether the policy needs the registry: it asks for
// signatures or attestations.
func (p *Policy) verifies() bool { return p.Signatures != nil || len(p.Attestations) > 0 }
