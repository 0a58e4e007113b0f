package imagepolicy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/imagesig/sigtest"
)

func TestCheckKeyless(t *testing.T) {
	const (
		issuer = "https://token.actions.githubusercontent.com"
		main   = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
		dev    = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/dev"
	)
	reg := newRegistry(t)
	f := newFixture(t)
	f.now = time.Now() // the virtual Fulcio's certificates are valid now
	v := sigtest.NewVirtual(t)
	writeFile(t, filepath.Join(f.dir, "trust/trusted_root.json"), v.TrustedRootJSON(t))

	release := reg.push(t, "team/release:1")
	devBuild := reg.push(t, "team/dev:1")
	noLog := reg.push(t, "team/no-log:1")
	f.sign(release, v.Signer(main, issuer), imagesig.LayoutBundle)
	f.attest(release, v.Signer(main, issuer), imagesig.PredicateSLSA1, `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1"}}`, imagesig.LayoutClassic)
	f.sign(devBuild, v.Signer(dev, issuer), imagesig.LayoutClassic)
	f.sign(noLog, v.Signer(main, issuer, sigtest.WithoutLog()), imagesig.LayoutBundle)

	set := f.load(policyDoc("ci-signed", reg.host, `  authorities:
  - name: ci
    keyless:
      issuer: `+issuer+`
      subjectRegExp: '^https://github\.com/acme/.+@refs/heads/main$'
      trustedRoot: trust/trusted_root.json
    transparencyLog: required
  signatures: {}
  attestations:
  - name: provenance
    predicateType: https://slsa.dev/provenance/v1
    conditions:
    - expression: "predicate.buildDefinition.buildType.startsWith('https://actions.github.io/')"`))
	e := f.engine(set, Options{})

	d := one(t, e.Check(context.Background(), []string{release.String()}))
	if !d.Allowed || d.Err != nil {
		t.Fatalf("release: %q %v", d.Reasons, d.Err)
	}
	if len(d.Evidence) != 2 {
		t.Fatalf("evidence: %+v", d.Evidence)
	}
	for _, ev := range d.Evidence {
		if ev.Authority != "ci" || ev.Subject != main || ev.Issuer != issuer || ev.CertificateSerial == "" || len(ev.Log) == 0 {
			t.Errorf("evidence: %+v", ev)
		}
	}
	if d.Evidence[1].Kind != imagesig.KindAttestation || d.Evidence[1].PredicateType != imagesig.PredicateSLSA1 {
		t.Errorf("provenance evidence: %+v", d.Evidence[1])
	}

	d = one(t, e.Check(context.Background(), []string{devBuild.String()}))
	if d.Allowed || len(d.Reasons) != 2 || !strings.HasPrefix(d.Reasons[0], "no signature verified for authority ci: "+devBuild.Context().String()) ||
		d.Reasons[1] != "no attestation provenance (https://slsa.dev/provenance/v1) verified for authority ci: none of that type is attached" {
		t.Errorf("dev build: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}
	if !strings.Contains(d.Reasons[0], dev) {
		t.Errorf("dev build: the reason does not say the identity is wrong: %s", d.Reasons[0])
	}

	d = one(t, e.Check(context.Background(), []string{noLog.String()}))
	if d.Allowed || len(d.Reasons) == 0 || !strings.Contains(d.Reasons[0], "no transparency log entry, and the policy requires one") {
		t.Errorf("no log entry: allowed %v, reasons %q", d.Allowed, d.Reasons)
	}
}
