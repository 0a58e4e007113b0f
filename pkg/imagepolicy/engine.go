package imagepolicy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// Engine defaults.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultCacheSize = 4096
	// TagTTL bounds how long a tag's digest is trusted: a moved tag is
	// noticed this soon (or within the policy's cacheTTL if shorter).
	TagTTL = 30 * time.Second
)

// Options configure an Engine.
type Options struct {
	// Client reads registries; nil uses a client with the default
	// keychain and transport.
	Client *imagesig.Client
	// Now is the clock of cache expiry and of conditions' `now`; nil is
	// time.Now.
	Now func() time.Time
	// Timeout bounds each image's resolution, fetch and verification; it
	// must stay below the webhook's timeout. Default 5s.
	Timeout time.Duration
	// CacheSize bounds the cached verdicts (and, separately, the cached
	// tag resolutions). Default 4096.
	CacheSize int
}

// Engine judges images against a set of policies, caching verdicts.
// It is safe for concurrent use.
type Engine struct {
	set      atomic.Pointer[Set]
	client   *imagesig.Client
	now      func() time.Time
	timeout  time.Duration
	verdicts *lru[verdictKey, *Decision]
	tags     *lru[string, tagEntry]
	resolves group[string]
	fetches  group[*imagesig.Attached]
}

// verdictKey identifies a verdict: the image (repository and digest), the
// policy and its content. Image is the reference as written, for
// policies whose conditions read it.
type verdictKey struct {
	image, policy, hash, written string
}

type tagEntry struct {
	digest string
	at     time.Time
}

// NewEngine returns an engine for the set.
func NewEngine(set *Set, o Options) *Engine {
	if set == nil {
		set = &Set{}
	}
	if o.Client == nil {
		o.Client = imagesig.NewClient(imagesig.ClientOptions{})
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	e := &Engine{
		client: o.Client, now: o.Now, timeout: o.Timeout,
		verdicts: newLRU[verdictKey, *Decision](o.CacheSize),
		tags:     newLRU[string, tagEntry](o.CacheSize),
	}
	e.resolves.timeout, e.fetches.timeout = o.Timeout, o.Timeout
	e.set.Store(set)
	return e
}

// SetPolicies replaces the engine's policies, as a reload does. Cached
// verdicts of policies whose content is unchanged stay valid; those of
// changed policies are never reused.
func (e *Engine) SetPolicies(set *Set) {
	if set == nil {
		set = &Set{}
	}
	e.set.Store(set)
}

// Policies returns the engine's policies.
func (e *Engine) Policies() *Set { return e.set.Load() }

// Decision is the verdict of one policy on one image.
type Decision struct {
	// Image is the reference as written.
	Image string
	// Digest is what was verified (sha256:…); "" if it could not be
	// resolved or the policy did not need it.
	Digest string
	Policy *Policy
	// Allowed says the policy is satisfied, or that the registry could not
	// be read and the failure policy is Ignore.
	Allowed bool
	// Reasons say precisely why the image is not allowed.
	Reasons []string
	// Evidence is what verified: signatures and the attestations that
	// satisfied their conditions.
	Evidence []imagesig.Evidence
	// Err is set when the registry could not be read; the policy's
	// FailurePolicy then decided Allowed.
	Err error
	// Cached says the verdict was cached.
	Cached bool
	// Pin is registry/repo@sha256:… when the policy has mutateDigest and
	// the image verified.
	Pin string
}

// Check judges every image against every policy that matches it, in the
// order of images then policies. Images are checked concurrently, each
// within the engine's Timeout: a registry that hangs yields an error
// decision, never a late answer. Images no policy matches yield no
// decision.
func (e *Engine) Check(ctx context.Context, images []string) []Decision {
	if len(images) == 1 {
		return e.checkImage(ctx, images[0])
	}
	results := make([][]Decision, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.checkImage(ctx, img)
		}()
	}
	wg.Wait()
	var out []Decision
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// checkImage judges one image against the policies that match it.
func (e *Engine) checkImage(ctx context.Context, image string) []Decision {
	ref, perr := parseRef(image)
	forms, excl := []string{image}, []string{image}
	if perr == nil {
		forms, excl = ref.forms(), ref.excludeForms()
	}
	var out []Decision
	var pending []int // decisions that need the registry
	for _, p := range e.set.Load().Policies {
		if !p.matches(forms, excl) {
			continue
		}
		d := Decision{Image: image, Policy: p}
		switch {
		case perr != nil:
			d.Reasons = []string{fmt.Sprintf("the reference does not parse: %v", perr)}
		case !p.registryAllowed(ref.repo.RegistryStr()):
			d.Reasons = []string{fmt.Sprintf("registry %s is not allowed (allowedRegistries: %s)", ref.repo.RegistryStr(), strings.Join(p.AllowedRegistries, ", "))}
		case !p.verifies():
			d.Allowed = true
			d.Digest = ref.digest
		default:
			pending = append(pending, len(out))
		}
		out = append(out, d)
	}
	if len(pending) == 0 {
		return out
	}
	// The deadline (and its timer) is made only when the registry is
	// read: a cached verdict does without.
	var tctx context.Context
	cancel := context.CancelFunc(func() {})
	defer func() { cancel() }()
	timed := func() context.Context {
		if tctx == nil {
			tctx, cancel = context.WithTimeout(ctx, e.timeout)
		}
		return tctx
	}
	now := e.now()

	digest := ref.digest
	if digest == "" {
		tagTTL := TagTTL
		for _, i := range pending {
			tagTTL = min(tagTTL, out[i].Policy.CacheTTL)
		}
		var err error
		if digest, err = e.resolve(timed, ref, now, tagTTL); err != nil {
			for _, i := range pending {
				e.registryError(&out[i], err)
			}
			return out
		}
	}
	repoDigest := ref.repo.Name() + "@" + digest

	// Cached verdicts first: the registry is read only for the others.
	var misses []int
	for _, i := range pending {
		d := &out[i]
		d.Digest = digest
		if c, ok := e.verdicts.get(e.key(d.Policy, repoDigest, image), now); ok {
			*d = c.reuse(image)
			continue
		}
		misses = append(misses, i)
	}
	if len(misses) == 0 {
		return out
	}
	ctx = timed()
	att, err := e.fetches.do(ctx, repoDigest, func(ctx context.Context) (*imagesig.Attached, error) {
		dig, err := name.NewDigest(repoDigest, name.WeakValidation)
		if err != nil {
			return nil, err
		}
		return e.client.Fetch(ctx, dig)
	})
	if err != nil {
		for _, i := range misses {
			e.registryError(&out[i], fmt.Errorf("read signatures of %s: %w", repoDigest, err))
		}
		return out
	}
	for _, i := range misses {
		d := &out[i]
		transient := e.judge(ctx, d, ref, repoDigest, att, now)
		if !transient && d.Policy.CacheTTL > 0 {
			c := *d
			// Predicates (SBOMs run to megabytes) were judged; the cached
			// verdict keeps what verified, not what it said.
			c.Evidence = slices.Clone(c.Evidence)
			for j := range c.Evidence {
				c.Evidence[j].Statement = nil
			}
			e.verdicts.put(e.key(d.Policy, repoDigest, image), &c, now.Add(d.Policy.CacheTTL))
		}
	}
	return out
}

func (e *Engine) key(p *Policy, repoDigest, image string) verdictKey {
	k := verdictKey{image: repoDigest, policy: p.ID(), hash: p.Hash}
	if p.readsImage {
		k.written = image
	}
	return k
}

// reuse returns a copy of a cached decision for the image as written now;
// the slices are copied so that callers cannot edit the cache.
func (d *Decision) reuse(image string) Decision {
	c := *d
	c.Image, c.Cached = image, true
	c.Reasons = slices.Clone(d.Reasons)
	c.Evidence = slices.Clone(d.Evidence)
	return c
}

// resolve returns the tag's digest, from the tag cache when it is younger
// than ttl; timed gives the deadline-bound context of a registry read.
func (e *Engine) resolve(timed func() context.Context, ref imageRef, now time.Time, ttl time.Duration) (string, error) {
	tag := ref.repo.Name() + ":" + ref.tag
	if t, ok := e.tags.get(tag, now); ok && now.Sub(t.at) < ttl {
		return t.digest, nil
	}
	digest, err := e.resolves.do(timed(), tag, func(ctx context.Context) (string, error) {
		d, err := e.client.Resolve(ctx, tag)
		if err != nil {
			return "", err
		}
		return d.DigestStr(), nil
	})
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", tag, err)
	}
	if ttl > 0 {
		e.tags.put(tag, tagEntry{digest: digest, at: now}, now.Add(TagTTL))
	}
	return digest, nil
}

// registryError makes d the failure policy's verdict on an unreadable
// registry.
func (e *Engine) registryError(d *Decision, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (timeout %s)", err, e.timeout)
	}
	d.Err = err
	d.Allowed = d.Policy.FailurePolicy == Ignore
	if !d.Allowed {
		d.Reasons = []string{fmt.Sprintf("the registry could not be read (failurePolicy Fail): %v", err)}
	}
}

// judge verifies what is attached to the image against the policy. It
// reports whether the verdict is transient (a condition ran out of time)
// and must not be cached.
func (e *Engine) judge(ctx context.Context, d *Decision, ref imageRef, repoDigest string, att *imagesig.Attached, now time.Time) (transient bool) {
	p := d.Policy
	if s := p.Signatures; s != nil {
		var verified, failed []string
		for _, n := range s.Authorities {
			ev, rej := att.Verify(p.Authority(n), imagesig.KindSignature, "")
			if len(ev) > 0 {
				d.Evidence = append(d.Evidence, ev...)
				verified = append(verified, n)
				continue
			}
			failed = append(failed, fmt.Sprintf("no signature verified for authority %s: %s", n, rejections(rej, "no signature is attached")))
		}
		if len(verified) == 0 || s.Require == AllOf && len(failed) > 0 {
			d.Reasons = append(d.Reasons, failed...)
		}
	}
	for _, a := range p.Attestations {
		var candidates []imagesig.Evidence
		var rejected []imagesig.Rejection
		for _, n := range a.Authorities {
			ev, rej := att.Verify(p.Authority(n), imagesig.KindAttestation, a.PredicateType)
			candidates = append(candidates, ev...)
			rejected = append(rejected, rej...)
		}
		what := fmt.Sprintf("attestation %s (%s)", a.Name, a.PredicateType)
		if len(candidates) == 0 {
			d.Reasons = append(d.Reasons, fmt.Sprintf("no %s verified for %s %s: %s", what,
				plural(len(a.Authorities), "authority", "any of authorities"), strings.Join(a.Authorities, ", "),
				rejections(rejected, "none of that type is attached")))
			continue
		}
		var failures []string
		satisfied := false
		for _, ev := range candidates {
			why, err := a.holds(ctx, ev, ref.written, repoDigest, now)
			if err != nil && ctx.Err() != nil {
				transient = true
			}
			if why == "" {
				d.Evidence = append(d.Evidence, ev)
				satisfied = true
				continue
			}
			failures = append(failures, why)
		}
		if !satisfied {
			d.Reasons = append(d.Reasons, fmt.Sprintf("no verified %s satisfies its conditions: %s", what, joinLimited(failures)))
		}
	}
	if len(d.Reasons) > 0 && len(att.Problems) > 0 {
		d.Reasons = append(d.Reasons, "attached objects that could not be read: "+joinLimited(att.Problems))
	}
	d.Allowed = len(d.Reasons) == 0
	if d.Allowed && p.MutateDigest {
		d.Pin = repoDigest
	}
	return transient
}

// holds evaluates the attestation's conditions on one verified statement
// and returns why it fails ("" when every condition holds).
func (a *Attestation) holds(ctx context.Context, ev imagesig.Evidence, image, repoDigest string, now time.Time) (string, error) {
	if len(a.Conditions) == 0 {
		return "", nil
	}
	_, digest, _ := strings.Cut(repoDigest, "@")
	v := statementVars(ev.Statement, image, digest, now)
	for i, c := range a.Conditions {
		ok, err := c.eval(ctx, v)
		if err != nil {
			return fmt.Sprintf("%s: condition %d (%s) of attestation %s: %v", ev.Location, i, c.Expression, a.Name, err), err
		}
		if !ok {
			msg := c.Message
			if msg == "" {
				msg = fmt.Sprintf("condition %d (%s) is false", i, c.Expression)
			}
			return fmt.Sprintf("%s: %s", ev.Location, msg), nil
		}
	}
	return "", nil
}

// maxListed bounds the rejections a reason lists.
const maxListed = 5

// rejections says why each candidate was rejected.
func rejections(rej []imagesig.Rejection, none string) string {
	if len(rej) == 0 {
		return none
	}
	s := make([]string, len(rej))
	for i, r := range rej {
		s[i] = r.Location + ": " + r.Reason
	}
	return joinLimited(s)
}

func joinLimited(s []string) string {
	if len(s) > maxListed {
		return strings.Join(s[:maxListed], "; ") + fmt.Sprintf("; and %d more", len(s)-maxListed)
	}
	return strings.Join(s, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
