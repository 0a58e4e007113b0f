// Package sigtest gives tests a keyless Sigstore without a network: it
// wraps sigstore-go's virtual Sigstore (an in-memory Fulcio CA, Rekor log
// and timestamp authority) as an imagesig signer and a trusted root.
package sigtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/mamori-dev/mamori/pkg/imagesig"
)

// Virtual is an in-memory Sigstore.
type Virtual struct {
	CA *ca.VirtualSigstore
	// A second CA, trusted too, whose leaf certificates expired before the
	// test began.
	oldCA    *root.FulcioCertificateAuthority
	oldInter *x509.Certificate
	oldKey   *ecdsa.PrivateKey
}

// NewVirtual starts a virtual Sigstore.
func NewVirtual(t testing.TB) *Virtual {
	t.Helper()
	v, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	old := &root.FulcioCertificateAuthority{Root: rootCert, Intermediates: []*x509.Certificate{inter},
		ValidityPeriodStart: time.Now().Add(-5 * time.Hour), ValidityPeriodEnd: time.Now().Add(time.Hour),
		URI: "https://expired.fulcio.test"}
	return &Virtual{CA: v, oldCA: old, oldInter: inter, oldKey: interKey}
}

// TrustedRoot is the virtual Sigstore's trusted root.
func (v *Virtual) TrustedRoot(t testing.TB) *root.TrustedRoot {
	t.Helper()
	cas := append(v.CA.FulcioCertificateAuthorities(), v.oldCA)
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, rawIDs(t, v.CA.CTLogs()), v.CA.TimestampingAuthorities(), rawIDs(t, v.CA.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TrustedRootJSON is the trusted root as a trusted_root.json file holds it.
func (v *Virtual) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	b, err := v.TrustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawIDs gives the virtual logs their IDs as Rekor has them: the key's
// SHA-256, not its hex form (which the virtual Sigstore uses, and which a
// trusted_root.json would hex-encode again).
func rawIDs(t testing.TB, logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	out := map[string]*root.TransparencyLog{}
	for k, l := range logs {
		raw, err := hex.DecodeString(k)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		out[k] = &c
	}
	return out
}

// Option changes what a virtual signer attaches.
type Option func(*external)

// WithoutLog leaves out the transparency log entry.
func WithoutLog() Option { return func(e *external) { e.noLog = true } }

// WithoutTimestamp leaves out the RFC 3161 timestamp.
func WithoutTimestamp() Option { return func(e *external) { e.noTS = true } }

// Expired signs with a certificate that expired before the test began,
// with neither log entry nor timestamp to prove the signature older.
func Expired() Option { return func(e *external) { e.expired = true } }

// Signer signs as the identity, with a certificate of the virtual Fulcio,
// a Rekor entry and a timestamp.
func (v *Virtual) Signer(identity, issuer string, opts ...Option) *imagesig.Signer {
	e := &external{v: v, identity: identity, issuer: issuer}
	for _, o := range opts {
		o(e)
	}
	return imagesig.NewExternalSigner(e)
}

type external struct {
	v                *Virtual
	identity, issuer string
	noLog, noTS      bool
	expired          bool
}

func (e *external) SignMessage(_ context.Context, payload []byte) (*imagesig.Material, error) {
	if e.expired {
		return nil, errors.New("sigtest: expired certificates sign statements only")
	}
	te, err := e.v.CA.Sign(e.identity, e.issuer, payload)
	if err != nil {
		return nil, err
	}
	return e.material(te)
}

func (e *external) SignStatement(_ context.Context, statement []byte) (*imagesig.Material, error) {
	if e.expired {
		return e.expiredStatement(statement)
	}
	te, err := e.v.CA.AttestAtTime(e.identity, e.issuer, statement, time.Now().Add(5*time.Minute), true)
	if err != nil {
		return nil, err
	}
	return e.material(te)
}

func (e *external) material(te *ca.TestEntity) (*imagesig.Material, error) {
	m := &imagesig.Material{}
	vc, err := te.VerificationContent()
	if err != nil {
		return nil, err
	}
	m.Certificate = vc.Certificate()
	sc, err := te.SignatureContent()
	if err != nil {
		return nil, err
	}
	if env := sc.EnvelopeContent(); env != nil {
		m.Envelope = env.RawEnvelope()
	} else {
		m.Signature = sc.Signature()
	}
	if !e.noTS {
		ts, err := te.Timestamps()
		if err != nil || len(ts) == 0 {
			return nil, fmt.Errorf("sigtest: no timestamp: %v", err)
		}
		m.Timestamp = ts[0]
	}
	if !e.noLog {
		entries, err := te.TlogEntries()
		if err != nil || len(entries) == 0 {
			return nil, fmt.Errorf("sigtest: no log entry: %v", err)
		}
		if m.Entry, err = e.protoEntry(entries[0]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// protoEntry completes the log entry's protobuf form with what a Rekor
// response carries: its kind and version, and the signed entry timestamp
// (which tlog.Entry keeps to itself, so it is signed again here).
func (e *external) protoEntry(en *tlog.Entry) (*protorekor.TransparencyLogEntry, error) {
	tle := en.TransparencyLogEntry()
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(tle.GetCanonicalizedBody(), &kv); err != nil {
		return nil, err
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion}
	set, err := e.v.CA.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		return nil, err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	return tle, nil
}

// expiredStatement signs with a leaf certificate of the second CA that was
// valid from 30 to 20 minutes before now.
func (e *external) expiredStatement(statement []byte) (*imagesig.Material, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := ca.GenerateLeafCert(e.identity, e.issuer, time.Now().Add(-30*time.Minute), key, e.v.oldInter, e.v.oldKey)
	if err != nil {
		return nil, err
	}
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	signer, err := dsse.NewEnvelopeSigner(&sigdsse.SignerAdapter{SignatureSigner: sv, Pub: &key.PublicKey})
	if err != nil {
		return nil, err
	}
	env, err := signer.SignPayload(context.Background(), "application/vnd.in-toto+json", statement)
	if err != nil {
		return nil, err
	}
	return &imagesig.Material{Envelope: env, Certificate: cert}, nil
}

var _ imagesig.External = (*external)(nil)
