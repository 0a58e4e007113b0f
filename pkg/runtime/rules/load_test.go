package rules

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestLoadErrors loads each broken file of testdata/bad: the load must
// fail, every problem must say file:line, and the messages are pinned in
// testdata/bad/errors.golden.
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata/bad files", err)
	}
	var got strings.Builder
	for _, f := range files {
		s, err := Load(f)
		if err == nil {
			t.Errorf("%s: loaded %d rules, want an error", f, len(s.Rules()))
			continue
		}
		prefix := regexp.MustCompile("^" + regexp.QuoteMeta(f) + `:[1-9][0-9]*: `)
		for _, line := range strings.Split(err.Error(), "\n") {
			if !prefix.MatchString(line) {
				t.Errorf("%s: problem without file:line: %q", f, line)
			}
		}
		got.WriteString("== " + filepath.Base(f) + "\n" + err.Error() + "\n")
	}
	golden(t, "testdata/bad/errors.golden", got.String())
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got; -update rewrites):\n%s", file, d)
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Errorf("empty directory: %v", err)
	}
}
