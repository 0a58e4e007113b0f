package vex

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	imageDigest = "sha256:4f1c9d7e2b3a6c5d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f"
	imagePURL   = "pkg:oci/web@sha256%3A4f1c9d7e2b3a6c5d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f?arch=amd64&repository_url=registry.example%2Fshop%2Fweb"
)

func TestLookup(t *testing.T) {
	one, err := Load("testdata/git.openvex.json", "testdata/image.openvex.json", "testdata/v001.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	if one.Len() != 6 {
		t.Fatalf("Len = %d, want 6", one.Len())
	}
	both, err := Load("testdata/image.openvex.json", "testdata/later.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	target := []string{imagePURL, imageDigest}
	for _, tc := range []struct {
		name      string
		set       *Set
		vulns     []string
		product   []string
		component string
		want      Status // "" for no statement
		source    string
	}{
		{"spec example: versioned purl with qualifier", one, []string{"CVE-2014-123456"}, nil, "pkg:apk/distro/git@2.39.0-r1?arch=x86_64&distro=wolfi-20230201", Fixed, "git.openvex.json:9"},
		{"spec example: other version", one, []string{"CVE-2014-123456"}, nil, "pkg:apk/distro/git@2.40.0-r0?arch=x86_64", "", ""},
		{"spec example: qualifier missing in candidate", one, []string{"CVE-2014-123456"}, nil, "pkg:apk/distro/git@2.39.0-r1", "", ""},
		{"spec example: qualifier differs", one, []string{"CVE-2014-123456"}, nil, "pkg:apk/distro/git@2.39.0-r1?arch=aarch64", "", ""},
		{"other vulnerability", one, []string{"CVE-2014-999999"}, nil, "pkg:apk/distro/git@2.39.0-r1?arch=x86_64", "", ""},
		{"subcomponent of the image by purl", one, []string{"GO-2024-2687"}, target, "pkg:golang/golang.org/x/net@v0.17.0", NotAffected, "image.openvex.json:8"},
		{"by alias, case-insensitive", one, []string{"ghsa-4v7x-pqxf-cx7m"}, target, "pkg:golang/golang.org/x/net@v0.17.0", NotAffected, "image.openvex.json:8"},
		{"by identifiers.purl of the product (versionless)", one, []string{"CVE-2023-45288"}, []string{"pkg:oci/web@sha256%3Aother?repository_url=registry.example%2Fshop%2Fweb"}, "pkg:golang/golang.org/x/net@v0.17.0", NotAffected, "image.openvex.json:8"},
		{"subcomponent in another image", one, []string{"CVE-2023-45288"}, []string{"pkg:oci/other@sha256%3Aabc", "sha256:abc"}, "pkg:golang/golang.org/x/net@v0.17.0", "", ""},
		{"other subcomponent version", one, []string{"CVE-2023-45288"}, target, "pkg:golang/golang.org/x/net@v0.23.0", "", ""},
		{"image digest, no subcomponents: latest of two", one, []string{"CVE-2024-6119"}, target, "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12", UnderInvestigation, "image.openvex.json:27"},
		{"image digest with subcomponent: latest wins", one, []string{"CVE-2024-6119"}, target, "pkg:deb/debian/libssl3@3.0.14-1~deb12u2?arch=amd64&distro=debian-12", Affected, "image.openvex.json:35"},
		{"versionless product purl matches every version", one, []string{"CVE-2022-24999"}, nil, "pkg:npm/qs@6.7.0", NotAffected, "image.openvex.json:47"},
		{"v0.0.x shapes", one, []string{"CVE-2023-1111"}, nil, "pkg:pypi/jinja2@2.11.2", Fixed, "v001.openvex.json:8"},
		{"later document overrides", both, []string{"CVE-2023-45288"}, target, "pkg:golang/golang.org/x/net@v0.17.0", Affected, "later.openvex.json:8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := tc.set.Lookup(tc.vulns, tc.product, tc.component)
			if tc.want == "" {
				if ok {
					t.Fatalf("got %s statement from %s, want none", st.Status, st.Source)
				}
				return
			}
			if !ok {
				t.Fatalf("no statement, want %s", tc.want)
			}
			if st.Status != tc.want || filepath.Base(st.Source) != tc.source {
				t.Errorf("got %s from %s, want %s from %s", st.Status, filepath.Base(st.Source), tc.want, tc.source)
			}
		})
	}
}

func TestStatementFields(t *testing.T) {
	s, err := Load("testdata/image.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	st, ok := s.Lookup([]string{"CVE-2023-45288"}, []string{imageDigest, imagePURL}, "pkg:golang/golang.org/x/net@v0.17.0")
	if !ok {
		t.Fatal("no statement")
	}
	if st.Justification != "vulnerable_code_not_in_execute_path" || !strings.HasPrefix(st.ImpactStatement, "The server speaks HTTP/1.1") {
		t.Errorf("justification %q, impact %q", st.Justification, st.ImpactStatement)
	}
	// No statement timestamp: the document's.
	if want := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC); !st.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want the document's %v", st.Timestamp, want)
	}
	st, _ = s.Lookup([]string{"CVE-2024-6119"}, []string{imageDigest}, "pkg:deb/debian/libssl3@3.0.14-1~deb12u2?arch=amd64")
	if st.ActionStatement != "Rebuild on debian:12.7 or later." {
		t.Errorf("action statement %q", st.ActionStatement)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, doc, want string }{
		{"syntax", "{\n  \"@context\": \"https://openvex.dev/ns/v0.2.0\",\n  \"statements\": [\n    {\"status\": \"fixed\",}\n  ]\n}", "x.json:4:24: invalid JSON"},
		{"not OpenVEX", `{"bomFormat": "CycloneDX"}`, `x.json: not an OpenVEX document`},
		{"unknown status", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\",\n\"statements\": [\n{\"vulnerability\": {\"name\": \"CVE-1\"}, \"products\": [{\"@id\": \"pkg:npm/a\"}], \"status\": \"fixed\"},\n  {\"vulnerability\": {\"name\": \"CVE-1\"}, \"products\": [{\"@id\": \"pkg:npm/a\"}], \"status\": \"safe\"}]}", `x.json:4: unknown status "safe"`},
		{"not_affected without justification", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"statements\": [{\"vulnerability\": {\"name\": \"CVE-1\"}, \"products\": [{\"@id\": \"pkg:npm/a\"}], \"status\": \"not_affected\"}]}", "x.json:1: not_affected statement without a justification"},
		{"bad justification", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"statements\": [{\"vulnerability\": {\"name\": \"CVE-1\"}, \"products\": [{\"@id\": \"pkg:npm/a\"}], \"status\": \"not_affected\", \"justification\": \"trust_me\"}]}", `unknown justification "trust_me"`},
		{"no vulnerability", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"statements\": [{\"vulnerability\": {}, \"products\": [{\"@id\": \"pkg:npm/a\"}], \"status\": \"fixed\"}]}", "without a vulnerability"},
		{"no products", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"statements\": [{\"vulnerability\": {\"name\": \"CVE-1\"}, \"status\": \"fixed\"}]}", "without products"},
		{"empty product", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\", \"statements\": [{\"vulnerability\": {\"name\": \"CVE-1\"}, \"products\": [{}], \"status\": \"fixed\"}]}", "products[0]: no @id"},
		{"bad timestamp", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\",\n \"timestamp\": \"yesterday\"}", "x.json"},
		{"statements not an array", "{\"@context\": \"https://openvex.dev/ns/v0.2.0\",\n \"statements\": {}}", "x.json:2: statements is not an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "x.json")
			if err := os.WriteFile(p, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func BenchmarkLookup(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"@context": "https://openvex.dev/ns/v0.2.0", "timestamp": "2024-01-01T00:00:00Z", "statements": [`)
	for i := range 2000 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"vulnerability": {"name": "CVE-2024-%d"}, "products": [{"@id": "pkg:npm/p%d@1.0.0"}], "status": "not_affected", "justification": "component_not_present"}`, i, i)
	}
	sb.WriteString("]}")
	st, err := Parse([]byte(sb.String()), "bench.json")
	if err != nil {
		b.Fatal(err)
	}
	s := &Set{statements: st}
	for b.Loop() {
		if _, ok := s.Lookup([]string{"CVE-2024-1999", "GHSA-x"}, []string{imageDigest}, "pkg:npm/p1999@1.0.0"); !ok {
			b.Fatal("no statement")
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data, "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		s := &Set{statements: st}
		for _, x := range st {
			if !strings.HasPrefix(x.Source, "fuzz.json:") {
				t.Fatalf("source %q", x.Source)
			}
			s.Lookup([]string{x.Vulnerability.Name}, []string{imageDigest}, "pkg:npm/a@1")
		}
	})
}
