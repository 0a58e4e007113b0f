package rules

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// record exposes one of the event's structs (user, objectRef,
// responseStatus) to CEL as a map with its JSON field names, read by
// hand-written getters: no map is built per event, and the activation
// reuses one record per variable.
type record struct {
	u *audit.UserInfo
	r *audit.ObjectReference
	s *audit.Status
}

var (
	userKeys   = []string{"username", "uid", "groups", "extra"}
	objRefKeys = []string{"resource", "subresource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion"}
	statusKeys = []string{"code", "reason", "message", "status"}
)

func (v *record) keys() []string {
	switch {
	case v.u != nil:
		return userKeys
	case v.r != nil:
		return objRefKeys
	}
	return statusKeys
}

func (v *record) field(k string) (ref.Val, bool) {
	switch {
	case v.u != nil:
		switch k {
		case "username":
			return types.String(v.u.Username), true
		case "uid":
			return types.String(v.u.UID), true
		case "groups":
			return types.NewStringList(types.DefaultTypeAdapter, v.u.Groups), true
		case "extra":
			return types.DefaultTypeAdapter.NativeToValue(v.u.Extra), true
		}
	case v.r != nil:
		r := v.r
		switch k {
		case "resource":
			return types.String(r.Resource), true
		case "subresource":
			return types.String(r.Subresource), true
		case "namespace":
			return types.String(r.Namespace), true
		case "name":
			return types.String(r.Name), true
		case "uid":
			return types.String(r.UID), true
		case "apiGroup":
			return types.String(r.APIGroup), true
		case "apiVersion":
			return types.String(r.APIVersion), true
		case "resourceVersion":
			return types.String(r.ResourceVersion), true
		}
	case v.s != nil:
		switch k {
		case "code":
			return types.Int(v.s.Code), true
		case "reason":
			return types.String(v.s.Reason), true
		case "message":
			return types.String(v.s.Message), true
		case "status":
			return types.String(v.s.Status), true
		}
	}
	return nil, false
}

// Find implements traits.Mapper.
func (v *record) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	return v.field(string(k))
}

// Get implements traits.Indexer.
func (v *record) Get(key ref.Val) ref.Val {
	if f, ok := v.Find(key); ok {
		return f
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container.
func (v *record) Contains(key ref.Val) ref.Val {
	_, ok := v.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (v *record) Size() ref.Val { return types.Int(len(v.keys())) }

// Iterator implements traits.Iterable: the keys.
func (v *record) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, v.keys()).Iterator()
}

func (v *record) native() map[string]any {
	m := map[string]any{}
	for _, k := range v.keys() {
		f, _ := v.field(k)
		m[k] = f.Value()
	}
	return m
}

// ConvertToNative implements ref.Val.
func (v *record) ConvertToNative(t reflect.Type) (any, error) {
	return types.DefaultTypeAdapter.NativeToValue(v.native()).ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (v *record) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return types.DefaultTypeAdapter.NativeToValue(v.native())
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t)
}

// Equal implements ref.Val.
func (v *record) Equal(other ref.Val) ref.Val {
	o, ok := other.(*record)
	if !ok {
		return types.False
	}
	return types.Bool(fmt.Sprint(v.native()) == fmt.Sprint(o.native()))
}

// Type implements ref.Val: records behave as maps.
func (v *record) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (v *record) Value() any { return v.native() }
