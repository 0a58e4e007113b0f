package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/imagesig/sigtest"
)

// sigRegistry starts an in-process registry on loopback, with the OCI
// referrers API, and keeps the machine's own registry credentials out.
func sigRegistry(t *testing.T) (host string, stop func()) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), srv.Close
}

// pushRandom pushes a random image to host/repoTag and returns its digest.
func pushRandom(t *testing.T, host, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	return pushImg(t, host, repoTag, img)
}

func pushImg(t *testing.T, host, repoTag string, img v1.Image) name.Digest {
	t.Helper()
	tag, err := name.NewTag(host + "/" + repoTag)
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

// keyPair is a key pair written to files as cosign and openssl write them.
type keyPair struct {
	priv, pub string // paths
	id        string // imagesig.KeyID of the public key
	key       *ecdsa.PrivateKey
}

func newKeyPair(t *testing.T, dir, base string) keyPair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := imagesig.MarshalPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	kp := keyPair{priv: filepath.Join(dir, base+".key"), pub: filepath.Join(dir, base+".pub"), id: imagesig.KeyID(&k.PublicKey), key: k}
	writeTestFile(t, kp.priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	writeTestFile(t, kp.pub, pub)
	return kp
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// verifyOutput is the part of `verify image --format json` tests read.
type verifyOutput struct {
	Images []struct {
		Image, Digest, Error, Note string
		Verified                   bool
		Reasons                    []string
		Signatures                 *struct {
			Verified    bool
			Authorities []verifyAuthority
		}
		Attestations []struct {
			PredicateType string
			Verified      bool
			Authorities   []verifyAuthority
		}
		Policies []struct {
			Policy, Mode, Error string
			Allowed             bool
			Reasons             []string
			Evidence            []struct{ KeyID, Layout string }
		}
	}
}

type verifyAuthority struct {
	Authority string
	Verified  bool
	Evidence  []struct {
		Kind, Layout, Location, KeyID, Subject, Issuer, CertificateSerial, PredicateType string
		TransparencyLog                                                                  []struct {
			LogID          string
			Index          int64
			IntegratedTime string
			Proof          string
		}
		SignedTimestamps []string
		Conditions       []struct {
			Expression string
			Held       bool
			Error      string
		}
	}
	Rejected []struct{ Location, Reason string }
}

func verifyJSON(t *testing.T, wantCode int, args ...string) verifyOutput {
	t.Helper()
	code, out, errOut := run(t, "", append([]string{"verify", "image", "--format", "json"}, args...)...)
	if code != wantCode {
		t.Fatalf("verify image %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	var v verifyOutput
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return v
}

func mustRun(t *testing.T, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := run(t, "", args...)
	if code != wantCode {
		t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	return out, errOut
}

func TestSignAndVerifyImage(t *testing.T) {
	host, _ := sigRegistry(t)
	dir := t.TempDir()
	release := newKeyPair(t, dir, "release")
	other := newKeyPair(t, dir, "other")

	for _, layout := range []string{"bundle", "classic"} {
		t.Run(layout, func(t *testing.T) {
			img := pushRandom(t, host, "shop/"+layout+":1.0")
			tag := host + "/shop/" + layout + ":1.0"
			out, _ := mustRun(t, ExitClean, "sign", "image", "--key", release.priv, "--layout", layout, tag)
			if !strings.Contains(out, "signed "+img.String()+" (resolved from "+tag+")") || !strings.Contains(out, release.id) {
				t.Errorf("sign output:\n%s", out)
			}

			out, _ = mustRun(t, ExitClean, "verify", "image", "--key", release.pub, tag)
			want := map[string]string{"bundle": "signature   bundle referrer " + host + "/shop/bundle@sha256:",
				"classic": "signature   classic .sig " + host + "/shop/classic:sha256-" + strings.TrimPrefix(img.DigestStr(), "sha256:") + ".sig layer 0"}
			for _, s := range []string{img.DigestStr() + " (resolved from the tag)", want[layout], "key ID      " + release.id, "VERIFIED"} {
				if !strings.Contains(out, s) {
					t.Errorf("verify output lacks %q:\n%s", s, out)
				}
			}

			v := verifyJSON(t, ExitClean, "--key", release.pub, img.String())
			r := v.Images[0]
			if !r.Verified || r.Digest != img.DigestStr() || r.Signatures == nil || len(r.Signatures.Authorities) != 1 {
				t.Fatalf("json: %+v", r)
			}
			ev := r.Signatures.Authorities[0].Evidence
			if len(ev) != 1 || ev[0].KeyID != release.id || ev[0].Layout != layout || ev[0].Kind != "signature" {
				t.Errorf("evidence %+v, want one %s signature by key %s", ev, layout, release.id)
			}

			// The wrong key: exit 1, and the candidate it rejected.
			code, out, _ := run(t, "", "verify", "image", "--key", other.pub, tag)
			if code != ExitFindings || !strings.Contains(out, "NOT VERIFIED: no signature verified for key "+other.pub) || !strings.Contains(out, "rejected") {
				t.Errorf("wrong key: exit %d\n%s", code, out)
			}
			// --require all over both keys fails; any passes.
			mustRun(t, ExitClean, "verify", "image", "--key", release.pub, "--key", other.pub, tag)
			code, out, _ = run(t, "", "verify", "image", "--require", "all", "--key", release.pub, "--key", other.pub, tag)
			if code != ExitFindings || !strings.Contains(out, "no signature verified for key "+other.pub) {
				t.Errorf("--require all: exit %d\n%s", code, out)
			}
		})
	}

	t.Run("unsigned", func(t *testing.T) {
		pushRandom(t, host, "shop/unsigned:1.0")
		v := verifyJSON(t, ExitFindings, "--key", release.pub, host+"/shop/unsigned:1.0")
		if r := v.Images[0]; r.Verified || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "no signature is attached") {
			t.Errorf("unsigned: %+v", r)
		}
	})

	t.Run("one bad image does not hide the others", func(t *testing.T) {
		code, out, _ := run(t, "", "verify", "image", "--key", release.pub, host+"/shop/bundle:1.0", host+"/shop/unsigned:1.0", host+"/shop/nonesuch:1.0")
		if code != ExitError || strings.Count(out, "\n  VERIFIED") != 1 || !strings.Contains(out, "NOT VERIFIED") || !strings.Contains(out, "ERROR: resolve") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("encrypted key", func(t *testing.T) {
		enc, err := imagesig.EncryptPrivateKey(release.key, []byte("correct horse"))
		if err != nil {
			t.Fatal(err)
		}
		encPath := filepath.Join(dir, "cosign.key")
		writeTestFile(t, encPath, enc)
		img := pushRandom(t, host, "shop/enc:1.0")
		t.Setenv("COSIGN_PASSWORD", "")
		t.Setenv("MAMORI_KEY_PASSWORD", "")
		code, out, errOut := run(t, "", "sign", "image", "--key", encPath, img.String())
		if code != ExitError || !strings.Contains(errOut, encPath+": the key is encrypted: give its password in $MAMORI_KEY_PASSWORD or $COSIGN_PASSWORD") {
			t.Errorf("no password: exit %d, stderr %q", code, errOut)
		}
		t.Setenv("COSIGN_PASSWORD", "wrong")
		if code, _, errOut := run(t, "", "sign", "image", "--key", encPath, img.String()); code != ExitError || !strings.Contains(errOut, "wrong password") {
			t.Errorf("wrong password: exit %d, stderr %q", code, errOut)
		}
		t.Setenv("MAMORI_KEY_PASSWORD", "correct horse")
		code, out, errOut = run(t, "", "sign", "image", "--key", encPath, img.String())
		if code != ExitClean {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mustRun(t, ExitClean, "verify", "image", "--key", release.pub, img.String())
		for _, secret := range []string{"correct horse", "PRIVATE KEY", string(enc[40:80])} {
			if strings.Contains(out+errOut, secret) {
				t.Errorf("output shows %q:\n%s%s", secret, out, errOut)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		garbage := filepath.Join(dir, "garbage.pub")
		writeTestFile(t, garbage, []byte("not a key\n"))
		tag := host + "/shop/bundle:1.0"
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"--key", garbage, tag}, "--key " + garbage + ": no PEM block"},
			{[]string{"--key", release.priv, tag}, "--key " + release.priv + `: PEM block "PRIVATE KEY": want PUBLIC KEY`},
			{[]string{"--key", filepath.Join(dir, "nope.pub"), tag}, "nope.pub: no such file"},
			{[]string{tag}, "no signer given"},
			{[]string{"--key", release.pub, "--require", "most", tag}, `--require "most"`},
			{[]string{"--key", release.pub, "--tlog", "required", tag}, "need --trusted-root"},
			{[]string{"--key", release.pub, "--timestamp", "ignore", tag}, `--timestamp "ignore"`},
			{[]string{"--key", release.pub, "--condition", "true", tag}, "give --attestation"},
			{[]string{"--key", release.pub, "--attestation", "sbom", tag}, `--attestation "sbom": want a predicate type URI or one of cyclonedx`},
			{[]string{"--key", release.pub, "--attestation", "cyclonedx", "--condition", "predicate.x ==", tag}, `--condition "predicate.x ==": compilation failed`},
			{[]string{"--key", release.pub, "--attestation", "cyclonedx", "--condition", "'yes'", tag}, "must evaluate to bool, not string"},
			{[]string{"--certificate-identity", "a@example.com", tag}, "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp"},
			{[]string{"--certificate-identity", "a", "--certificate-identity-regexp", "a", "--certificate-oidc-issuer", "x", tag}, "not both"},
			{[]string{"--certificate-identity-regexp", "(", "--certificate-oidc-issuer", "x", tag}, "--certificate-identity-regexp: error parsing regexp"},
			{[]string{"--certificate-identity", "a", "--certificate-oidc-issuer", "x", tag}, "keyless verification needs --trusted-root"},
			{[]string{"--key", release.pub, "--trusted-root", garbage, tag}, "--trusted-root " + garbage},
			{[]string{"--key", release.pub, "--format", "sarif", tag}, `--format "sarif"`},
			{[]string{"--key", release.pub, "Not A Reference"}, "ERROR: parse image reference"},
		} {
			code, out, errOut := run(t, "", append([]string{"verify", "image"}, tt.args...)...)
			if code != ExitError || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("%v: exit %d, want %d and %q\nstdout: %s\nstderr: %s", tt.args, code, ExitError, tt.want, out, errOut)
			}
		}
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"sign", "image", "--key", release.pub, tag}, "--key " + release.pub + `: PEM block "PUBLIC KEY": want a private key`},
			{[]string{"sign", "image", "--key", release.priv, "--layout", "oci", tag}, `--layout "oci"`},
			{[]string{"sign", "image", tag}, `required flag(s) "key" not set`},
			{[]string{"attest", "sbom", "--key", release.priv, "--sbom", garbage, tag}, "--sbom " + garbage + ": not JSON"},
		} {
			code, out, errOut := run(t, "", tt.args...)
			if code != ExitError || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("%v: exit %d, want %d and %q\nstdout: %s\nstderr: %s", tt.args, code, ExitError, tt.want, out, errOut)
			}
		}
	})
}

func TestVerifyRegistryDown(t *testing.T) {
	host, stop := sigRegistry(t)
	kp := newKeyPair(t, t.TempDir(), "k")
	img := pushRandom(t, host, "shop/api:1.0")
	stop()
	for _, ref := range []string{host + "/shop/api:1.0", img.String()} {
		v := verifyJSON(t, ExitError, "--key", kp.pub, ref)
		if r := v.Images[0]; r.Verified || !strings.Contains(r.Error, "connect") {
			t.Errorf("%s: %+v, want a connection error", ref, r)
		}
	}
	if code, _, errOut := run(t, "", "sign", "image", "--key", kp.priv, img.String()); code != ExitError || !strings.Contains(errOut, "connect") {
		t.Errorf("sign against a dead registry: exit %d, %s", code, errOut)
	}
}

// TestVerifyRegistryHangs: a registry that never answers costs --timeout,
// then the image is reported as not checked (exit 2).
func TestVerifyRegistryHangs(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	kp := newKeyPair(t, t.TempDir(), "k")
	v := verifyJSON(t, ExitError, "--key", kp.pub, "--timeout", "200ms", host+"/shop/api:1.0", host+"/shop/api@sha256:"+strings.Repeat("a", 64))
	for _, r := range v.Images {
		if r.Verified || !strings.Contains(r.Error, "--timeout exceeded") {
			t.Errorf("%s: %+v, want a timeout", r.Image, r)
		}
	}
}

// TestVerifyKeyless signs with a virtual Sigstore (in-memory Fulcio, Rekor
// and timestamp authority) and verifies against its trusted_root.json.
func TestVerifyKeyless(t *testing.T) {
	host, _ := sigRegistry(t)
	vs := sigtest.NewVirtual(t)
	dir := t.TempDir()
	trustedRoot := filepath.Join(dir, "trusted_root.json")
	writeTestFile(t, trustedRoot, vs.TrustedRootJSON(t))
	const identity, issuer = "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main", "https://token.actions.githubusercontent.com"
	signer := vs.Signer(identity, issuer)
	client := imagesig.NewClient(imagesig.ClientOptions{})
	bundle := pushRandom(t, host, "shop/keyless-bundle:1.0")
	classic := pushRandom(t, host, "shop/keyless-classic:1.0")
	if err := client.SignBundle(context.Background(), bundle, signer); err != nil {
		t.Fatal(err)
	}
	if err := client.SignClassic(context.Background(), classic, signer); err != nil {
		t.Fatal(err)
	}

	for _, img := range []name.Digest{bundle, classic} {
		for _, idFlags := range [][]string{
			{"--certificate-identity", identity, "--certificate-oidc-issuer", issuer},
			{"--certificate-identity-regexp", `^https://github\.com/acme/`, "--certificate-oidc-issuer-regexp", `^https://token\.actions\.`},
		} {
			v := verifyJSON(t, ExitClean, append(idFlags, "--trusted-root", trustedRoot, "--tlog", "required", "--timestamp", "required", img.String())...)
			ev := v.Images[0].Signatures.Authorities[0].Evidence
			if len(ev) != 1 {
				t.Fatalf("%s: evidence %+v", img, ev)
			}
			e := ev[0]
			if e.Subject != identity || e.Issuer != issuer || e.CertificateSerial == "" || e.KeyID == "" {
				t.Errorf("%s: identity in evidence %+v", img, e)
			}
			if len(e.TransparencyLog) != 1 || e.TransparencyLog[0].LogID == "" || e.TransparencyLog[0].Proof == "" || e.TransparencyLog[0].IntegratedTime == "" {
				t.Errorf("%s: log entries %+v", img, e.TransparencyLog)
			}
			if len(e.SignedTimestamps) != 1 {
				t.Errorf("%s: signed timestamps %v", img, e.SignedTimestamps)
			}
		}
		out, _ := mustRun(t, ExitClean, "verify", "image", "--certificate-identity", identity, "--certificate-oidc-issuer", issuer, "--trusted-root", trustedRoot, img.String())
		for _, s := range []string{"identity    " + identity + " (issuer " + issuer + ")", "tlog        log ", "timestamp   "} {
			if !strings.Contains(out, s) {
				t.Errorf("table lacks %q:\n%s", s, out)
			}
		}
		code, out, _ := run(t, "", "verify", "image", "--certificate-identity", "https://github.com/evil/shop/.github/workflows/release.yml@refs/heads/main",
			"--certificate-oidc-issuer", issuer, "--trusted-root", trustedRoot, img.String())
		if code != ExitFindings || !strings.Contains(out, "NOT VERIFIED: no signature verified for keyless") {
			t.Errorf("%s, wrong identity: exit %d\n%s", img, code, out)
		}
		// A key does not verify a certificate's signature.
		kp := newKeyPair(t, dir, "k")
		if code, out, _ := run(t, "", "verify", "image", "--key", kp.pub, img.String()); code != ExitFindings || !strings.Contains(out, "signed with a certificate, not the authority's key") {
			t.Errorf("%s, key against keyless: exit %d\n%s", img, code, out)
		}
	}
}

// debianImage pushes the rootfs fixture (a Debian dpkg database and a
// Python package) as a one-layer image.
func debianImage(t *testing.T, host, repoTag string) name.Digest {
	t.Helper()
	layer, err := tarball.LayerFromFile(tarDir(t, rootfs, "var", "etc", "usr"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	return pushImg(t, host, repoTag, img)
}

// attestedSBOM reads back the verified CycloneDX statement attached to img.
func attestedSBOM(t *testing.T, img name.Digest, pubPath string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := imagesig.LoadPublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	att, err := imagesig.NewClient(imagesig.ClientOptions{}).Fetch(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	ev, rej := att.Verify(&imagesig.Authority{Name: "k", Key: pub}, imagesig.KindAttestation, imagesig.PredicateCycloneDX)
	if len(ev) != 1 {
		t.Fatalf("%d verified SBOMs, rejected %+v", len(ev), rej)
	}
	p, ok := ev[0].Statement.Predicate.(map[string]any)
	if !ok {
		t.Fatalf("predicate %T", ev[0].Statement.Predicate)
	}
	return p
}

func TestAttestSBOM(t *testing.T) {
	host, _ := sigRegistry(t)
	dir := t.TempDir()
	kp := newKeyPair(t, dir, "release")
	img := debianImage(t, host, "shop/api:1.0")
	tag := host + "/shop/api:1.0"

	out, _ := mustRun(t, ExitClean, "attest", "sbom", "--key", kp.priv, tag)
	for _, s := range []string{"attested " + img.String() + " (resolved from " + tag + ")", "predicate  https://cyclonedx.org/bom",
		"generated by mamori: CycloneDX 1.6, 5 components", "OCI referrer of " + img.String(), kp.id} {
		if !strings.Contains(out, s) {
			t.Errorf("attest output lacks %q:\n%s", s, out)
		}
	}

	// The attested SBOM is the one `scan image --format cyclonedx` writes.
	bomPath := filepath.Join(dir, "bom.json")
	mustRun(t, ExitClean, "scan", "image", "--format", "cyclonedx", "-o", bomPath, img.String())
	var scanned map[string]any
	if err := json.Unmarshal(must(os.ReadFile(bomPath)), &scanned); err != nil {
		t.Fatal(err)
	}
	attested := attestedSBOM(t, img, kp.pub)
	for _, field := range []string{"components", "dependencies", "bomFormat", "specVersion"} {
		a, _ := json.Marshal(attested[field])
		s, _ := json.Marshal(scanned[field])
		if string(a) != string(s) || string(a) == "null" {
			t.Errorf("%s differs:\nattested %s\nscanned  %s", field, a, s)
		}
	}

	cond := `predicate.bomFormat == "CycloneDX"`
	hasSSL := `predicate.components.exists(c, c.name == "libssl3")`
	v := verifyJSON(t, ExitClean, "--key", kp.pub, "--attestation", "cyclonedx", "--condition", cond, "--condition", hasSSL, tag)
	r := v.Images[0]
	if r.Signatures != nil || len(r.Attestations) != 1 || !r.Attestations[0].Verified {
		t.Fatalf("json: %+v", r)
	}
	ev := r.Attestations[0].Authorities[0].Evidence
	if len(ev) != 1 || ev[0].PredicateType != imagesig.PredicateCycloneDX || ev[0].KeyID != kp.id || len(ev[0].Conditions) != 2 || !ev[0].Conditions[0].Held || !ev[0].Conditions[1].Held {
		t.Errorf("evidence %+v", ev)
	}

	// A condition that does not hold names itself; one that errs says why.
	code, out, _ := run(t, "", "verify", "image", "--key", kp.pub, "--attestation", "cyclonedx", "--condition", cond, "--condition", `predicate.components.size() > 100`, tag)
	if code != ExitFindings || !strings.Contains(out, "condition   predicate.components.size() > 100: FALSE") ||
		!strings.Contains(out, "condition predicate.components.size() > 100 is false") || !strings.Contains(out, "condition   "+cond+": held") {
		t.Errorf("false condition: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", "verify", "image", "--key", kp.pub, "--attestation", "cyclonedx", "--condition", `predicate.nonesuch == 1`, tag)
	if code != ExitFindings || !strings.Contains(out, "no such key: nonesuch") {
		t.Errorf("erring condition: exit %d\n%s", code, out)
	}
	// The image is attested, not signed: --signatures asks for both.
	code, out, _ = run(t, "", "verify", "image", "--key", kp.pub, "--attestation", "cyclonedx", "--signatures", tag)
	if code != ExitFindings || !strings.Contains(out, "no signature verified for key") || !strings.Contains(out, "attestation https://cyclonedx.org/bom verified") {
		t.Errorf("--signatures: exit %d\n%s", code, out)
	}
	// Another predicate type is not there.
	if code, out, _ := run(t, "", "verify", "image", "--key", kp.pub, "--attestation", "slsaprovenance1", tag); code != ExitFindings || !strings.Contains(out, "none of that type is attached") {
		t.Errorf("missing provenance: exit %d\n%s", code, out)
	}

	t.Run("classic layout and a given SBOM", func(t *testing.T) {
		img := pushRandom(t, host, "shop/given:1.0")
		given := filepath.Join(dir, "given.json")
		writeTestFile(t, given, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"left-pad","version":"1.3.0"}]}`))
		out, _ := mustRun(t, ExitClean, "attest", "sbom", "--key", kp.priv, "--layout", "classic", "--sbom", given, img.String())
		if !strings.Contains(out, "from "+given+": CycloneDX 1.5, 1 components") || !strings.Contains(out, ":sha256-"+img.DigestStr()[7:]+".att") {
			t.Errorf("attest output:\n%s", out)
		}
		v := verifyJSON(t, ExitClean, "--key", kp.pub, "--attestation", imagesig.PredicateCycloneDX, "--condition", `predicate.components[0].name == "left-pad" && digest == "`+img.DigestStr()+`"`, img.String())
		if ev := v.Images[0].Attestations[0].Authorities[0].Evidence; len(ev) != 1 || ev[0].Layout != "classic" {
			t.Errorf("evidence %+v", ev)
		}
		spdx := filepath.Join(dir, "spdx.json")
		writeTestFile(t, spdx, []byte(`{"spdxVersion":"SPDX-2.3"}`))
		if code, _, errOut := run(t, "", "attest", "sbom", "--key", kp.priv, "--sbom", spdx, img.String()); code != ExitError || !strings.Contains(errOut, `bomFormat "": want a CycloneDX JSON SBOM`) {
			t.Errorf("SPDX given: exit %d, %s", code, errOut)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVerifyPolicy judges by ImageVerificationPolicy files, with the
// engine the webhook uses, and compares with the flags' verdicts.
func TestVerifyPolicy(t *testing.T) {
	host, _ := sigRegistry(t)
	dir := t.TempDir()
	kp := newKeyPair(t, filepath.Join(dir, "keys"), "release")
	good := pushRandom(t, host, "team/good:1.0")
	unsigned := pushRandom(t, host, "team/unsigned:1.0")
	noSBOM := pushRandom(t, host, "team/no-sbom:1.0")
	for _, d := range []name.Digest{good, noSBOM} {
		mustRun(t, ExitClean, "sign", "image", "--key", kp.priv, d.String())
	}
	given := filepath.Join(dir, "bom.json")
	writeTestFile(t, given, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"zlib"}]}`))
	mustRun(t, ExitClean, "attest", "sbom", "--key", kp.priv, "--sbom", given, good.String())

	pol := filepath.Join(dir, "policies.yaml")
	writeTestFile(t, pol, fmt.Appendf(nil, `apiVersion: mamori.dev/v1alpha1
kind: ImageVerificationPolicy
metadata: {name: signed-team}
spec:
  title: Team images are signed and carry an SBOM
  images: ["%s/team/**"]
  excludeImages: ["%s/team/debug-*"]
  authorities:
  - name: release
    key: {file: keys/release.pub}
  signatures: {require: anyOf}
  attestations:
  - name: sbom
    predicateType: https://cyclonedx.org/bom
    conditions:
    - expression: predicate.components.size() > 0
      message: the SBOM lists no components
`, host, host))

	flags := []string{"--key", kp.pub, "--attestation", "cyclonedx", "--signatures", "--condition", "predicate.components.size() > 0"}
	for _, tt := range []struct {
		img  string
		want int
	}{{good.String(), ExitClean}, {host + "/team/good:1.0", ExitClean}, {unsigned.String(), ExitFindings}, {noSBOM.String(), ExitFindings}} {
		v := verifyJSON(t, tt.want, "--policy", pol, tt.img)
		r := v.Images[0]
		if len(r.Policies) != 1 || r.Policies[0].Policy != "signed-team" || r.Policies[0].Allowed != (tt.want == ExitClean) {
			t.Errorf("%s: %+v", tt.img, r)
		}
		byFlags := verifyJSON(t, tt.want, append(flags, tt.img)...)
		if byFlags.Images[0].Verified != r.Verified {
			t.Errorf("%s: policy says verified=%v, flags %v", tt.img, r.Verified, byFlags.Images[0].Verified)
		}
	}
	v := verifyJSON(t, ExitFindings, "--policy", pol, noSBOM.String())
	if p := v.Images[0].Policies[0]; !strings.Contains(strings.Join(p.Reasons, ";"), "no attestation sbom (https://cyclonedx.org/bom) verified") {
		t.Errorf("reasons %q", p.Reasons)
	}
	v = verifyJSON(t, ExitClean, "--policy", pol, good.String())
	if p := v.Images[0].Policies[0]; len(p.Evidence) != 2 || p.Evidence[0].KeyID != kp.id {
		t.Errorf("evidence %+v, want the signature and the SBOM by %s", p.Evidence, kp.id)
	}
	// An image no policy matches is not checked, as at admission.
	v = verifyJSON(t, ExitClean, "--policy", pol, host+"/team/debug-shell:1.0")
	if r := v.Images[0]; len(r.Policies) != 0 || !strings.Contains(r.Note, "no ImageVerificationPolicy matches") {
		t.Errorf("unmatched: %+v", r)
	}

	// warn mode: reported, admitted.
	warn := filepath.Join(dir, "warn.yaml")
	writeTestFile(t, warn, []byte(strings.Replace(string(must(os.ReadFile(pol))), "  images:", "  mode: warn\n  images:", 1)))
	out, _ := mustRun(t, ExitClean, "verify", "image", "--policy", warn, unsigned.String())
	if !strings.Contains(out, "NOT SATISFIED; admitted (mode warn)") || !strings.Contains(out, "no signature verified for authority release") {
		t.Errorf("warn mode:\n%s", out)
	}

	broken := filepath.Join(dir, "broken.yaml")
	writeTestFile(t, broken, []byte("apiVersion: mamori.dev/v1alpha1\nkind: ImageVerificationPolicy\nmetadata: {name: x}\nspec:\n  title: x\n  images: ['**']\n  authorities:\n  - name: k\n    key: {file: nope.pub}\n  signatures: {}\n"))
	if code, _, errOut := run(t, "", "verify", "image", "--policy", broken, good.String()); code != ExitError || !strings.Contains(errOut, broken+":9:") {
		t.Errorf("broken policy: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run(t, "", "verify", "image", "--policy", pol, "--key", kp.pub, good.String()); code != ExitError || !strings.Contains(errOut, "--key and --policy exclude each other") {
		t.Errorf("--policy with --key: exit %d, %s", code, errOut)
	}
}

// BenchmarkVerifyImageKey is a whole `mamori verify image --key` of one
// bundle-signed image on a loopback registry, in process: resolve, fetch,
// verify, print.
func BenchmarkVerifyImageKey(b *testing.B) {
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	b.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pub, _ := imagesig.MarshalPublicKey(&k.PublicKey)
	pubPath := filepath.Join(b.TempDir(), "k.pub")
	if err := os.WriteFile(pubPath, pub, 0o600); err != nil {
		b.Fatal(err)
	}
	img, _ := random.Image(512, 1)
	tag, _ := name.NewTag(host + "/shop/api:1.0")
	if err := remote.Write(tag, img); err != nil {
		b.Fatal(err)
	}
	d, _ := img.Digest()
	s, _ := imagesig.NewSigner(k)
	if err := imagesig.NewClient(imagesig.ClientOptions{}).SignBundle(context.Background(), tag.Context().Digest(d.String()), s); err != nil {
		b.Fatal(err)
	}
	for _, ref := range []string{tag.String(), tag.Context().Digest(d.String()).String()} {
		name := "tag"
		if strings.Contains(ref, "@") {
			name = "digest"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var out, errb strings.Builder
				if code := Run(context.Background(), []string{"verify", "image", "--key", pubPath, ref}, IO{Out: &out, Err: &errb}); code != 0 {
					b.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
				}
			}
		})
	}
}

// TestDocConditions runs the CEL examples of docs/supply-chain.md on
// attestations shaped like what SLSA generators and cosign's vuln type
// (with Trivy's JSON) attach.
func TestDocConditions(t *testing.T) {
	host, _ := sigRegistry(t)
	kp := newKeyPair(t, t.TempDir(), "ci")
	s, err := imagesig.NewSigner(kp.key)
	if err != nil {
		t.Fatal(err)
	}
	client := imagesig.NewClient(imagesig.ClientOptions{})
	provenance := `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1","externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/acme/shop","path":".github/workflows/release.yml"}}},
"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}`
	scan := func(finished, severity string) string {
		return `{"invocation":{},"scanner":{"uri":"pkg:github/aquasecurity/trivy@v0.58.0","version":"0.58.0","result":{"SchemaVersion":2,
"Results":[{"Target":"debian","Vulnerabilities":[{"VulnerabilityID":"CVE-2023-5363","Severity":"` + severity + `"}]},{"Target":"app"}]}},
"metadata":{"scanStartedOn":"` + finished + `","scanFinishedOn":"` + finished + `"}}`
	}
	fresh := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	stale := time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	images := map[string]name.Digest{}
	for _, tt := range []struct{ repo, scan string }{{"good", scan(fresh, "HIGH")}, {"critical", scan(fresh, "CRITICAL")}, {"stale", scan(stale, "LOW")}} {
		img := pushRandom(t, host, "shop/"+tt.repo+":1")
		images[tt.repo] = img
		if err := client.Attest(context.Background(), img, s, imagesig.PredicateSLSA1, []byte(provenance), imagesig.LayoutBundle); err != nil {
			t.Fatal(err)
		}
		if err := client.Attest(context.Background(), img, s, imagesig.PredicateVuln, []byte(tt.scan), imagesig.LayoutClassic); err != nil {
			t.Fatal(err)
		}
	}
	slsa := []string{"--attestation", "slsaprovenance1",
		"--condition", `predicate.runDetails.builder.id == "https://github.com/actions/runner/github-hosted"`,
		"--condition", `predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/shop"`}
	vuln := []string{"--attestation", "vuln",
		"--condition", `now - timestamp(predicate.metadata.scanFinishedOn) < duration('168h')`,
		"--condition", `!has(predicate.scanner.result.Results) || predicate.scanner.result.Results.all(r, !has(r.Vulnerabilities) || r.Vulnerabilities.all(v, v.Severity != "CRITICAL"))`}
	for repo, want := range map[string]int{"good": ExitClean, "critical": ExitFindings, "stale": ExitFindings} {
		verifyJSON(t, ExitClean, append(append([]string{"--key", kp.pub}, slsa...), images[repo].String())...)
		v := verifyJSON(t, want, append(append([]string{"--key", kp.pub}, vuln...), images[repo].String())...)
		if want != ExitClean && !strings.Contains(strings.Join(v.Images[0].Reasons, ";"), " is false") {
			t.Errorf("%s: reasons %q", repo, v.Images[0].Reasons)
		}
	}
	// Another repository in the provenance fails.
	bad := slices.Clone(slsa)
	bad[len(bad)-1] = strings.Replace(bad[len(bad)-1], "acme/shop", "acme/other", 1)
	verifyJSON(t, ExitFindings, append(append([]string{"--key", kp.pub}, bad...), images["good"].String())...)
}

// TestConditionEval: --condition sees what policy conditions see, numbers
// decoded as json.Number included (without the shared statement being
// edited), and an expression too costly for the limit is an error.
func TestConditionEval(t *testing.T) {
	items := make([]any, 2000)
	for i := range items {
		items[i] = json.Number(fmt.Sprint(i))
	}
	st := &imagesig.Statement{Type: "https://in-toto.io/Statement/v1", PredicateType: imagesig.PredicateVuln,
		Subject:   []map[string]any{{"name": "r/x", "digest": map[string]any{"sha256": "ab"}}},
		Predicate: map[string]any{"count": json.Number("3"), "ratio": json.Number("0.5"), "items": items, "name": "x"}}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expr string
		want bool
		err  string
	}{
		{`predicate.count == 3 && predicate.ratio < 1`, true, ""},
		{`predicate.count > 2.5`, true, ""},
		{`statement.predicateType == "` + imagesig.PredicateVuln + `" && statement.subject[0].digest.sha256 == "ab"`, true, ""},
		{`image == "r/x:1" && digest == "sha256:ab" && now == timestamp("2026-05-01T00:00:00Z")`, true, ""},
		{`predicate.name.upperAscii() == "X" && predicate.?missing.orValue(1) == 1`, true, ""},
		{`predicate.missing == 1`, false, "no such key: missing"},
		{`predicate.items.all(x, predicate.items.all(y, x != y || x == y))`, false, "cost limit"},
	} {
		c, err := imagepolicy.CompileCondition(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		got, err := c.Eval(context.Background(), st, "r/x:1", "sha256:ab", now)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s = %v, %v; want %v, %q", tt.expr, got, err, tt.want, tt.err)
		}
	}
	if _, ok := st.Predicate.(map[string]any)["count"].(json.Number); !ok {
		t.Error("the statement was edited")
	}
	if _, err := imagepolicy.CompileCondition(strings.Repeat("true && ", 2000) + "true"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a long expression: %v", err)
	}
}
