package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// verifyFlags are the flags of `mamori verify image`. The signer flags
// carry cosign's names, so that a cosign command line translates as is.
type verifyFlags struct {
	keys         []string
	identity     string
	identityRE   string
	issuer       string
	issuerRE     string
	trustedRoot  string
	require      string
	tlog         string
	timestamp    string
	attestations []string
	conditions   []string
	signatures   bool
	policies     []string
	format       string
	timeout      time.Duration
	insecure     bool
}

// flagsOnlyForSigners are the flags --policy replaces: a policy file says
// the same, and mixing both would leave unclear which one judged.
var flagsOnlyForSigners = []string{"key", "certificate-identity", "certificate-identity-regexp",
	"certificate-oidc-issuer", "certificate-oidc-issuer-regexp", "trusted-root", "require", "tlog",
	"timestamp", "attestation", "condition", "signatures"}

func newVerify(stdio IO) *cobra.Command {
	verify := &cobra.Command{Use: "verify", Short: "Verify container image signatures and attestations"}
	fl := &verifyFlags{}
	image := &cobra.Command{
		Use:   "image REF...",
		Short: "Verify the signatures and attestations attached to images (cosign's classic layout and Sigstore bundle referrers)",
		Long: `Verify the signatures and attestations attached to each image, and print exactly what
was checked: the digest the reference resolved to, every signature or attestation that
verified (layout, location, authority, key ID or certificate identity, transparency log
entries, signed timestamps), the conditions each attestation met, and why every other
candidate was rejected.

Signers are given as keys (--key, PEM public keys such as cosign.pub) and/or one keyless
identity (--certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp], checked
against --trusted-root, a Sigstore trusted_root.json). Without --attestation, image
signatures are verified; with it, the attestations of those predicate types (and the
signatures too with --signatures). --condition expressions (CEL, with the variables
predicate, statement, image, digest and now) must all hold for at least one verified
attestation of each type.

With --policy, ImageVerificationPolicy files judge each image instead, as the admission
webhook does.

Exit codes: 0 every image verified, 1 one did not, 2 bad input or a registry that could not
be read.`,
		Example: `  mamori verify image --key cosign.pub registry.example.com/shop/api:1.4
  mamori verify image --certificate-identity-regexp '^https://github\.com/acme/' \
      --certificate-oidc-issuer https://token.actions.githubusercontent.com \
      --trusted-root trusted_root.json registry.example.com/shop/api@sha256:…
  mamori verify image --key cosign.pub --attestation cyclonedx \
      --condition 'predicate.components.size() > 0' registry.example.com/shop/api:1.4
  mamori verify image --policy policies/ --format json registry.example.com/shop/api:1.4`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerifyImage(cmd, stdio, fl, args)
		},
	}
	f := image.Flags()
	f.StringArrayVar(&fl.keys, "key", nil, "PEM public key (cosign.pub) an accepted signer holds (repeatable)")
	f.StringVar(&fl.identity, "certificate-identity", "", "keyless: the signing certificate's identity (subject alternative name), exactly")
	f.StringVar(&fl.identityRE, "certificate-identity-regexp", "", "keyless: a regular expression the certificate's identity must match")
	f.StringVar(&fl.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer of the certificate's identity, exactly")
	f.StringVar(&fl.issuerRE, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer must match")
	f.StringVar(&fl.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json: certificate authorities, transparency logs and timestamp authorities (required for keyless; for keys, used to check their log entries and timestamps)")
	f.StringVar(&fl.require, "require", "any", "any: one of the given signers suffices; all: every one must have signed (and attested)")
	f.StringVar(&fl.tlog, "tlog", "if-present", "transparency log entries: required, if-present (checked when a signature carries one) or ignore")
	f.StringVar(&fl.timestamp, "timestamp", "if-present", "RFC 3161 signed timestamps: required or if-present")
	f.StringArrayVar(&fl.attestations, "attestation", nil, "verify attestations of this predicate type: a URI or slsaprovenance, slsaprovenance02, slsaprovenance1, cyclonedx, spdx, spdxjson, vuln (repeatable)")
	f.StringArrayVar(&fl.conditions, "condition", nil, "CEL expression every --attestation must satisfy (variables: predicate, statement, image, digest, now; repeatable)")
	f.BoolVar(&fl.signatures, "signatures", false, "with --attestation, verify image signatures too (they are verified by default without --attestation)")
	f.StringArrayVar(&fl.policies, "policy", nil, "file or directory of ImageVerificationPolicy documents to judge the images by, as admission does (repeatable)")
	f.StringVarP(&fl.format, "format", "f", "table", "output format: table or json")
	f.DurationVar(&fl.timeout, "timeout", time.Minute, "longest to spend on each image (resolving, reading the registry, verifying)")
	f.BoolVar(&fl.insecure, "insecure", false, "allow plain HTTP to registries (loopback registries are spoken to over HTTP anyway)")
	verify.AddCommand(image)
	return verify
}

// verifyResult is what was checked of one image, and the verdict.
type verifyResult struct {
	Image string `json:"image"`
	// Digest is what was verified; Resolved says it came from a tag.
	Digest   string `json:"digest,omitempty"`
	Resolved bool   `json:"resolvedFromTag,omitempty"`
	Verified bool   `json:"verified"`
	// Error says the image could not be checked: a reference that does
	// not parse, a registry that could not be read.
	Error        string             `json:"error,omitempty"`
	Signatures   *signatureCheck    `json:"signatures,omitempty"`
	Attestations []attestationCheck `json:"attestations,omitempty"`
	// Policies are the verdicts of --policy.
	Policies []policyVerdict `json:"policies,omitempty"`
	// Unreadable are attached objects that could not be parsed.
	Unreadable []string `json:"unreadable,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	Note       string   `json:"note,omitempty"`
}

type signatureCheck struct {
	Require     string           `json:"require"`
	Verified    bool             `json:"verified"`
	Authorities []authorityCheck `json:"authorities"`
}

type attestationCheck struct {
	PredicateType string           `json:"predicateType"`
	Require       string           `json:"require"`
	Verified      bool             `json:"verified"`
	Authorities   []authorityCheck `json:"authorities"`
}

// authorityCheck is one signer's part: what of its verified, and what was
// rejected. For attestations, Verified needs one whose conditions held.
type authorityCheck struct {
	Authority string               `json:"authority"`
	Verified  bool                 `json:"verified"`
	Evidence  []evidenceResult     `json:"evidence,omitempty"`
	Rejected  []imagesig.Rejection `json:"rejected,omitempty"`
}

type evidenceResult struct {
	imagesig.Evidence
	Conditions []conditionResult `json:"conditions,omitempty"`
}

type conditionResult struct {
	Expression string `json:"expression"`
	Held       bool   `json:"held"`
	Error      string `json:"error,omitempty"`
}

// policyVerdict is one ImageVerificationPolicy's decision.
type policyVerdict struct {
	Policy        string              `json:"policy"`
	File          string              `json:"file"`
	Mode          string              `json:"mode"`
	FailurePolicy string              `json:"failurePolicy"`
	Allowed       bool                `json:"allowed"`
	Reasons       []string            `json:"reasons,omitempty"`
	Evidence      []imagesig.Evidence `json:"evidence,omitempty"`
	Error         string              `json:"error,omitempty"`
	Pin           string              `json:"pin,omitempty"`
}

// verifyPlan is what the flags ask for.
type verifyPlan struct {
	authorities  []*imagesig.Authority
	all          bool
	signatures   bool
	attestations []string
	conditions   []*imagepolicy.Condition
}

func runVerifyImage(cmd *cobra.Command, stdio IO, fl *verifyFlags, args []string) error {
	ctx := cmd.Context()
	if fl.format != "table" && fl.format != "json" {
		return fmt.Errorf("--format %q: want table or json", fl.format)
	}
	if fl.timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", fl.timeout)
	}
	var images []string
	for _, a := range args {
		if !slices.Contains(images, a) {
			images = append(images, a)
		}
	}
	client := imagesig.NewClient(imagesig.ClientOptions{Insecure: fl.insecure})

	var results []verifyResult
	if len(fl.policies) > 0 {
		for _, n := range flagsOnlyForSigners {
			if cmd.Flags().Changed(n) {
				return fmt.Errorf("--%s and --policy exclude each other: the policy names the signers and what they must attest", n)
			}
		}
		set, problems := imagepolicy.Load(ctx, fl.policies)
		if len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(stdio.Err, "error:", p.String())
			}
			return &exitError{ExitError}
		}
		if len(set.Policies) == 0 {
			return fmt.Errorf("--policy %s: no %s documents", strings.Join(fl.policies, ", "), imagepolicy.Kind)
		}
		eng := imagepolicy.NewEngine(set, imagepolicy.Options{Client: client, Timeout: fl.timeout})
		results = verifyByPolicy(ctx, eng, images)
	} else {
		plan, err := fl.plan()
		if err != nil {
			return err
		}
		results = make([]verifyResult, len(images))
		var wg sync.WaitGroup
		for i, img := range images {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, fl.timeout)
				defer cancel()
				results[i] = plan.verify(ctx, client, img)
			})
		}
		wg.Wait()
	}

	var err error
	if fl.format == "json" {
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // conditions are read with their > and &&
		err = enc.Encode(struct {
			Images []verifyResult `json:"images"`
		}{results})
	} else {
		err = writeVerifyTable(stdio.Out, results)
	}
	if err != nil {
		return err
	}
	code, verified, failed, broken := ExitClean, 0, 0, 0
	for _, r := range results {
		switch {
		case r.Error != "":
			broken++
			code = ExitError
		case !r.Verified:
			failed++
			if code == ExitClean {
				code = ExitFindings
			}
		default:
			verified++
		}
	}
	if fl.format != "table" {
		fmt.Fprintf(stdio.Err, "%d verified, %d not verified, %d could not be checked\n", verified, failed, broken)
	}
	if code != ExitClean {
		return &exitError{code}
	}
	return nil
}

// plan checks the flags and loads the keys and trusted root they name,
// before any registry is read.
func (fl *verifyFlags) plan() (*verifyPlan, error) {
	p := &verifyPlan{}
	switch fl.require {
	case "any":
	case "all":
		p.all = true
	default:
		return nil, fmt.Errorf("--require %q: want any or all", fl.require)
	}
	var tlog, ts imagesig.Requirement
	switch fl.tlog {
	case "if-present":
		tlog = imagesig.IfPresent
	case "required":
		tlog = imagesig.Required
	case "ignore":
		tlog = imagesig.Ignore
	default:
		return nil, fmt.Errorf("--tlog %q: want required, if-present or ignore", fl.tlog)
	}
	switch fl.timestamp {
	case "if-present":
		ts = imagesig.IfPresent
	case "required":
		ts = imagesig.Required
	default:
		return nil, fmt.Errorf("--timestamp %q: want required or if-present", fl.timestamp)
	}
	var tr root.TrustedMaterial
	if fl.trustedRoot != "" {
		data, err := os.ReadFile(fl.trustedRoot)
		if err != nil {
			return nil, fmt.Errorf("--trusted-root: %w", err)
		}
		r, err := root.NewTrustedRootFromJSON(data)
		if err != nil {
			return nil, fmt.Errorf("--trusted-root %s: %w", fl.trustedRoot, err)
		}
		tr = r
	} else if tlog == imagesig.Required || ts == imagesig.Required {
		return nil, errors.New("--tlog required and --timestamp required need --trusted-root: the logs and timestamp authorities to check them against")
	}
	for _, k := range fl.keys {
		data, err := os.ReadFile(k)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		pub, err := imagesig.LoadPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", k, err)
		}
		p.authorities = append(p.authorities, &imagesig.Authority{Name: "key " + k, Key: pub, KeyRef: k,
			TrustedRoot: tr, TransparencyLog: tlog, SignedTimestamp: ts})
	}
	if fl.identity != "" || fl.identityRE != "" || fl.issuer != "" || fl.issuerRE != "" {
		id := &imagesig.Identity{Subject: fl.identity, SubjectRegExp: fl.identityRE, Issuer: fl.issuer, IssuerRegExp: fl.issuerRE}
		if err := checkIdentity(id); err != nil {
			return nil, err
		}
		if tr == nil {
			return nil, errors.New("keyless verification needs --trusted-root: the Sigstore trusted_root.json whose certificate authorities issue the signers' certificates")
		}
		p.authorities = append(p.authorities, &imagesig.Authority{Name: "keyless", Identity: id,
			TrustedRoot: tr, TransparencyLog: tlog, SignedTimestamp: ts})
	}
	if len(p.authorities) == 0 {
		return nil, errors.New("no signer given: use --key, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp] and --trusted-root, or --policy")
	}
	for _, a := range fl.attestations {
		pt, err := predicateType(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(p.attestations, pt) {
			p.attestations = append(p.attestations, pt)
		}
	}
	p.signatures = len(p.attestations) == 0 || fl.signatures
	if len(fl.conditions) > 0 && len(p.attestations) == 0 {
		return nil, errors.New("--condition applies to attestations: give --attestation TYPE")
	}
	for _, c := range fl.conditions {
		cc, err := imagepolicy.CompileCondition(c)
		if err != nil {
			return nil, fmt.Errorf("--condition %q: %w", c, err)
		}
		p.conditions = append(p.conditions, cc)
	}
	return p, nil
}

func checkIdentity(id *imagesig.Identity) error {
	pair := func(exact, re, exactFlag string) error {
		switch {
		case exact != "" && re != "":
			return fmt.Errorf("give --%s or --%s-regexp, not both", exactFlag, exactFlag)
		case exact == "" && re == "":
			return fmt.Errorf("keyless verification needs --%s or --%s-regexp", exactFlag, exactFlag)
		case re != "":
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("--%s-regexp: %w", exactFlag, err)
			}
		}
		return nil
	}
	return errors.Join(pair(id.Subject, id.SubjectRegExp, "certificate-identity"),
		pair(id.Issuer, id.IssuerRegExp, "certificate-oidc-issuer"))
}

// predicateTypes are cosign's short names for predicate types.
var predicateTypes = map[string]string{
	"slsaprovenance":   imagesig.PredicateSLSA02,
	"slsaprovenance02": imagesig.PredicateSLSA02,
	"slsaprovenance1":  imagesig.PredicateSLSA1,
	"cyclonedx":        imagesig.PredicateCycloneDX,
	"spdx":             imagesig.PredicateSPDX,
	"spdxjson":         imagesig.PredicateSPDX,
	"vuln":             imagesig.PredicateVuln,
}

func predicateType(s string) (string, error) {
	if pt, ok := predicateTypes[strings.ToLower(s)]; ok {
		return pt, nil
	}
	if strings.Contains(s, "://") {
		return s, nil
	}
	names := make([]string, 0, len(predicateTypes))
	for n := range predicateTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return "", fmt.Errorf("--attestation %q: want a predicate type URI or one of %s", s, strings.Join(names, ", "))
}

// verify checks one image against the plan.
func (p *verifyPlan) verify(ctx context.Context, client *imagesig.Client, image string) verifyResult {
	res := verifyResult{Image: image}
	ref, err := client.ParseReference(image)
	if err != nil {
		res.Error = fmt.Sprintf("parse image reference: %v", err)
		return res
	}
	_, byDigest := ref.(name.Digest)
	dig, err := client.Resolve(ctx, image)
	if err != nil {
		res.Error = timeoutHint(ctx, err)
		return res
	}
	res.Digest, res.Resolved = dig.DigestStr(), !byDigest
	att, err := client.Fetch(ctx, dig)
	if err != nil {
		res.Error = timeoutHint(ctx, fmt.Errorf("read signatures of %s: %w", dig, err))
		return res
	}
	res.Unreadable = att.Problems
	require := "any"
	if p.all {
		require = "all"
	}
	if p.signatures {
		sc := &signatureCheck{Require: require}
		for _, a := range p.authorities {
			ev, rej := att.Verify(a, imagesig.KindSignature, "")
			ac := authorityCheck{Authority: a.Name, Verified: len(ev) > 0, Rejected: rej}
			for _, e := range ev {
				ac.Evidence = append(ac.Evidence, evidenceResult{Evidence: e})
			}
			if !ac.Verified {
				res.Reasons = append(res.Reasons, fmt.Sprintf("no signature verified for %s: %s", a.Name, rejectionList(rej, "no signature is attached")))
			}
			sc.Authorities = append(sc.Authorities, ac)
		}
		sc.Verified = p.satisfied(sc.Authorities)
		res.Signatures = sc
	}
	now := time.Now()
	for _, pt := range p.attestations {
		ac := attestationCheck{PredicateType: pt, Require: require}
		for _, a := range p.authorities {
			ev, rej := att.Verify(a, imagesig.KindAttestation, pt)
			auth := authorityCheck{Authority: a.Name, Rejected: rej}
			var failures []string
			for _, e := range ev {
				er := evidenceResult{Evidence: e}
				held := true
				for _, c := range p.conditions {
					cr := conditionResult{Expression: c.Expression}
					ok, err := c.Eval(ctx, e.Statement, image, res.Digest, now)
					switch {
					case err != nil:
						cr.Error = err.Error()
						failures = append(failures, fmt.Sprintf("%s: condition %s: %v", e.Location, c.Expression, err))
					case !ok:
						failures = append(failures, fmt.Sprintf("%s: condition %s is false", e.Location, c.Expression))
					}
					cr.Held = ok && err == nil
					held = held && cr.Held
					er.Conditions = append(er.Conditions, cr)
				}
				auth.Verified = auth.Verified || held
				auth.Evidence = append(auth.Evidence, er)
			}
			switch {
			case len(ev) == 0:
				res.Reasons = append(res.Reasons, fmt.Sprintf("no %s attestation verified for %s: %s", pt, a.Name, rejectionList(rej, "none of that type is attached")))
			case !auth.Verified:
				res.Reasons = append(res.Reasons, fmt.Sprintf("no verified %s attestation of %s satisfies the conditions: %s", pt, a.Name, strings.Join(failures, "; ")))
			}
			ac.Authorities = append(ac.Authorities, auth)
		}
		ac.Verified = p.satisfied(ac.Authorities)
		res.Attestations = append(res.Attestations, ac)
	}
	res.Verified = res.Signatures == nil || res.Signatures.Verified
	for _, a := range res.Attestations {
		res.Verified = res.Verified && a.Verified
	}
	if res.Verified {
		res.Reasons = nil // an authority that --require any did not need
	} else if len(att.Problems) > 0 {
		res.Reasons = append(res.Reasons, fmt.Sprintf("%d attached objects could not be read", len(att.Problems)))
	}
	return res
}

func (p *verifyPlan) satisfied(acs []authorityCheck) bool {
	n := 0
	for _, a := range acs {
		if a.Verified {
			n++
		}
	}
	if p.all {
		return n == len(acs)
	}
	return n > 0
}

func rejectionList(rej []imagesig.Rejection, none string) string {
	if len(rej) == 0 {
		return none
	}
	s := make([]string, len(rej))
	for i, r := range rej {
		s[i] = r.Location + ": " + r.Reason
	}
	return strings.Join(s, "; ")
}

// timeoutHint says a deadline was --timeout's.
func timeoutHint(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%v (--timeout exceeded)", err)
	}
	return err.Error()
}

// verifyByPolicy judges the images with the policy engine, as admission
// does. An image is verified when every enforcing policy that matches it
// allows it: warn and audit denials are reported and admitted, as the
// webhook admits them.
func verifyByPolicy(ctx context.Context, eng *imagepolicy.Engine, images []string) []verifyResult {
	decisions := eng.Check(ctx, images)
	results := make([]verifyResult, len(images))
	index := map[string]int{}
	for i, img := range images {
		results[i] = verifyResult{Image: img, Verified: true}
		index[img] = i
	}
	for _, d := range decisions {
		r := &results[index[d.Image]]
		pv := policyVerdict{Policy: d.Policy.ID(), File: fmt.Sprintf("%s:%d", d.Policy.File, d.Policy.Line),
			Mode: string(d.Policy.Mode), FailurePolicy: string(d.Policy.FailurePolicy),
			Allowed: d.Allowed, Reasons: d.Reasons, Evidence: d.Evidence, Pin: d.Pin}
		if d.Digest != "" {
			r.Digest = d.Digest
			r.Resolved = !strings.Contains(d.Image, "@")
		}
		if d.Err != nil {
			// The registry could not be read: whatever admission would
			// do under its failure policy, nothing was verified here.
			pv.Error = d.Err.Error()
			r.Error = d.Err.Error()
		}
		if !d.Allowed && d.Policy.Mode == policy.Enforce {
			r.Verified = false
			for _, why := range d.Reasons {
				r.Reasons = append(r.Reasons, d.Policy.ID()+": "+why)
			}
		}
		r.Policies = append(r.Policies, pv)
	}
	for i := range results {
		r := &results[i]
		if len(r.Policies) == 0 {
			r.Note = "no ImageVerificationPolicy matches this image: admission does not check it"
		}
		if r.Error != "" {
			r.Verified = false
		}
	}
	return results
}

// writeVerifyTable writes what was checked of each image, for people.
func writeVerifyTable(w io.Writer, results []verifyResult) error {
	b := &strings.Builder{}
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "%s\n", r.Image)
		if r.Digest != "" {
			how := "as given"
			if r.Resolved {
				how = "resolved from the tag"
			}
			fmt.Fprintf(b, "  digest      %s (%s)\n", r.Digest, how)
		}
		if s := r.Signatures; s != nil {
			fmt.Fprintf(b, "  signatures  %s (%s of %s)\n", verdictWord(s.Verified), s.Require, authorityNames(s.Authorities))
			writeAuthorities(b, s.Authorities)
		}
		for _, a := range r.Attestations {
			fmt.Fprintf(b, "  attestation %s %s (%s of %s)\n", a.PredicateType, verdictWord(a.Verified), a.Require, authorityNames(a.Authorities))
			writeAuthorities(b, a.Authorities)
		}
		for _, p := range r.Policies {
			state := "allowed"
			switch {
			case p.Error != "" && p.Allowed:
				state = "registry error; admission admits (failurePolicy Ignore)"
			case p.Error != "":
				state = "registry error; admission denies (failurePolicy Fail)"
			case !p.Allowed && p.Mode != string(policy.Enforce):
				state = fmt.Sprintf("NOT SATISFIED; admitted (mode %s)", p.Mode)
			case !p.Allowed:
				state = "DENIED"
			}
			fmt.Fprintf(b, "  policy      %s (%s): %s\n", p.Policy, p.File, state)
			for _, e := range p.Evidence {
				writeEvidence(b, "    ", evidenceResult{Evidence: e})
			}
			for _, why := range p.Reasons {
				fmt.Fprintf(b, "    reason      %s\n", why)
			}
			if p.Pin != "" {
				fmt.Fprintf(b, "    pin         %s (mutateDigest)\n", p.Pin)
			}
		}
		for _, u := range r.Unreadable {
			fmt.Fprintf(b, "  unreadable  %s\n", u)
		}
		if r.Note != "" {
			fmt.Fprintf(b, "  note        %s\n", r.Note)
		}
		switch {
		case r.Error != "":
			fmt.Fprintf(b, "  ERROR: %s\n", r.Error)
		case r.Verified:
			b.WriteString("  VERIFIED\n")
		default:
			fmt.Fprintf(b, "  NOT VERIFIED: %s\n", strings.Join(r.Reasons, "; "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdictWord(ok bool) string {
	if ok {
		return "verified"
	}
	return "NOT VERIFIED"
}

func authorityNames(acs []authorityCheck) string {
	names := make([]string, len(acs))
	for i, a := range acs {
		names[i] = a.Authority
	}
	return strings.Join(names, ", ")
}

func writeAuthorities(b *strings.Builder, acs []authorityCheck) {
	for _, a := range acs {
		for _, e := range a.Evidence {
			writeEvidence(b, "    ", e)
		}
		for _, r := range a.Rejected {
			fmt.Fprintf(b, "    rejected    %s %s (%s): %s\n", layoutWord(r.Layout, r.Kind), r.Location, r.Authority, r.Reason)
		}
		if len(a.Evidence) == 0 && len(a.Rejected) == 0 {
			fmt.Fprintf(b, "    none        nothing attached of this kind to check against %s\n", a.Authority)
		}
	}
}

func writeEvidence(b *strings.Builder, indent string, e evidenceResult) {
	fmt.Fprintf(b, "%s%-11s %s %s\n", indent, string(e.Kind), layoutWord(e.Layout, e.Kind), e.Location)
	in := indent + "  "
	fmt.Fprintf(b, "%sauthority   %s\n", in, e.Authority)
	if e.Subject != "" || e.Issuer != "" {
		fmt.Fprintf(b, "%sidentity    %s (issuer %s)\n", in, e.Subject, e.Issuer)
	}
	if e.CertificateSerial != "" {
		fmt.Fprintf(b, "%scert serial %s\n", in, e.CertificateSerial)
	}
	fmt.Fprintf(b, "%skey ID      %s\n", in, e.KeyID)
	if e.PredicateType != "" && e.Kind == imagesig.KindAttestation {
		fmt.Fprintf(b, "%spredicate   %s\n", in, e.PredicateType)
	}
	if len(e.Log) == 0 {
		fmt.Fprintf(b, "%stlog        none checked\n", in)
	}
	for _, l := range e.Log {
		fmt.Fprintf(b, "%stlog        log %s index %d, integrated %s, %s\n", in, l.LogID, l.Index, l.IntegratedTime.Format(time.RFC3339), l.Proof)
	}
	if len(e.Timestamps) == 0 {
		fmt.Fprintf(b, "%stimestamp   none checked\n", in)
	}
	for _, t := range e.Timestamps {
		fmt.Fprintf(b, "%stimestamp   %s (RFC 3161)\n", in, t.Format(time.RFC3339))
	}
	for _, c := range e.Conditions {
		state := "held"
		switch {
		case c.Error != "":
			state = "ERROR: " + c.Error
		case !c.Held:
			state = "FALSE"
		}
		fmt.Fprintf(b, "%scondition   %s: %s\n", in, c.Expression, state)
	}
}

func layoutWord(l imagesig.Layout, k imagesig.Kind) string {
	switch {
	case l == imagesig.LayoutBundle:
		return "bundle referrer"
	case l == imagesig.LayoutClassic && k == imagesig.KindAttestation:
		return "classic .att"
	case l == imagesig.LayoutClassic:
		return "classic .sig"
	}
	return string(l)
}
