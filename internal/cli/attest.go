package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/sbom"
)

// signFlags are the flags of `mamori sign image` and `mamori attest sbom`.
type signFlags struct {
	key      string
	layout   string
	insecure bool
	timeout  time.Duration
	// attest sbom only
	sbom     string
	platform string
}

func (fl *signFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&fl.key, "key", "", "PEM private key to sign with: PKCS#8, EC, RSA, or cosign's encrypted format (password from $MAMORI_KEY_PASSWORD or $COSIGN_PASSWORD)")
	f.StringVar(&fl.layout, "layout", "bundle", "how to attach: bundle (a Sigstore bundle as an OCI referrer, as cosign v3) or classic (cosign's .sig/.att tags)")
	f.BoolVar(&fl.insecure, "insecure", false, "allow plain HTTP to the registry (loopback registries are spoken to over HTTP anyway)")
	f.DurationVar(&fl.timeout, "timeout", 10*time.Minute, "longest the whole command may take")
	_ = cmd.MarkFlagRequired("key")
}

func newSign(stdio IO) *cobra.Command {
	sign := &cobra.Command{Use: "sign", Short: "Sign container images with a key"}
	fl := &signFlags{}
	image := &cobra.Command{
		Use:   "image IMAGE",
		Short: "Sign an image's digest with a key and attach the signature to it in the registry",
		Long: `Sign the digest the image reference names (a tag is resolved first) with a private key,
and attach the signature as cosign does: a Sigstore bundle referrer (cosign v3, the default)
or a layer of the classic sha256-<digest>.sig tag. No certificate and no transparency log
entry are made: verify with the public key (mamori verify image --key, cosign verify --key
with --insecure-ignore-tlog). Generate a key pair with cosign generate-key-pair or openssl.`,
		Example: `  mamori sign image --key cosign.key registry.example.com/shop/api:1.4
  COSIGN_PASSWORD=… mamori sign image --key cosign.key --layout classic registry.example.com/shop/api@sha256:…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd.Context(), stdio, fl, args[0], "")
		},
	}
	fl.register(image)
	sign.AddCommand(image)
	return sign
}

func newAttest(stdio IO) *cobra.Command {
	attest := &cobra.Command{Use: "attest", Short: "Sign statements about container images and attach them"}
	fl := &signFlags{}
	sbomCmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "Attach a signed CycloneDX SBOM attestation to an image",
		Long: `Generate the image's CycloneDX SBOM exactly as mamori scan image --format cyclonedx does
(or take an existing one with --sbom), sign it as an in-toto statement of predicate type
https://cyclonedx.org/bom about the digest the reference names, and attach it: a Sigstore
bundle referrer (cosign v3, the default) or a layer of the classic sha256-<digest>.att tag.
An image whose inventory could not be read completely is not attested.`,
		Example: `  mamori attest sbom --key cosign.key registry.example.com/shop/api:1.4
  mamori attest sbom --key cosign.key --sbom bom.cdx.json registry.example.com/shop/api@sha256:…
  mamori verify image --key cosign.pub --attestation cyclonedx registry.example.com/shop/api:1.4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd.Context(), stdio, fl, args[0], imagesig.PredicateCycloneDX)
		},
	}
	fl.register(sbomCmd)
	f := sbomCmd.Flags()
	f.StringVar(&fl.sbom, "sbom", "", "attach this CycloneDX JSON SBOM instead of generating one")
	f.StringVar(&fl.platform, "platform", "", "platform whose packages the SBOM lists, for a multi-platform image, e.g. linux/arm64 (default linux/amd64); the attestation is about the digest the reference names")
	attest.AddCommand(sbomCmd)
	return attest
}

// runSign signs the image, or attests predicateType about it.
func runSign(ctx context.Context, stdio IO, fl *signFlags, image, predicateType string) error {
	layout := imagesig.Layout(fl.layout)
	if layout != imagesig.LayoutBundle && layout != imagesig.LayoutClassic {
		return fmt.Errorf("--layout %q: want bundle or classic", fl.layout)
	}
	var given []byte
	if fl.sbom != "" {
		var err error
		if given, err = readCycloneDX(fl.sbom); err != nil {
			return err
		}
	}
	// The key is read before any registry: a wrong password should not
	// cost a pull.
	signer, keyID, err := loadSigner(envOr(stdio), fl.key)
	if err != nil {
		return err
	}
	if fl.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fl.timeout)
		defer cancel()
	}
	client := imagesig.NewClient(imagesig.ClientOptions{Insecure: fl.insecure})
	ref, err := client.ParseReference(image)
	if err != nil {
		return fmt.Errorf("parse image reference %q: %w", image, err)
	}
	dig, err := client.Resolve(ctx, image)
	if err != nil {
		return err
	}
	var out strings.Builder
	verb := "signed"
	if predicateType != "" {
		verb = "attested"
	}
	fmt.Fprintf(&out, "%s %s", verb, dig)
	if _, byDigest := ref.(name.Digest); !byDigest {
		fmt.Fprintf(&out, " (resolved from %s)", image)
	}
	out.WriteString("\n")

	if predicateType == "" {
		if layout == imagesig.LayoutBundle {
			err = client.SignBundle(ctx, dig, signer)
		} else {
			err = client.SignClassic(ctx, dig, signer)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(&out, "  signature  %s\n", attachedWhere(dig, layout, imagesig.KindSignature, imagesig.PredicateCosignSign))
	} else {
		predicate, what := given, "from "+fl.sbom
		if predicate == nil {
			if predicate, what, err = generateSBOM(ctx, stdio, fl, dig); err != nil {
				return err
			}
		}
		if err := client.Attest(ctx, dig, signer, predicateType, predicate, layout); err != nil {
			return err
		}
		fmt.Fprintf(&out, "  predicate  %s\n", predicateType)
		fmt.Fprintf(&out, "  SBOM       %s: %s\n", what, sbomSummary(predicate))
		fmt.Fprintf(&out, "  attached   %s\n", attachedWhere(dig, layout, imagesig.KindAttestation, predicateType))
	}
	fmt.Fprintf(&out, "  key ID     %s\n", keyID)
	_, err = fmt.Fprint(stdio.Out, out.String())
	return err
}

// attachedWhere says where the signature or attestation went.
func attachedWhere(dig name.Digest, layout imagesig.Layout, kind imagesig.Kind, predicateType string) string {
	if layout == imagesig.LayoutBundle {
		return fmt.Sprintf("a Sigstore bundle (DSSE, predicate type %s) attached as an OCI referrer of %s", predicateType, dig)
	}
	suffix := "sig"
	if kind == imagesig.KindAttestation {
		suffix = "att"
	}
	tag := dig.Context().Tag(strings.Replace(dig.DigestStr(), ":", "-", 1) + "." + suffix)
	return fmt.Sprintf("a layer of %s (cosign's classic layout)", tag)
}

// loadSigner reads a private key. A cosign-encrypted key takes its
// password from the environment, as cosign does; neither the key nor the
// password ever reaches output.
func loadSigner(getenv func(string) string, path string) (*imagesig.Signer, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("--key: %w", err)
	}
	password := getenv("MAMORI_KEY_PASSWORD")
	if password == "" {
		password = getenv("COSIGN_PASSWORD")
	}
	key, err := imagesig.LoadPrivateKey(data, []byte(password))
	if err != nil {
		if b, _ := pem.Decode(data); b != nil && strings.Contains(b.Type, "ENCRYPTED") && password == "" {
			return nil, "", fmt.Errorf("--key %s: the key is encrypted: give its password in $MAMORI_KEY_PASSWORD or $COSIGN_PASSWORD", path)
		}
		return nil, "", fmt.Errorf("--key %s: %w", path, err)
	}
	s, err := imagesig.NewSigner(key)
	if err != nil {
		return nil, "", fmt.Errorf("--key %s: %w", path, err)
	}
	return s, imagesig.KeyID(key.Public()), nil
}

// generateSBOM takes the image's inventory and writes its CycloneDX SBOM
// as `mamori scan image --format cyclonedx` does (collect and the same
// sbom.Meta as writeSBOM), from the digest being attested so that a tag
// moved meanwhile cannot make the SBOM describe another image.
func generateSBOM(ctx context.Context, stdio IO, fl *signFlags, dig name.Digest) ([]byte, string, error) {
	afl := &artifactFlags{insecure: fl.insecure, platform: fl.platform}
	art, err := collect(ctx, stdio, "image", afl, dig.String(), true, nil)
	if err != nil {
		return nil, "", err
	}
	if len(art.inv.Problems) > 0 {
		for _, p := range art.inv.Problems {
			fmt.Fprintln(stdio.Err, "error:", problem(p).String())
		}
		return nil, "", fmt.Errorf("%s: %d files of the image could not be read: not attesting an incomplete SBOM", dig, len(art.inv.Problems))
	}
	var buf bytes.Buffer
	meta := sbom.Meta{Name: art.name, Kind: "image", Digest: art.digest, ToolVersion: Version, Timestamp: time.Now().UTC()}
	if err := sbom.WriteCycloneDX(&buf, art.inv, meta); err != nil {
		return nil, "", fmt.Errorf("write SBOM of %s: %w", dig, err)
	}
	what := "generated by mamori"
	if art.digest != "" && art.digest != dig.DigestStr() {
		what += fmt.Sprintf(" from platform manifest %s", art.digest)
	}
	return buf.Bytes(), what, nil
}

// readCycloneDX reads an SBOM to attach, refusing what is not CycloneDX
// JSON: the predicate type would lie.
func readCycloneDX(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sbom: %w", err)
	}
	var doc struct {
		BOMFormat string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--sbom %s: not JSON: %w", path, err)
	}
	if doc.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("--sbom %s: bomFormat %q: want a CycloneDX JSON SBOM", path, doc.BOMFormat)
	}
	return data, nil
}

func sbomSummary(data []byte) string {
	var doc struct {
		SpecVersion string            `json:"specVersion"`
		Components  []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Sprintf("%d bytes", len(data))
	}
	return fmt.Sprintf("CycloneDX %s, %d components, %d bytes", doc.SpecVersion, len(doc.Components), len(data))
}
