package version

import (
	"path/filepath"
	"testing"
)

// fuzzEcosystems are one ecosystem per ordering.
var fuzzEcosystems = []string{"Debian", "Alpine", "Red Hat", "PyPI", "crates.io", "npm", "Go", "Maven", "RubyGems", "NuGet", "Packagist"}

// FuzzCompare checks that Compare never panics, and that on versions that
// parse it is reflexive and antisymmetric in every ordering.
func FuzzCompare(f *testing.F) {
	for _, vf := range vectorFiles {
		for _, v := range readVectors(f, filepath.Join("testdata", vf.file)) {
			f.Add(v.a, v.b)
			for i := 1; i < len(v.sorted); i++ {
				f.Add(v.sorted[i-1], v.sorted[i])
			}
		}
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, eco := range fuzzEcosystems {
			ab, err1 := Compare(eco, a, b)
			ba, err2 := Compare(eco, b, a)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: Compare(%q, %q) error %v, reversed %v", eco, a, b, err1, err2)
			}
			if err1 != nil {
				continue
			}
			if ab != -ba {
				t.Fatalf("%s: Compare(%q, %q) = %d, reversed %d", eco, a, b, ab, ba)
			}
			if c, _ := Compare(eco, a, a); c != 0 {
				t.Fatalf("%s: Compare(%q, itself) = %d", eco, a, c)
			}
		}
	})
}
