package java

import (
	"archive/zip"
	"encoding/json"
	"io"
	"testing"

	"github.com/mamori-dev/mamori/internal/shareddata"
	"github.com/mamori-dev/mamori/pkg/osv"
)

// record reads one OSV record from the shared per-ecosystem archive.
func record(t *testing.T, archive, id string) *osv.Vulnerability {
	t.Helper()
	zr, err := zip.OpenReader(shareddata.Path(t, "osv", archive))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(id + ".json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var v osv.Vulnerability
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// The packages found in a fat jar and a pom.xml are named as the real
// Log4Shell record names log4j-core, in the same ecosystem.
func TestOSVNames(t *testing.T) {
	v := record(t, "Maven.zip", "GHSA-jfh8-c2jp-5v3q")
	names := map[string]bool{}
	for _, a := range v.Affected {
		names[a.Package.Ecosystem+"/"+a.Package.Name] = true
	}
	jar, err := analyze(t, NewArchive(), "app.jar", zipOf(t, entry{name: "BOOT-INF/lib/log4j-core-2.14.1.jar", data: log4jCoreJar(t), store: true}))
	if err != nil {
		t.Fatal(err)
	}
	pom, err := analyze(t, NewPom(), "pom.xml", []byte(`<project><dependencies><dependency>
<groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.14.1</version>
</dependency></dependencies></project>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(jar, pom...) {
		if !names[p.Ecosystem+"/"+p.Name] {
			t.Errorf("%s %s/%s: no such package in %s (%v)", p.Type, p.Ecosystem, p.Name, v.ID, names)
		}
	}
}
