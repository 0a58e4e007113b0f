package misconfig

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// TestDecodeMatchesFromUnstructured decodes every pod template of the
// examples and a generated corpus with both decoders.
func TestDecodeMatchesFromUnstructured(t *testing.T) {
	var docs [][]byte
	files, _ := filepath.Glob("../../examples/*/*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	docs = append(docs, gen.Generate(0, 400, 3), []byte(goodPod))
	compared := 0
	for _, d := range docs {
		for _, o := range manifest.Parse("x.yaml", d).Objects {
			p, err := podOf(o)
			if err != nil {
				t.Fatalf("%s %s: %v", o.Kind(), o.Name(), err)
			}
			if p == nil {
				continue
			}
			spec, _ := lookupMap(o.Data, p.specPath)
			var ref corev1.PodSpec
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &ref); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(&ref, p.spec) {
				t.Fatalf("%s %s: decoded pod specs differ", o.Kind(), o.Name())
			}
			meta, _ := lookupMap(o.Data, p.metaPath)
			var refMeta metav1.ObjectMeta
			if meta != nil {
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(meta, &refMeta); err != nil {
					t.Fatal(err)
				}
			}
			if !equality.Semantic.DeepEqual(&refMeta, p.meta) {
				t.Fatalf("%s %s: decoded metadata differs", o.Kind(), o.Name())
			}
			compared++
		}
	}
	if compared < 400 {
		t.Fatalf("compared only %d pod templates", compared)
	}
}

func TestBadFieldTypeNamesFieldAndLine(t *testing.T) {
	text := strings.Replace(goodPod, "      allowPrivilegeEscalation: false\n", "      allowPrivilegeEscalation: false\n      privileged: \"yes\"\n", 1)
	s, err := New(Options{Stdin: strings.NewReader(text)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 {
		t.Fatalf("errors = %v", rep.Errors)
	}
	e := rep.Errors[0]
	want := "spec.containers[0].securityContext.privileged: want a boolean, found a string"
	if e.Line != 25 || !strings.Contains(e.Message, want) {
		t.Errorf("error = %s, want line 25 and %q", e, want)
	}
	// The object's other checks still ran.
	if len(pathsOf(rep, "k8s-default-namespace")) != 0 || rep.Objects != 1 {
		t.Errorf("objects = %d", rep.Objects)
	}
	for _, bad := range []string{"resources: {limits: {cpu: lots}}", "ports: 3", "ports: [{containerPort: 99999999999}]", "env: [{name: a, value: 1}]"} {
		if err := decodeInto(map[string]any{}, &corev1.PodSpec{}, "spec"); err != nil {
			t.Fatal(err)
		}
		res := manifest.Parse("b.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers:\n  - name: c\n    "+bad+"\n"))
		if len(res.Objects) != 1 {
			t.Fatalf("%s: %v", bad, res.Errors)
		}
		if _, err := podOf(res.Objects[0]); err == nil {
			t.Errorf("%s: no decode error", bad)
		}
	}
}

// TestTemplateNotAnObject: a pod template of the wrong shape is an error at
// the template's line, and the object still gets its other checks.
func TestTemplateNotAnObject(t *testing.T) {
	text := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec:\n  template: [1]\n"
	s, err := New(Options{Stdin: strings.NewReader(text)})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Scan(context.Background(), []string{"-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Line != 5 || !strings.Contains(rep.Errors[0].Message, "spec.template: want an object, found a list") {
		t.Errorf("errors = %v", rep.Errors)
	}
	if len(pathsOf(rep, "k8s-default-namespace")) != 1 {
		t.Error("object checks did not run")
	}
}
