package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// diffNodes describes the first difference between two node trees, or "".
func diffNodes(path string, a, b *node) string {
	if a.kind != b.kind {
		return fmt.Sprintf("%s: kind %v vs %v", path, a.kind, b.kind)
	}
	if a.line != b.line || a.column != b.column {
		return fmt.Sprintf("%s: position %d:%d vs %d:%d", path, a.line, a.column, b.line, b.column)
	}
	const styles = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.FlowStyle | yaml.LiteralStyle | yaml.FoldedStyle | yaml.TaggedStyle
	if a.style&styles != b.style&styles {
		return fmt.Sprintf("%s: style %v vs %v", path, a.style, b.style)
	}
	if a.kind == yaml.ScalarNode && (a.value != b.value || a.tag != b.tag) {
		return fmt.Sprintf("%s: scalar %q %s vs %q %s", path, a.value, a.tag, b.value, b.tag)
	}
	if len(a.content) != len(b.content) {
		return fmt.Sprintf("%s: %d children vs %d", path, len(a.content), len(b.content))
	}
	for i := range a.content {
		if d := diffNodes(fmt.Sprintf("%s/%d", path, i), a.content[i], b.content[i]); d != "" {
			return d
		}
	}
	return ""
}

// checkFast compares the fast parser with yaml.v3 on one document. It
// reports whether the fast path took it.
func checkFast(t *testing.T, doc []byte) bool {
	t.Helper()
	fast, err := fastParse(doc)
	if err != nil {
		if err != errFallback {
			t.Fatalf("fastParse returned %v, want nil or errFallback", err)
		}
		return false
	}
	var ref yaml.Node
	if err := safeUnmarshal(doc, &ref); err != nil {
		t.Fatalf("fast path accepted what yaml.v3 rejects (%v):\n%s", err, doc)
	}
	if ref.Kind == 0 {
		if len(fast.content) != 0 {
			t.Fatalf("fast path found content in an empty document:\n%s", doc)
		}
		return true
	}
	if len(fast.content) != 1 {
		t.Fatalf("fast path found no content; yaml.v3 did:\n%s", doc)
	}
	if d := diffNodes("", fast.content[0], fromYAML(ref.Content[0], map[*yaml.Node]*node{})); d != "" {
		t.Fatalf("fast path differs from yaml.v3 at %s:\n%s", d, doc)
	}
	return true
}

func TestFastParseMatchesYAMLv3(t *testing.T) {
	docs := []string{
		"a: 1\nb: two\n",
		"---\nkind: Pod # comment\nspec:\n  containers:\n  - name: a\n    image: \"x:1\"\n    args: ['-c', \"it's\"]\n  - name: b\n",
		"items:\n- a\n-   b\n- {x: 1, 'y': \"2\"}\n- [1, [2, 3], {a: b}]\n",
		"seq:\n- a\nnext: 1\n",
		"k: \"esc \\\" \\n \\u00e9 \\\\ \\/\"\n",
		"k: 'don''t'\n",
		"url: http://example.com:8080/x#frag\nc: a #comment\n",
		"é: ü\nnested:\n  ä: [ö, 'ß']\n",
		"<<: {a: 1}\nb: 2\n",
		"- - a\n",
		"a: b: c\n",
		"a: |\n  text\n",
		"a: &x 1\nb: *x\n",
		"a:\n  b\n  c\n",
		"a: [1, 2\n",
		"a:\n",
		"a:\nb: 1\n",
		"x:\n  a:   # c\n\n  b: 1\n",
		"- a:\n  b: 1\n",
		"-\n- b\n",
		"x:\n  - a:\ny: 1\n",
		"-   \n",
		"a: {b: }\n",
		"'a': 1\n\"b c\": 2\n",
		"key : v\n",
		"a: [b, c, ]\n",
		"just a scalar\n",
		"[1, 2]\n",
		"a:\n- b\n  - c\n",
		"a:\n  - b\n c: 1\n",
		"a: 1\r\nb: 2\r\n",
		"a: x\n  # indented comment\nb: y\n",
	}
	took := 0
	for _, d := range docs {
		if checkFast(t, []byte(d)) {
			took++
		}
	}
	if took < 12 {
		t.Errorf("fast path took only %d of %d documents", took, len(docs))
	}
}

// TestFastParseTakesRealManifests makes sure the fast path is not a
// fallback in disguise: ordinary manifests must go through it.
func TestFastParseTakesRealManifests(t *testing.T) {
	files, _ := filepath.Glob("../../../examples/*/*.yaml")
	files = append(files, "testdata/multi.yaml")
	taken, total := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range splitDocuments(data) {
			total++
			if checkFast(t, d.data) {
				taken++
			}
		}
	}
	if total == 0 || taken*10 < total*7 {
		t.Errorf("fast path took %d of %d documents", taken, total)
	}
}

// FuzzFastParse: whenever the fast path accepts a document, yaml.v3 must
// build the identical tree.
func FuzzFastParse(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: [x, 'y', \"z\"]\nc:\n- d: e\n  f: {g: h}\n",
		"spec:\n  containers:\n  - name: app\n    securityContext:\n      privileged: yes\n",
		"- a\n- b: c\n  d: e\n",
	} {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("testdata/multi.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "\x00") {
			return
		}
		for _, d := range splitDocuments(data) {
			checkFast(t, d.data)
		}
	})
}
