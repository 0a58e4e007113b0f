package manifest

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/finding"
)

func parseFile(t *testing.T, name string) Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, data)
}

func TestParseMultiDocument(t *testing.T) {
	res := parseFile(t, "multi.yaml")
	type obj struct {
		Kind, Name string
		Line, Col  int
	}
	var got []obj
	for _, o := range res.Objects {
		got = append(got, obj{o.Kind(), o.Name(), o.Line, o.Column})
	}
	want := []obj{
		{"Pod", "first", 2, 1},
		{"ConfigMap", "in-list", 18, 3},
		{"Service", "svc", 24, 3},
		{"Secret", "last", 32, 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	wantErrs := []finding.Problem{{File: "multi.yaml", Line: 13, Message: "invalid YAML: did not find expected ',' or ']'"}}
	if diff := cmp.Diff(wantErrs, res.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	wantNotes := []finding.Problem{{File: "multi.yaml", Line: 28, Message: "not a Kubernetes object (no apiVersion or kind): skipped"}}
	if diff := cmp.Diff(wantNotes, res.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestLocate(t *testing.T) {
	res := parseFile(t, "multi.yaml")
	pod, cm := res.Objects[0], res.Objects[1]
	tests := []struct {
		obj       *Object
		path      string
		line, col int
		exact     bool
	}{
		{pod, "spec.containers[0].securityContext.privileged", 11, 7, true},
		{pod, "spec.containers[0].securityContext.runAsNonRoot", 10, 5, false},
		{pod, "spec.containers[0]", 8, 5, true},
		{pod, "spec.containers[3].image", 7, 3, false},
		{pod, "spec.volumes[0].hostPath", 6, 1, false},
		{pod, "", 2, 1, true},
		{cm, "metadata.annotations['a.b/c']", 23, 7, true},
		{cm, "metadata.name", 21, 5, true},
	}
	for _, tt := range tests {
		line, col, exact := tt.obj.Locate(tt.path)
		if line != tt.line || col != tt.col || exact != tt.exact {
			t.Errorf("Locate(%q) = %d:%d exact=%v, want %d:%d exact=%v", tt.path, line, col, exact, tt.line, tt.col, tt.exact)
		}
	}
}

func TestScalarsResolveAsKubectlDoes(t *testing.T) {
	src := `apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data:
  yes1: yes
  quoted: "yes"
  off: off
  octal: 0777
  hex: 0x1F
  under: 1_000
  float: 1.5e3
  inf: .inf
  tagged: !!str 12
  nul: ~
  str: 1.2.3
  on: 1
`
	res := Parse("x.yaml", []byte(src))
	if len(res.Objects) != 1 {
		t.Fatalf("objects = %d, errors %v", len(res.Objects), res.Errors)
	}
	got := res.Objects[0].Data()["data"].(map[string]any)
	want := map[string]any{
		"yes1": true, "quoted": "yes", "false": false, "octal": int64(0o777), "hex": int64(31),
		"under": int64(1000), "float": 1500.0, "inf": math.Inf(1), "tagged": "12", "nul": nil,
		"str": "1.2.3", "true": int64(1),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	// The position index resolves keys the same way.
	if line, _, exact := res.Objects[0].Locate("data.true"); line != 16 || !exact {
		t.Errorf("Locate(data.true) = %d exact=%v, want 16 exact", line, exact)
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, src string
		errs      []string
		notes     []string
		objects   int
	}{
		{name: "json", src: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"j\"}\n}\n", objects: 1},
		{name: "binary", src: "apiVersion: v1\x00\x01\x02", notes: []string{"binary file, not a manifest: skipped"}},
		{name: "scalar doc", src: "hello\n", notes: []string{"1: not a Kubernetes object (a YAML scalar, not a mapping): skipped"}},
		{name: "list doc", src: "- a\n- b\n", notes: []string{"1: not a Kubernetes object (a YAML list, not a mapping): skipped"}},
		{name: "duplicate key", src: "apiVersion: v1\nkind: Pod\nkind: Pod\nmetadata: {name: d}\n", objects: 1,
			notes: []string{`3: duplicate key "kind" (first at line 2); the last value wins`}},
		{name: "bad metadata", src: "apiVersion: v1\nkind: Pod\nmetadata: [1]\n", errs: []string{"1: Pod: metadata is not a mapping"}},
		{name: "unknown alias", src: "apiVersion: v1\nkind: Pod\nmetadata: *nope\n", errs: []string{"3: invalid YAML: unknown anchor 'nope' referenced"}},
		{name: "bad indent second doc", src: "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\na:\n  - x\n - y\n",
			objects: 1, errs: []string{"7: invalid YAML: did not find expected key"}},
		{name: "alias bomb", src: aliasBomb(), errs: []string{"alias bomb"}},
		{name: "norway", src: "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: n}\n", objects: 1},
		{name: "unclosed flow", src: "apiVersion: v1\nkind: Pod\nmetadata: {name: a,\n  labels: {x: y}\nspec:\n  a: b\n", errs: []string{"invalid YAML"}},
		{name: "merge keys", src: "base: &b {apiVersion: v1, kind: Pod}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  <<: {name: m, namespace: prod}\n  name: own\n",
			objects: 1, notes: []string{"1: not a Kubernetes object (no apiVersion or kind): skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Parse("f.yaml", []byte(tt.src))
			if len(res.Objects) != tt.objects {
				t.Errorf("objects = %d, want %d", len(res.Objects), tt.objects)
			}
			checkProblems(t, "errors", res.Errors, tt.errs)
			checkProblems(t, "notes", res.Notes, tt.notes)
		})
	}
}

// checkProblems matches each problem against "line: message" or a message
// prefix.
func checkProblems(t *testing.T, what string, got []finding.Problem, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %d", what, got, len(want))
	}
	for i, p := range got {
		s := strings.TrimPrefix(p.String(), "f.yaml:")
		if !strings.HasPrefix(s, want[i]) && !strings.Contains(s, want[i]) {
			t.Errorf("%s[%d] = %q, want %q", what, i, s, want[i])
		}
	}
}

func TestMergeKeys(t *testing.T) {
	res := Parse("m.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  <<: {name: m, namespace: prod}\n  name: own\n"))
	o := res.Objects[0]
	if o.Name() != "own" || o.Namespace() != "prod" {
		t.Errorf("name/namespace = %q/%q, want own/prod", o.Name(), o.Namespace())
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("apiVersion: v1\nkind: Pod\n")
	return b.String()
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "sub/b.yml", "sub/c.json", "sub/readme.md", ".git/x.yaml", "node_modules/y.yaml", "skipme/z.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("a: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", ".mamori-ignore.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	inputs, sidecars, errs := Discover(context.Background(), []string{dir, filepath.Join(dir, "sub/readme.md"), "-", filepath.Join(dir, "missing")},
		DiscoverOptions{Skip: []string{"skipme"}, Sidecars: []string{".mamori-ignore.yaml"}})
	if len(sidecars) != 1 || !strings.HasSuffix(sidecars[0].Name, "sub/.mamori-ignore.yaml") {
		t.Errorf("sidecars = %v", sidecars)
	}
	var names []string
	for _, in := range inputs {
		names = append(names, strings.TrimPrefix(in.Name, filepath.ToSlash(dir)+"/"))
	}
	want := []string{"a.yaml", "sub/b.yml", "sub/c.json", "sub/readme.md", "<stdin>"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "no such file") {
		t.Errorf("errors = %v, want one 'no such file'", errs)
	}
}

func TestReadLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(Input{Name: "big.yaml", path: p}, nil, 99); err == nil || !strings.Contains(err.Error(), "--max-file-size") {
		t.Errorf("Read over limit: err = %v", err)
	}
	if _, err := Read(Input{Name: "<stdin>"}, nil, 99); err == nil {
		t.Error("Read stdin without a reader: no error")
	}
	if _, err := Read(Input{Name: "<stdin>"}, strings.NewReader(strings.Repeat("a", 100)), 99); err == nil {
		t.Error("Read stdin over limit: no error")
	}
	data, err := Read(Input{Name: "big.yaml", path: p}, nil, 100)
	if err != nil || len(data) != 100 {
		t.Errorf("Read at limit = %d bytes, %v", len(data), err)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in   string
		want []Segment
		err  bool
	}{
		{in: "a.b[2].c", want: []Segment{{"a", -1}, {"b", -1}, {"", 2}, {"c", -1}}},
		{in: "m['x.y/z'].k", want: []Segment{{"m", -1}, {"x.y/z", -1}, {"k", -1}}},
		{in: "a[", err: true},
		{in: "a[-1]", err: true},
		{in: "a['x", err: true},
	}
	for _, tt := range tests {
		got, err := ParsePath(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParsePath(%q) err = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParsePath(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestObjectStrings(t *testing.T) {
	src := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    a.b/c: "x"
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: DB_PASSWORD
          value: hunter2
        - name: EMPTY
          value:
        args: [--port, 8080]
`
	res := Parse("d.yaml", []byte(src))
	if len(res.Objects) != 1 {
		t.Fatalf("objects: %v %v", res.Objects, res.Errors)
	}
	var got []string
	res.Objects[0].Strings(func(name, value string, path func() string) {
		got = append(got, path()+" "+name+"="+value)
	})
	want := []string{
		"apiVersion apiVersion=apps/v1",
		"kind kind=Deployment",
		"metadata.name name=web",
		"metadata.annotations['a.b/c'] a.b/c=x",
		"spec.template.spec.containers[0].name name=app",
		"spec.template.spec.containers[0].env[0].name name=DB_PASSWORD",
		"spec.template.spec.containers[0].env[0].value DB_PASSWORD=hunter2",
		"spec.template.spec.containers[0].env[1].name name=EMPTY",
		"spec.template.spec.containers[0].args[0] args=--port",
		"spec.template.spec.containers[0].args[1] args=8080",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Strings:\n got %q\nwant %q", got, want)
	}
	// Every path Strings gives locates its field exactly.
	o := res.Objects[0]
	o.Strings(func(name, value string, path func() string) {
		if _, _, exact := o.Locate(path()); !exact {
			t.Errorf("path %s does not locate exactly", path())
		}
	})
}
