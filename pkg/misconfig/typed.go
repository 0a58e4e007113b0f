package misconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// decodeInto fills the struct that dst points to from unstructured data, as
// runtime.DefaultUnstructuredConverter.FromUnstructured does, several
// times faster: field tables are built once per type, and the common
// Kubernetes value types are parsed directly. Errors name the field path.
func decodeInto(data map[string]any, dst any, path string) error {
	v := reflect.ValueOf(dst).Elem()
	if err := decodeValue(data, v); err != nil {
		var de *decodeError
		if errors.As(err, &de) {
			return &fieldError{Path: path + de.path(), Msg: de.msg}
		}
		return &fieldError{Path: path, Msg: err.Error()}
	}
	return nil
}

// decodeError records where decoding failed. The path is collected while
// the recursion unwinds, so decoding that succeeds builds no path strings.
type decodeError struct {
	segs []string // innermost first
	msg  string
}

func (e *decodeError) Error() string { return e.path() + ": " + e.msg }

func (e *decodeError) path() string {
	var b strings.Builder
	for i := len(e.segs) - 1; i >= 0; i-- {
		b.WriteString(e.segs[i])
	}
	return b.String()
}

// within prefixes err's path with seg.
func within(err error, seg string) error {
	if de, ok := err.(*decodeError); ok {
		de.segs = append(de.segs, seg)
		return de
	}
	return &decodeError{segs: []string{seg}, msg: err.Error()}
}

func failf(format string, args ...any) error {
	return &decodeError{msg: fmt.Sprintf(format, args...)}
}

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	fieldTables     sync.Map // reflect.Type -> map[string][]int
)

var unmarshalers sync.Map // reflect.Type -> bool

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
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
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

func decodeValue(in any, v reflect.Value) error {
	if in == nil {
		return nil // null leaves the zero value, as encoding/json does
	}
	t := v.Type()
	switch t {
	case quantityType:
		switch x := in.(type) {
		case string:
			q, err := resource.ParseQuantity(x)
			if err != nil {
				return failf("%v", err)
			}
			v.Set(reflect.ValueOf(q))
			return nil
		case int64:
			v.Set(reflect.ValueOf(*resource.NewQuantity(x, resource.DecimalSI)))
			return nil
		}
	case intOrStringType:
		switch x := in.(type) {
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
		b, err := json.Marshal(in)
		if err != nil {
			return failf("%v", err)
		}
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
			return failf("%v", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		n := reflect.New(t.Elem())
		if err := decodeValue(in, n.Elem()); err != nil {
			return err
		}
		v.Set(n)
		return nil
	case reflect.Struct:
		m, ok := in.(map[string]any)
		if !ok {
			return typeError("an object", in)
		}
		table := fields(t)
		for k, val := range m {
			idx, ok := table[k]
			if !ok {
				continue // unknown fields are not this decoder's business
			}
			if err := decodeValue(val, v.FieldByIndex(idx)); err != nil {
				return within(err, "."+k)
			}
		}
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := in.(string)
			if !ok {
				return typeError("a base64 string", in)
			}
			return json.Unmarshal([]byte(`"`+s+`"`), v.Addr().Interface())
		}
		l, ok := in.([]any)
		if !ok {
			return typeError("a list", in)
		}
		s := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			if err := decodeValue(e, s.Index(i)); err != nil {
				return within(err, fmt.Sprintf("[%d]", i))
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		m, ok := in.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return typeError("an object", in)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, e := range m {
			ev := reflect.New(t.Elem()).Elem()
			if err := decodeValue(e, ev); err != nil {
				return within(err, "['"+k+"']")
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(out)
		return nil
	case reflect.String:
		s, ok := in.(string)
		if !ok {
			return typeError("a string", in)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := in.(bool)
		if !ok {
			return typeError("a boolean", in)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch x := in.(type) {
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) {
				return typeError("an integer", in)
			}
			n = int64(x)
		default:
			return typeError("an integer", in)
		}
		if v.OverflowInt(n) {
			return failf("%d overflows %s", n, t)
		}
		v.SetInt(n)
		return nil
	case reflect.Float32, reflect.Float64:
		switch x := in.(type) {
		case int64:
			v.SetFloat(float64(x))
		case float64:
			v.SetFloat(x)
		default:
			return typeError("a number", in)
		}
		return nil
	case reflect.Interface:
		v.Set(reflect.ValueOf(in))
		return nil
	}
	return failf("cannot decode into %s", t)
}

func typeError(want string, got any) error {
	return failf("want %s, found %s", want, kindOf(got))
}

// kindOf names the JSON kind of an unstructured value.
func kindOf(got any) string {
	kind := "a value"
	switch got.(type) {
	case string:
		kind = "a string"
	case bool:
		kind = "a boolean"
	case int64, uint64, float64:
		kind = "a number"
	case []any:
		kind = "a list"
	case map[string]any:
		kind = "an object"
	}
	return kind
}
