package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
)

func subMap(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		m, _ = m[k].(map[string]any)
	}
	return m
}

// TestDecodeMatchesFromUnstructured decodes every pod template of the
// examples and a generated corpus straight from the parse tree, and through
// Data with the API machinery's own converter: the results must be equal.
func TestDecodeMatchesFromUnstructured(t *testing.T) {
	var docs [][]byte
	err := filepath.WalkDir("../../../examples", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !IsManifestName(p) {
			return err
		}
		b, err := os.ReadFile(p)
		docs = append(docs, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, gen.Generate(0, 400, 3), []byte(`apiVersion: v1
kind: Pod
metadata:
  name: merged
  labels: &l {a: "1", b: "2"}
  annotations:
    <<: *l
    b: "3"
spec:
  containers:
  - &c
    name: one
    image: x
    resources: {limits: {cpu: 500m, memory: 1Gi}, requests: {cpu: 1}}
    ports: [{containerPort: 80, name: http}]
    livenessProbe: {httpGet: {port: http}}
  - <<: *c
    name: two
  terminationGracePeriodSeconds: 30
`))
	compared := 0
	for _, d := range docs {
		for _, o := range Parse("x.yaml", d).Objects {
			specPath := []string{"spec"}
			switch o.Kind() {
			case "Pod":
			case "CronJob":
				specPath = []string{"spec", "jobTemplate", "spec", "template", "spec"}
			case "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "ReplicationController":
				specPath = []string{"spec", "template", "spec"}
			default:
				continue
			}
			var got, want corev1.PodSpec
			if _, err := o.Decode(strings.Join(specPath, "."), &got); err != nil {
				t.Fatalf("%s %s: %v", o.Kind(), o.Name(), err)
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(subMap(o.Data(), specPath...), &want); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(&want, &got) {
				t.Fatalf("%s %s: decoded pod specs differ:\nwant %+v\ngot  %+v", o.Kind(), o.Name(), want, got)
			}
			var gotMeta, wantMeta metav1.ObjectMeta
			if _, err := o.Decode("metadata", &gotMeta); err != nil {
				t.Fatal(err)
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(subMap(o.Data(), "metadata"), &wantMeta); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(&wantMeta, &gotMeta) {
				t.Fatalf("%s %s: metadata differs:\nwant %+v\ngot  %+v", o.Kind(), o.Name(), wantMeta, gotMeta)
			}
			compared++
		}
	}
	if compared < 400 {
		t.Fatalf("compared only %d pod templates", compared)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, spec, path string
		line             int
		msg              string
	}{
		{"quoted bool", "  containers:\n  - name: c\n    securityContext:\n      privileged: \"yes\"\n", "spec.containers[0].securityContext.privileged", 8, "want a boolean, found a string"},
		{"list for object", "  containers:\n  - name: c\n    resources: [1]\n", "spec.containers[0].resources", 7, "want an object, found a list"},
		{"scalar for list", "  containers: 3\n", "spec.containers", 5, "want a list, found a number"},
		{"bad quantity", "  containers:\n  - name: c\n    resources: {limits: {cpu: lots}}\n", "spec.containers[0].resources.limits.cpu", 7, "quantities must match"},
		{"overflow", "  containers:\n  - name: c\n    ports: [{containerPort: 99999999999}]\n", "spec.containers[0].ports[0].containerPort", 7, "overflows int32"},
		{"int for string", "  containers:\n  - name: c\n    env: [{name: a, value: 1}]\n", "spec.containers[0].env[0].value", 7, "want a string, found a number"},
		{"annotation key", "  nodeSelector: {a.b/c: [x]}\n", "spec.nodeSelector['a.b/c']", 5, "want a string, found a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + tt.spec
			res := Parse("p.yaml", []byte(src))
			if len(res.Objects) != 1 {
				t.Fatalf("objects: %v", res.Errors)
			}
			_, err := res.Objects[0].Decode("spec", &corev1.PodSpec{})
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("err = %v (%T), want a *FieldError", err, err)
			}
			if fe.Path != tt.path || fe.Line != tt.line || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("got %s at line %d: %s; want %s at line %d: %s", fe.Path, fe.Line, fe.Msg, tt.path, tt.line, tt.msg)
			}
		})
	}
	// Walking through something that is not an object.
	res := Parse("p.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template: [1]\n"))
	_, err := res.Objects[0].Decode("spec.template.spec", &corev1.PodSpec{})
	if fe, ok := err.(*FieldError); !ok || fe.Path != "spec.template" || fe.Line != 5 {
		t.Errorf("err = %#v", err)
	}
	if found, err := res.Objects[0].Decode("spec.absent.spec", &corev1.PodSpec{}); found || err != nil {
		t.Errorf("absent path: found %v, err %v", found, err)
	}
}
