package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mamori-dev/mamori/pkg/dockerfile"
)

// TestPreCommitHooks keeps .pre-commit-hooks.yaml runnable: every hook's
// entry is a mamori command, and the Dockerfile hook picks the files the
// linter and scan config take for Dockerfiles.
func TestPreCommitHooks(t *testing.T) {
	data, err := os.ReadFile("../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID, Entry, Files, Exclude, Language string
	}
	if err := yaml.Unmarshal(data, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 3 {
		t.Fatalf("%d hooks, want scan secret, dockerfile and config", len(hooks))
	}
	for _, h := range hooks {
		args := strings.Fields(h.Entry)
		if len(args) < 3 || args[0] != "mamori" || h.Language != "golang" {
			t.Errorf("%s: entry %q, language %q", h.ID, h.Entry, h.Language)
			continue
		}
		if code, _, errOut := run(t, "", append(args[1:], "--help")...); code != 0 {
			t.Errorf("%s: %q is no mamori command: %s", h.ID, h.Entry, errOut)
		}
		if h.ID != "mamori-dockerfile" {
			continue
		}
		re, ex := regexp.MustCompile(h.Files), regexp.MustCompile(h.Exclude)
		for _, p := range []string{"Dockerfile", "api/Dockerfile", "Dockerfile.dev", "build/app.Dockerfile", "x.dockerfile", "Containerfile",
			"Dockerfile.dockerignore", "docs/Dockerfile.md", "Dockerfiles/readme.txt", "notDockerfile"} {
			base := p[strings.LastIndexByte(p, '/')+1:]
			if got, want := re.MatchString(p) && !ex.MatchString(p), dockerfile.IsDockerfile(base); got != want {
				t.Errorf("hook files pattern on %q: %v, linter: %v", p, got, want)
			}
		}
	}
}
