package imagesig

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Verify checks the attached objects of one kind against one authority:
// signatures, or attestations of one predicate type ("" for any). It
// returns what verified and, for every other candidate, why not.
func (a *Attached) Verify(auth *Authority, kind Kind, predicateType string) ([]Evidence, []Rejection) {
	var ev []Evidence
	var rej []Rejection
	tm, err := auth.trustedMaterial()
	if err != nil {
		return nil, []Rejection{{Kind: kind, Authority: auth.Name, Reason: err.Error()}}
	}
	for _, obj := range a.Objects {
		if obj.Kind != kind || (kind == KindAttestation && predicateType != "" && obj.PredicateType != predicateType) {
			continue
		}
		e, err := a.verifyObject(obj, auth, tm)
		if err != nil {
			rej = append(rej, Rejection{Kind: obj.Kind, Layout: obj.Layout, Location: obj.Location, Authority: auth.Name, Reason: err.Error()})
			continue
		}
		ev = append(ev, *e)
	}
	return ev, rej
}

// trustedMaterial is what sigstore-go verifies against: the authority's
// key (whatever hint a signature carries: classic signatures have none,
// and a bundle's hint is only a label) and its trusted root.
func (auth *Authority) trustedMaterial() (root.TrustedMaterial, error) {
	switch {
	case auth.Key != nil && auth.Identity != nil:
		return nil, fmt.Errorf("authority %s has both a key and a keyless identity", auth.Name)
	case auth.Key != nil:
		v, err := signature.LoadVerifier(auth.Key, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("authority %s: key: %w", auth.Name, err)
		}
		key := root.NewExpiringKey(v, time.Time{}, time.Time{})
		km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		if auth.TrustedRoot == nil {
			return km, nil
		}
		return root.TrustedMaterialCollection{km, auth.TrustedRoot}, nil
	case auth.Identity != nil:
		if auth.TrustedRoot == nil {
			return nil, fmt.Errorf("authority %s: a keyless identity needs a trusted root", auth.Name)
		}
		return auth.TrustedRoot, nil
	}
	return nil, fmt.Errorf("authority %s has neither a key nor a keyless identity", auth.Name)
}

func (a *Attached) verifyObject(obj *Object, auth *Authority, tm root.TrustedMaterial) (*Evidence, error) {
	entries, err := obj.entity.TlogEntries()
	if err != nil {
		return nil, err
	}
	timestamps, err := obj.entity.Timestamps()
	if err != nil {
		return nil, err
	}
	vc, err := obj.entity.VerificationContent()
	if err != nil {
		return nil, err
	}
	cert := vc.Certificate()
	switch {
	case auth.Key != nil && cert != nil:
		return nil, errors.New("signed with a certificate, not the authority's key")
	case auth.Identity != nil && cert == nil:
		return nil, errors.New("signed with a key, not a certificate for the authority's identity")
	}

	// What is checked depends on what the signature carries: a log entry
	// or timestamp that is there must verify; one the policy requires
	// must be there.
	useLog := len(entries) > 0 && auth.TransparencyLog != Ignore
	useTS := len(timestamps) > 0 && auth.SignedTimestamp != Ignore
	if auth.TransparencyLog == Required && len(entries) == 0 {
		return nil, errors.New("no transparency log entry, and the policy requires one")
	}
	if auth.SignedTimestamp == Required && len(timestamps) == 0 {
		return nil, errors.New("no signed timestamp, and the policy requires one")
	}
	var vopts []verify.VerifierOption
	promised := false
	for _, en := range entries {
		promised = promised || en.HasInclusionPromise()
	}
	if useLog {
		vopts = append(vopts, verify.WithTransparencyLog(1))
		// Rekor v2 entries carry no integrated time: their time comes from
		// a timestamp authority.
		if promised {
			vopts = append(vopts, verify.WithIntegratedTimestamps(1))
		}
	}
	if useTS {
		vopts = append(vopts, verify.WithSignedTimestamps(1))
	}
	if !(useLog && promised) && !useTS {
		if cert != nil {
			// A short-lived certificate then fails as expired: the
			// signature cannot prove when it was made.
			vopts = append(vopts, verify.WithCurrentTime())
		} else {
			vopts = append(vopts, verify.WithNoObserverTimestamps())
		}
	}
	v, err := verify.NewVerifier(tm, vopts...)
	if err != nil {
		return nil, err
	}

	digest, err := hex.DecodeString(strings.TrimPrefix(a.Image.DigestStr(), "sha256:"))
	if err != nil || !strings.HasPrefix(a.Image.DigestStr(), "sha256:") {
		return nil, fmt.Errorf("image digest %s: want sha256", a.Image.DigestStr())
	}
	var artifact verify.ArtifactPolicyOption
	if obj.payload != nil {
		artifact = verify.WithArtifact(bytes.NewReader(obj.payload))
	} else {
		artifact = verify.WithArtifactDigest("sha256", digest)
	}
	var popts []verify.PolicyOption
	if auth.Key != nil {
		popts = append(popts, verify.WithKey())
	} else {
		id := auth.Identity
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegExp, id.Subject, id.SubjectRegExp)
		if err != nil {
			return nil, fmt.Errorf("authority %s: identity: %w", auth.Name, err)
		}
		popts = append(popts, verify.WithCertificateIdentity(ci))
	}
	res, err := v.Verify(obj.entity, verify.NewPolicy(artifact, popts...))
	if err != nil {
		if cert != nil && !(useLog && promised) && !useTS && time.Now().After(cert.NotAfter) {
			return nil, fmt.Errorf("%w: the certificate expired at %s, and the signature has no log entry or signed timestamp to prove it was made before", err, cert.NotAfter.UTC().Format(time.RFC3339))
		}
		return nil, explain(err, auth)
	}
	if obj.payload != nil {
		if err := checkPayload(obj.payload, a.Image.DigestStr()); err != nil {
			return nil, err
		}
	}

	e := &Evidence{Kind: obj.Kind, Layout: obj.Layout, Location: obj.Location, Authority: auth.Name}
	if cert != nil {
		e.KeyID = KeyID(cert.PublicKey)
		e.CertificateSerial = hex.EncodeToString(cert.SerialNumber.Bytes())
		if s := res.Signature; s != nil && s.Certificate != nil {
			e.Subject = s.Certificate.SubjectAlternativeName
			e.Issuer = s.Certificate.Issuer
		}
	} else {
		e.KeyID = KeyID(auth.Key)
	}
	if useLog {
		for _, en := range entries {
			proof := "signed entry timestamp"
			if en.HasInclusionProof() {
				proof = "inclusion proof"
				if en.HasInclusionPromise() {
					proof = "inclusion proof and signed entry timestamp"
				}
			}
			e.Log = append(e.Log, LogEntry{LogID: hex.EncodeToString([]byte(en.LogKeyID())), Index: en.LogIndex(),
				IntegratedTime: en.IntegratedTime().UTC(), Proof: proof})
		}
	}
	for _, ts := range res.VerifiedTimestamps {
		if ts.Type == "TimestampAuthority" {
			e.Timestamps = append(e.Timestamps, ts.Timestamp.UTC())
		}
		if ts.Type != "CurrentTime" && (e.SignedAt.IsZero() || ts.Timestamp.Before(e.SignedAt)) {
			e.SignedAt = ts.Timestamp.UTC()
		}
	}
	if sc, err := obj.entity.SignatureContent(); err == nil {
		if env := sc.EnvelopeContent(); env != nil {
			st, err := statementOf(env.RawEnvelope().Payload)
			if err != nil {
				return nil, err
			}
			e.Statement = st
			e.PredicateType = st.PredicateType
			if (obj.Kind == KindSignature) != (st.PredicateType == PredicateCosignSign) {
				return nil, fmt.Errorf("statement of predicate type %s is not a %s", st.PredicateType, obj.Kind)
			}
		}
	}
	return e, nil
}

// explain adds what to do to sigstore-go's errors where the cause is
// usually configuration.
func explain(err error, auth *Authority) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "threshold not met for verified log entry") || strings.Contains(msg, "not enough verified log entries"):
		if auth.TrustedRoot == nil {
			return fmt.Errorf("%w (the transparency log entry cannot be checked without a trusted root holding its log; give one, or set transparencyLog: ignore)", err)
		}
		return fmt.Errorf("%w (the entry's log is not in the trusted root, or its entry does not verify)", err)
	}
	return err
}

// statementOf parses a verified in-toto statement into plain data.
func statementOf(payloadB64 string) (*Statement, error) {
	payload, err := base64.StdEncoding.DecodeString(payloadB64)
	if err != nil {
		return nil, fmt.Errorf("DSSE payload: %w", err)
	}
	st := &Statement{}
	if err := json.Unmarshal(payload, st); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	return st, nil
}
