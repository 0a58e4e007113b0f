// Package imagesig finds and verifies the signatures and attestations
// attached to container images, and signs and attaches them.
//
// It reads both layouts in use:
//   - the classic cosign layout: a `sha256-<digest>.sig` tag whose layers are
//     simple-signing payloads with the signature, certificate and Rekor
//     bundle in annotations, and a `sha256-<digest>.att` tag whose layers are
//     DSSE envelopes;
//   - Sigstore bundles attached as OCI 1.1 referrers (or through the
//     referrers tag fallback), which is what cosign v3 writes: image
//     signatures are in-toto statements of predicate type
//     https://sigstore.dev/cosign/sign/v1, attestations any other type.
//
// Cryptographic verification (signatures, certificate chains, transparency
// log entries, signed timestamps) is sigstore-go's; this package turns what
// it finds in the registry into sigstore-go entities, decides which checks
// apply to each, and binds every verified signature to the image digest.
package imagesig

import (
	"crypto"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Kind says what an attached object claims.
type Kind string

const (
	// KindSignature is a signature over the image.
	KindSignature Kind = "signature"
	// KindAttestation is an in-toto statement about the image.
	KindAttestation Kind = "attestation"
)

// Layout says how an object is attached to the image.
type Layout string

const (
	// LayoutClassic is cosign's tag layout (.sig and .att tags).
	LayoutClassic Layout = "classic"
	// LayoutBundle is a Sigstore bundle attached as an OCI referrer.
	LayoutBundle Layout = "bundle"
)

// Well-known predicate types.
const (
	PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"
	PredicateCycloneDX  = "https://cyclonedx.org/bom"
	PredicateSPDX       = "https://spdx.dev/Document"
	PredicateSLSA1      = "https://slsa.dev/provenance/v1"
	PredicateSLSA02     = "https://slsa.dev/provenance/v0.2"
	PredicateVuln       = "https://cosign.sigstore.dev/attestation/vuln/v1"
)

// Requirement says whether a kind of evidence must be there.
type Requirement string

const (
	// IfPresent verifies the evidence when the signature carries it (the
	// default): a transparency log entry that does not verify fails the
	// signature, a missing one does not.
	IfPresent Requirement = ""
	// Required fails a signature without the evidence.
	Required Requirement = "required"
	// Ignore never looks at the evidence (a private deployment whose log
	// is not in the trusted root).
	Ignore Requirement = "ignore"
)

// Identity is a keyless signer: the certificate's subject alternative name
// and OIDC issuer, each matched exactly or by regular expression (one of
// the two each).
type Identity struct {
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
}

// Authority is one accepted signer: a public key or a keyless identity.
type Authority struct {
	// Name names the authority in output ("release-key").
	Name string
	// Key is a public key (ECDSA, Ed25519 or RSA); KeyRef says where it
	// came from, for output.
	Key    crypto.PublicKey
	KeyRef string
	// Identity is a keyless signer, checked against TrustedRoot.
	Identity *Identity
	// TrustedRoot holds the certificate authorities, transparency logs and
	// timestamp authorities (Sigstore's trusted_root.json). Keyless
	// authorities need it; a key authority uses its logs and timestamp
	// authorities when given.
	TrustedRoot root.TrustedMaterial
	// TransparencyLog and SignedTimestamp say whether a log entry and an
	// RFC 3161 timestamp must be there.
	TransparencyLog Requirement
	SignedTimestamp Requirement
}

// LogEntry is a transparency log entry that verified.
type LogEntry struct {
	LogID          string    `json:"logID"`
	Index          int64     `json:"index"`
	IntegratedTime time.Time `json:"integratedTime"`
	// Proof says what was verified: "inclusion proof", "signed entry
	// timestamp" or both.
	Proof string `json:"proof"`
}

// Evidence is one signature or attestation that verified.
type Evidence struct {
	Kind   Kind   `json:"kind"`
	Layout Layout `json:"layout"`
	// Location is where it was found: the tag or referrer manifest, and the
	// layer.
	Location  string `json:"location"`
	Authority string `json:"authority"`
	// KeyID is the SHA-256 of the signing key's PKIX form, hex; for a
	// certificate, of the certificate's key.
	KeyID string `json:"keyID"`
	// Subject and Issuer are the certificate's identity (keyless).
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
	// CertificateSerial is the leaf certificate's serial number (hex).
	CertificateSerial string      `json:"certificateSerial,omitempty"`
	Log               []LogEntry  `json:"transparencyLog,omitempty"`
	Timestamps        []time.Time `json:"signedTimestamps,omitempty"`
	PredicateType     string      `json:"predicateType,omitempty"`
	Statement         *Statement  `json:"-"`
	SignedAt          time.Time   `json:"signedAt,omitzero"`
}

// Rejection is an attached object that did not verify for an authority.
type Rejection struct {
	Kind      Kind   `json:"kind"`
	Layout    Layout `json:"layout"`
	Location  string `json:"location"`
	Authority string `json:"authority"`
	Reason    string `json:"reason"`
}

// Statement is the in-toto statement of an attestation, as plain data for
// CEL conditions.
type Statement struct {
	Type          string           `json:"_type"`
	PredicateType string           `json:"predicateType"`
	Subject       []map[string]any `json:"subject"`
	Predicate     any              `json:"predicate"`
}
