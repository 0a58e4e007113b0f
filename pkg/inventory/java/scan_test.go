package java

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Through the real Scanner over a directory: the analyzers pick their
// files, packages come back with their paths, and a broken nested jar is a
// Problem naming the war and the entry without hiding the rest.
func TestScanDir(t *testing.T) {
	root := t.TempDir()
	write := func(p string, b []byte) {
		t.Helper()
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("opt/tomcat/webapps/shop.war", zipOf(t,
		entry{name: "WEB-INF/lib/log4j-core-2.14.1.jar", data: log4jCoreJar(t)},
		entry{name: "WEB-INF/lib/broken-1.0.jar", data: []byte("not a zip")},
	))
	pom, err := os.ReadFile("testdata/pom/basic/pom.xml")
	if err != nil {
		t.Fatal(err)
	}
	write("src/shop/pom.xml", pom)
	write("src/shop/gradle.lockfile", []byte("org.slf4j:slf4j-api:1.7.36=runtimeClasspath\n"))
	write("src/shop/README.md", []byte("not read"))

	s := &inventory.Scanner{Analyzers: []inventory.Analyzer{NewArchive(), NewPom(), NewGradleLock()}}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, p.Path+" "+p.Name+"@"+p.Version)
	}
	want := []string{
		"opt/tomcat/webapps/shop.war!WEB-INF/lib/log4j-core-2.14.1.jar org.apache.logging.log4j:log4j-core@2.14.1",
		"src/shop/gradle.lockfile org.slf4j:slf4j-api@1.7.36",
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, "\n"), w) {
			t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if n := len(inv.Packages); n != 2+6 {
		t.Errorf("%d packages, want 8:\n%s", n, strings.Join(got, "\n"))
	}
	var problems []string
	for _, p := range inv.Problems {
		problems = append(problems, p.Error())
	}
	all := strings.Join(problems, "\n")
	for _, w := range []string{
		"opt/tomcat/webapps/shop.war: jar: WEB-INF/lib/broken-1.0.jar: read zip: zip: not a valid zip file",
		"src/shop/pom.xml: pom: line 68: dependency org.junit.jupiter:junit-jupiter: no version",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("missing problem %q in\n%s", w, all)
		}
	}
}
