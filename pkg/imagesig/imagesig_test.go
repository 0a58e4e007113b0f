package imagesig_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/imagesig/sigtest"
)

// testRegistry starts an in-process registry on loopback.
func testRegistry(t testing.TB, referrers bool) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrers), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushImage pushes a random image and returns its digest reference.
func pushImage(t testing.TB, host, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/" + repo + ":1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String())
}

func newKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "ecdsa":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keySigner(t testing.TB, k crypto.Signer) *imagesig.Signer {
	t.Helper()
	s, err := imagesig.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fetch(t testing.TB, c *imagesig.Client, img name.Digest) *imagesig.Attached {
	t.Helper()
	a, err := c.Fetch(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func sign(t testing.TB, c *imagesig.Client, img name.Digest, s *imagesig.Signer, layout imagesig.Layout) {
	t.Helper()
	var err error
	if layout == imagesig.LayoutClassic {
		err = c.SignClassic(context.Background(), img, s)
	} else {
		err = c.SignBundle(context.Background(), img, s)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeySignatures(t *testing.T) {
	for _, kind := range []string{"ecdsa", "ed25519", "rsa"} {
		for _, layout := range []imagesig.Layout{imagesig.LayoutClassic, imagesig.LayoutBundle} {
			for _, referrers := range []bool{true, false} {
				if layout == imagesig.LayoutClassic && !referrers {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/referrers=%v", kind, layout, referrers), func(t *testing.T) {
					host := testRegistry(t, referrers)
					img := pushImage(t, host, "app")
					other := pushImage(t, host, "other")
					c := imagesig.NewClient(imagesig.ClientOptions{})
					key := newKey(t, kind)
					sign(t, c, img, keySigner(t, key), layout)

					auth := &imagesig.Authority{Name: "release", Key: key.Public()}
					ev, rej := fetch(t, c, img).Verify(auth, imagesig.KindSignature, "")
					if len(ev) != 1 || len(rej) != 0 {
						t.Fatalf("evidence %+v, rejections %+v", ev, rej)
					}
					if ev[0].Layout != layout || ev[0].KeyID != imagesig.KeyID(key.Public()) || ev[0].Authority != "release" {
						t.Errorf("evidence %+v", ev[0])
					}
					if !referrers && !strings.Contains(ev[0].Location, "@sha256:") {
						t.Errorf("location %q", ev[0].Location)
					}

					// Another key does not verify it.
					wrong := &imagesig.Authority{Name: "other", Key: newKey(t, kind).Public()}
					if ev, rej := fetch(t, c, img).Verify(wrong, imagesig.KindSignature, ""); len(ev) != 0 || len(rej) != 1 {
						t.Errorf("another key: evidence %+v, rejections %+v", ev, rej)
					}
					// An unsigned image has nothing.
					if a := fetch(t, c, other); len(a.Objects) != 0 {
						t.Errorf("unsigned image: %+v", a.Objects)
					}
					// Signing twice in the classic layout adds nothing.
					if layout == imagesig.LayoutClassic {
						sign(t, c, img, keySigner(t, key), layout)
						// ECDSA signatures are randomised, so only they add a layer.
						want := 1
						if kind == "ecdsa" {
							want = 2
						}
						if ev, _ := fetch(t, c, img).Verify(auth, imagesig.KindSignature, ""); len(ev) != want {
							t.Errorf("signed twice with one key: %d signatures, want %d", len(ev), want)
						}
					}
				})
			}
		}
	}
}

func TestKeylessSignaturesAndAttestations(t *testing.T) {
	v := sigtest.NewVirtual(t)
	// The trusted root goes through its file form, as users give it.
	tr, err := root.NewTrustedRootFromJSON(v.TrustedRootJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	const id, issuer = "ci@acme.example", "https://token.actions.example"
	host := testRegistry(t, true)
	c := imagesig.NewClient(imagesig.ClientOptions{})
	for _, layout := range []imagesig.Layout{imagesig.LayoutClassic, imagesig.LayoutBundle} {
		t.Run(string(layout), func(t *testing.T) {
			img := pushImage(t, host, "keyless-"+string(layout))
			s := v.Signer(id, issuer)
			sign(t, c, img, s, layout)
			if err := c.Attest(context.Background(), img, s, imagesig.PredicateCycloneDX, []byte(`{"bomFormat":"CycloneDX","components":[{"name":"openssl"}]}`), layout); err != nil {
				t.Fatal(err)
			}
			a := fetch(t, c, img)
			if len(a.Problems) > 0 {
				t.Fatal(a.Problems)
			}
			auth := &imagesig.Authority{Name: "ci", Identity: &imagesig.Identity{Subject: id, Issuer: issuer}, TrustedRoot: tr,
				TransparencyLog: imagesig.Required, SignedTimestamp: imagesig.Required}
			ev, rej := a.Verify(auth, imagesig.KindSignature, "")
			if len(ev) != 1 || len(rej) != 0 {
				t.Fatalf("signatures: evidence %+v, rejections %+v", ev, rej)
			}
			e := ev[0]
			if e.Subject != id || e.Issuer != issuer || len(e.Log) != 1 || len(e.Timestamps) != 1 || e.SignedAt.IsZero() {
				t.Errorf("evidence %+v", e)
			}
			ev, rej = a.Verify(auth, imagesig.KindAttestation, imagesig.PredicateCycloneDX)
			if len(ev) != 1 || len(rej) != 0 {
				t.Fatalf("attestations: evidence %+v, rejections %+v", ev, rej)
			}
			pred, _ := ev[0].Statement.Predicate.(map[string]any)
			if ev[0].PredicateType != imagesig.PredicateCycloneDX || pred["bomFormat"] != "CycloneDX" {
				t.Errorf("statement %+v", ev[0].Statement)
			}
			if ev, _ := a.Verify(auth, imagesig.KindAttestation, imagesig.PredicateSLSA1); len(ev) != 0 {
				t.Errorf("SLSA attestation found: %+v", ev)
			}

			// Identity and issuer are checked, exactly or by expression.
			for _, bad := range []imagesig.Identity{
				{Subject: "mallory@acme.example", Issuer: issuer},
				{Subject: id, Issuer: "https://accounts.example"},
				{SubjectRegExp: `^.*@evil\.example$`, Issuer: issuer},
			} {
				wrong := *auth
				wrong.Identity = &bad
				if ev, rej := a.Verify(&wrong, imagesig.KindSignature, ""); len(ev) != 0 || len(rej) != 1 || !strings.Contains(rej[0].Reason, "identity") {
					t.Errorf("identity %+v: evidence %+v, rejections %+v", bad, ev, rej)
				}
			}
			re := *auth
			re.Identity = &imagesig.Identity{SubjectRegExp: `^ci@acme\.example$`, IssuerRegExp: `^https://token\.actions\.`}
			if ev, _ := a.Verify(&re, imagesig.KindSignature, ""); len(ev) != 1 {
				t.Error("regular expressions did not match")
			}
			// A key authority does not accept a certificate.
			keyAuth := &imagesig.Authority{Name: "k", Key: newKey(t, "ecdsa").Public()}
			if ev, _ := a.Verify(keyAuth, imagesig.KindSignature, ""); len(ev) != 0 {
				t.Error("a key authority accepted a certificate")
			}
		})
	}
}

// TestTampering changes each part of a signed image's evidence and expects
// the signature to be rejected.
func TestTampering(t *testing.T) {
	v := sigtest.NewVirtual(t)
	tr := v.TrustedRoot(t)
	const id, issuer = "ci@acme.example", "https://issuer.example"
	keyless := &imagesig.Authority{Name: "ci", Identity: &imagesig.Identity{Subject: id, Issuer: issuer}, TrustedRoot: tr}
	key := newKey(t, "ecdsa")
	keyed := &imagesig.Authority{Name: "key", Key: key.Public()}
	c := imagesig.NewClient(imagesig.ClientOptions{})
	ctx := context.Background()

	type tamper struct {
		name   string
		auth   *imagesig.Authority
		setup  func(t *testing.T, host string, img name.Digest)
		reason string
	}
	cases := []tamper{
		{"classic payload", keyed, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, keySigner(t, key), imagesig.LayoutClassic)
			rewriteClassic(t, img, "sig", func(payload []byte, ann map[string]string) []byte {
				return bytes.Replace(payload, []byte(`"optional":null`), []byte(`"optional":{"x":"y"}`), 1)
			})
		}, "signature"},
		{"classic signature", keyed, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, keySigner(t, key), imagesig.LayoutClassic)
			rewriteClassic(t, img, "sig", func(payload []byte, ann map[string]string) []byte {
				sig, _ := base64.StdEncoding.DecodeString(ann["dev.cosignproject.cosign/signature"])
				sig[len(sig)-1] ^= 1
				ann["dev.cosignproject.cosign/signature"] = base64.StdEncoding.EncodeToString(sig)
				return payload
			})
		}, "signature"},
		{"classic signature of another image", keyed, func(t *testing.T, host string, img name.Digest) {
			src := pushImage(t, host, "src")
			sign(t, c, src, keySigner(t, key), imagesig.LayoutClassic)
			copyTag(t, src, img, "sig")
		}, "the signature is for"},
		{"classic certificate of another identity", keyless, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, v.Signer(id, issuer), imagesig.LayoutClassic)
			other := pushImage(t, host, "other")
			sign(t, c, other, v.Signer("mallory@acme.example", issuer), imagesig.LayoutClassic)
			// The swapped certificate no longer matches the log entry.
			otherCert := ""
			rewriteClassic(t, other, "sig", func(p []byte, ann map[string]string) []byte {
				otherCert = ann["dev.sigstore.cosign/certificate"]
				return p
			})
			rewriteClassic(t, img, "sig", func(p []byte, ann map[string]string) []byte {
				ann["dev.sigstore.cosign/certificate"] = otherCert
				return p
			})
		}, "certificate does not match"},
		{"bundle statement", keyed, func(t *testing.T, host string, img name.Digest) {
			src := pushImage(t, host, "src")
			sign(t, c, src, keySigner(t, key), imagesig.LayoutBundle)
			b := bundleOf(t, src)
			b = bytes.Replace(b, b64(src.DigestStr()[7:]), b64(img.DigestStr()[7:]), 1)
			attach(t, c, img, editPayload(t, b, func(p []byte) []byte {
				return bytes.ReplaceAll(p, []byte(src.DigestStr()[7:]), []byte(img.DigestStr()[7:]))
			}))
		}, "signature"},
		{"bundle of another image", keyed, func(t *testing.T, host string, img name.Digest) {
			src := pushImage(t, host, "src")
			sign(t, c, src, keySigner(t, key), imagesig.LayoutBundle)
			attach(t, c, img, bundleOf(t, src))
		}, "digest"},
		{"bundle signature", keyless, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, v.Signer(id, issuer), imagesig.LayoutBundle)
			b := bundleOf(t, img)
			var m map[string]any
			json.Unmarshal(b, &m)
			sigs := m["dsseEnvelope"].(map[string]any)["signatures"].([]any)
			raw, _ := base64.StdEncoding.DecodeString(sigs[0].(map[string]any)["sig"].(string))
			raw[len(raw)-1] ^= 1
			sigs[0].(map[string]any)["sig"] = base64.StdEncoding.EncodeToString(raw)
			b, _ = json.Marshal(m)
			clearReferrers(t, img)
			attach(t, c, img, b)
		}, "signature does not match"},
		{"bundle log entry", keyless, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, v.Signer(id, issuer), imagesig.LayoutBundle)
			b := bundleOf(t, img)
			var m map[string]any
			json.Unmarshal(b, &m)
			e := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
			e["integratedTime"] = fmt.Sprint(time.Now().Add(-time.Hour).Unix())
			b, _ = json.Marshal(m)
			clearReferrers(t, img)
			attach(t, c, img, b)
		}, "log"},
		{"expired certificate without timestamp", keyless, func(t *testing.T, host string, img name.Digest) {
			sign(t, c, img, v.Signer(id, issuer, sigtest.Expired()), imagesig.LayoutBundle)
		}, "expired"},
		{"keyless without log or timestamp, both required", &imagesig.Authority{Name: "ci", Identity: keyless.Identity, TrustedRoot: tr, TransparencyLog: imagesig.Required},
			func(t *testing.T, host string, img name.Digest) {
				sign(t, c, img, v.Signer(id, issuer, sigtest.WithoutLog()), imagesig.LayoutBundle)
			}, "requires"},
		{"key without log, log required", &imagesig.Authority{Name: "key", Key: key.Public(), TransparencyLog: imagesig.Required},
			func(t *testing.T, host string, img name.Digest) {
				sign(t, c, img, keySigner(t, key), imagesig.LayoutBundle)
			}, "requires"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := testRegistry(t, true)
			img := pushImage(t, host, "app")
			tc.setup(t, host, img)
			a, err := c.Fetch(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			ev, rej := a.Verify(tc.auth, imagesig.KindSignature, "")
			if len(ev) != 0 {
				t.Fatalf("tampered signature verified: %+v", ev)
			}
			if len(rej) == 0 && len(a.Problems) == 0 {
				t.Fatal("nothing rejected and no problem reported")
			}
			all := fmt.Sprint(rej, a.Problems)
			if !strings.Contains(all, tc.reason) {
				t.Errorf("reason %q does not mention %q", all, tc.reason)
			}
		})
	}
}

// TestUnreadableObjectsDoNotHideOthers puts a broken layer beside a good
// signature.
func TestUnreadableObjectsDoNotHideOthers(t *testing.T) {
	host := testRegistry(t, true)
	img := pushImage(t, host, "app")
	c := imagesig.NewClient(imagesig.ClientOptions{})
	key := newKey(t, "ecdsa")
	sign(t, c, img, keySigner(t, key), imagesig.LayoutClassic)
	rewriteClassic(t, img, "sig", nil) // appends a layer without a signature annotation
	a := fetch(t, c, img)
	if len(a.Problems) != 1 || !strings.Contains(a.Problems[0], "layer 1: no dev.cosignproject.cosign/signature annotation") {
		t.Errorf("problems %q", a.Problems)
	}
	if ev, _ := a.Verify(&imagesig.Authority{Name: "k", Key: key.Public()}, imagesig.KindSignature, ""); len(ev) != 1 {
		t.Errorf("the good signature: %+v", ev)
	}
}

func TestRegistryDown(t *testing.T) {
	host := testRegistry(t, true)
	img := pushImage(t, host, "app")
	c := imagesig.NewClient(imagesig.ClientOptions{})
	srvDown, _ := name.NewDigest("127.0.0.1:1/app@" + img.DigestStr())
	if _, err := c.Fetch(context.Background(), srvDown); err == nil {
		t.Error("no error from a registry that is not there")
	}
	if _, err := c.Resolve(context.Background(), "127.0.0.1:1/app:1.0"); err == nil {
		t.Error("resolved a tag on a registry that is not there")
	}
	d, err := c.Resolve(context.Background(), host+"/app:1.0")
	if err != nil || d.DigestStr() != img.DigestStr() {
		t.Errorf("resolve: %v %v", d, err)
	}
}

func b64(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }

// rewriteClassic edits every layer of a .sig/.att manifest; with a nil
// edit it appends a layer without annotations.
func rewriteClassic(t *testing.T, img name.Digest, suffix string, edit func(payload []byte, ann map[string]string) []byte) {
	t.Helper()
	tag := img.Context().Tag("sha256-" + img.DigestStr()[7:] + "." + suffix)
	sig, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sig.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.MediaType(emptyOCI(), types.OCIManifestSchema1)
	var adds []mutate.Addendum
	for _, l := range m.Layers {
		layer, err := sig.LayerByDigest(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := layer.Compressed()
		data, _ := io.ReadAll(rc)
		rc.Close()
		ann := map[string]string{}
		for k, v := range l.Annotations {
			ann[k] = v
		}
		if edit != nil {
			data = edit(data, ann)
		}
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(data, l.MediaType), Annotations: ann})
	}
	if edit == nil {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer([]byte(`{}`), l0(m))})
	}
	out, err := mutate.Append(base, adds...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, out); err != nil {
		t.Fatal(err)
	}
}

func l0(m *v1.Manifest) types.MediaType { return m.Layers[0].MediaType }

func emptyOCI() v1.Image {
	img, _ := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(emptyImage(), types.OCIConfigJSON), types.OCIManifestSchema1))
	return img
}

func copyTag(t *testing.T, from, to name.Digest, suffix string) {
	t.Helper()
	src, err := remote.Image(from.Context().Tag("sha256-" + from.DigestStr()[7:] + "." + suffix))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(to.Context().Tag("sha256-"+to.DigestStr()[7:]+"."+suffix), src); err != nil {
		t.Fatal(err)
	}
}

// bundleOf reads the first Sigstore bundle attached to the image.
func bundleOf(t *testing.T, img name.Digest) []byte {
	t.Helper()
	idx, err := remote.Referrers(img)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) == 0 {
		t.Fatal("no referrers")
	}
	art, err := remote.Image(img.Context().Digest(im.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := art.Layers()
	rc, _ := ls[0].Compressed()
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func editPayload(t *testing.T, b []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	p, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString(edit(p))
	out, _ := json.Marshal(m)
	return out
}

func attach(t *testing.T, c *imagesig.Client, img name.Digest, b []byte) {
	t.Helper()
	if err := c.AttachBundle(context.Background(), img, b, imagesig.PredicateCosignSign, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// clearReferrers removes the image's referrers by deleting their manifests.
func clearReferrers(t *testing.T, img name.Digest) {
	t.Helper()
	idx, err := remote.Referrers(img)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	for _, d := range im.Manifests {
		if err := remote.Delete(img.Context().Digest(d.Digest.String())); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBrokenAttachmentsAreProblems: an attached object whose blob is
// missing is what anyone who can push may attach, so it is a problem of
// that object, never a registry error (which the failure policy decides,
// and Ignore would admit).
func TestBrokenAttachmentsAreProblems(t *testing.T) {
	host := testRegistry(t, true)
	img := pushImage(t, host, "app")
	c := imagesig.NewClient(imagesig.ClientOptions{})
	key := newKey(t, "ecdsa")
	sign(t, c, img, keySigner(t, key), imagesig.LayoutBundle)
	missing := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
	 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},
	 "layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":10,
	  "annotations":{"dev.cosignproject.cosign/signature":"AA=="}}]}`
	tag := img.Context().Tag("sha256-" + img.DigestStr()[7:] + ".sig")
	if err := remote.Put(tag, rawManifest(missing)); err != nil {
		t.Fatal(err)
	}
	a, err := c.Fetch(context.Background(), img)
	if err != nil {
		t.Fatalf("a broken attachment made the fetch fail: %v", err)
	}
	if len(a.Problems) != 1 || !strings.Contains(a.Problems[0], ".sig layer 0") {
		t.Errorf("problems %q", a.Problems)
	}
	if ev, _ := a.Verify(&imagesig.Authority{Name: "k", Key: key.Public()}, imagesig.KindSignature, ""); len(ev) != 1 {
		t.Errorf("the good signature beside it: %+v", ev)
	}
}

type rawManifest string

func (r rawManifest) RawManifest() ([]byte, error) { return []byte(r), nil }
func (r rawManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
