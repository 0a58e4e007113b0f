package manifest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// FieldError is a field whose value does not fit the type it is decoded
// into. Line is the field's line in the file.
type FieldError struct {
	Path string
	Line int
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Decode decodes the subtree at path into the value dst points to, with
// the semantics of decoding Data into it through JSON (json tags, inline
// structs, unknown fields ignored) but straight from the parse tree: a scan
// of many workloads decodes every pod template, and the unstructured map
// in between would cost as much again. found is false when path is absent.
func (o *Object) Decode(path string, dst any) (found bool, err error) {
	n, err := o.lookup(path)
	if err != nil || n == nil {
		return false, err
	}
	d := &typedDecoder{obj: o}
	if err := d.decode(n, reflect.ValueOf(dst).Elem()); err != nil {
		return true, d.fieldError(path, err)
	}
	return true, nil
}

// lookup follows a path of map keys; an intermediate value that is not a
// mapping is an error.
func (o *Object) lookup(path string) (*node, error) {
	n := o.root
	walked := ""
	for rest := path; rest != ""; {
		s, r, err := nextSegment(rest)
		if err != nil {
			return nil, err
		}
		rest = r
		if s.Key == "" && s.Index < 0 {
			continue
		}
		n = resolveAlias(n)
		if n.kind != yaml.MappingNode || s.Key == "" {
			return nil, &FieldError{Path: walked, Line: o.lineOffset + int(n.line), Msg: "want an object, found " + nodeKind(n)}
		}
		if walked != "" {
			walked += "."
		}
		walked += s.Key
		n = mappingValue(n, s.Key)
		if n == nil || n.kind == yaml.ScalarNode && scalar(n) == nil {
			return nil, nil
		}
	}
	return resolveAlias(n), nil
}

func nodeKind(n *node) string {
	switch n.kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	return kindOf(scalar(n))
}

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	fieldTables     sync.Map // reflect.Type -> map[string][]int
	unmarshalers    sync.Map // reflect.Type -> bool
)

// implementsUnmarshaler caches reflect's answer: it is asked for every
// decoded value.
func implementsUnmarshaler(t reflect.Type) bool {
	if v, ok := unmarshalers.Load(t); ok {
		return v.(bool)
	}
	ok := reflect.PointerTo(t).Implements(unmarshalerType)
	unmarshalers.Store(t, ok)
	return ok
}

// fields maps JSON names to field index paths, flattening inline structs.
func fields(t reflect.Type) map[string][]int {
	if m, ok := fieldTables.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			idx := append(append([]int{}, prefix...), i)
			if (f.Anonymous && name == "") || strings.Contains(opts, "inline") {
				if f.Type.Kind() == reflect.Struct {
					walk(f.Type, idx)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := m[name]; !dup {
				m[name] = idx
			}
		}
	}
	walk(t, nil)
	fieldTables.Store(t, m)
	return m
}

type typedDecoder struct {
	obj *Object
}

// decodeError records where decoding failed. The path is collected while
// the recursion unwinds, so decoding that succeeds builds no path strings.
type decodeError struct {
	segs []string // innermost first
	line int
	msg  string
}

func (e *decodeError) Error() string { return e.msg }

func (d *typedDecoder) fail(n *node, format string, args ...any) error {
	return &decodeError{line: int(n.line), msg: fmt.Sprintf(format, args...)}
}

// within prefixes err's path with seg.
func within(err error, seg string) error {
	if de, ok := err.(*decodeError); ok {
		de.segs = append(de.segs, seg)
	}
	return err
}

func (d *typedDecoder) fieldError(path string, err error) error {
	de, ok := err.(*decodeError)
	if !ok {
		return &FieldError{Path: path, Msg: err.Error()}
	}
	var b strings.Builder
	b.WriteString(path)
	for i := len(de.segs) - 1; i >= 0; i-- {
		b.WriteString(de.segs[i])
	}
	// From the root (path ""), the first segment's dot leads nowhere.
	full := strings.TrimPrefix(b.String(), ".")
	// The object's own Location knows where a rendered object came from
	// (a Kustomize base, a Helm template); the node's line is only its
	// place in the rendered stream.
	line := d.obj.Location(full).Line
	if line == 0 {
		line = d.obj.lineOffset + de.line
	}
	return &FieldError{Path: full, Line: line, Msg: de.msg}
}

func (d *typedDecoder) decode(n *node, v reflect.Value) error {
	n = resolveAlias(n)
	var sv any // the resolved scalar, for scalar nodes
	if n.kind == yaml.ScalarNode {
		sv = scalar(n)
		if sv == nil {
			return nil // null leaves the zero value, as encoding/json does
		}
	}
	t := v.Type()
	switch t {
	case quantityType:
		switch x := sv.(type) {
		case string:
			q, err := resource.ParseQuantity(x)
			if err != nil {
				return d.fail(n, "%v", err)
			}
			v.Set(reflect.ValueOf(q))
			return nil
		case int64:
			v.Set(reflect.ValueOf(*resource.NewQuantity(x, resource.DecimalSI)))
			return nil
		}
	case intOrStringType:
		switch x := sv.(type) {
		case string:
			v.Set(reflect.ValueOf(intstr.FromString(x)))
			return nil
		case int64:
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				v.Set(reflect.ValueOf(intstr.FromInt32(int32(x))))
				return nil
			}
		}
	}
	if t.Kind() != reflect.Pointer && implementsUnmarshaler(t) {
		// Rare types (times, raw extensions): through JSON, as the API
		// server would.
		val, err := (&decoder{}).value(n, 0)
		if err != nil {
			return d.fail(n, "%v", err)
		}
		b, err := json.Marshal(val)
		if err != nil {
			return d.fail(n, "%v", err)
		}
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
			return d.fail(n, "%v", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := d.decode(n, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if n.kind != yaml.MappingNode {
			return d.typeError(n, "an object")
		}
		table := fields(t)
		return d.mapping(n, func(k string, val *node) error {
			idx, ok := table[k]
			if !ok {
				return nil // unknown fields are not this decoder's business
			}
			f := v.FieldByIndex(idx)
			f.SetZero() // a later duplicate or explicit key replaces, never merges
			return d.decode(val, f)
		})
	case reflect.Map:
		if n.kind != yaml.MappingNode || t.Key().Kind() != reflect.String {
			return d.typeError(n, "an object")
		}
		out := reflect.MakeMapWithSize(t, len(n.content)/2)
		err := d.mapping(n, func(k string, val *node) error {
			ev := reflect.New(t.Elem()).Elem()
			if err := d.decode(val, ev); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
			return nil
		})
		v.Set(out)
		return err
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := sv.(string)
			if !ok {
				return d.typeError(n, "a base64 string")
			}
			if err := json.Unmarshal([]byte(`"`+s+`"`), v.Addr().Interface()); err != nil {
				return d.fail(n, "%v", err)
			}
			return nil
		}
		if n.kind != yaml.SequenceNode {
			return d.typeError(n, "a list")
		}
		s := reflect.MakeSlice(t, len(n.content), len(n.content))
		for i, e := range n.content {
			if err := d.decode(e, s.Index(i)); err != nil {
				return within(err, fmt.Sprintf("[%d]", i))
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		s, ok := sv.(string)
		if !ok {
			return d.typeError(n, "a string")
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := sv.(bool)
		if !ok {
			return d.typeError(n, "a boolean")
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		switch x := sv.(type) {
		case int64:
			i = x
		case float64:
			if x != math.Trunc(x) {
				return d.typeError(n, "an integer")
			}
			i = int64(x)
		default:
			return d.typeError(n, "an integer")
		}
		if v.OverflowInt(i) {
			return d.fail(n, "%d overflows %s", i, t)
		}
		v.SetInt(i)
		return nil
	case reflect.Float32, reflect.Float64:
		switch x := sv.(type) {
		case int64:
			v.SetFloat(float64(x))
		case float64:
			v.SetFloat(x)
		default:
			return d.typeError(n, "a number")
		}
		return nil
	case reflect.Interface:
		val, err := (&decoder{}).value(n, 0)
		if err != nil {
			return d.fail(n, "%v", err)
		}
		if val != nil {
			v.Set(reflect.ValueOf(val))
		}
		return nil
	}
	return d.fail(n, "cannot decode into %s", t)
}

// mapping calls set for each entry in the order Data would end up with:
// merged mappings first (later ones overriding earlier), then the explicit
// keys, the last of duplicates winning.
func (d *typedDecoder) mapping(n *node, set func(k string, v *node) error) error {
	for i := 0; i+1 < len(n.content); i += 2 {
		if k := n.content[i]; k.kind == yaml.ScalarNode && k.tag == "!!merge" {
			m := resolveAlias(n.content[i+1])
			srcs := []*node{m}
			if m.kind == yaml.SequenceNode {
				srcs = m.content
			}
			for _, s := range srcs {
				if s = resolveAlias(s); s.kind == yaml.MappingNode {
					if err := d.mapping(s, set); err != nil {
						return err
					}
				}
			}
		}
	}
	for i := 0; i+1 < len(n.content); i += 2 {
		k := n.content[i]
		if k.kind != yaml.ScalarNode || k.tag == "!!merge" {
			continue
		}
		key := keyString(k)
		if err := set(key, n.content[i+1]); err != nil {
			return within(err, Key(key))
		}
	}
	return nil
}

func (d *typedDecoder) typeError(n *node, want string) error {
	return d.fail(n, "want %s, found %s", want, nodeKind(n))
}

// kindOf names the JSON kind of a resolved scalar.
func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, uint64, float64:
		return "a number"
	case nil:
		return "null"
	}
	return "a value"
}

// Key renders a map key as a path segment: .name, or ['a.b/c'] for keys
// with separators in them.
func Key(k string) string {
	if strings.ContainsAny(k, ".[]'") || k == "" {
		return "['" + k + "']"
	}
	return "." + k
}
