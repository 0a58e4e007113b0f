package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

func byName(t *testing.T, objs []*manifest.Object) map[string]*manifest.Object {
	t.Helper()
	m := map[string]*manifest.Object{}
	for _, o := range objs {
		m[o.Kind()+"/"+o.Name()] = o
	}
	return m
}

func TestRenderTraces(t *testing.T) {
	objs, problems := Render("testdata/web", "testdata/web", Values{})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	m := byName(t, objs)
	if len(m) != 2 || m["Deployment/release-name-web"] == nil || m["Pod/cache"] == nil {
		t.Fatalf("objects %v", m)
	}
	d := m["Deployment/release-name-web"]
	tests := []struct {
		path string
		line int
	}{
		{"spec.template.spec.hostNetwork", 16},
		{"spec.template.spec.containers[0].image", 19},
		// Produced by toYaml: the nearest traced ancestor.
		{"spec.template.spec.containers[0].securityContext.runAsNonRoot", 20},
		{"metadata.name", 4},
	}
	for _, tt := range tests {
		loc := d.Location(tt.path)
		if loc.File != "testdata/web/templates/deployment.yaml" || loc.Line != tt.line || loc.Source != "helm chart web" {
			t.Errorf("%s at %+v, want line %d", tt.path, loc, tt.line)
		}
	}
	// Subchart templates are traced into the subchart.
	p := m["Pod/cache"].Location("spec.containers[0].securityContext.privileged")
	if p.File != "testdata/web/charts/cache/templates/pod.yaml" || p.Line != 10 {
		t.Errorf("subchart privileged at %+v", p)
	}
}

func TestValues(t *testing.T) {
	file := filepath.Join(t.TempDir(), "prod.yaml")
	if err := os.WriteFile(file, []byte("image: nginx:latest\nhostNetwork: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, problems := Render("testdata/web", "testdata/web", Values{Files: []string{file}, Set: []string{"hostNetwork=true"}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	spec := byName(t, objs)["Deployment/release-name-web"].Data()["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	if spec["hostNetwork"] != true || spec["containers"].([]any)[0].(map[string]any)["image"] != "nginx:latest" {
		t.Errorf("values not applied: %v", spec)
	}
	if _, problems := Render("testdata/web", "testdata/web", Values{Files: []string{"testdata/missing-values.yaml"}}); len(problems) != 1 || !strings.Contains(problems[0].Message, "helm values:") {
		t.Errorf("missing values file: %v", problems)
	}
}

func TestRenderErrors(t *testing.T) {
	objs, problems := Render("testdata/broken", "testdata/broken", Values{})
	if len(objs) != 0 || len(problems) != 1 || problems[0].File != "testdata/broken/Chart.yaml" || !strings.Contains(problems[0].Message, "helm template:") {
		t.Errorf("objs %d problems %v", len(objs), problems)
	}
	if _, problems := Render("testdata/none", "testdata/none", Values{}); len(problems) != 1 || !strings.Contains(problems[0].Message, "helm chart:") {
		t.Errorf("missing chart: %v", problems)
	}
}

func TestArchive(t *testing.T) {
	ch, err := loader.Load("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tgz, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, problems := Render("charts/web-1.0.0.tgz", tgz, Values{})
	if len(problems) > 0 || len(objs) != 2 {
		t.Fatalf("objs %d problems %v", len(objs), problems)
	}
	if loc := byName(t, objs)["Pod/cache"].Location("spec.containers[0].securityContext.privileged"); loc.File != "charts/web-1.0.0.tgz/charts/cache/templates/pod.yaml" || loc.Line != 10 {
		t.Errorf("archive trace %+v", loc)
	}
	inputs, _, _ := manifest.Discover(context.Background(), []string{dir, "testdata"}, manifest.DiscoverOptions{Renderers: []string{Marker}, Absorbing: []string{Marker}, Archives: []string{Archive}})
	var got []string
	for _, in := range inputs {
		got = append(got, filepath.Base(in.Name)+" "+in.Rendered)
	}
	want := []string{"web-1.0.0.tgz .tgz", "broken Chart.yaml", "web Chart.yaml"}
	if !slices.Equal(got, want) {
		t.Errorf("discovered %q, want %q (the subchart renders with its parent)", got, want)
	}
}

// TestDecodeErrorLineInTemplate: a value of the wrong type is reported at
// the template line the field is traced to (here the securityContext key
// whose body toYaml writes), not at its line in the rendered output.
func TestDecodeErrorLineInTemplate(t *testing.T) {
	objs, problems := Render("testdata/web", "testdata/web", Values{SetString: []string{"securityContext.runAsNonRoot=maybe"}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	d := byName(t, objs)["Deployment/release-name-web"]
	_, err := d.Decode("spec.template.spec", &corev1.PodSpec{})
	var fe *manifest.FieldError
	if !errors.As(err, &fe) || fe.Line != 20 {
		t.Errorf("err = %#v, want line 20 of the template", err)
	}
}
