package dockerfile

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/finding"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the file, or rewrites it under -update.
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
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// TestGolden lints realistic Dockerfiles and compares the findings, in
// their JSON form, with golden files.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.Dockerfile")
	if len(files) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.ToSlash(path)
			fs, ps := testLinter().Lint(name, data, false)
			out := struct {
				Findings []finding.JSON    `json:"findings"`
				Problems []finding.Problem `json:"problems"`
			}{Findings: []finding.JSON{}, Problems: append([]finding.Problem{}, ps...)}
			for i := range fs {
				out.Findings = append(out.Findings, fs[i].JSON())
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(out); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(path, ".Dockerfile")+".json", b.Bytes())
		})
	}
}
