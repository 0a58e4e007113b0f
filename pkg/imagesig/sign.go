package imagesig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// Material is a signature made elsewhere (a keyless signer: a Fulcio
// certificate, a Rekor entry, an RFC 3161 timestamp), ready to attach.
type Material struct {
	// Signature is a signature over the payload (message signatures);
	// Envelope a signed DSSE envelope (statements). One of the two.
	Signature []byte
	Envelope  *dsse.Envelope
	// Certificate is the signing certificate.
	Certificate *x509.Certificate
	// Entry is the transparency log entry, with its signed entry timestamp.
	Entry *protorekor.TransparencyLogEntry
	// Timestamp is an RFC 3161 timestamp over the signature.
	Timestamp []byte
}

// External signs somewhere else (a keyless flow).
type External interface {
	// SignMessage signs a payload (a classic signature).
	SignMessage(ctx context.Context, payload []byte) (*Material, error)
	// SignStatement signs an in-toto statement into a DSSE envelope.
	SignStatement(ctx context.Context, statement []byte) (*Material, error)
}

// Signer signs signatures and attestations, with a private key or an
// external (keyless) signer.
type Signer struct {
	key    crypto.Signer
	ext    External
	now    func() time.Time
	pubPEM string
}

// NewSigner signs with a private key (ECDSA, Ed25519 or RSA), as
// `cosign sign --key` does: no certificate, no transparency log.
func NewSigner(key crypto.Signer) (*Signer, error) {
	if err := checkKey(key.Public()); err != nil {
		return nil, err
	}
	p, err := MarshalPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, now: time.Now, pubPEM: string(p)}, nil
}

// NewExternalSigner signs with an external signer.
func NewExternalSigner(e External) *Signer { return &Signer{ext: e, now: time.Now} }

// keypair adapts a private key to sigstore-go's signer.
type keypair struct{ s *Signer }

func (k keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (k keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	switch pub := k.s.key.Public().(type) {
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519
	case *rsa.PublicKey:
		if pub.N.BitLen() >= 4096 {
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256
		}
		if pub.N.BitLen() >= 3072 {
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256
		}
		return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
	default:
		return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	}
}
func (k keypair) GetHint() []byte { return []byte(KeyID(k.s.key.Public())) }
func (k keypair) GetKeyAlgorithm() string {
	switch k.s.key.Public().(type) {
	case ed25519.PublicKey:
		return "ED25519"
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	}
	return ""
}
func (k keypair) GetPublicKey() crypto.PublicKey   { return k.s.key.Public() }
func (k keypair) GetPublicKeyPem() (string, error) { return k.s.pubPEM, nil }
func (k keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	sig, err := k.s.signMessage(data)
	sum := sha256.Sum256(data)
	return sig, sum[:], err
}

// signMessage signs as cosign does: SHA-256 for ECDSA and RSA (PKCS #1
// v1.5), the message itself for Ed25519.
func (s *Signer) signMessage(payload []byte) ([]byte, error) {
	sv, err := signature.LoadSigner(s.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return sv.SignMessage(bytes.NewReader(payload))
}

func (s *Signer) signEnvelope(statement []byte) (*dsse.Envelope, error) {
	sv, err := signature.LoadSigner(s.key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	raw, err := sigdsse.WrapSigner(sv, mediaInToto).SignMessage(bytes.NewReader(statement))
	if err != nil {
		return nil, err
	}
	env := &dsse.Envelope{}
	if err := json.Unmarshal(raw, env); err != nil {
		return nil, err
	}
	return env, nil
}

// SimpleSigningPayload is cosign's payload for a classic image signature.
func SimpleSigningPayload(img name.Digest) []byte {
	var p simpleSigning
	p.Critical.Identity.DockerReference = img.Context().String()
	p.Critical.Image.DockerManifestDigest = img.DigestStr()
	p.Critical.Type = simpleSigningType
	b, _ := json.Marshal(p)
	return b
}

// NewStatement returns an in-toto v1 statement about the image.
func NewStatement(img name.Digest, predicateType string, predicate []byte) ([]byte, error) {
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return nil, err
	}
	if len(predicate) == 0 {
		predicate = []byte("{}")
	}
	if !json.Valid(predicate) {
		return nil, errors.New("the predicate is not JSON")
	}
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": img.Context().String(), "digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicateType": predicateType,
		"predicate":     json.RawMessage(predicate),
	})
}

// SignClassic signs the image in cosign's classic layout: a layer of the
// sha256-<digest>.sig manifest.
func (c *Client) SignClassic(ctx context.Context, img name.Digest, s *Signer) error {
	payload := SimpleSigningPayload(img)
	var m *Material
	var err error
	if s.ext != nil {
		m, err = s.ext.SignMessage(ctx, payload)
	} else {
		m = &Material{}
		m.Signature, err = s.signMessage(payload)
	}
	if err != nil {
		return fmt.Errorf("sign %s: %w", img, err)
	}
	ann, err := classicAnnotations(m)
	if err != nil {
		return err
	}
	ann[annSignature] = base64.StdEncoding.EncodeToString(m.Signature)
	return c.appendClassic(ctx, img, "sig", mediaSimpleSigning, payload, ann)
}

// SignBundle signs the image as cosign v3 does: an in-toto statement of
// predicate type cosign/sign/v1 in a Sigstore bundle, attached as a
// referrer of the image.
func (c *Client) SignBundle(ctx context.Context, img name.Digest, s *Signer) error {
	return c.Attest(ctx, img, s, PredicateCosignSign, nil, LayoutBundle)
}

// Attest signs an in-toto statement about the image and attaches it: as a
// Sigstore bundle referrer, or in the classic .att layout.
func (c *Client) Attest(ctx context.Context, img name.Digest, s *Signer, predicateType string, predicate []byte, layout Layout) error {
	st, err := NewStatement(img, predicateType, predicate)
	if err != nil {
		return fmt.Errorf("attest %s: %w", img, err)
	}
	switch layout {
	case LayoutBundle:
		var pb *protobundle.Bundle
		if s.ext != nil {
			m, err := s.ext.SignStatement(ctx, st)
			if err != nil {
				return fmt.Errorf("attest %s: %w", img, err)
			}
			if pb, err = bundleOf(m); err != nil {
				return err
			}
		} else {
			pb, err = sign.Bundle(&sign.DSSEData{Data: st, PayloadType: mediaInToto}, keypair{s}, sign.BundleOptions{Context: ctx})
			if err != nil {
				return fmt.Errorf("attest %s: %w", img, err)
			}
		}
		data, err := protojson.Marshal(pb)
		if err != nil {
			return err
		}
		return c.AttachBundle(ctx, img, data, predicateType, s.now())
	case LayoutClassic:
		var m *Material
		if s.ext != nil {
			m, err = s.ext.SignStatement(ctx, st)
		} else {
			m = &Material{}
			m.Envelope, err = s.signEnvelope(st)
		}
		if err != nil {
			return fmt.Errorf("attest %s: %w", img, err)
		}
		ann, err := classicAnnotations(m)
		if err != nil {
			return err
		}
		ann[annPredicateType] = predicateType
		env, err := json.Marshal(m.Envelope)
		if err != nil {
			return err
		}
		return c.appendClassic(ctx, img, "att", mediaDSSE, env, ann)
	}
	return fmt.Errorf("layout %q: want classic or bundle", layout)
}

// classicAnnotations carries a certificate, log entry and timestamp in
// cosign's layer annotations.
func classicAnnotations(m *Material) (map[string]string, error) {
	ann := map[string]string{}
	if m.Certificate != nil {
		ann[annCertificate] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Certificate.Raw}))
	}
	if e := m.Entry; e != nil {
		if e.GetInclusionPromise() == nil {
			return nil, errors.New("the classic layout needs a log entry with a signed entry timestamp")
		}
		var rb rekorBundle
		rb.SignedEntryTimestamp = e.GetInclusionPromise().GetSignedEntryTimestamp()
		rb.Payload.Body = base64.StdEncoding.EncodeToString(e.GetCanonicalizedBody())
		rb.Payload.IntegratedTime = e.GetIntegratedTime()
		rb.Payload.LogIndex = e.GetLogIndex()
		rb.Payload.LogID = hex.EncodeToString(e.GetLogId().GetKeyId())
		b, err := json.Marshal(rb)
		if err != nil {
			return nil, err
		}
		ann[annBundle] = string(b)
	}
	if m.Timestamp != nil {
		b, err := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": m.Timestamp})
		if err != nil {
			return nil, err
		}
		ann[annRFC3161] = string(b)
	}
	return ann, nil
}

// bundleOf assembles a Sigstore v0.3 bundle from external material.
func bundleOf(m *Material) (*protobundle.Bundle, error) {
	if m.Envelope == nil || m.Certificate == nil {
		return nil, errors.New("external material for a bundle needs a DSSE envelope and a certificate")
	}
	payload, err := base64.StdEncoding.DecodeString(m.Envelope.Payload)
	if err != nil {
		return nil, err
	}
	env := &protodsse.Envelope{Payload: payload, PayloadType: m.Envelope.PayloadType}
	for _, sg := range m.Envelope.Signatures {
		sig, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			return nil, err
		}
		env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: sig, Keyid: sg.KeyID})
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: m.Certificate.Raw}},
	}
	if m.Entry != nil {
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{m.Entry}
	}
	if m.Timestamp != nil {
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: m.Timestamp}},
		}
	}
	return &protobundle.Bundle{MediaType: mediaBundleV03, VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}}, nil
}

// appendClassic adds a layer to the image's .sig or .att manifest, creating
// it if there is none; a layer already there is not added twice.
func (c *Client) appendClassic(ctx context.Context, img name.Digest, suffix, mediaType string, data []byte, ann map[string]string) error {
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return err
	}
	t := img.Context().Tag(fmt.Sprintf("%s-%s.%s", h.Algorithm, h.Hex, suffix))
	var base v1.Image
	switch existing, err := remote.Image(t, c.remote(ctx)...); {
	case err == nil:
		base = existing
	case notFound(err):
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	default:
		return fmt.Errorf("read %s: %w", t, err)
	}
	layer := static.NewLayer(data, types.MediaType(mediaType))
	if m, err := base.Manifest(); err == nil {
		ld, _ := layer.Digest()
		for _, l := range m.Layers {
			if l.Digest == ld && l.Annotations[annSignature] == ann[annSignature] {
				return nil
			}
		}
	}
	out, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: ann})
	if err != nil {
		return err
	}
	if err := remote.Write(t, out, c.remote(ctx)...); err != nil {
		return fmt.Errorf("write %s: %w", t, err)
	}
	return nil
}

// AttachBundle attaches a Sigstore bundle (JSON) to the image as an OCI
// referrer, as cosign v3 does; registries without the referrers API get
// the referrers tag fallback.
func (c *Client) AttachBundle(ctx context.Context, img name.Digest, bundleJSON []byte, predicateType string, created time.Time) error {
	subj, err := remote.Head(img, c.remote(ctx)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", img, err)
	}
	content := "dsse-envelope"
	if predicateType == "" {
		content = "message-signature"
	}
	a, err := newArtifact(bundleJSON, v1.Descriptor{MediaType: subj.MediaType, Digest: subj.Digest, Size: subj.Size},
		map[string]string{annBundleContent: content, annBundlePredicate: predicateType, annCreated: created.UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	d, err := a.Digest()
	if err != nil {
		return err
	}
	if err := remote.Write(img.Context().Digest(d.String()), a, c.remote(ctx)...); err != nil {
		return fmt.Errorf("attach bundle to %s: %w", img, err)
	}
	return nil
}

// artifact is an OCI 1.1 artifact manifest holding one Sigstore bundle,
// with the empty config cosign writes.
type artifact struct {
	manifest []byte
	layer    v1.Layer
}

var emptyConfig = []byte("{}")

func newArtifact(bundleJSON []byte, subject v1.Descriptor, ann map[string]string) (v1.Image, error) {
	layer := static.NewLayer(bundleJSON, mediaBundleV03)
	ld, _ := layer.Digest()
	ch, csize, _ := v1.SHA256(bytes.NewReader(emptyConfig))
	for k, v := range ann {
		if v == "" {
			delete(ann, k)
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  mediaBundleV03,
		Config:        v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: ch, Size: csize},
		Layers: []v1.Descriptor{{MediaType: mediaBundleV03, Digest: ld, Size: int64(len(bundleJSON)),
			Annotations: map[string]string{"org.opencontainers.image.title": fmt.Sprintf("%s-%s.sigstore.json", ld.Algorithm, ld.Hex)}}},
		Subject:     &subject,
		Annotations: ann,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, layer: layer})
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, _ := a.layer.Digest(); d == h {
		return a.layer, nil
	}
	ch, _, _ := v1.SHA256(bytes.NewReader(emptyConfig))
	if h == ch {
		return static.NewLayer(emptyConfig, "application/vnd.oci.empty.v1+json"), nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
