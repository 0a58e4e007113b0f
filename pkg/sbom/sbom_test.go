package sbom

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadInventory(t testing.TB, path string) *inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	inventory.Finish(&inv)
	return &inv
}

var testMeta = Meta{
	Name:        "registry.example/shop/web:1.4",
	Kind:        KindImage,
	Digest:      "sha256:4f1c9d7e2b3a6c5d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f",
	ToolVersion: "0.6.0",
	Timestamp:   time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
}

type writer func(w *bytes.Buffer, inv *inventory.Inventory, meta Meta) error

var writers = []struct {
	format Format
	ext    string
	write  writer
}{
	{CycloneDX, "cdx.json", func(w *bytes.Buffer, inv *inventory.Inventory, m Meta) error { return WriteCycloneDX(w, inv, m) }},
	{SPDX, "spdx.json", func(w *bytes.Buffer, inv *inventory.Inventory, m Meta) error { return WriteSPDX(w, inv, m) }},
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func TestWriteGolden(t *testing.T) {
	inv := loadInventory(t, "testdata/inventory.json")
	for _, w := range writers {
		t.Run(string(w.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.write(&buf, inv, testMeta); err != nil {
				t.Fatal(err)
			}
			golden(t, "testdata/golden/image."+w.ext, buf.Bytes())
			// Deterministic: the same input gives the same bytes.
			var again bytes.Buffer
			if err := w.write(&again, inv, testMeta); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("two writes of the same inventory differ")
			}
		})
	}
}

// schemas compiles the published schemas from testdata/schema, mapped to
// the URLs their $ids and $refs use, so nothing is fetched.
func schemas(t testing.TB) map[Format]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, file := range map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  "bom-1.6.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schema.json",
		"http://spdx.org/rdf/terms/2.3":                    "spdx-schema-v2.3.json",
	} {
		f, err := os.Open(filepath.Join("testdata/schema", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	out := map[Format]*jsonschema.Schema{}
	for f, url := range map[Format]string{CycloneDX: "http://cyclonedx.org/schema/bom-1.6.schema.json", SPDX: "http://spdx.org/rdf/terms/2.3"} {
		s, err := c.Compile(url)
		if err != nil {
			t.Fatalf("compile %s: %v", url, err)
		}
		out[f] = s
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, doc []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("output does not validate against the schema: %v", err)
	}
}

func TestWriteValidatesAgainstSchema(t *testing.T) {
	s := schemas(t)
	full := loadInventory(t, "testdata/inventory.json")
	noOS := loadInventory(t, "testdata/inventory.json")
	noOS.OS = nil
	for _, tc := range []struct {
		name string
		inv  *inventory.Inventory
		meta Meta
	}{
		{"image", full, testMeta},
		{"fs without OS", noOS, Meta{Name: "./src", Kind: KindFS, Timestamp: testMeta.Timestamp}},
		{"empty", &inventory.Inventory{}, Meta{Kind: KindRootfs, Timestamp: testMeta.Timestamp}},
	} {
		for _, w := range writers {
			t.Run(tc.name+"/"+string(w.format), func(t *testing.T) {
				var buf bytes.Buffer
				if err := w.write(&buf, tc.inv, tc.meta); err != nil {
					t.Fatal(err)
				}
				validate(t, s[w.format], buf.Bytes())
			})
		}
	}
}

func TestSchemaRejectsBrokenOutput(t *testing.T) {
	// The validation above means something only if the schemas reject
	// what is wrong.
	s := schemas(t)
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, loadInventory(t, "testdata/inventory.json"), testMeta); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(buf.Bytes(), []byte(`"type": "library"`), []byte(`"type": "librar"`), 1)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s[CycloneDX].Validate(inst) == nil {
		t.Error("CycloneDX schema accepted a component of type librar")
	}
	buf.Reset()
	if err := WriteSPDX(&buf, loadInventory(t, "testdata/inventory.json"), testMeta); err != nil {
		t.Fatal(err)
	}
	bad = bytes.Replace(buf.Bytes(), []byte(`"DEPENDS_ON"`), []byte(`"DEPENDS-ON"`), 1)
	inst, _ = jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s[SPDX].Validate(inst) == nil {
		t.Error("SPDX schema accepted relationship type DEPENDS-ON")
	}
}

func TestRoundTrip(t *testing.T) {
	want := loadInventory(t, "testdata/inventory.json")
	for _, w := range writers {
		t.Run(string(w.format), func(t *testing.T) {
			var buf bytes.Buffer
			if err := w.write(&buf, want, testMeta); err != nil {
				t.Fatal(err)
			}
			got, f, err := Read(&buf, "sbom."+w.ext)
			if err != nil {
				t.Fatal(err)
			}
			if f != w.format {
				t.Errorf("format %q, want %q", f, w.format)
			}
			// DependsOn IDs that name no package in the file cannot be
			// written; everything else comes back.
			exp := slices.Clone(want.Packages)
			for i := range exp {
				exp[i].DependsOn = slices.DeleteFunc(slices.Clone(exp[i].DependsOn), func(id string) bool { return id == "missing@1.0.0" })
			}
			if diff := cmp.Diff(exp, got.Packages); diff != "" {
				t.Errorf("packages differ (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.OS, got.OS); diff != "" {
				t.Errorf("OS differs (-want +got):\n%s", diff)
			}
			if n := Unmatchable(got); n != 0 {
				t.Errorf("Unmatchable = %d, want 0", n)
			}
		})
	}
}

// TestRead reads documents shaped as other tools write them (testdata/read)
// and compares the inventory with a golden file.
func TestRead(t *testing.T) {
	files, _ := filepath.Glob("testdata/read/*.json")
	var n int
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inv, format, err := Read(f, filepath.Base(file))
			if err != nil {
				t.Fatal(err)
			}
			out := struct {
				Format      Format               `json:"format"`
				Unmatchable int                  `json:"unmatchable"`
				Inventory   *inventory.Inventory `json:"inventory"`
			}{format, Unmatchable(inv), inv}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(file, ".json")+".golden.json", append(got, '\n'))
		})
	}
	if n < 3 {
		t.Fatalf("only %d documents in testdata/read", n)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"syntax", "{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.6\"\n  \"components\": []\n}", "bad.json:4:3: invalid JSON"},
		{"truncated", "{\n  \"bomFormat\": \"CycloneDX\",\n", "bad.json:3:1: invalid JSON"},
		{"not JSON", "SPDXVersion: SPDX-2.3\n", "bad.json:1:1: invalid JSON"},
		{"neither format", `{"name": "x"}`, "bad.json: neither a CycloneDX JSON document"},
		{"array", `[]`, "bad.json:1:"},
		{"old CycloneDX", `{"bomFormat": "CycloneDX", "specVersion": "1.2"}`, `bad.json: CycloneDX specVersion "1.2" not supported`},
		{"SPDX 3", `{"spdxVersion": "SPDX-3.0"}`, `bad.json: spdxVersion "SPDX-3.0" not supported`},
		{"type in probe", `{"bomFormat": "CycloneDX", "specVersion": 1.6}`, "bad.json:1:"},
		{"components not an array", "{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.6\",\n\"components\": {\"name\": \"x\"}}", "bad.json:2:"},
		{"bad layer index", `{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library", "bom-ref": "a", "name": "a", "properties": [{"name": "mamori:layer:index", "value": "one"}]}]}`, `bad.json: component "a": property mamori:layer:index: "one" is not a number`},
		{"SPDX packages not an array", "{\"spdxVersion\": \"SPDX-2.3\",\n \"packages\": 5}", "bad.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, _, err := Read(strings.NewReader(tc.doc), "bad.json")
			if err == nil {
				t.Fatalf("no error; inventory %+v", inv)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestPURLToPackage(t *testing.T) {
	for _, tc := range []struct {
		purl    string
		want    inventory.Package
		os      *inventory.OS
		wantErr string
	}{
		{purl: "pkg:deb/debian/libssl3@3.0.14-1~deb12u2?arch=amd64&distro=debian-12.7&upstream=openssl",
			want: inventory.Package{Type: inventory.Dpkg, Ecosystem: "Debian", Name: "libssl3", Version: "3.0.14-1~deb12u2", SourceName: "openssl", Arch: "amd64"},
			os:   &inventory.OS{Family: "debian", Version: "12.7", Ecosystem: "Debian:12"}},
		{purl: "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?epoch=1&distro=bookworm",
			want: inventory.Package{Type: inventory.Dpkg, Ecosystem: "Debian", Name: "zlib1g", Version: "1:1.2.13.dfsg-1"},
			os:   &inventory.OS{Family: "debian", Version: "12", Codename: "bookworm", Ecosystem: "Debian:12"}},
		{purl: "pkg:deb/ubuntu/bash@5.1-6ubuntu1?distro=ubuntu-22.04&upstream=bash%405.1-6",
			want: inventory.Package{Type: inventory.Dpkg, Ecosystem: "Ubuntu", Name: "bash", Version: "5.1-6ubuntu1", SourceName: "bash", SourceVersion: "5.1-6"},
			os:   &inventory.OS{Family: "ubuntu", Version: "22.04", Ecosystem: "Ubuntu:22.04:LTS"}},
		{purl: "pkg:deb/ubuntu/bash@5.2-1?distro=ubuntu-23.10",
			want: inventory.Package{Type: inventory.Dpkg, Ecosystem: "Ubuntu", Name: "bash", Version: "5.2-1"},
			os:   &inventory.OS{Family: "ubuntu", Version: "23.10", Ecosystem: "Ubuntu:23.10"}},
		{purl: "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3&upstream=busybox",
			want: inventory.Package{Type: inventory.Apk, Ecosystem: "Alpine", Name: "busybox", Version: "1.36.1-r29", Arch: "x86_64"},
			os:   &inventory.OS{Family: "alpine", Version: "3.20.3", Ecosystem: "Alpine:v3.20"}},
		{purl: "pkg:apk/wolfi/glibc@2.40-r3?arch=x86_64",
			want: inventory.Package{Type: inventory.Apk, Ecosystem: "Wolfi", Name: "glibc", Version: "2.40-r3", Arch: "x86_64"}},
		{purl: "pkg:rpm/rocky/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1&distro=rocky-9.4&upstream=openssl-3.0.7-27.el9.src.rpm",
			want: inventory.Package{Type: inventory.RPM, Ecosystem: "Rocky Linux", Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64", SourceName: "openssl", SourceVersion: "1:3.0.7-27.el9"},
			os:   &inventory.OS{Family: "rocky", Version: "9.4", Ecosystem: "Rocky Linux:9"}},
		{purl: "pkg:rpm/redhat/bash@5.1.8-9.el9?distro=rhel-9.4",
			want: inventory.Package{Type: inventory.RPM, Ecosystem: "Red Hat", Name: "bash", Version: "5.1.8-9.el9"},
			os:   &inventory.OS{Family: "rhel", Version: "9.4", Ecosystem: "Red Hat:enterprise_linux:9"}}, // as a rootfs scan of RHEL says
		{purl: "pkg:rpm/almalinux/bash@5.1.8-9.el9?epoch=0",
			want: inventory.Package{Type: inventory.RPM, Ecosystem: "AlmaLinux", Name: "bash", Version: "5.1.8-9.el9"}},
		{purl: "pkg:golang/golang.org/x/net@v0.17.0",
			want: inventory.Package{Type: inventory.GoMod, Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.17.0"}},
		{purl: "pkg:npm/%40babel/core@7.23.2",
			want: inventory.Package{Type: inventory.Npm, Ecosystem: "npm", Name: "@babel/core", Version: "7.23.2"}},
		{purl: "pkg:pypi/requests@2.31.0",
			want: inventory.Package{Type: inventory.PythonPkg, Ecosystem: "PyPI", Name: "requests", Version: "2.31.0"}},
		{purl: "pkg:cargo/regex@1.9.0",
			want: inventory.Package{Type: inventory.Cargo, Ecosystem: "crates.io", Name: "regex", Version: "1.9.0"}},
		{purl: "pkg:gem/rails@7.0.4",
			want: inventory.Package{Type: inventory.Bundler, Ecosystem: "RubyGems", Name: "rails", Version: "7.0.4"}},
		{purl: "pkg:composer/laravel/framework@10.0.0",
			want: inventory.Package{Type: inventory.Composer, Ecosystem: "Packagist", Name: "laravel/framework", Version: "10.0.0"}},
		{purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
			want: inventory.Package{Type: inventory.Jar, Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1"}},
		{purl: "pkg:nuget/Newtonsoft.Json@13.0.1",
			want: inventory.Package{Type: inventory.NuGetLock, Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "13.0.1"}},
		{purl: "pkg:deb/kali/bash@5.2-1",
			want: inventory.Package{Type: inventory.Dpkg, Name: "bash", Version: "5.2-1"}},
		{purl: "pkg:github/actions/checkout@v4",
			want:    inventory.Package{Name: "actions/checkout", Version: "v4"},
			wantErr: "package URL type with no OSV ecosystem: github"},
		{purl: "npm/lodash@4", wantErr: `package URL "npm/lodash@4"`},
	} {
		t.Run(tc.purl, func(t *testing.T) {
			got, o, err := PURLToPackage(tc.purl)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.want.Name != "" {
				tc.want.PURL = tc.purl
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("package (-want +got):\n%s", diff)
			}
			// End of life and codename come from osrelease.Complete,
			// tested there; the ecosystem is what matching needs.
			if diff := cmp.Diff(tc.os, o, cmpopts.IgnoreFields(inventory.OS{}, "EOL", "Codename")); diff != "" {
				t.Errorf("OS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLicenses(t *testing.T) {
	ids := loadLicenseIDs()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"MIT", "MIT", true},
		{"mit", "MIT", true},
		{"Apache-2.0 OR MIT", "Apache-2.0 OR MIT", true},
		{"(GPL-2.0-only WITH Classpath-exception-2.0) and bsd-3-clause", "(GPL-2.0-only WITH Classpath-exception-2.0) AND BSD-3-Clause", true},
		{"GPL-2.0+", "GPL-2.0+", true},
		{"LicenseRef-mine OR MIT", "LicenseRef-mine OR MIT", true},
		{"Apache License, Version 2.0", "", false},
		{"MIT OR", "", false},
		{"(MIT", "", false},
		{"MIT Apache-2.0", "", false},
		{"", "", false},
	} {
		got, ok := ids.expression(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("expression(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	got := spdxLicenses("(MIT OR Apache-2.0) AND LicenseRef-Apache-License-Version-2.0 AND Zlib", map[string]string{"LicenseRef-Apache-License-Version-2.0": "Apache License, Version 2.0"})
	if want := []string{"MIT OR Apache-2.0", "Apache License, Version 2.0", "Zlib"}; !slices.Equal(got, want) {
		t.Errorf("spdxLicenses = %q, want %q", got, want)
	}
}

func TestLicenseListMatchesSchema(t *testing.T) {
	data, err := os.ReadFile("testdata/schema/spdx.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ Enum []string }
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.Enum)
	got := strings.Fields(spdxLicenseList)
	if !slices.Equal(got, s.Enum) {
		t.Errorf("spdx_licenses.txt (%d IDs) differs from the schema's enum (%d IDs)", len(got), len(s.Enum))
	}
}

func TestRefsUnique(t *testing.T) {
	pkgs := []inventory.Package{
		{Name: "a", Version: "1", PURL: "pkg:npm/a@1", Path: "x/package-lock.json", ID: "a@1"},
		{Name: "a", Version: "1", PURL: "pkg:npm/a@1", Path: "x/package-lock.json"},
		{Name: "a", Version: "1", PURL: "pkg:npm/a@1", Path: "y/package-lock.json"},
		{Name: "a b", Version: "1", Path: "z"},
		{Name: "a/b", Version: "1", Path: "z"},
	}
	r := newRefs(pkgs)
	seen := map[string]bool{}
	ids := map[string]bool{}
	for _, ref := range r.ref {
		id := spdxID("Package", ref)
		if seen[ref] || ids[id] {
			t.Errorf("duplicate ref %q / SPDX ID %q", ref, id)
		}
		seen[ref], ids[id] = true, true
		if strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			t.Errorf("SPDX ID %q has characters outside [A-Za-z0-9.-]", id)
		}
	}
}

// bigInventory makes an inventory of n npm packages, each depending on
// the next two.
func bigInventory(n int) *inventory.Inventory {
	inv := &inventory.Inventory{OS: &inventory.OS{Family: "debian", Version: "12", Ecosystem: "Debian:12"}}
	for i := range n {
		name := fmt.Sprintf("pkg-%d", i)
		p := inventory.Package{Type: inventory.Npm, Ecosystem: "npm", Name: name, Version: "1.0.0",
			PURL: "pkg:npm/" + name + "@1.0.0", Path: "app/package-lock.json", ID: name + "@1.0.0", Licenses: []string{"MIT"}}
		for j := i + 1; j < min(i+3, n); j++ {
			p.DependsOn = append(p.DependsOn, fmt.Sprintf("pkg-%d@1.0.0", j))
		}
		inv.Packages = append(inv.Packages, p)
	}
	return inv
}

func BenchmarkWrite(b *testing.B) {
	inv := bigInventory(5000)
	for _, w := range writers {
		b.Run(string(w.format), func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := w.write(&buf, inv, testMeta); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}

func BenchmarkRead(b *testing.B) {
	inv := bigInventory(5000)
	for _, w := range writers {
		b.Run(string(w.format), func(b *testing.B) {
			var buf bytes.Buffer
			if err := w.write(&buf, inv, testMeta); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, _, err := Read(bytes.NewReader(buf.Bytes()), "bench.json"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/read/*.json")
	files = append(files, "testdata/golden/image.cdx.json", "testdata/golden/image.spdx.json")
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, format, err := Read(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if format != CycloneDX && format != SPDX {
			t.Fatalf("format %q", format)
		}
		// What was read can be written again.
		var buf bytes.Buffer
		if err := WriteCycloneDX(&buf, inv, Meta{}); err != nil {
			t.Fatal(err)
		}
	})
}
