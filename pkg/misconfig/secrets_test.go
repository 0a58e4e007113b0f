package misconfig

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// TestSecretsInScannedObjects: scan config reports credentials in
// objects, Helm-rendered ones with the credential rules only (their
// other values are as often generated as written), and lints Dockerfiles
// found beside them.
func TestSecretsInScannedObjects(t *testing.T) {
	dir := t.TempDir()
	akid := "AKIA" + "Q3EGRT5XJNZ2MHUW"
	files := map[string]string{
		"chart/Chart.yaml":            "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"chart/values.yaml":           "awsKeyID: " + akid + "\n",
		"chart/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: gen\nstringData:\n  password: {{ randAlphaNum 20 | quote }}\n  aws: {{ .Values.awsKeyID | quote }}\n",
		"plain/secret.yaml":           "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  password: hunter2hunter2\n",
		"plain/Dockerfile":            "FROM alpine:latest\nCMD [\"sh\"]\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := secret.New(secret.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Secrets: eng, Dockerfiles: dockerfile.New(dockerfile.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.CheckID()+" "+f.Resource.Name+" "+f.Location.Path] = true
	}
	for _, want := range []string{
		"aws-access-key-id gen stringData.aws",
		"kubernetes-secret-data plain stringData.password",
	} {
		if !got[want] {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	if got["kubernetes-secret-data gen stringData.password"] || got["generic-secret gen stringData.password"] {
		t.Errorf("a value the chart generates was reported: %v", got)
	}
	if !slices.ContainsFunc(rep.Findings, func(f finding.Finding) bool { return f.CheckID() == "dockerfile-base-latest" }) {
		t.Errorf("the Dockerfile beside the manifests was not linted: %v", got)
	}
}
