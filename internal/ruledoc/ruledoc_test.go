package ruledoc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	sigsjson "sigs.k8s.io/json"
)

type thingSpec struct {
	Expr string `json:"expr"`
}

var testKinds = []Kind{
	{Name: "Thing", New: func() any { return &thingSpec{} }},
	{Name: "Widget", New: func() any { return &thingSpec{} }},
	{Name: "Gizmo", New: func() any { return &thingSpec{} }},
}

// decodeThing decodes strictly as the rules packages do.
func decodeThing(d *Doc, spec any) (*Doc, []error) {
	raw, errs, ok := DecodeFields[struct {
		Name string `json:"name"`
	}](d)
	if !ok {
		return d, errs
	}
	strict, err := sigsjson.UnmarshalStrict(raw, spec)
	if err != nil {
		return d, append(errs, d.Errorf("spec", "spec: %v", err))
	}
	return d, append(errs, d.FieldErrors("spec.", strict)...)
}

func parseFile(t *testing.T, name string) ([]*Doc, []error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, data, "example/v1", testKinds, decodeThing)
}

func TestParse(t *testing.T) {
	tests := []struct {
		file  string
		docs  []string // names of the documents kept
		wants []string // the errors, in order
	}{
		{"mixed.yaml", []string{"first"}, []string{
			`mixed.yaml:10: Thing old: apiVersion "example/v0" is not supported (want example/v1)`,
			`mixed.yaml:17: Gadget odd: unknown kind (want Thing, Widget or Gizmo)`,
			`mixed.yaml:26: Thing bad: unknown field "metadata.color"`,
			`mixed.yaml:30: Thing bad: unknown field "spec.extra"`,
		}},
		{"empty.yaml", nil, []string{"empty.yaml: no rule documents"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			docs, errs := parseFile(t, tc.file)
			var names []string
			for _, d := range docs {
				names = append(names, d.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.docs, ",") {
				t.Errorf("documents %v, want %v", names, tc.docs)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.wants, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wants, "\n"))
			}
		})
	}
}

func TestParseBroken(t *testing.T) {
	docs, errs := parseFile(t, "broken.yaml")
	if len(docs) != 0 || len(errs) == 0 {
		t.Fatalf("docs %v, errors %v: want an error and no documents", docs, errs)
	}
	var e *Error
	if !errors.As(errs[0], &e) || e.File != "broken.yaml" || e.Line == 0 {
		t.Errorf("error %v: want a positioned *Error of broken.yaml", errs[0])
	}
}

func TestBlock(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mixed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var all []*Doc
	Parse("mixed.yaml", data, "example/v1", testKinds, func(d *Doc, _ any) (*Doc, []error) {
		all = append(all, d)
		return d, nil
	})
	if len(all) != 2 {
		t.Fatalf("%d documents of a known kind, want 2", len(all))
	}
	tests := []struct {
		doc       *Doc
		path      string
		line      int
		indicator byte
	}{
		{all[0], "spec.expr", 6, '|'},
		{all[0], "metadata.name", 4, 0},
		{all[1], "spec.expr", 28, '>'},
		{all[1], "", 22, 0},
	}
	for _, tc := range tests {
		l, ind := tc.doc.Block(tc.path)
		if l != tc.line || ind != tc.indicator {
			t.Errorf("%s %s: Block = %d, %q; want %d, %q", tc.doc.Name, tc.path, l, ind, tc.line, tc.indicator)
		}
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Col: 4, Msg: "m"}, "f:3:4: m"},
		{Error{File: "f", Line: 3, Msg: "m"}, "f:3: m"},
		{Error{File: "f", Col: 4, Msg: "m"}, "f: m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestSplitRefs(t *testing.T) {
	m, v := SplitRefs([]string{"macros.a", "process", "macros.b", "lists.x"})
	if strings.Join(m, ",") != "a,b" || strings.Join(v, ",") != "process,lists.x" {
		t.Errorf("SplitRefs = %v, %v", m, v)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"mixed.yaml", "empty.yaml", "broken.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, errs := Parse("f.yaml", data, "example/v1", testKinds, decodeThing)
		if len(docs) == 0 && len(errs) == 0 {
			t.Fatal("no documents and no error")
		}
		for _, d := range docs {
			d.Block("spec.expr")
		}
	})
}

func TestBasename(t *testing.T) {
	env, err := cel.NewEnv(Basename("test_basename"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{{"/bin/sh", "sh"}, {"sh", "sh"}, {"/usr/", ""}}
	for _, tc := range tests {
		prog, _, errs := CompileBool(env, &Doc{}, "expr", fmt.Sprintf("basename(%q) == %q", tc.in, tc.want), nil)
		if errs != nil {
			t.Fatal(errs)
		}
		out, _, err := prog.Eval(cel.NoVars())
		if err != nil || out.Value() != true {
			t.Errorf("basename(%q) == %q: %v, %v", tc.in, tc.want, out, err)
		}
	}
}

func TestParseFiles(t *testing.T) {
	parse := func(file string, data []byte) ([]*Doc, []error) {
		return Parse(file, data, "example/v1", testKinds, decodeThing)
	}
	docs, errs := ParseFiles([]string{"testdata/empty.yaml", "testdata/missing", "testdata/mixed.yaml"}, parse)
	if len(docs) != 1 || docs[0].Name != "first" {
		t.Errorf("documents %v, want first", docs)
	}
	// One bad target hides neither the files before nor those after it.
	if len(errs) != 6 || errs[0].Error() != "testdata/empty.yaml: no rule documents" ||
		!strings.HasPrefix(errs[1].Error(), "rules: testdata/missing: ") ||
		!strings.HasPrefix(errs[2].Error(), "testdata/mixed.yaml:10: ") {
		t.Errorf("errors %v", errs)
	}
}
