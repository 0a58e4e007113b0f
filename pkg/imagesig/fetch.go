package imagesig

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Media types and annotations of the two layouts.
const (
	mediaSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaDSSE          = "application/vnd.dsse.envelope.v1+json"
	mediaBundlePrefix  = "application/vnd.dev.sigstore.bundle"
	mediaBundleV03     = "application/vnd.dev.sigstore.bundle.v0.3+json"
	mediaInToto        = "application/vnd.in-toto+json"
	mediaEmpty         = "application/vnd.oci.empty.v1+json"

	annSignature     = "dev.cosignproject.cosign/signature"
	annCertificate   = "dev.sigstore.cosign/certificate"
	annChain         = "dev.sigstore.cosign/chain"
	annBundle        = "dev.sigstore.cosign/bundle"
	annRFC3161       = "dev.sigstore.cosign/rfc3161timestamp"
	annPredicateType = "predicateType"

	annBundleContent   = "dev.sigstore.bundle.content"
	annBundlePredicate = "dev.sigstore.bundle.predicateType"
	annCreated         = "org.opencontainers.image.created"
)

// maxBlob bounds one attached object: SBOM attestations of large images
// run to megabytes, but never to this.
const maxBlob = 64 << 20

// ClientOptions configure registry access.
type ClientOptions struct {
	// Keychain finds registry credentials; nil means authn.DefaultKeychain
	// (docker config, credential helpers).
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Insecure allows plain HTTP to any registry (loopback registries are
	// spoken to over plain HTTP anyway).
	Insecure bool
}

// Client reads signatures and attestations from registries and writes them.
type Client struct {
	opts     []remote.Option
	nameOpts []name.Option
}

// NewClient returns a registry client.
func NewClient(o ClientOptions) *Client {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	c := &Client{opts: []remote.Option{remote.WithAuthFromKeychain(kc)}}
	if o.Transport != nil {
		c.opts = append(c.opts, remote.WithTransport(o.Transport))
	}
	if o.Insecure {
		c.nameOpts = append(c.nameOpts, name.Insecure)
	}
	return c
}

func (c *Client) remote(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, c.opts...)
}

// ParseReference parses an image reference with the client's name options.
func (c *Client) ParseReference(ref string) (name.Reference, error) {
	return name.ParseReference(ref, c.nameOpts...)
}

// Resolve turns a reference into the digest it names: a digest reference
// is returned as is, a tag is resolved with the registry.
func (c *Client) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	r, err := c.ParseReference(ref)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	if d, ok := r.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Head(r, c.remote(ctx)...)
	if err != nil {
		// Some registries refuse HEAD on manifests; GET is authoritative.
		var d *remote.Descriptor
		if d, err = remote.Get(r, c.remote(ctx)...); err != nil {
			return name.Digest{}, fmt.Errorf("resolve %s: %w", ref, err)
		}
		desc = &d.Descriptor
	}
	return r.Context().Digest(desc.Digest.String()), nil
}

// Object is a signature or attestation found attached to an image, not yet
// verified.
type Object struct {
	Kind   Kind
	Layout Layout
	// Location is where it was found.
	Location string
	// PredicateType is what the attestation says it is, before
	// verification: only verified statements are believed.
	PredicateType string

	entity verify.SignedEntity
	// payload is the signed artifact of a classic signature (the
	// simple-signing JSON); bundles are verified against the image digest.
	payload []byte
}

// Attached is what is attached to one image.
type Attached struct {
	Image   name.Digest
	Objects []*Object
	// Problems are attached objects that could not be read, each saying
	// where and why; they verify nothing.
	Problems []string
}

// Fetch reads everything attached to the image: cosign's .sig and .att tags
// and the image's referrers (through the referrers API, or its tag fallback
// where the registry has none). An error means the registry could not be
// read; objects that could not be parsed are Problems.
func (c *Client) Fetch(ctx context.Context, img name.Digest) (*Attached, error) {
	a := &Attached{Image: img}
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("image digest %s: %w", img.DigestStr(), err)
	}
	tag := func(suffix string) name.Tag {
		return img.Context().Tag(fmt.Sprintf("%s-%s.%s", h.Algorithm, h.Hex, suffix))
	}
	// The three places are read at once: against a remote registry each
	// costs round trips, and admission waits for the slowest.
	parts := [3]*Attached{{Image: img}, {Image: img}, {Image: img}}
	var errs [3]error
	var wg sync.WaitGroup
	budget := &atomic.Int64{}
	budget.Store(maxFetchBytes)
	wg.Go(func() { errs[0] = c.fetchClassic(ctx, parts[0], tag("sig"), KindSignature, budget) })
	wg.Go(func() { errs[1] = c.fetchClassic(ctx, parts[1], tag("att"), KindAttestation, budget) })
	wg.Go(func() { errs[2] = c.fetchReferrers(ctx, parts[2], budget) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, p := range parts {
		a.Objects = append(a.Objects, p.Objects...)
		a.Problems = append(a.Problems, p.Problems...)
	}
	return a, nil
}

// transient reports whether an error reading an attached object is the
// registry failing (network, timeout, 5xx, throttling) rather than what
// was attached being missing or broken. Only the first may make the
// failure policy decide: anyone who can push to the repository can attach
// a broken object, and that must not turn a verdict into "registry down".
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests ||
			terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

// Limits on what one image may have attached, so that a repository
// writer cannot make a verification read without end.
const (
	maxObjects    = 64        // layers of a .sig/.att manifest, bundles among referrers
	maxFetchBytes = 128 << 20 // all attached objects of one image
)

func notFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode == http.StatusNotFound
	}
	return false
}

// fetchClassic reads cosign's tag layout: one manifest whose layers are
// the signatures (simple-signing payloads) or attestations (DSSE).
func (c *Client) fetchClassic(ctx context.Context, a *Attached, t name.Tag, kind Kind, budget *atomic.Int64) error {
	img, err := remote.Image(t, c.remote(ctx)...)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", t, err)
	}
	m, err := img.Manifest()
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", t, err)
	}
	for i, l := range m.Layers {
		where := fmt.Sprintf("%s layer %d", t, i)
		if i >= maxObjects {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: more than %d layers; the rest were not read", t, maxObjects))
			break
		}
		want := mediaSimpleSigning
		if kind == KindAttestation {
			want = mediaDSSE
		}
		if string(l.MediaType) != want {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: media type %q, want %s", where, l.MediaType, want))
			continue
		}
		if l.Size > maxBlob {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %d bytes, more than the %d allowed", where, l.Size, maxBlob))
			continue
		}
		data, err := c.readLayer(img, l.Digest, l.Size, budget)
		if err != nil {
			if transient(err) {
				return fmt.Errorf("read %s: %w", where, err)
			}
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		obj, err := classicObject(kind, data, l.Annotations)
		if err != nil {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		obj.Location = where
		a.Objects = append(a.Objects, obj)
	}
	return nil
}

// readLayer reads one blob within the fetch's byte budget.
func (c *Client) readLayer(img v1.Image, h v1.Hash, size int64, budget *atomic.Int64) ([]byte, error) {
	if budget.Add(-size) < 0 {
		return nil, fmt.Errorf("not read: the image's attached objects exceed %d bytes", maxFetchBytes)
	}
	layer, err := img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return readBlob(layer)
}

func readBlob(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBlob {
		return nil, fmt.Errorf("more than %d bytes", maxBlob)
	}
	return data, nil
}

// fetchReferrers reads the Sigstore bundles among the image's referrers.
func (c *Client) fetchReferrers(ctx context.Context, a *Attached, budget *atomic.Int64) error {
	idx, err := remote.Referrers(a.Image, c.remote(ctx)...)
	if err != nil {
		return fmt.Errorf("list referrers of %s: %w", a.Image, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("list referrers of %s: %w", a.Image, err)
	}
	read := 0
	for _, d := range im.Manifests {
		// Registries that predate the artifactType field (and the
		// in-process test registry) report the config's media type.
		if !strings.HasPrefix(d.ArtifactType, mediaBundlePrefix) && d.ArtifactType != mediaEmpty && d.ArtifactType != "" {
			continue // SBOMs attached by other tools, notation signatures...
		}
		ref := a.Image.Context().Digest(d.Digest.String())
		where := ref.String()
		if read++; read > maxObjects {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: more than %d referrers; the rest were not read", a.Image, maxObjects))
			break
		}
		img, err := remote.Image(ref, c.remote(ctx)...)
		var m *v1.Manifest
		if err == nil {
			m, err = img.Manifest()
		}
		if err != nil {
			if transient(err) {
				return fmt.Errorf("read referrer %s: %w", where, err)
			}
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		if !strings.HasPrefix(m.ArtifactType, mediaBundlePrefix) {
			continue
		}
		if m.Subject == nil || m.Subject.Digest.String() != a.Image.DigestStr() {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: its subject is not %s", where, a.Image.DigestStr()))
			continue
		}
		if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), mediaBundlePrefix) {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: want one layer holding a Sigstore bundle", where))
			continue
		}
		if m.Layers[0].Size > maxBlob {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: bundle of %d bytes, more than the %d allowed", where, m.Layers[0].Size, maxBlob))
			continue
		}
		data, err := c.readLayer(img, m.Layers[0].Digest, m.Layers[0].Size, budget)
		if err != nil {
			if transient(err) {
				return fmt.Errorf("read referrer %s: %w", where, err)
			}
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		obj, err := bundleObject(data)
		if err != nil {
			a.Problems = append(a.Problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		obj.Location = where
		a.Objects = append(a.Objects, obj)
	}
	return nil
}

// bundleObject parses a Sigstore bundle. A DSSE envelope of predicate type
// cosign/sign/v1 is a signature (cosign v3), any other an attestation; a
// message signature signs the image manifest itself.
func bundleObject(data []byte) (*Object, error) {
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("parse Sigstore bundle: %w", err)
	}
	obj := &Object{Layout: LayoutBundle, Kind: KindSignature, entity: b}
	sc, err := b.SignatureContent()
	if err != nil {
		return nil, fmt.Errorf("Sigstore bundle: %w", err)
	}
	if env := sc.EnvelopeContent(); env != nil {
		pt, err := envelopePredicateType(env.RawEnvelope())
		if err != nil {
			return nil, err
		}
		obj.PredicateType = pt
		if pt != PredicateCosignSign {
			obj.Kind = KindAttestation
		}
	}
	return obj, nil
}

// envelopePredicateType reads the unverified predicate type of a DSSE
// envelope holding an in-toto statement.
func envelopePredicateType(env *dsse.Envelope) (string, error) {
	if env == nil {
		return "", errors.New("DSSE envelope is missing")
	}
	if env.PayloadType != mediaInToto {
		return "", fmt.Errorf("DSSE payload type %q, want %s", env.PayloadType, mediaInToto)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return "", fmt.Errorf("DSSE payload: %w", err)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return "", fmt.Errorf("in-toto statement: %w", err)
	}
	if st.PredicateType == "" {
		return "", errors.New("in-toto statement has no predicateType")
	}
	return st.PredicateType, nil
}
