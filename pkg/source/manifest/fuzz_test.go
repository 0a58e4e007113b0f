package manifest

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzParse checks that no input makes the loader panic, and that every
// object it returns can locate its own fields.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("--- |\n  ---\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - &c {name: c, image: x, resources: {limits: {cpu: 1}}, ports: [{containerPort: 80}]}\n  - <<: *c\n    name: d\n  hostNetwork: yes\n  terminationGracePeriodSeconds: 30\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res := Parse("fuzz.yaml", data)
		for _, o := range res.Objects {
			if line, _, _ := o.Locate("spec.containers[0].securityContext"); line < 1 {
				t.Fatalf("Locate returned line %d", line)
			}
			_ = o.Resource()
			// Decoding from the tree must agree with the API machinery
			// decoding Data, whenever the tree decodes.
			var got corev1.PodSpec
			if _, err := o.Decode("spec", &got); err == nil {
				var want corev1.PodSpec
				spec, _ := o.Data()["spec"].(map[string]any)
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &want); err == nil && !equality.Semantic.DeepEqual(&want, &got) {
					t.Fatalf("Decode differs from FromUnstructured:\nwant %+v\ngot  %+v", want, got)
				}
			}
		}
		for _, p := range append(res.Errors, res.Notes...) {
			if p.Message == "" {
				t.Fatal("problem without message")
			}
		}
	})
}
