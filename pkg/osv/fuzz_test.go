package osv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that Evaluate,
// FixedVersions and Explain never panic on whatever it accepts.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"ranges.json", "withdrawn.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "Debian:12", "openssl", "3.0.11-1~deb12u1")
	}
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"limit":"*"},{"introduced":"0"}]}]}]}`), "npm", "a", "1.0.0")
	f.Fuzz(func(t *testing.T, data []byte, eco, name, ver string) {
		v, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, a := range v.Affected { // query each entry's package too
			q := Query{a.Package.Ecosystem, a.Package.Name, ver}
			d, _ := Evaluate(v, q)
			if d.Affected && (d.Entry < 0 || d.Reason == "") {
				t.Fatalf("affected without an entry or reason: %+v", d)
			}
			FixedVersions(v, q)
		}
		var b bytes.Buffer
		if err := Explain(&b, v, Query{eco, name, ver}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkEvaluate evaluates a Debian record (two ranges, four events)
// and a Maven one for a version inside and one outside.
func BenchmarkEvaluate(b *testing.B) {
	v := loadRecord(b, "ranges.json")
	for _, bc := range []struct {
		name string
		q    Query
	}{
		{"debian-affected", Query{"Debian:12", "openssl", "3.0.11-1~deb12u1"}},
		{"debian-fixed", Query{"Debian:12", "openssl", "3.0.15-1~deb12u1"}},
		{"maven-affected", Query{"Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"}},
		{"npm-no-entry", Query{"npm", "left-pad", "1.0.0"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(v, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
