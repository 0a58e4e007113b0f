package kustomize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

func TestRenderRelocates(t *testing.T) {
	objs, problems := Render("testdata/app/overlays/prod", "testdata/app/overlays/prod", "kustomization.yaml")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if len(objs) != 1 {
		t.Fatalf("%d objects", len(objs))
	}
	o := objs[0]
	// What the cluster would get: the overlay's name and namespace, the
	// patch applied, the origin annotation gone.
	if o.Name() != "prod-web" || o.Namespace() != "prod" {
		t.Errorf("object %s/%s", o.Namespace(), o.Name())
	}
	if v, _ := o.Data()["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["hostNetwork"].(bool); !v {
		t.Error("patch not applied")
	}
	if md, _ := o.Data()["metadata"].(map[string]any); md["annotations"] != nil {
		t.Errorf("annotations left: %v", md["annotations"])
	}
	// Positions are in the base file the object came from.
	loc := o.Location("spec.template.spec.containers[0].securityContext.privileged")
	if loc.File != "testdata/app/base/deployment.yaml" || loc.Line != 14 || loc.Source != "kustomize testdata/app/overlays/prod" {
		t.Errorf("privileged at %+v", loc)
	}
	// A field the patch added points at its nearest ancestor in the base.
	if loc := o.Location("spec.template.spec.hostNetwork"); loc.File != "testdata/app/base/deployment.yaml" || loc.Line != 9 {
		t.Errorf("hostNetwork at %+v", loc)
	}
}

func TestRenderError(t *testing.T) {
	objs, problems := Render("testdata/broken", "testdata/broken", "kustomization.yaml")
	if len(objs) != 0 || len(problems) != 1 || problems[0].File != "testdata/broken/kustomization.yaml" || !strings.Contains(problems[0].Message, "kustomize build: ") {
		t.Errorf("objs %d, problems %v", len(objs), problems)
	}
}

// TestDiscoverRendersRoots: Kustomize roots are single inputs and their
// resource and patch files are not read as manifests.
func TestDiscoverRendersRoots(t *testing.T) {
	inputs, _, errs := manifest.Discover(context.Background(), []string{"testdata"}, manifest.DiscoverOptions{Renderers: Markers})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, in := range inputs {
		got = append(got, in.Name+" "+in.Rendered)
	}
	want := "testdata/app/base kustomization.yaml|testdata/app/overlays/prod kustomization.yaml|testdata/broken kustomization.yaml"
	if strings.Join(got, "|") != want {
		t.Errorf("inputs %q", got)
	}
}

// TestDecodeErrorLineInOrigin: a field a patch made the wrong type is
// reported at its line in the file the object came from, not at its line
// in the rendered stream.
func TestDecodeErrorLineInOrigin(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"base/kustomization.yaml": "resources: [deployment.yaml]\n",
		"base/deployment.yaml":    "# The web tier.\n# Owned by team-shop.\n# Rendered lines differ from these.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: x\n        securityContext:\n          privileged: true\n",
		"prod/kustomization.yaml": "namePrefix: prod-\nresources: [../base]\npatches: [{path: patch.yaml}]\n",
		"prod/patch.yaml":         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        securityContext: {privileged: \"yes\"}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, problems := Render("prod", filepath.Join(dir, "prod"), "kustomization.yaml")
	if len(problems) > 0 || len(objs) != 1 {
		t.Fatalf("objs %d problems %v", len(objs), problems)
	}
	_, err := objs[0].Decode("spec.template.spec", &corev1.PodSpec{})
	var fe *manifest.FieldError
	if !errors.As(err, &fe) || fe.Line != 15 || fe.Path != "spec.template.spec.containers[0].securityContext.privileged" {
		t.Errorf("err = %#v, want privileged at line 15 of the base", err)
	}
}
