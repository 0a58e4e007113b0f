package imagesig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncryptPrivateKey(key, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadPrivateKey(enc, []byte("s3cret"))
	if err != nil || !key.Equal(got) {
		t.Fatalf("encrypted key round trip: %v", err)
	}
	if _, err := LoadPrivateKey(enc, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("wrong password: %v", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	if got, err := LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil); err != nil || !key.Equal(got) {
		t.Errorf("PKCS#8: %v", err)
	}
	pub, err := MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := LoadPublicKey(pub); err != nil || !key.PublicKey.Equal(p) {
		t.Errorf("public key round trip: %v", err)
	}
	if len(KeyID(key.Public())) != 64 {
		t.Errorf("key ID %q", KeyID(key.Public()))
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPub, _ := MarshalPublicKey(small.Public())
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not PEM":     {[]byte("hello"), "no PEM block"},
		"private key": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), `"PRIVATE KEY": want PUBLIC KEY`},
		"garbage":     {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("xx")}), "parse PUBLIC KEY"},
		"small RSA":   {smallPub, "RSA key of 1024 bits"},
	} {
		if _, err := LoadPublicKey(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestClassicObjectErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		kind Kind
		data string
		ann  map[string]string
		want string
	}{
		"no signature":     {KindSignature, `{}`, nil, "no dev.cosignproject.cosign/signature annotation"},
		"bad base64":       {KindSignature, `{}`, map[string]string{annSignature: "%%"}, "annotation dev.cosignproject.cosign/signature"},
		"bad certificate":  {KindSignature, `{}`, map[string]string{annSignature: "AA==", annCertificate: "nope"}, "not a PEM certificate"},
		"bad bundle":       {KindSignature, `{}`, map[string]string{annSignature: "AA==", annBundle: "{"}, "annotation dev.sigstore.cosign/bundle"},
		"envelope":         {KindAttestation, `[]`, nil, "DSSE envelope"},
		"unsigned":         {KindAttestation, `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`, nil, "no signature"},
		"not in-toto":      {KindAttestation, `{"payloadType":"text/plain","payload":"e30=","signatures":[{"sig":"AA=="}]}`, nil, "payload type"},
		"no predicateType": {KindAttestation, `{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`, nil, "no predicateType"},
	} {
		if _, err := classicObject(tc.kind, []byte(tc.data), tc.ann); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if err := checkPayload([]byte(`{"critical":{"type":"other"}}`), "sha256:00"); err == nil || !strings.Contains(err.Error(), "payload type") {
		t.Errorf("payload type: %v", err)
	}
}

func FuzzClassicObject(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"eyJwcmVkaWNhdGVUeXBlIjoieCJ9","signatures":[{"sig":"AA=="}]}`), "AA==", "", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`)
	f.Fuzz(func(t *testing.T, data []byte, sig, cert, bundle string) {
		ann := map[string]string{annSignature: sig, annCertificate: cert, annBundle: bundle}
		for _, k := range []Kind{KindSignature, KindAttestation} {
			obj, err := classicObject(k, data, ann)
			if err == nil && obj.entity == nil {
				t.Fatal("object without entity")
			}
		}
		_ = checkPayload(data, "sha256:00")
	})
}

func FuzzBundleObject(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := bundleObject(data)
		if err == nil && obj.entity == nil {
			t.Fatal("object without entity")
		}
	})
}
