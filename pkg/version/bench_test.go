package version

import "testing"

// BenchmarkCompare compares two typical versions of each ecosystem (both
// parsed per call, as Compare does).
func BenchmarkCompare(b *testing.B) {
	for _, bc := range []struct{ eco, a, b string }{
		{"Debian:12", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"},
		{"Alpine:v3.20", "3.3.1-r0", "3.3.1-r1"},
		{"Red Hat", "1:3.0.7-27.el9", "1:3.0.7-24.el9_3"},
		{"PyPI", "2.31.0", "2.32.0rc1"},
		{"npm", "4.17.20", "4.17.21"},
		{"crates.io", "0.10.55", "0.10.56-alpha.1"},
		{"Go", "0.22.0", "0.23.0"},
		{"Maven", "2.14.1", "2.15.0-rc1"},
		{"RubyGems", "2.2.3", "2.2.3.1"},
		{"NuGet", "12.0.3", "13.0.1"},
		{"Packagist", "7.4.4", "7.4.5"},
	} {
		b.Run(bc.eco, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compare(bc.eco, bc.a, bc.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
