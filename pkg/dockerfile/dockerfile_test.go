package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// awsKeyID is the test's credential detector: the contract of
// Options.Secret with one real rule (AWS access key IDs), standing in for
// mamori's secrets engine, which the CLI wires in.
func awsKeyID(key, value string) (title, redacted string, ok bool) {
	m := awsKeyIDRe.FindString(value)
	if m == "" {
		return "", "", false
	}
	return "AWS access key ID", fmt.Sprintf("%s…(%d chars)", m[:4], len(m)), true
}

var awsKeyIDRe = regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)

func testLinter() *Linter { return New(Options{Secret: awsKeyID}) }

var wantRe = regexp.MustCompile(`(?m)^# want (\d+):(\d+)\s*$`)

// TestRules runs every rule's fixtures: each fail*.Dockerfile lists the
// positions the rule must report (`# want LINE:COL`), exactly; each
// pass*.Dockerfile must not trigger it.
func TestRules(t *testing.T) {
	dirs, err := os.ReadDir("testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	l := testLinter()
	for _, d := range dirs {
		id := d.Name()
		if _, ok := l.rules[id]; !ok {
			t.Errorf("testdata/rules/%s: no such rule", id)
			continue
		}
		files, _ := filepath.Glob(filepath.Join("testdata/rules", id, "*.Dockerfile"))
		for _, path := range files {
			t.Run(id+"/"+filepath.Base(path), func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				fs, ps := l.Lint(path, data, false)
				if len(ps) > 0 {
					t.Errorf("problems: %v", ps)
				}
				var got, want []string
				for _, f := range fs {
					if f.Rule.ID == id {
						got = append(got, fmt.Sprintf("%d:%d", f.Location.Line, f.Location.Column))
						if f.Message == "" || !strings.Contains(f.Location.Path, "[") && !strings.HasPrefix(f.Location.Path, "stage") {
							t.Errorf("finding %+v lacks a message or path", f)
						}
					}
				}
				for _, m := range wantRe.FindAllStringSubmatch(string(data), -1) {
					want = append(want, m[1]+":"+m[2])
				}
				slices.Sort(want)
				slices.Sort(got)
				fail := strings.HasPrefix(filepath.Base(path), "fail")
				if fail && len(want) == 0 {
					t.Fatal("fail fixture lists no `# want LINE:COL`")
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s at %v, want %v\nall findings:\n%s", id, got, want, dump(fs))
				}
			})
		}
	}
}

func TestEveryRuleHasFixtures(t *testing.T) {
	for _, r := range Rules() {
		for _, f := range []string{"fail.Dockerfile", "pass.Dockerfile"} {
			if _, err := os.Stat(filepath.Join("testdata/rules", r.ID, f)); err != nil {
				t.Errorf("rule %s: %v", r.ID, err)
			}
		}
		if r.Title == "" || r.Description == "" || r.Remediation == "" || len(r.References) == 0 || r.Severity == finding.Unknown {
			t.Errorf("rule %s: incomplete metadata", r.ID)
		}
		if !strings.HasPrefix(r.ID, "dockerfile-") {
			t.Errorf("rule %s: ID must start with dockerfile-", r.ID)
		}
	}
	if !slices.IsSortedFunc(Rules(), func(a, b *finding.Rule) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Rules() not sorted by ID")
	}
}

func dump(fs []finding.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %d:%d %s %s %s\n", f.Location.Line, f.Location.Column, f.Rule.ID, f.Location.Path, f.Message)
	}
	return b.String()
}
