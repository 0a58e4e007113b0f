package imagesig

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// classicEntity presents a signature of cosign's tag layout to sigstore-go
// as a signed entity: the signature (or DSSE envelope) from the layer, the
// certificate or key, the Rekor entry of the "bundle" annotation (verified
// through its signed entry timestamp) and an RFC 3161 timestamp.
type classicEntity struct {
	verify.BaseSignedEntity
	content    verify.VerificationContent
	sig        verify.SignatureContent
	entries    []*tlog.Entry
	timestamps [][]byte
}

func (e *classicEntity) VerificationContent() (verify.VerificationContent, error) {
	return e.content, nil
}
func (e *classicEntity) SignatureContent() (verify.SignatureContent, error) { return e.sig, nil }
func (e *classicEntity) TlogEntries() ([]*tlog.Entry, error)                { return e.entries, nil }
func (e *classicEntity) Timestamps() ([][]byte, error)                      { return e.timestamps, nil }
func (e *classicEntity) HasInclusionPromise() bool                          { return len(e.entries) > 0 }

// Version is not a bundle version: sigstore-go's compatibility mode (which
// prints to stderr) stays off.
func (e *classicEntity) Version() (string, error) { return "classic", nil }

// keyContent is the verification content of a signature made with a
// key: the trusted material resolves the key, so the hint is only a label.
type keyContent struct{ hint string }

func (k *keyContent) Hint() string { return k.hint }
func (k *keyContent) CompareKey(key any, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier(k.hint)
	if err != nil {
		return false
	}
	pub, err := v.PublicKey()
	if err != nil {
		return false
	}
	eq, ok := key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(pub)
}
func (k *keyContent) ValidAtTime(t time.Time, tm root.TrustedMaterial) bool {
	v, err := tm.PublicKeyVerifier(k.hint)
	return err == nil && v.ValidAtTime(t)
}
func (k *keyContent) Certificate() *x509.Certificate      { return nil }
func (k *keyContent) Intermediates() []*x509.Certificate  { return nil }
func (k *keyContent) PublicKey() verify.PublicKeyProvider { return k }

// rekorBundle is the "bundle" annotation: a Rekor entry with its signed
// entry timestamp.
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// classicObject reads one layer of a .sig or .att manifest.
func classicObject(kind Kind, data []byte, ann map[string]string) (*Object, error) {
	e := &classicEntity{}
	obj := &Object{Kind: kind, Layout: LayoutClassic, entity: e}
	switch kind {
	case KindSignature:
		b64, ok := ann[annSignature]
		if !ok {
			return nil, fmt.Errorf("no %s annotation", annSignature)
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", annSignature, err)
		}
		sum := sha256.Sum256(data)
		e.sig = bundle.NewMessageSignature(sum[:], "SHA2_256", sig)
		obj.payload = data
	case KindAttestation:
		env := &dsse.Envelope{}
		if err := json.Unmarshal(data, env); err != nil {
			return nil, fmt.Errorf("DSSE envelope: %w", err)
		}
		if len(env.Signatures) == 0 {
			return nil, errors.New("DSSE envelope has no signature")
		}
		pt, err := envelopePredicateType(env)
		if err != nil {
			return nil, err
		}
		obj.PredicateType = pt
		e.sig = &bundle.Envelope{Envelope: env}
	}
	if c, ok := ann[annCertificate]; ok && c != "" {
		block, _ := pem.Decode([]byte(c))
		if block == nil || block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("annotation %s: not a PEM certificate", annCertificate)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", annCertificate, err)
		}
		e.content = bundle.NewCertificate(cert)
	} else {
		e.content = &keyContent{hint: "classic"}
	}
	if b, ok := ann[annBundle]; ok && b != "" {
		var rb rekorBundle
		if err := json.Unmarshal([]byte(b), &rb); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", annBundle, err)
		}
		body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: body: %w", annBundle, err)
		}
		logID, err := hex.DecodeString(rb.Payload.LogID)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: logID: %w", annBundle, err)
		}
		entry, err := tlog.NewEntry(body, rb.Payload.IntegratedTime, rb.Payload.LogIndex, logID, rb.SignedEntryTimestamp, nil) //nolint:staticcheck // the classic layout has only this form
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", annBundle, err)
		}
		e.entries = append(e.entries, entry)
	}
	if t, ok := ann[annRFC3161]; ok && t != "" {
		var ts struct {
			SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
		}
		if err := json.Unmarshal([]byte(t), &ts); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", annRFC3161, err)
		}
		e.timestamps = append(e.timestamps, ts.SignedRFC3161Timestamp)
	}
	return obj, nil
}

// simpleSigning is cosign's signed payload for the classic layout.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

const simpleSigningType = "cosign container image signature"

// checkPayload binds a verified simple-signing payload to the image.
func checkPayload(payload []byte, digest string) error {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("simple-signing payload: %w", err)
	}
	if p.Critical.Type != simpleSigningType && p.Critical.Type != PredicateCosignSign {
		return fmt.Errorf("simple-signing payload type %q, want %q", p.Critical.Type, simpleSigningType)
	}
	if p.Critical.Image.DockerManifestDigest != digest {
		return fmt.Errorf("the signature is for %s, not %s", p.Critical.Image.DockerManifestDigest, digest)
	}
	return nil
}
