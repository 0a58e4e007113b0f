package imagepolicy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

func TestLoadGood(t *testing.T) {
	s, problems := Load(context.Background(), []string{"testdata/load/good.yaml"})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if got := len(s.Policies); got != 2 {
		t.Fatalf("%d policies, want 2", got)
	}
	hub, p := s.Policies[0], s.Policies[1] // sorted by ID
	if hub.ID() != "hub-only-official" || p.ID() != "signed-releases" {
		t.Fatalf("IDs %s, %s", hub.ID(), p.ID())
	}
	if hub.Mode != policy.Warn || hub.Rule.Severity != finding.Medium || hub.CacheTTL != DefaultCacheTTL || hub.FailurePolicy != Fail {
		t.Errorf("hub defaults: mode %s severity %s ttl %s failure %s", hub.Mode, hub.Rule.Severity, hub.CacheTTL, hub.FailurePolicy)
	}
	if p.Mode != policy.Enforce || p.Rule.Severity != finding.High || p.CacheTTL != 10*time.Minute || !p.MutateDigest {
		t.Errorf("signed-releases: mode %s severity %s ttl %s mutate %v", p.Mode, p.Rule.Severity, p.CacheTTL, p.MutateDigest)
	}
	if p.File != "testdata/load/good.yaml" || p.Line != 1 {
		t.Errorf("position %s:%d", p.File, p.Line)
	}
	key, ci := p.Authority("release-key"), p.Authority("ci")
	if key == nil || key.Key == nil || key.KeyRef != "keys/cosign.pub" || key.TrustedRoot != nil {
		t.Fatalf("release-key: %+v", key)
	}
	pem, err := os.ReadFile("testdata/load/keys/cosign.pub")
	if err != nil {
		t.Fatal(err)
	}
	want, err := imagesig.LoadPublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	if imagesig.KeyID(key.Key) != imagesig.KeyID(want) {
		t.Error("release-key is not the key in keys/cosign.pub")
	}
	if ci == nil || ci.TrustedRoot == nil || ci.Identity == nil ||
		*ci.Identity != (imagesig.Identity{Issuer: "https://token.actions.githubusercontent.com", SubjectRegExp: `^https://github\.com/acme/.+@refs/heads/main$`}) {
		t.Fatalf("ci: %+v", ci)
	}
	if len(ci.TrustedRoot.FulcioCertificateAuthorities()) == 0 {
		t.Error("ci's trusted root has no certificate authority")
	}
	if diff := cmp.Diff(&Signatures{Require: AnyOf, Authorities: []string{"release-key", "ci"}}, p.Signatures); diff != "" {
		t.Error(diff)
	}
	if len(p.Attestations) != 2 {
		t.Fatalf("%d attestations", len(p.Attestations))
	}
	sbom, scan := p.Attestations[0], p.Attestations[1]
	if sbom.Name != "sbom" || sbom.PredicateType != imagesig.PredicateCycloneDX || !slicesEqual(sbom.Authorities, []string{"release-key"}) || len(sbom.Conditions) != 1 {
		t.Errorf("sbom: %+v", sbom)
	}
	// Attestations without authorities accept any of the policy's.
	if scan.PredicateType != imagesig.PredicateVuln || !slicesEqual(scan.Authorities, []string{"release-key", "ci"}) {
		t.Errorf("scan: %+v", scan)
	}
	if got := s.Rules(); len(got) != 2 || got[1].ID != "signed-releases" || got[1].Title != "Release images are signed by the release pipeline" {
		t.Errorf("rules: %+v", got)
	}
	// The content hash covers the key file: the same document reading
	// another key is another policy for the cache.
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/load/good.yaml")
	root, _ := os.ReadFile("testdata/load/trusted_root.json")
	writeFile(t, filepath.Join(dir, "good.yaml"), data)
	writeFile(t, filepath.Join(dir, "trusted_root.json"), root)
	writeFile(t, filepath.Join(dir, "keys/cosign.pub"), publicPEM(t, newKey(t)))
	s2, problems := Load(context.Background(), []string{dir})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if s2.Get("signed-releases").Hash == p.Hash {
		t.Error("a policy reading another key has the same hash")
	}
	if s2.Get("hub-only-official").Hash != hub.Hash {
		t.Error("the same policy in another file has another hash")
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func TestLoadProblems(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"fields.yaml", []string{
			`fields.yaml:10: ImageVerificationPolicy unknown-field: unknown field "spec.authorities[0].key.fingerprint"`,
			`fields.yaml:15: ImageVerificationPolicy checks-nothing: the policy checks nothing: give spec.signatures, spec.attestations or spec.allowedRegistries`,
			`fields.yaml:24: ImageVerificationPolicy bad-values: spec.severity: unknown severity "SEVERE" (want one of CRITICAL, HIGH, MEDIUM, LOW, INFO)`,
			`fields.yaml:25: ImageVerificationPolicy bad-values: spec.mode "block": want enforce, warn or audit`,
			`fields.yaml:26: ImageVerificationPolicy bad-values: spec.failurePolicy "Retry": want Fail or Ignore`,
			`fields.yaml:27: ImageVerificationPolicy bad-values: spec.cacheTTL "10 minutes": want a duration such as 10m`,
			`fields.yaml:28: ImageVerificationPolicy bad-values: spec.images[1]: pattern "*" matches no reference (every one has a registry and a repository): use "**" for every image`,
			`fields.yaml:28: ImageVerificationPolicy bad-values: spec.images[2]: pattern "registry.example.com/te am": want a reference with '*', '**' or '?' (letters, digits and . _ - / : @ only)`,
			`fields.yaml:29: ImageVerificationPolicy bad-values: spec.excludeImages[0]: pattern "registry.example.com/***": '***' is not a wildcard (use '*' within a segment, '**' across)`,
			`fields.yaml:30: ImageVerificationPolicy bad-values: spec.allowedRegistries[0]: registry "registry.example.com/team": want a host[:port], optionally with '*' (no path)`,
			`fields.yaml:32: ImageVerificationPolicy future: apiVersion "mamori.dev/v2" is not supported (want mamori.dev/v1alpha1)`,
		}},
		{"authorities.yaml", []string{
			`authorities.yaml:9: ImageVerificationPolicy authorities: spec.authorities[0].key.file: testdata/load/keys/missing.pub: no such file or directory`,
			`authorities.yaml:11: ImageVerificationPolicy authorities: spec.authorities[1].key.pem: no PEM block: want a PEM public key (-----BEGIN PUBLIC KEY-----)`,
			`authorities.yaml:13: ImageVerificationPolicy authorities: spec.authorities[2].keyless.trustedRoot is required: the Sigstore trusted_root.json whose certificate authorities issue the identity's certificates`,
			`authorities.yaml:18: ImageVerificationPolicy authorities: spec.authorities[3].keyless: give subject or subjectRegExp, not both`,
			"authorities.yaml:22: ImageVerificationPolicy authorities: spec.authorities[4].keyless.issuerRegExp: error parsing regexp: missing closing ): `^https://(accounts`",
			`authorities.yaml:29: ImageVerificationPolicy authorities: spec.authorities[5].keyless.trustedRoot: testdata/load/keys/cosign.pub: failed to proto-json unmarshal trusted root`,
			`authorities.yaml:34: ImageVerificationPolicy authorities: spec.authorities[6].keyless.trustedRoot: testdata/load/nowhere.json: no such file or directory`,
			`authorities.yaml:36: ImageVerificationPolicy authorities: spec.authorities[7].key.trustedRoot is required to verify the log entries or timestamps the authority requires`,
			`authorities.yaml:40: ImageVerificationPolicy authorities: spec.authorities[8].signedTimestamp "always": want ifPresent or required`,
			`authorities.yaml:42: ImageVerificationPolicy authorities: spec.signatures.authorities[1]: unknown authority "nobody" (declared: missing-key, not-pem, no-root, both-subjects, bad-regexp, bad-root, missing-root, strict-log, ok)`,
		}},
		{"conditions.yaml", []string{
			`conditions.yaml:14: ImageVerificationPolicy conditions: spec.attestations[0].conditions[0].expression: compilation failed: 1:30: Syntax error: mismatched input '<EOF>'`,
			`conditions.yaml:15: ImageVerificationPolicy conditions: spec.attestations[0].conditions[1].expression: must evaluate to bool, not int`,
			`conditions.yaml:18: ImageVerificationPolicy conditions: spec.attestations[1].name "sbom": already used by spec.attestations[0]`,
			`conditions.yaml:18: ImageVerificationPolicy conditions: spec.attestations[1].predicateType is required (such as https://cyclonedx.org/bom)`,
			`conditions.yaml:20: ImageVerificationPolicy conditions: spec.attestations[1].authorities[1]: "k" is listed twice`,
			`conditions.yaml:30: ImageVerificationPolicy duplicate: already defined at testdata/load/bad/conditions.yaml:22`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, problems := Load(context.Background(), []string{filepath.Join("testdata/load/bad", tc.file)})
			var got []string
			for _, p := range problems {
				got = append(got, strings.TrimPrefix(p.String(), "testdata/load/bad/"))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				// The longest messages end in a library's words, which may
				// grow; everything up to them is ours and exact.
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// A bad policy does not hide the good ones in the same file or directory.
func TestLoadKeepsGoodPolicies(t *testing.T) {
	s, problems := Load(context.Background(), []string{"testdata/load"})
	if len(problems) == 0 {
		t.Fatal("no problems in testdata/load/bad")
	}
	var ids []string
	for _, p := range s.Policies {
		ids = append(ids, p.ID())
	}
	if want := []string{"duplicate", "hub-only-official", "signed-releases"}; !slicesEqual(ids, want) {
		t.Errorf("loaded %v, want %v", ids, want)
	}
	_, problems = Load(context.Background(), []string{"testdata/nowhere"})
	if len(problems) != 1 || problems[0].String() != "testdata/nowhere: image policy: no such file or directory" {
		t.Errorf("missing target: %v", problems)
	}
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/load/*.yaml")
	more, _ := filepath.Glob("testdata/load/bad/*.yaml")
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Set{}
		// Key files are read relative to the file: keep it in testdata.
		problems := s.Add("testdata/load/bad/fuzz.yaml", data)
		for _, p := range problems {
			if p.File == "" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
		for _, p := range s.Policies {
			if p.ID() == "" || len(p.images) == 0 || !p.verifies() && len(p.registries) == 0 {
				t.Fatalf("an incomplete policy loaded: %+v", p)
			}
			p.Matches("registry.example.com/team/app:1.0")
		}
	})
}
