package dockerfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLint: any input gives findings and problems, never a panic; every
// finding points into the file.
func FuzzLint(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.Dockerfile")
	more, _ := filepath.Glob("testdata/rules/*/*.Dockerfile")
	for _, p := range append(seeds, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("FROM a\nRUN <<EOF\n"))
	f.Add([]byte("# escape=`\nFROM a\nRUN a `\n b"))
	l := testLinter()
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, ps := l.Lint("Dockerfile", data, false)
		lines := strings.Count(string(data), "\n") + 1
		for _, fd := range fs {
			if fd.Rule == nil || fd.Message == "" || fd.Location.Path == "" || fd.Fingerprint == "" {
				t.Fatalf("incomplete finding %+v", fd)
			}
			if fd.Location.Line < 1 || fd.Location.Line > lines || fd.Location.Column < 1 {
				t.Fatalf("finding outside the file (%d lines): %+v", lines, fd)
			}
		}
		for _, p := range ps {
			if p.File != "Dockerfile" || p.Message == "" || p.Line < 0 || p.Line > lines {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}

// BenchmarkParse is BuildKit's parser alone on the same file: the floor
// under BenchmarkLint.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/golden/multistage.Dockerfile")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLint lints a realistic 39-line, four-stage Dockerfile.
func BenchmarkLint(b *testing.B) {
	data, err := os.ReadFile("testdata/golden/multistage.Dockerfile")
	if err != nil {
		b.Fatal(err)
	}
	l := testLinter()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		l.Lint("Dockerfile", data, false)
	}
}
