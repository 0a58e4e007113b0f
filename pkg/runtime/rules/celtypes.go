package rules

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// The event model is exposed to CEL as object types whose fields are read
// by hand-written getters: no reflection and no map per event. A field
// selection on a checked expression reaches the getter straight from the
// Go pointer the activation returns (cel-go's fieldQualifier); only a
// value used whole (container != null, {{parent}}) is wrapped in an
// object.

// objType is one object type of the rule environment.
type objType struct {
	name   string
	typ    *types.Type
	fields map[string]*types.FieldType
	order  []string
	goType reflect.Type
}

// Object types of the environment, by variable.
const (
	typeEvent     = "mamori.runtime.Event"
	typeProcess   = "mamori.runtime.Process"
	typeParent    = "mamori.runtime.ProcessRef"
	typeContainer = "mamori.runtime.Container"
	typePod       = "mamori.runtime.Pod"
	typeWorkload  = "mamori.runtime.Workload"
	typeFile      = "mamori.runtime.File"
	typeNet       = "mamori.runtime.Net"
	typePrivilege = "mamori.runtime.Privilege"
	typeNamespace = "mamori.runtime.Namespace"
	typeModule    = "mamori.runtime.Module"
	typePtrace    = "mamori.runtime.Ptrace"
	typeMemfd     = "mamori.runtime.Memfd"
	typeExit      = "mamori.runtime.Exit"
)

// eventTypes is the provider and adapter of the event object types,
// delegating every other type to the environment's own.
type eventTypes struct {
	base    types.Provider
	adapter types.Adapter
	byName  map[string]*objType
}

func newObjType[T any](name string) *objType {
	return &objType{name: name, typ: types.NewObjectType(name), fields: map[string]*types.FieldType{},
		goType: reflect.TypeFor[*T]()}
}

// field declares a field of T read by get. get is only called with a
// non-nil pointer; a null object's field is an evaluation error, as
// selecting a field of null is in CEL.
func field[T any](t *objType, name string, typ *types.Type, get func(*T) any) {
	t.order = append(t.order, name)
	t.fields[name] = &types.FieldType{
		Type: typ,
		IsSet: func(obj any) bool {
			p, ok := obj.(*T)
			if !ok || p == nil {
				return false
			}
			return !isZero(get(p))
		},
		GetFrom: func(obj any) (any, error) {
			p, ok := obj.(*T)
			if !ok || p == nil {
				return nil, fmt.Errorf("no such key: %s (of a null %s)", name, t.name)
			}
			return get(p), nil
		},
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case traits.Zeroer:
		return v.IsZeroValue()
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

func str(s string) any { return types.String(s) }
func integer[N ~int | ~int64 | ~uint16 | ~uint32 | ~uint64](n N) any {
	return types.Int(int64(n))
}
func boolean(b bool) any { return types.Bool(b) }

func strList(a types.Adapter, s []string) any {
	if s == nil {
		s = []string{}
	}
	return types.NewStringList(a, s)
}

var (
	listOfString = types.NewListType(types.StringType)
	listOfInt    = types.NewListType(types.IntType)
	mapOfString  = types.NewMapType(types.StringType, types.StringType)
)

func newEventTypes(base types.Provider, adapter types.Adapter) *eventTypes {
	et := &eventTypes{base: base, adapter: adapter, byName: map[string]*objType{}}
	a := et // nested lists and maps adapt their elements through us

	ev := newObjType[event.Event](typeEvent)
	field(ev, "kind", types.StringType, func(e *event.Event) any { return str(string(e.Kind)) })
	field(ev, "time", types.TimestampType, func(e *event.Event) any { return types.Timestamp{Time: e.Time} })
	field(ev, "sensor", types.StringType, func(e *event.Event) any { return str(e.Sensor) })
	field(ev, "host", types.BoolType, func(e *event.Event) any { return boolean(e.Host) })
	field(ev, "killed", types.StringType, func(e *event.Event) any { return str(e.Killed) })
	field(ev, "ret", types.IntType, func(e *event.Event) any { return integer(e.Ret) })

	p := newObjType[event.Process](typeProcess)
	field(p, "pid", types.IntType, func(p *event.Process) any { return integer(p.PID) })
	field(p, "tid", types.IntType, func(p *event.Process) any { return integer(p.TID) })
	field(p, "ppid", types.IntType, func(p *event.Process) any { return integer(p.PPID) })
	field(p, "uid", types.IntType, func(p *event.Process) any { return integer(p.UID) })
	field(p, "gid", types.IntType, func(p *event.Process) any { return integer(p.GID) })
	field(p, "euid", types.IntType, func(p *event.Process) any { return integer(p.EUID) })
	field(p, "comm", types.StringType, func(p *event.Process) any { return str(p.Comm) })
	field(p, "binary", types.StringType, func(p *event.Process) any { return str(p.Binary) })
	field(p, "args", listOfString, func(p *event.Process) any { return strList(a, p.Args) })
	field(p, "cwd", types.StringType, func(p *event.Process) any { return str(p.Cwd) })
	field(p, "cgroupID", types.IntType, func(p *event.Process) any { return integer(p.CgroupID) })
	field(p, "startTime", types.IntType, func(p *event.Process) any { return integer(p.StartTime) })
	field(p, "memfd", types.BoolType, func(p *event.Process) any { return boolean(p.Memfd) })
	field(p, "upperLayer", types.BoolType, func(p *event.Process) any { return boolean(p.UpperLayer) })
	field(p, "stdinSocket", types.BoolType, func(p *event.Process) any { return boolean(p.StdinSocket) })
	field(p, "stdoutSocket", types.BoolType, func(p *event.Process) any { return boolean(p.StdoutSocket) })

	pr := newObjType[event.ProcessRef](typeParent)
	field(pr, "pid", types.IntType, func(p *event.ProcessRef) any { return integer(p.PID) })
	field(pr, "comm", types.StringType, func(p *event.ProcessRef) any { return str(p.Comm) })
	field(pr, "binary", types.StringType, func(p *event.ProcessRef) any { return str(p.Binary) })
	field(pr, "args", listOfString, func(p *event.ProcessRef) any { return strList(a, p.Args) })

	w := newObjType[event.Workload](typeWorkload)
	field(w, "kind", types.StringType, func(w *event.Workload) any { return str(w.Kind) })
	field(w, "name", types.StringType, func(w *event.Workload) any { return str(w.Name) })

	pod := newObjType[event.Pod](typePod)
	field(pod, "namespace", types.StringType, func(p *event.Pod) any { return str(p.Namespace) })
	field(pod, "name", types.StringType, func(p *event.Pod) any { return str(p.Name) })
	field(pod, "uid", types.StringType, func(p *event.Pod) any { return str(p.UID) })
	field(pod, "labels", mapOfString, func(p *event.Pod) any {
		if p.Labels == nil {
			return types.NewStringStringMap(a, map[string]string{})
		}
		return types.NewStringStringMap(a, p.Labels)
	})
	field(pod, "workload", w.typ, func(p *event.Pod) any { return p.Workload })
	field(pod, "serviceAccount", types.StringType, func(p *event.Pod) any { return str(p.ServiceAccount) })

	c := newObjType[event.Container](typeContainer)
	field(c, "id", types.StringType, func(c *event.Container) any { return str(c.ID) })
	field(c, "runtime", types.StringType, func(c *event.Container) any { return str(c.Runtime) })
	field(c, "name", types.StringType, func(c *event.Container) any { return str(c.Name) })
	field(c, "image", types.StringType, func(c *event.Container) any { return str(c.Image) })
	field(c, "pod", pod.typ, func(c *event.Container) any { return c.Pod })
	field(c, "cgroupPath", types.StringType, func(c *event.Container) any { return str(c.CgroupPath) })

	f := newObjType[event.File](typeFile)
	field(f, "path", types.StringType, func(f *event.File) any { return str(f.Path) })
	field(f, "flags", types.IntType, func(f *event.File) any { return integer(f.Flags) })
	field(f, "write", types.BoolType, func(f *event.File) any { return boolean(f.Write) })

	n := newObjType[event.Net](typeNet)
	field(n, "family", types.StringType, func(n *event.Net) any { return str(n.Family) })
	field(n, "protocol", types.StringType, func(n *event.Net) any { return str(n.Protocol) })
	field(n, "direction", types.StringType, func(n *event.Net) any { return str(n.Direction) })
	field(n, "srcAddr", types.StringType, func(n *event.Net) any { return str(n.SrcAddr) })
	field(n, "srcPort", types.IntType, func(n *event.Net) any { return integer(n.SrcPort) })
	field(n, "dstAddr", types.StringType, func(n *event.Net) any { return str(n.DstAddr) })
	field(n, "dstPort", types.IntType, func(n *event.Net) any { return integer(n.DstPort) })

	pv := newObjType[event.PrivilegeInfo](typePrivilege)
	field(pv, "syscall", types.StringType, func(p *event.PrivilegeInfo) any { return str(p.Syscall) })
	field(pv, "ids", listOfInt, func(p *event.PrivilegeInfo) any {
		ids := p.IDs
		if ids == nil {
			ids = []int64{}
		}
		return types.NewDynamicList(a, ids)
	})
	field(pv, "effective", types.IntType, func(p *event.PrivilegeInfo) any { return integer(p.Effective) })
	field(pv, "permitted", types.IntType, func(p *event.PrivilegeInfo) any { return integer(p.Permitted) })
	field(pv, "toRoot", types.BoolType, func(p *event.PrivilegeInfo) any { return boolean(p.ToRoot) })

	ns := newObjType[event.NamespaceInfo](typeNamespace)
	field(ns, "syscall", types.StringType, func(n *event.NamespaceInfo) any { return str(n.Syscall) })
	field(ns, "flags", types.IntType, func(n *event.NamespaceInfo) any { return integer(n.Flags) })
	field(ns, "namespaces", listOfString, func(n *event.NamespaceInfo) any { return strList(a, n.Namespaces) })
	field(ns, "source", types.StringType, func(n *event.NamespaceInfo) any { return str(n.Source) })
	field(ns, "target", types.StringType, func(n *event.NamespaceInfo) any { return str(n.Target) })
	field(ns, "fstype", types.StringType, func(n *event.NamespaceInfo) any { return str(n.FSType) })

	m := newObjType[event.ModuleInfo](typeModule)
	field(m, "syscall", types.StringType, func(m *event.ModuleInfo) any { return str(m.Syscall) })
	field(m, "args", types.StringType, func(m *event.ModuleInfo) any { return str(m.Args) })

	pt := newObjType[event.PtraceInfo](typePtrace)
	field(pt, "request", types.StringType, func(p *event.PtraceInfo) any { return str(p.Request) })
	field(pt, "targetPID", types.IntType, func(p *event.PtraceInfo) any { return integer(p.TargetPID) })

	mf := newObjType[event.MemfdInfo](typeMemfd)
	field(mf, "name", types.StringType, func(m *event.MemfdInfo) any { return str(m.Name) })
	field(mf, "flags", types.IntType, func(m *event.MemfdInfo) any { return integer(m.Flags) })

	ex := newObjType[event.ExitInfo](typeExit)
	field(ex, "code", types.IntType, func(x *event.ExitInfo) any { return integer(x.Code) })
	field(ex, "signal", types.IntType, func(x *event.ExitInfo) any { return integer(x.Signal) })

	for _, t := range []*objType{ev, p, pr, w, pod, c, f, n, pv, ns, m, pt, mf, ex} {
		et.byName[t.name] = t
	}
	return et
}

// variables are the rule environment's top-level variables and their
// types, in the order of the v* indexes of the activation.
var variables = [...]struct{ name, typ, doc string }{
	{"event", typeEvent, "the event: kind, time, sensor, host, killed"},
	{"process", typeProcess, "the process the event belongs to"},
	{"parent", typeParent, "its parent process; null when the sensor did not know it"},
	{"container", typeContainer, "its container; null for host processes and unresolved cgroups"},
	{"pod", typePod, "the container's pod; null when unknown"},
	{"file", typeFile, "the opened file (open events; null otherwise)"},
	{"net", typeNet, "the connection (connect, accept)"},
	{"privilege", typePrivilege, "the credential change (privilege)"},
	{"ns", typeNamespace, "the namespace or mount change (namespace events; namespace is a reserved word in CEL)"},
	{"module", typeModule, "the module load (module)"},
	{"ptrace", typePtrace, "the ptrace request (ptrace)"},
	{"memfd", typeMemfd, "the memfd_create call (memfd)"},
	{"exit", typeExit, "how the process ended (exit)"},
}

// envOption installs the event types over the environment's provider and
// adapter, declares the variables and stores the types in out.
func envOption(out **eventTypes) cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		et := newEventTypes(env.CELTypeProvider(), env.CELTypeAdapter())
		*out = et
		env, err := cel.CustomTypeAdapter(et)(env)
		if err != nil {
			return nil, err
		}
		env, err = cel.CustomTypeProvider(et)(env)
		if err != nil {
			return nil, err
		}
		opts := make([]cel.EnvOption, 0, len(variables))
		for _, v := range variables {
			opts = append(opts, cel.VariableWithDoc(v.name, et.byName[v.typ].typ, v.doc))
		}
		return env.Extend(opts...)
	}
}

// EnumValue implements types.Provider.
func (et *eventTypes) EnumValue(name string) ref.Val { return et.base.EnumValue(name) }

// FindIdent implements types.Provider.
func (et *eventTypes) FindIdent(name string) (ref.Val, bool) { return et.base.FindIdent(name) }

// FindStructType implements types.Provider.
func (et *eventTypes) FindStructType(name string) (*types.Type, bool) {
	if t, ok := et.byName[name]; ok {
		return types.NewTypeTypeWithParam(t.typ), true
	}
	return et.base.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (et *eventTypes) FindStructFieldNames(name string) ([]string, bool) {
	if t, ok := et.byName[name]; ok {
		return t.order, true
	}
	return et.base.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (et *eventTypes) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if t, ok := et.byName[name]; ok {
		f, ok := t.fields[fieldName]
		return f, ok
	}
	return et.base.FindStructFieldType(name, fieldName)
}

// NewValue implements types.Provider: event objects are read, never built.
func (et *eventTypes) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := et.byName[name]; ok {
		return types.NewErr("%s values cannot be constructed in a rule", name)
	}
	return et.base.NewValue(name, fields)
}

// NativeToValue implements types.Adapter. A nil event pointer is null.
func (et *eventTypes) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case ref.Val:
		return v
	case *event.Event:
		return et.wrap(typeEvent, v, v == nil)
	case *event.Process:
		return et.wrap(typeProcess, v, v == nil)
	case *event.ProcessRef:
		return et.wrap(typeParent, v, v == nil)
	case *event.Container:
		return et.wrap(typeContainer, v, v == nil)
	case *event.Pod:
		return et.wrap(typePod, v, v == nil)
	case *event.Workload:
		return et.wrap(typeWorkload, v, v == nil)
	case *event.File:
		return et.wrap(typeFile, v, v == nil)
	case *event.Net:
		return et.wrap(typeNet, v, v == nil)
	case *event.PrivilegeInfo:
		return et.wrap(typePrivilege, v, v == nil)
	case *event.NamespaceInfo:
		return et.wrap(typeNamespace, v, v == nil)
	case *event.ModuleInfo:
		return et.wrap(typeModule, v, v == nil)
	case *event.PtraceInfo:
		return et.wrap(typePtrace, v, v == nil)
	case *event.MemfdInfo:
		return et.wrap(typeMemfd, v, v == nil)
	case *event.ExitInfo:
		return et.wrap(typeExit, v, v == nil)
	}
	return et.adapter.NativeToValue(v)
}

func (et *eventTypes) wrap(name string, v any, isNil bool) ref.Val {
	if isNil {
		return types.NullValue
	}
	return &object{et: et, t: et.byName[name], v: v}
}

// object is an event object used as a whole value.
type object struct {
	et *eventTypes
	t  *objType
	v  any // a non-nil pointer of t.goType
}

// ConvertToNative implements ref.Val.
func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if typeDesc == o.t.goType {
		return o.v, nil
	}
	if typeDesc == o.t.goType.Elem() {
		return reflect.ValueOf(o.v).Elem().Interface(), nil
	}
	return nil, fmt.Errorf("type conversion error from %s to %v", o.t.name, typeDesc)
}

// ConvertToType implements ref.Val.
func (o *object) ConvertToType(typeVal ref.Type) ref.Val {
	switch {
	case typeVal == types.TypeType:
		return o.t.typ
	case typeVal.TypeName() == o.t.name:
		return o
	}
	return types.NewErr("type conversion error from %s to %s", o.t.name, typeVal.TypeName())
}

// Equal implements ref.Val: the same object, as events are not compared
// field by field.
func (o *object) Equal(other ref.Val) ref.Val {
	x, ok := other.(*object)
	return types.Bool(ok && x.v == o.v)
}

// Type implements ref.Val.
func (o *object) Type() ref.Type { return o.t.typ }

// Value implements ref.Val.
func (o *object) Value() any { return o.v }

// Get implements traits.Indexer, for fields reached dynamically.
func (o *object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(index)
	}
	f, ok := o.t.fields[string(name)]
	if !ok {
		return types.NewErr("no such field: %s", name)
	}
	v, err := f.GetFrom(o.v)
	if err != nil {
		return types.WrapErr(err)
	}
	return o.et.NativeToValue(v)
}

// IsSet implements traits.FieldTester.
func (o *object) IsSet(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(index)
	}
	f, ok := o.t.fields[string(name)]
	if !ok {
		return types.NewErr("no such field: %s", name)
	}
	return types.Bool(f.IsSet(o.v))
}

// IsZeroValue implements traits.Zeroer.
func (o *object) IsZeroValue() bool { return false }
