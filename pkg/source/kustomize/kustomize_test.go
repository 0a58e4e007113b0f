package kustomize

import (
	"context"
	"strings"
	"testing"

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
