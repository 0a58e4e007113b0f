package manifest

import (
	"os"
	"path/filepath"
	"testing"
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
	f.Fuzz(func(t *testing.T, data []byte) {
		res := Parse("fuzz.yaml", data)
		for _, o := range res.Objects {
			if line, _, _ := o.Locate("spec.containers[0].securityContext"); line < 1 {
				t.Fatalf("Locate returned line %d", line)
			}
			_ = o.Resource()
		}
		for _, p := range append(res.Errors, res.Notes...) {
			if p.Message == "" {
				t.Fatal("problem without message")
			}
		}
	})
}
