package githistory

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// render writes changes in the form of the golden files, quoting paths
// and text so that any byte shows.
func render(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "%s %s %q %q", c.Commit, c.AuthorDate.Format(time.RFC3339), c.Author, c.Path)
		if c.Truncated {
			b.WriteString(" truncated")
		}
		b.WriteByte('\n')
		for _, h := range c.Hunks {
			fmt.Fprintf(&b, "\t%d %q\n", h.Line, h.Text)
		}
	}
	return b.String()
}

func parseAll(data []byte, max int64) ([]Change, error) {
	var out []Change
	err := parse(bytes.NewReader(data), max, func(c Change) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// TestParseGolden parses git log outputs: history.patch is real output of
// Walk's command on a repository with renames, an octopus merge that adds
// a line, a conflict resolution, binary files, a symlink, a Latin-1 name
// and quoted names; handmade.patch holds what this git does not print but
// others may (context lines, SHA-256 hashes, empty context lines,
// submodule hunks, a content line that looks like a header).
func TestParseGolden(t *testing.T) {
	patches, err := filepath.Glob("testdata/*.patch")
	if err != nil || len(patches) < 2 {
		t.Fatalf("testdata patches: %v %v", patches, err)
	}
	for _, p := range patches {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			changes, err := parseAll(data, -1)
			if err != nil {
				t.Fatal(err)
			}
			got := render(changes)
			golden := strings.TrimSuffix(p, ".patch") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

const (
	h1 = "1111111111111111111111111111111111111111"
	hd = "\x00" + h1 + " 2024-01-01T00:00:00Z A <a@b>\n"
)

// badPatches are malformed outputs and what their error must say.
var badPatches = []struct {
	name, in string
	wants    []string
}{
	{"no commit header", "diff --git a/x b/x\n", []string{"output line 1 (before the first commit)", "expected a commit header"}},
	{"bad hash", "\x00xyz 2024-01-01T00:00:00Z A <a>\n", []string{"output line 1 ", "no commit hash"}},
	{"short hash", "\x00" + h1[:39] + " 2024-01-01T00:00:00Z A <a>\n", []string{"output line 1 ", "no commit hash"}},
	{"bad date", "\x00" + h1 + " yesterday A <a>\n", []string{"output line 1 ", `bad author date "yesterday"`}},
	{"no author", "\x00" + h1 + " 2024-01-01T00:00:00Z\n", []string{"want hash, date and author"}},
	{"text before a diff", hd + "\n+x\n", []string{"output line 3 (commit " + h1 + ")", "expected a diff"}},
	{"unknown diff header", hd + "diff --foo x\n", []string{"output line 2 ", "unknown diff header"}},
	{"hunk before +++", hd + "diff --git a/x b/x\n@@ -0,0 +1 @@\n+x\n", []string{"output line 3 (commit " + h1 + ")", "hunk without"}},
	{"bad +++ prefix", hd + "diff --git a/x b/x\n+++ c/x\n", []string{"output line 3 ", "want b/<path>"}},
	{"empty +++ path", hd + "diff --git a/x b/x\n+++ b/\n", []string{"want b/<path>"}},
	{"bad quoted name", hd + "diff --git a/x b/x\n+++ \"b/x\\q\"\n", []string{"output line 3 ", "bad quoted file name", "unknown escape"}},
	{"unterminated quote", hd + "diff --git a/x b/x\n+++ \"b/x\n", []string{"bad quoted file name"}},
	{"bad hunk header", hd + "diff --git a/x b/x\n+++ b/x\n@@ -a +1 @@\n", []string{"output line 4 ", "bad hunk header", `bad number "a"`}},
	{"hunk header unclosed", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1\n", []string{"bad hunk header"}},
	{"huge count", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1,99999999999 @@\n", []string{"bad hunk header", "bad number"}},
	{"added at line 0", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +0,1 @@\n+x\n", []string{"line 0"}},
	{"output ends in a hunk", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1,3 @@\n+a\n", []string{"output line 5 ", "ends inside a hunk"}},
	{"more lines than counted", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1 @@\n+a\n+b\n", []string{"output line 6 ", "outside a hunk"}},
	{"more old lines than counted", hd + "diff --git a/x b/x\n+++ b/x\n@@ -1 +1,2 @@\n-a\n-b\n", []string{"output line 6 ", "more lines than its header"}},
	{"bad column", hd + "diff --git a/x b/x\n+++ b/x\n@@ -1 +1 @@\n*x\n", []string{"output line 5 ", "column 1"}},
	{"added and removed", hd + "diff --cc x\n+++ b/x\n@@@ -1,1 -1,1 +1,1 @@@\n+-x\n", []string{"output line 5 ", "added and removed"}},
	{"combined hunk in a two-way diff", hd + "diff --git a/x b/x\n+++ b/x\n@@@ -1 -1 +1 @@@\n", []string{"names 2 parents, want 1"}},
	{"two-way hunk in a combined diff", hd + "diff --cc x\n+++ b/x\n@@ -1 +1 @@\n", []string{"combined diff names 1 parent"}},
	{"parents change", hd + "diff --cc x\n+++ b/x\n@@@ -0,0 -0,0 +1,1 @@@\n++x\n@@@@ -1,0 -1,0 -1,0 +2,1 @@@@\n", []string{"output line 6 ", "names 3 parents, want 2"}},
	{"hunks overlap", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1,2 @@\n+a\n+b\n@@ -0,0 +2 @@\n+c\n", []string{"output line 7 ", "starts before the end of the one before it (line 3)"}},
	{"hunks go back", hd + "diff --git a/x b/x\n+++ b/x\n@@ -5,0 +6,0 @@\n@@ -0,0 +3 @@\n+c\n", []string{"output line 5 ", "(line 7)"}},
	{"+++ after the hunks", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1 @@\n+a\n+++ /dev/null\n", []string{"output line 6 ", "outside a hunk"}},
	{"header after the hunks", hd + "diff --git a/x b/x\n+++ b/x\n@@ -0,0 +1 @@\n+a\nnew file mode 160000\n", []string{"output line 6 ", "after the hunks"}},
	{"two +++ lines", hd + "diff --git a/x b/x\n+++ b/x\n+++ b/y\n", []string{"output line 4 ", "a second"}},
	{"short combined line", hd + "diff --cc x\n+++ b/x\n@@@ -1,1 -1,1 +1,1 @@@\n+\n", []string{"shorter than its 2 columns"}},
	{"long header line", hd + "diff --git a/x b/x\n+++ b/" + strings.Repeat("x", maxHeaderLine) + "\n", []string{"output line 3 ", "longer than"}},
}

// TestParseBad checks that malformed output is an error naming the line
// of output and the commit, and that nothing of a broken file is passed
// on.
func TestParseBad(t *testing.T) {
	for _, tc := range badPatches {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := parseAll([]byte(tc.in), -1)
			if err == nil {
				t.Fatalf("no error; changes %s", render(changes))
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestParseStop checks that the callback's error comes back unwrapped.
func TestParseStop(t *testing.T) {
	data, err := os.ReadFile("testdata/history.patch")
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err = parse(bytes.NewReader(data), -1, func(Change) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("got %v after %d calls, want %v after 1", err, n, stop)
	}
}

func TestUnquote(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`"b/a"`, "b/a", ""},
		{`"b/new\nline\ttab\"q\\"`, "b/new\nline\ttab\"q\\", ""},
		{`"\a\b\f\r\v"`, "\a\b\f\r\v", ""},
		{`"\303\274\351"`, "\xc3\xbc\xe9", ""},
		{`"raw ü \377"`, "raw ü \xff", ""},
		{`"b/x`, "", "not in double quotes"},
		{`"`, "", "not in double quotes"},
		{`"a"b"`, "", "unescaped quote"},
		{`"a\"`, "", "ends in a backslash"},
		{`"\q"`, "", "unknown escape"},
		{`"\400"`, "", "unknown escape"},
		{`"\38"`, "", "bad octal"},
		{`"\3"`, "", "bad octal"},
	} {
		got, err := unquote(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("unquote(%s) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("unquote(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
