// Package ruledoc holds the documents of mamori's CEL rule files: parsing
// with positions, strict decoding, error positions. The audit and runtime
// rule packages wrap its documents with their own spec types.
package ruledoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Error is one problem of a rule file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Kind is a kind of document a rule file may hold.
type Kind struct {
	Name string
	// New returns a pointer to a zero spec of the kind, to decode into.
	New func() any
}

// Doc is one document of a rule file, its spec not yet decoded.
type Doc struct {
	Kind, Name string
	File       string
	Line       int
	Obj        *manifest.Object
	Src        []byte // the file, to tell block scalars from inline values
	Builtin    bool
}

// At returns the line of the field at path, or of the document.
func (d *Doc) At(path string) int {
	if path == "" || d.Obj == nil {
		return d.Line
	}
	l, _, _ := d.Obj.Locate(path)
	return l
}

// Errorf reports a problem of the document at the line of the field at
// path, its message prefixed by the document's kind and name.
func (d *Doc) Errorf(path, format string, args ...any) *Error {
	return &Error{File: d.File, Line: d.At(path), Msg: fmt.Sprintf("%s %s: ", d.Kind, d.Name) + fmt.Sprintf(format, args...)}
}

// Parse reads the documents of one file. A document of another apiVersion
// or of none of kinds is reported, as are the file's YAML problems
// (duplicate keys and non-objects included: in a rule file, they are
// mistakes). Each other document is passed to decode with a new spec of
// its kind, and kept unless decode reports a problem. One bad document
// never hides the others: problems are returned in document order.
func Parse[T any](file string, data []byte, apiVersion string, kinds []Kind, decode func(d *Doc, spec any) (T, []error)) ([]T, []error) {
	res := manifest.Parse(file, data)
	var errs []error
	for _, p := range slices.Concat(res.Errors, res.Notes) {
		errs = append(errs, &Error{File: p.File, Line: p.Line, Msg: p.Message})
	}
	if len(res.Objects) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{File: file, Msg: "no rule documents"})
	}
	var docs []T
	for _, o := range res.Objects {
		d := &Doc{Kind: o.Kind(), Name: o.Name(), File: file, Line: o.Line, Obj: o, Src: data}
		if o.APIVersion() != apiVersion {
			errs = append(errs, d.Errorf("apiVersion", "apiVersion %q is not supported (want %s)", o.APIVersion(), apiVersion))
			continue
		}
		i := slices.IndexFunc(kinds, func(k Kind) bool { return k.Name == o.Kind() })
		if i < 0 {
			errs = append(errs, d.Errorf("kind", "unknown kind (want %s)", kindList(kinds)))
			continue
		}
		t, e := decode(d, kinds[i].New())
		if len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		docs = append(docs, t)
	}
	return docs, errs
}

// ParseFiles parses the rule files of targets, files or directories
// (walked for .yaml, .yml and .json files), in order. Every problem of
// every file is returned.
func ParseFiles[T any](targets []string, parse func(file string, data []byte) ([]T, []error)) ([]T, []error) {
	var docs []T
	var errs []error
	for _, target := range targets {
		found, err := policy.Files(target)
		if err == nil && len(found) == 0 {
			err = errors.New("no .yaml, .yml or .json file")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: %s: %w", target, err))
			continue
		}
		for _, f := range found {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("read rules: %w", err))
				continue
			}
			ds, e := parse(f, data)
			docs, errs = append(docs, ds...), append(errs, e...)
		}
	}
	return docs, errs
}

// kindList says "A, B or C".
func kindList(kinds []Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// DecodeFields decodes the document strictly as apiVersion, kind, metadata
// (of type M) and spec, and returns the spec's JSON. Unknown and duplicate
// fields are reported at their lines; ok is false when the document could
// not be decoded at all (errs then says why).
func DecodeFields[M any](d *Doc) (spec json.RawMessage, errs []error, ok bool) {
	raw, err := json.Marshal(d.Obj.Data())
	if err != nil {
		return nil, []error{d.Errorf("", "%v", err)}, false
	}
	var whole struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   M               `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}
	strict, err := sigsjson.UnmarshalStrict(raw, &whole)
	if err != nil {
		return nil, []error{d.Errorf("", "%v", err)}, false
	}
	return whole.Spec, d.FieldErrors("", strict), true
}

// FieldErrors reports the strict errors of sigs.k8s.io/json at the lines of
// their fields, whose paths are below prefix ("spec.").
func (d *Doc) FieldErrors(prefix string, strict []error) []error {
	var errs []error
	for _, e := range strict {
		var fe sigsjson.FieldError
		if !errors.As(e, &fe) {
			errs = append(errs, d.Errorf("", "%v", e))
			continue
		}
		p := prefix + fe.FieldPath()
		errs = append(errs, d.Errorf(p, "%s", strings.Replace(e.Error(), `"`+fe.FieldPath()+`"`, `"`+p+`"`, 1)))
	}
	return errs
}

// Block returns the line of the field at path and its block scalar
// indicator: '|' (literal: the value keeps its lines, from the next one),
// '>' (folded) or 0 for an inline value.
func (d *Doc) Block(path string) (keyLine int, indicator byte) {
	keyLine = d.At(path)
	l := lineText(d.Src, keyLine)
	i := bytes.IndexByte(l, ':')
	if i < 0 {
		return keyLine, 0
	}
	v := bytes.TrimSpace(l[i+1:])
	if len(v) > 0 && (v[0] == '|' || v[0] == '>') {
		return keyLine, v[0]
	}
	return keyLine, 0
}

// lineText returns line n (1-based) of data, without its newline.
func lineText(data []byte, n int) []byte {
	for i := 1; i < n && len(data) > 0; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return nil
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return data
}

// CompileBool compiles expr, written at path, which must be a bool, and
// returns the variables it references (by their declared names:
// "macros.shell_exec"). Compile issues are reported by issues.
func CompileBool(env *cel.Env, d *Doc, path, expr string, issues func(*cel.Issues) []error) (cel.Program, []string, []error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, issues(iss)
	}
	if ast.OutputType() != cel.BoolType {
		return nil, nil, []error{d.Errorf(path, "%s must be a bool, not %s", path, ast.OutputType())}
	}
	prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, []error{d.Errorf(path, "%s: %v", path, err)}
	}
	var refs []string
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name != "" && len(r.OverloadIDs) == 0 && r.Value == nil && !slices.Contains(refs, r.Name) {
			refs = append(refs, r.Name)
		}
	}
	slices.Sort(refs)
	return prog, refs, nil
}

// SplitRefs splits a macro's references into the macros it reads (by
// name) and the other variables.
func SplitRefs(refs []string) (macros, vars []string) {
	for _, r := range refs {
		if name, ok := strings.CutPrefix(r, "macros."); ok {
			macros = append(macros, name)
		} else {
			vars = append(vars, r)
		}
	}
	return macros, vars
}

// Basename declares the CEL function basename(string), the part of a path
// after its last '/', under overloadID.
func Basename(overloadID string) cel.EnvOption {
	return cel.Function("basename", cel.Overload(overloadID, []*cel.Type{cel.StringType}, cel.StringType,
		cel.UnaryBinding(func(v ref.Val) ref.Val {
			p, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return p[strings.LastIndexByte(string(p), '/')+1:]
		})))
}
