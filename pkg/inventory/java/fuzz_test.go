package java

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func seedFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzManifest(f *testing.F) {
	for _, s := range []string{log4jCoreMF, commonsLangMF, jakartaMF, springMF} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err == nil && m == nil {
			t.Fatal("nil manifest without an error")
		}
	})
}

func FuzzProperties(f *testing.F) {
	for _, s := range []string{log4jCoreProps, jacksonProps, "a\\\n  b=c\\u0041\\\\", "k\\u00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseProperties(data)
	})
}

func FuzzPom(f *testing.F) {
	seedFiles(f, "pom/*/pom.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePom(bytes.NewReader(data))
		if err != nil {
			return
		}
		pkgs, _ := p.dependencies("pom.xml")
		for _, pkg := range pkgs {
			if pkg.Name == "" || pkg.Version == "" {
				t.Fatalf("empty coordinates: %+v", pkg)
			}
		}
	})
}

func FuzzGradleLock(f *testing.F) {
	seedFiles(f, "gradle/*/gradle.lockfile")
	seedFiles(f, "gradle/gradle/dependency-locks/*.lockfile")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseGradleLock(bytes.NewReader(data), "gradle.lockfile", "")
	})
}

// FuzzArchive feeds whole archives, nested ones included, to the analyzer.
func FuzzArchive(f *testing.F) {
	f.Add(log4jCoreJar(f))
	f.Add(zipOf(f, entry{name: "WEB-INF/lib/log4j-core-2.14.1.jar", data: log4jCoreJar(f), store: true},
		entry{name: "META-INF/MANIFEST.MF", data: []byte(commonsLangMF)}))
	a := &archiveAnalyzer{maxMeta: 1 << 16, maxMem: 1 << 20, maxNested: 1 << 20, maxTotal: 1 << 22, maxDepth: 3}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = a.Analyze(context.Background(), fileOf("x.jar", data))
	})
}
