package imagepolicy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// testRegistry is an in-process registry on loopback that counts the
// requests it serves.
type testRegistry struct {
	host string
	mu   sync.Mutex
	reqs []string
	// gate, when set, holds every request until it is closed.
	gate chan struct{}
}

func newRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.WithReferrersSupport(true), registry.Logger(nopLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		gate := r.gate
		r.mu.Unlock()
		if gate != nil {
			<-gate
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// requests returns the requests served but the API version checks
// ("GET /v2/") and forgets them.
func (r *testRegistry) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var reqs []string
	for _, q := range r.reqs {
		if q != "GET /v2/" {
			reqs = append(reqs, q)
		}
	}
	r.reqs = nil
	return reqs
}

// push writes a random image under repo:tag and returns its digest
// reference.
func (r *testRegistry) push(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	r.requests()
	return tag.Context().Digest(h.String())
}

func digestOf(t testing.TB, d name.Digest) v1.Hash {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fixture is a policy directory with keys.
type fixture struct {
	t      testing.TB
	dir    string
	client *imagesig.Client
	now    time.Time
}

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, dir: t.TempDir(), client: imagesig.NewClient(imagesig.ClientOptions{}),
		now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

// key makes a key pair, writes its public key as keys/<name>.pub and
// returns a signer.
func (f *fixture) key(name string) *imagesig.Signer {
	k := newKey(f.t)
	writeFile(f.t, filepath.Join(f.dir, "keys", name+".pub"), publicPEM(f.t, k))
	s, err := imagesig.NewSigner(k)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// load writes the policies and loads them.
func (f *fixture) load(policies string) *Set {
	f.t.Helper()
	path := filepath.Join(f.dir, "policies.yaml")
	writeFile(f.t, path, []byte(policies))
	s, problems := Load(context.Background(), []string{path})
	if len(problems) > 0 {
		f.t.Fatal(problems)
	}
	return s
}

func (f *fixture) engine(s *Set, o Options) *Engine {
	if o.Client == nil {
		o.Client = f.client
	}
	if o.Now == nil {
		o.Now = func() time.Time { return f.now }
	}
	return NewEngine(s, o)
}

func (f *fixture) sign(img name.Digest, s *imagesig.Signer, layout imagesig.Layout) {
	f.t.Helper()
	var err error
	if layout == imagesig.LayoutBundle {
		err = f.client.SignBundle(context.Background(), img, s)
	} else {
		err = f.client.SignClassic(context.Background(), img, s)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) attest(img name.Digest, s *imagesig.Signer, predicateType, predicate string, layout imagesig.Layout) {
	f.t.Helper()
	if err := f.client.Attest(context.Background(), img, s, predicateType, []byte(predicate), layout); err != nil {
		f.t.Fatal(err)
	}
}

// policy is an ImageVerificationPolicy document.
func policyDoc(name, host, spec string) string {
	return fmt.Sprintf(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: %s}
spec:
  title: %s
  images: ["%s/team/**"]
%s
---
`, name, name, host, spec)
}

const twoKeys = `  authorities:
  - {name: k1, key: {file: keys/k1.pub}}
  - {name: k2, key: {file: keys/k2.pub}}
`

func one(t testing.TB, ds []Decision) Decision {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("%d decisions, want 1: %+v", len(ds), ds)
	}
	return ds[0]
}

func TestCheckSignatures(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1, k2 := f.key("k1"), f.key("k2")
	classic := reg.push(t, "team/classic:1")
	bundle := reg.push(t, "team/bundle:1")
	both := reg.push(t, "team/both:1")
	unsigned := reg.push(t, "team/unsigned:1")
	f.sign(classic, k1, imagesig.LayoutClassic)
	f.sign(bundle, k2, imagesig.LayoutBundle)
	f.sign(both, k1, imagesig.LayoutBundle)
	f.sign(both, k2, imagesig.LayoutClassic)

	set := f.load(policyDoc("any-k1-k2", reg.host, twoKeys+"  signatures: {require: anyOf}") +
		policyDoc("all-k1-k2", reg.host, twoKeys+"  signatures: {require: allOf, authorities: [k1, k2]}") +
		policyDoc("only-k2", reg.host, twoKeys+"  signatures: {authorities: [k2]}"))
	e := f.engine(set, Options{})
	for _, tc := range []struct {
		img     name.Digest
		allowed map[string]bool
		reasons map[string]string // policy -> a reason's start
	}{
		{classic, map[string]bool{"all-k1-k2": false, "any-k1-k2": true, "only-k2": false},
			map[string]string{"all-k1-k2": "no signature verified for authority k2: " + classic.Context().String() + ":sha256-",
				"only-k2": "no signature verified for authority k2: "}},
		{bundle, map[string]bool{"all-k1-k2": false, "any-k1-k2": true, "only-k2": true},
			map[string]string{"all-k1-k2": "no signature verified for authority k1: "}},
		{both, map[string]bool{"all-k1-k2": true, "any-k1-k2": true, "only-k2": true}, nil},
		{unsigned, map[string]bool{"all-k1-k2": false, "any-k1-k2": false, "only-k2": false},
			map[string]string{"any-k1-k2": "no signature verified for authority k1: no signature is attached"}},
	} {
		ds := e.Check(context.Background(), []string{tc.img.String()})
		if len(ds) != 3 {
			t.Fatalf("%s: %d decisions", tc.img, len(ds))
		}
		for _, d := range ds {
			id := d.Policy.ID()
			if d.Allowed != tc.allowed[id] || d.Err != nil {
				t.Errorf("%s, %s: allowed %v (want %v), err %v, reasons %q", tc.img.Context().RepositoryStr(), id, d.Allowed, tc.allowed[id], d.Err, d.Reasons)
			}
			if d.Digest != tc.img.DigestStr() {
				t.Errorf("%s: digest %s", id, d.Digest)
			}
			if want := tc.reasons[id]; want != "" && (len(d.Reasons) == 0 || !strings.HasPrefix(d.Reasons[0], want)) {
				t.Errorf("%s, %s: reasons %q, want one starting %q", tc.img.Context().RepositoryStr(), id, d.Reasons, want)
			}
			if d.Allowed != (len(d.Reasons) == 0) {
				t.Errorf("%s: allowed %v with reasons %q", id, d.Allowed, d.Reasons)
			}
			if d.Allowed && len(d.Evidence) == 0 {
				t.Errorf("%s: allowed without evidence", id)
			}
		}
	}
	// The evidence says who signed, how and where.
	ds := e.Check(context.Background(), []string{both.String()})
	d := ds[0] // all-k1-k2
	if len(d.Evidence) != 2 {
		t.Fatalf("evidence: %+v", d.Evidence)
	}
	pub1, _ := imagesig.LoadPublicKey(mustRead(t, filepath.Join(f.dir, "keys/k1.pub")))
	if ev := d.Evidence[0]; ev.Authority != "k1" || ev.Layout != imagesig.LayoutBundle || ev.Kind != imagesig.KindSignature || ev.KeyID != imagesig.KeyID(pub1) {
		t.Errorf("evidence of k1: %+v", ev)
	}
	if ev := d.Evidence[1]; ev.Authority != "k2" || ev.Layout != imagesig.LayoutClassic {
		t.Errorf("evidence of k2: %+v", ev)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A signature of another image copied onto this one does not verify: the
// signature is bound to the digest.
func TestCheckSignatureOfAnotherImage(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	signed := reg.push(t, "team/a:1")
	other := reg.push(t, "team/b:1")
	f.sign(signed, k1, imagesig.LayoutClassic)
	// Copy a's .sig tag to b's.
	src := signed.Context().Tag("sha256-" + digestOf(t, signed).Hex + ".sig")
	dst := other.Context().Tag("sha256-" + digestOf(t, other).Hex + ".sig")
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	set := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k1]}"))
	d := one(t, f.engine(set, Options{}).Check(context.Background(), []string{other.String()}))
	if d.Allowed || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "no signature verified for authority k1: "+dst.String()) {
		t.Errorf("a copied signature: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}
}

func TestCheckAttestations(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1, k2 := f.key("k1"), f.key("k2")
	good := reg.push(t, "team/good:1")
	empty := reg.push(t, "team/empty:1")
	stale := reg.push(t, "team/stale:1")
	wrongSigner := reg.push(t, "team/wrong-signer:1")
	odd := reg.push(t, "team/odd:1")
	fresh := f.now.Add(-time.Hour).Format(time.RFC3339)
	old := f.now.Add(-8 * 24 * time.Hour).Format(time.RFC3339)
	sbom := func(n int) string {
		var c []string
		for i := range n {
			c = append(c, fmt.Sprintf(`{"name":"pkg%d"}`, i))
		}
		return `{"bomFormat":"CycloneDX","components":[` + strings.Join(c, ",") + `]}`
	}
	scan := func(at string) string { return `{"scanner":{"uri":"x"},"metadata":{"scanFinishedOn":"` + at + `"}}` }

	f.attest(good, k1, imagesig.PredicateCycloneDX, sbom(3), imagesig.LayoutBundle)
	f.attest(good, k2, imagesig.PredicateVuln, scan(fresh), imagesig.LayoutClassic)
	// Two SBOMs, only the second satisfies the conditions: one is enough.
	f.attest(empty, k1, imagesig.PredicateCycloneDX, sbom(0), imagesig.LayoutBundle)
	f.attest(empty, k1, imagesig.PredicateCycloneDX, sbom(0), imagesig.LayoutClassic)
	f.attest(empty, k2, imagesig.PredicateVuln, scan(fresh), imagesig.LayoutBundle)
	f.attest(stale, k1, imagesig.PredicateCycloneDX, sbom(1), imagesig.LayoutClassic)
	f.attest(stale, k1, imagesig.PredicateVuln, scan(old), imagesig.LayoutBundle)
	// An SBOM signed by k2, which the sbom attestation does not accept.
	f.attest(wrongSigner, k2, imagesig.PredicateCycloneDX, sbom(2), imagesig.LayoutBundle)
	f.attest(wrongSigner, k2, imagesig.PredicateVuln, scan(fresh), imagesig.LayoutBundle)
	// A scan whose timestamp does not parse: the condition errs.
	f.attest(odd, k1, imagesig.PredicateCycloneDX, sbom(1), imagesig.LayoutBundle)
	f.attest(odd, k2, imagesig.PredicateVuln, scan("yesterday"), imagesig.LayoutBundle)

	set := f.load(policyDoc("attested", reg.host, twoKeys+`  attestations:
  - name: sbom
    predicateType: https://cyclonedx.org/bom
    authorities: [k1]
    conditions:
    - expression: "predicate.components.size() > 0"
      message: the SBOM lists no components
    - expression: "statement.subject[0].digest.sha256 == digest.substring(7) && image.startsWith(statement.subject[0].name)"
  - name: scan
    predicateType: https://cosign.sigstore.dev/attestation/vuln/v1
    conditions:
    - expression: "now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')"
      message: the attached scan is older than 7 days`))
	e := f.engine(set, Options{})

	check := func(img name.Digest) Decision { return one(t, e.Check(context.Background(), []string{img.String()})) }

	d := check(good)
	if !d.Allowed || d.Err != nil {
		t.Fatalf("good: %q %v", d.Reasons, d.Err)
	}
	if len(d.Evidence) != 2 || d.Evidence[0].PredicateType != imagesig.PredicateCycloneDX || d.Evidence[1].Authority != "k2" || d.Evidence[0].Statement == nil {
		t.Errorf("good: evidence %+v", d.Evidence)
	}

	d = check(empty)
	if d.Allowed || len(d.Reasons) != 1 {
		t.Fatalf("empty SBOMs: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}
	want := "no verified attestation sbom (https://cyclonedx.org/bom) satisfies its conditions: " + empty.Context().String()
	if r := d.Reasons[0]; !strings.HasPrefix(r, want) || strings.Count(r, "the SBOM lists no components") != 2 {
		t.Errorf("empty SBOMs: %s", r)
	}

	d = check(stale)
	if d.Allowed || len(d.Reasons) != 1 || !strings.HasSuffix(d.Reasons[0], ": the attached scan is older than 7 days") ||
		!strings.HasPrefix(d.Reasons[0], "no verified attestation scan (https://cosign.sigstore.dev/attestation/vuln/v1) satisfies its conditions: ") {
		t.Errorf("stale scan: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}
	// `now` is the engine's clock: ten days earlier the scan was fresh.
	early := f.engine(set, Options{Now: func() time.Time { return f.now.Add(-10 * 24 * time.Hour) }})
	if d := one(t, early.Check(context.Background(), []string{stale.String()})); !d.Allowed {
		t.Errorf("stale scan judged ten days earlier: %q", d.Reasons)
	}

	d = check(wrongSigner)
	if d.Allowed || len(d.Reasons) != 1 || !strings.HasPrefix(d.Reasons[0], "no attestation sbom (https://cyclonedx.org/bom) verified for authority k1: ") {
		t.Errorf("SBOM by k2: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}

	d = check(odd)
	if d.Allowed || len(d.Reasons) != 1 || d.Err != nil {
		t.Fatalf("unparsable timestamp: allowed %v, reasons %q, err %v", d.Allowed, d.Reasons, d.Err)
	}
	for _, want := range []string{"condition 0 (now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')) of attestation scan: ", odd.Context().String()} {
		if !strings.Contains(d.Reasons[0], want) {
			t.Errorf("unparsable timestamp: %q lacks %q", d.Reasons[0], want)
		}
	}
}

func TestAllowedRegistries(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	f.key("k1")
	f.key("k2")
	img := reg.push(t, "team/app:1")
	set := f.load(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: registries}
spec:
  title: Our registries only
  images: ["**"]
  excludeImages: ["registry.k8s.io/**"]
  allowedRegistries: [registry.example.com, docker.io]
---
apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: signed}
spec:
  title: Signed by k1
  images: ["` + reg.host + `/**"]
  allowedRegistries: ["` + reg.host + `"]
` + twoKeys + `  signatures: {authorities: [k1]}
`)
	e := f.engine(set, Options{})
	ds := e.Check(context.Background(), []string{
		"registry.example.com/team/app:1", "nginx:1.25", "registry.k8s.io/pause:3.9", "ghcr.io/acme/app:1", img.String(),
	})
	if reqs := reg.requests(); len(reqs) == 0 {
		t.Fatal("the signed policy did not read the registry")
	}
	got := map[string]string{}
	for _, d := range ds {
		v := "allow"
		if !d.Allowed {
			v = "deny: " + strings.Join(d.Reasons, "; ")
		}
		got[d.Policy.ID()+" "+d.Image] = v
	}
	want := map[string]string{
		"registries registry.example.com/team/app:1": "allow",
		"registries nginx:1.25":                      "allow",
		"registries ghcr.io/acme/app:1":              "deny: registry ghcr.io is not allowed (allowedRegistries: registry.example.com, docker.io)",
		"registries " + img.String():                 "deny: registry " + reg.host + " is not allowed (allowedRegistries: registry.example.com, docker.io)",
		"signed " + img.String():                     "deny: no signature verified for authority k1: no signature is attached",
	}
	if len(got) != len(want) {
		t.Errorf("decisions: %q", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	// Registry violations need no registry access.
	only := f.load(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: elsewhere}
spec:
  title: Not from the test registry
  images: ["**"]
  allowedRegistries: [registry.example.com]
  signatures: {}
` + twoKeys)
	d := one(t, f.engine(only, Options{}).Check(context.Background(), []string{img.String()}))
	if d.Allowed || d.Err != nil || d.Digest != "" {
		t.Errorf("registry violation: %+v", d)
	}
	if reqs := reg.requests(); len(reqs) != 0 {
		t.Errorf("a registry violation read the registry: %q", reqs)
	}
}

func TestCacheAndTags(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	v1img := reg.push(t, "team/app:1.0")
	f.sign(v1img, k1, imagesig.LayoutClassic)
	reg.requests()
	set := f.load(policyDoc("signed", reg.host, twoKeys+"  cacheTTL: 2m\n  signatures: {authorities: [k1]}"))
	e := f.engine(set, Options{})
	tag := reg.host + "/team/app:1.0"

	check := func(what string, wantAllowed, wantCached bool, wantDigest name.Digest) []string {
		t.Helper()
		d := one(t, e.Check(context.Background(), []string{tag}))
		if d.Allowed != wantAllowed || d.Cached != wantCached || d.Digest != wantDigest.DigestStr() || d.Image != tag {
			t.Fatalf("%s: allowed %v cached %v digest %s image %s, want %v %v %s; reasons %q", what, d.Allowed, d.Cached, d.Digest, d.Image, wantAllowed, wantCached, wantDigest.DigestStr(), d.Reasons)
		}
		return reg.requests()
	}
	if reqs := check("first", true, false, v1img); len(reqs) == 0 {
		t.Fatal("no registry request")
	}
	if reqs := check("again", true, true, v1img); len(reqs) != 0 {
		t.Errorf("a cached verdict read the registry: %q", reqs)
	}

	// The tag moves to an unsigned image: within the tag TTL the old
	// digest stands, after it the new one is resolved and judged.
	moved := reg.push(t, "team/app:1.0")
	f.now = f.now.Add(TagTTL - time.Second)
	if reqs := check("moved, within the tag TTL", true, true, v1img); len(reqs) != 0 {
		t.Errorf("read the registry within the tag TTL: %q", reqs)
	}
	f.now = f.now.Add(time.Second)
	reqs := check("moved, after the tag TTL", false, false, moved)
	if !contains(reqs, "/v2/team/app/manifests/1.0") {
		t.Errorf("the tag was not resolved again: %q", reqs)
	}

	// Moved back: the verdict of the first digest is still cached (2m),
	// only the tag is resolved.
	tagRef, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tagRef, mustImage(t, v1img)); err != nil {
		t.Fatal(err)
	}
	reg.requests()
	f.now = f.now.Add(TagTTL)
	reqs = check("moved back", true, true, v1img)
	if len(reqs) != 1 || !strings.HasSuffix(reqs[0], "/v2/team/app/manifests/1.0") {
		t.Errorf("a cached verdict behind a tag: requests %q, want the tag's resolution only", reqs)
	}

	// The verdict expires with the policy's cacheTTL (2m since it was
	// made, 61s ago... plus 60s more).
	f.now = f.now.Add(2*time.Minute - 2*TagTTL + time.Second)
	if reqs := check("expired", true, false, v1img); len(reqs) < 2 {
		t.Errorf("an expired verdict was not verified again: %q", reqs)
	}

	// An image written with a digest is never resolved, even with a tag.
	withDigest := reg.host + "/team/app:1.0@" + moved.DigestStr()
	ds := e.Check(context.Background(), []string{withDigest})
	if d := one(t, ds); d.Allowed || d.Digest != moved.DigestStr() {
		t.Errorf("tag and digest: %+v", d)
	}
	for _, r := range reg.requests() {
		if strings.HasSuffix(r, "/manifests/1.0") {
			t.Errorf("an image with a digest was resolved: %s", r)
		}
	}
	// ... and the digest is what is verified, whatever the tag names.
	signedDigest := reg.host + "/team/app:does-not-exist@" + v1img.DigestStr()
	if d := one(t, e.Check(context.Background(), []string{signedDigest})); !d.Allowed || d.Digest != v1img.DigestStr() {
		t.Errorf("tag and digest of the signed image: %+v", d)
	}
}

func contains(reqs []string, suffix string) bool {
	for _, r := range reqs {
		if strings.HasSuffix(r, suffix) {
			return true
		}
	}
	return false
}

func mustImage(t testing.TB, d name.Digest) v1.Image {
	t.Helper()
	img, err := remote.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A policy whose content changes is another policy for the cache.
func TestCacheKeyedByPolicyContent(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	img := reg.push(t, "team/app:1")
	f.sign(img, k1, imagesig.LayoutClassic)
	e1 := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k1]}"))
	e2 := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k2]}"))
	e := f.engine(e1, Options{})
	if d := one(t, e.Check(context.Background(), []string{img.String()})); !d.Allowed {
		t.Fatal(d.Reasons)
	}
	e.SetPolicies(e2) // as a reload does
	if d := one(t, e.Check(context.Background(), []string{img.String()})); d.Allowed || d.Cached {
		t.Errorf("the verdict of the old policy was reused: %+v", d)
	}
	// The same policy loaded again keeps its cached verdict.
	e.SetPolicies(f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k2]}")))
	if d := one(t, e.Check(context.Background(), []string{img.String()})); d.Allowed || !d.Cached {
		t.Errorf("the reloaded policy's verdict was not reused: %+v", d)
	}
}

func TestRegistryErrors(t *testing.T) {
	f := newFixture(t)
	f.key("k1")
	f.key("k2")
	// A registry that is gone.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	// A registry that never answers until the test ends: Check returning
	// at all shows the timeout, not the registry, ended the wait.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(block) })
	hangHost := strings.TrimPrefix(hang.URL, "http://")
	// A working registry beside them is not held up.
	reg := newRegistry(t)
	k1 := f.key("k1")
	good := reg.push(t, "team/app:1")
	f.sign(good, k1, imagesig.LayoutClassic)

	doc := func(name, failure string) string {
		return fmt.Sprintf(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: %s}
spec:
  title: %s
  images: ["**"]
  failurePolicy: %s
  mutateDigest: true
%s  signatures: {authorities: [k1]}
---
`, name, name, failure, twoKeys)
	}
	set := f.load(doc("fail", "Fail") + doc("ignore", "Ignore"))
	e := f.engine(set, Options{Timeout: 200 * time.Millisecond})
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	images := []string{deadHost + "/team/app:1", hangHost + "/team/app:1", hangHost + "/team/app" + digest, good.String()}
	for round := range 2 {
		ds := e.Check(context.Background(), images)
		if len(ds) != 8 {
			t.Fatalf("%d decisions", len(ds))
		}
		for _, d := range ds {
			id := d.Policy.ID()
			if d.Image == good.String() {
				if !d.Allowed || d.Err != nil || d.Pin != good.Name() {
					t.Errorf("the good registry: %+v", d)
				}
				continue
			}
			if d.Err == nil || d.Cached {
				t.Errorf("round %d, %s, %s: err %v, cached %v", round, d.Image, id, d.Err, d.Cached)
				continue
			}
			if d.Allowed != (id == "ignore") || d.Pin != "" {
				t.Errorf("%s, %s: allowed %v pin %q", d.Image, id, d.Allowed, d.Pin)
			}
			if id == "fail" && (len(d.Reasons) != 1 || !strings.HasPrefix(d.Reasons[0], "the registry could not be read (failurePolicy Fail): ")) {
				t.Errorf("%s: reasons %q", d.Image, d.Reasons)
			}
			if id == "ignore" && len(d.Reasons) != 0 {
				t.Errorf("%s: an ignored error has reasons %q", d.Image, d.Reasons)
			}
			if strings.HasPrefix(d.Image, hangHost) && !errors.Is(d.Err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want a deadline", d.Image, d.Err)
			}
			if strings.HasPrefix(d.Image, hangHost) && !strings.Contains(d.Err.Error(), "(timeout 200ms)") {
				t.Errorf("%s: %v does not say the timeout", d.Image, d.Err)
			}
		}
	}
	// The caller's own context ends the wait too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e = f.engine(set, Options{Timeout: time.Hour})
	for _, d := range e.Check(ctx, []string{hangHost + "/team/app:2"}) {
		if !errors.Is(d.Err, context.Canceled) {
			t.Errorf("cancelled: %v", d.Err)
		}
	}
}

func TestPin(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	signed := reg.push(t, "team/signed:1")
	reg.push(t, "team/unsigned:1")
	f.sign(signed, k1, imagesig.LayoutBundle)
	set := f.load(policyDoc("pinned", reg.host, twoKeys+"  mutateDigest: true\n  signatures: {authorities: [k1]}") +
		policyDoc("unpinned", reg.host, twoKeys+"  signatures: {authorities: [k1]}"))
	e := f.engine(set, Options{})
	tag := reg.host + "/team/signed:1"
	for round := range 2 { // the cached verdict keeps its pin
		ds := e.Check(context.Background(), []string{tag, reg.host + "/team/unsigned:1"})
		if len(ds) != 4 {
			t.Fatalf("%d decisions", len(ds))
		}
		want := map[string]string{
			"pinned " + tag: reg.host + "/team/signed@" + signed.DigestStr(), "unpinned " + tag: "",
			"pinned " + reg.host + "/team/unsigned:1": "", "unpinned " + reg.host + "/team/unsigned:1": "",
		}
		for _, d := range ds {
			if w := want[d.Policy.ID()+" "+d.Image]; d.Pin != w || d.Cached != (round == 1) {
				t.Errorf("round %d, %s, %s: pin %q cached %v, want %q", round, d.Policy.ID(), d.Image, d.Pin, d.Cached, w)
			}
		}
	}
}

// Concurrent checks of one image read the registry once.
func TestConcurrentChecksFetchOnce(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	img := reg.push(t, "team/app:1")
	f.sign(img, k1, imagesig.LayoutClassic)
	set := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k1]}"))

	// What one check reads.
	reg.requests()
	if d := one(t, f.engine(set, Options{}).Check(context.Background(), []string{img.String()})); !d.Allowed {
		t.Fatal(d.Reasons)
	}
	single := len(reg.requests())

	e := f.engine(set, Options{Timeout: time.Minute})
	gate := make(chan struct{})
	reg.mu.Lock()
	reg.gate = gate
	reg.mu.Unlock()
	const n = 20
	var wg sync.WaitGroup
	results := make([]Decision, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = one(t, e.Check(context.Background(), []string{img.String()}))
		}()
	}
	// Open the registry once every check waits for the one fetch. The
	// bound only keeps a broken group from hanging the test.
	for i := 0; e.fetches.callers(img.Name()) < n; i++ {
		if i == 10_000 {
			close(gate)
			t.Fatalf("%d of %d checks wait for the fetch in flight", e.fetches.callers(img.Name()), n)
		}
		time.Sleep(time.Millisecond)
	}
	reg.mu.Lock()
	reg.gate = nil
	reg.mu.Unlock()
	close(gate)
	wg.Wait()
	for i, d := range results {
		if !d.Allowed {
			t.Errorf("check %d: %q %v", i, d.Reasons, d.Err)
		}
	}
	if got := len(reg.requests()); got != single {
		t.Errorf("%d concurrent checks made %d requests, one check %d", n, got, single)
	}
}

func TestUnmatchedImages(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	f.key("k1")
	f.key("k2")
	set := f.load(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: team}
spec:
  title: Team images
  images: ["` + reg.host + `/team/*"]
  excludeImages: ["` + reg.host + `/team/debug-*"]
` + twoKeys + `  signatures: {}
`)
	e := f.engine(set, Options{})
	ds := e.Check(context.Background(), []string{reg.host + "/team/debug-shell:1", reg.host + "/other/app:1", "nginx", "Not A Reference"})
	if len(ds) != 0 {
		t.Errorf("decisions on unmatched images: %+v", ds)
	}
	if reqs := reg.requests(); len(reqs) != 0 {
		t.Errorf("unmatched images read the registry: %q", reqs)
	}
	// A reference that does not parse but matches is denied, unread.
	any := f.load(`apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: everything}
spec:
  title: All images
  images: ["**"]
  allowedRegistries: [registry.example.com]
`)
	d := one(t, f.engine(any, Options{}).Check(context.Background(), []string{"Not A Reference"}))
	if d.Allowed || len(d.Reasons) != 1 || !strings.HasPrefix(d.Reasons[0], "the reference does not parse: ") {
		t.Errorf("unparsable reference: %+v", d)
	}
}

func TestFindings(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	f.key("k1")
	f.key("k2")
	img := reg.push(t, "team/app:1")
	set := f.load(policyDoc("signed", reg.host, twoKeys+"  signatures: {authorities: [k1]}") +
		policyDoc("registries", reg.host, "  allowedRegistries: [\""+reg.host+"\"]"))
	ds := f.engine(set, Options{}).Check(context.Background(), []string{reg.host + "/team/app:1"})
	if len(ds) != 2 {
		t.Fatalf("%d decisions", len(ds))
	}
	res := finding.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}
	got := Findings(res, "spec.template.spec.containers[0].image", ds)
	if len(got) != 1 {
		t.Fatalf("findings: %+v", got)
	}
	fd := got[0]
	want := "image " + reg.host + "/team/app:1 (" + img.DigestStr() + "): no signature verified for authority k1: no signature is attached"
	if fd.Rule != set.Get("signed").Rule || fd.CheckID() != "signed" || fd.Message != want || fd.Resource != res ||
		fd.Location.Path != "spec.template.spec.containers[0].image" ||
		fd.Fingerprint != finding.ComputeFingerprint("signed", "", res, "spec.template.spec.containers[0].image") {
		t.Errorf("finding: %+v\nmessage %q\n   want %q", fd, fd.Message, want)
	}
}

func TestLRU(t *testing.T) {
	now := time.Unix(0, 0)
	c := newLRU[string, int](2)
	c.put("a", 1, now.Add(time.Minute))
	c.put("b", 2, now.Add(time.Minute))
	if _, ok := c.get("a", now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", 3, now.Add(time.Minute))
	if _, ok := c.get("b", now); ok {
		t.Error("b, the least recently used, was not evicted")
	}
	if v, ok := c.get("a", now); !ok || v != 1 {
		t.Error("a was evicted")
	}
	if _, ok := c.get("c", now.Add(time.Minute)); ok {
		t.Error("c outlived its expiry")
	}
	if c.len() != 1 {
		t.Errorf("len %d after expiry", c.len())
	}
}

// A policy's cacheTTL below the tag TTL bounds the tag's too; 0 caches
// nothing.
func TestShortCacheTTL(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	k1 := f.key("k1")
	f.key("k2")
	img := reg.push(t, "team/app:1")
	f.sign(img, k1, imagesig.LayoutClassic)
	for _, tc := range []struct {
		ttl      string
		after    time.Duration
		resolved bool
		cached   bool
	}{
		{"10s", 9 * time.Second, false, true},
		{"10s", 10 * time.Second, true, false},
		{"0s", 0, true, false},
	} {
		set := f.load(policyDoc("signed", reg.host, twoKeys+"  cacheTTL: "+tc.ttl+"\n  signatures: {authorities: [k1]}"))
		e := f.engine(set, Options{})
		tag := reg.host + "/team/app:1"
		start := f.now
		if d := one(t, e.Check(context.Background(), []string{tag})); !d.Allowed {
			t.Fatal(d.Reasons)
		}
		reg.requests()
		f.now = start.Add(tc.after)
		d := one(t, e.Check(context.Background(), []string{tag}))
		reqs := reg.requests()
		if d.Cached != tc.cached || contains(reqs, "/manifests/1") != tc.resolved {
			t.Errorf("cacheTTL %s, %s later: cached %v, requests %q", tc.ttl, tc.after, d.Cached, reqs)
		}
		f.now = start
	}
}
