package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/internal/ruledoc"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// Error is one problem of a rule file.
type Error = ruledoc.Error

// document is one parsed rule document, before compiling.
type document struct {
	*ruledoc.Doc

	rule     *ruleSpec
	list     *listSpec
	macro    *macroSpec
	override *overrideSpec
}

type metadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ruleSpec struct {
	Title       string      `json:"title"`
	Description string      `json:"description,omitempty"`
	Severity    string      `json:"severity"`
	Technique   string      `json:"technique,omitempty"`
	Tactic      string      `json:"tactic,omitempty"`
	Events      []string    `json:"events"`
	Condition   string      `json:"condition,omitempty"`
	Output      string      `json:"output"`
	Action      Action      `json:"action,omitempty"`
	Mode        Mode        `json:"mode,omitempty"`
	Enabled     *bool       `json:"enabled,omitempty"`
	Kernel      *kernelSpec `json:"kernel,omitempty"`
	Paths       []PathWatch `json:"paths,omitempty"`
}

type kernelSpec struct {
	Names          []string              `json:"names,omitempty"`
	Binaries       []string              `json:"binaries,omitempty"`
	ContainersOnly bool                  `json:"containersOnly,omitempty"`
	Selector       *metav1.LabelSelector `json:"selector,omitempty"`
}

type listSpec struct {
	Items  []any `json:"items"`
	Append bool  `json:"append,omitempty"`
}

type macroSpec struct {
	Condition string `json:"condition"`
}

type overrideSpec struct {
	Enabled  *bool  `json:"enabled,omitempty"`
	Mode     Mode   `json:"mode,omitempty"`
	Severity string `json:"severity,omitempty"`
}

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	identPattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Load reads and compiles rule files and directories (walked for .yaml,
// .yml and .json files). The lists and macros of the built-in rules are in
// scope, so that a rule can use lists.shell_binaries; a list of the same
// name with append: true extends a built-in one, and an override may name
// a built-in rule (it applies once merged with Builtin()). Any problem in any file
// is an error for the load: every problem is reported, as file:line:
// message.
func Load(files ...string) (*Set, error) {
	docs, errs := ruledoc.ParseFiles(files, parse)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return compileUser(docs)
}

// LoadBytes compiles the rule documents of data as Load compiles a file
// named file.
func LoadBytes(file string, data []byte) (*Set, error) {
	docs, errs := parse(file, data)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return compileUser(docs)
}

// compileUser compiles docs with the built-in lists and macros in scope.
func compileUser(docs []*document) (*Set, error) {
	base, err := builtinDocs()
	if err != nil {
		return nil, err
	}
	var shared []*document
	builtinIDs := map[string]bool{}
	for _, d := range base {
		if d.list != nil || d.macro != nil {
			shared = append(shared, d)
		}
		if d.rule != nil {
			builtinIDs[d.Name] = true
		}
	}
	s, err := compile(shared, docs, builtinIDs)
	if err != nil {
		return nil, err
	}
	s.docs = docs
	return s, nil
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin compiles mamori's own rules (the YAML files under builtin/).
func Builtin() (*Set, error) {
	docs, err := builtinDocs()
	if err != nil {
		return nil, err
	}
	s, err := compile(nil, docs, nil)
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	s.docs = docs
	return s, nil
}

// BuiltinFiles returns the built-in rule files.
func BuiltinFiles() fs.FS {
	sub, err := fs.Sub(builtinFS, "builtin")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return sub
}

func builtinDocs() ([]*document, error) {
	fsys := BuiltinFiles()
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	var docs []*document
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		d, e := parse(path.Join("builtin", name), data)
		for _, x := range d {
			x.Builtin = true
		}
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("built-in rules: %w", errors.Join(errs...))
	}
	return docs, nil
}

// Merge compiles the union of sets, in order: a later set's lists with
// append: true extend an earlier set's, its overrides change an earlier
// set's rules, and a rule, list or macro defined twice is an error.
// Typically Merge(builtin, user).
func Merge(sets ...*Set) (*Set, error) {
	var docs []*document
	for _, s := range sets {
		if s != nil {
			docs = append(docs, s.docs...)
		}
	}
	s, err := compile(nil, docs, nil)
	if err != nil {
		return nil, err
	}
	s.docs = docs
	return s, nil
}

// parse reads the documents of one file. Every document must be a rule
// document: a rule file is the agent's configuration, and anything else in
// it is a mistake.
func parse(file string, data []byte) ([]*document, []error) {
	kinds := []ruledoc.Kind{
		{Name: KindRule, New: func() any { return &ruleSpec{} }},
		{Name: KindList, New: func() any { return &listSpec{} }},
		{Name: KindMacro, New: func() any { return &macroSpec{} }},
		{Name: KindOverride, New: func() any { return &overrideSpec{} }},
	}
	return ruledoc.Parse(file, data, APIVersion, kinds, func(doc *ruledoc.Doc, spec any) (*document, []error) {
		d := &document{Doc: doc}
		switch s := spec.(type) {
		case *ruleSpec:
			d.rule = s
		case *listSpec:
			d.list = s
		case *macroSpec:
			d.macro = s
		case *overrideSpec:
			d.override = s
		}
		if e := decodeStrict(d, spec); len(e) > 0 {
			return d, e
		}
		return d, d.validate()
	})
}

// decodeStrict decodes the document's spec into dst, rejecting unknown and
// mistyped fields with the line of the field at fault.
func decodeStrict(d *document, dst any) []error {
	o := d.Obj
	var md metadata
	if _, err := o.Decode("metadata", &md); err != nil {
		return []error{fieldError(d, err)}
	}
	found, err := o.Decode("spec", dst)
	if err != nil {
		return []error{fieldError(d, err)}
	}
	if !found {
		return []error{d.Errorf("", "spec is required")}
	}
	// Unknown fields: a strict decode of the JSON form, whose field paths
	// locate the line. It decodes into a fresh value so that dst keeps
	// the types the parse tree gave (integers stay int64).
	spec, errs, ok := ruledoc.DecodeFields[metadata](d.Doc)
	if !ok {
		return errs
	}
	fresh := reflect.New(reflect.TypeOf(dst).Elem()).Interface()
	strict, err := sigsjson.UnmarshalStrict(spec, fresh)
	if err != nil {
		return append(errs, d.Errorf("spec", "%v", err))
	}
	return append(errs, d.FieldErrors("spec.", strict)...)
}

func fieldError(d *document, err error) error {
	line := d.Line
	var fe *manifest.FieldError
	if errors.As(err, &fe) && fe.Line > 0 {
		line = fe.Line
	}
	return &Error{File: d.File, Line: line, Msg: fmt.Sprintf("%s %s: %v", d.Kind, d.Name, err)}
}

var (
	severities = []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
	tactics    = []string{"Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
		"Credential Access", "Discovery", "Lateral Movement", "Collection", "Command and Control", "Exfiltration", "Impact"}
	techniquePattern = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
)

// validate checks what needs no CEL.
func (d *document) validate() []error {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, d.Errorf(path, format, args...))
	}
	switch {
	case d.Name == "":
		fail("metadata", "metadata.name is required")
	case d.rule != nil || d.override != nil:
		if !idPattern.MatchString(d.Name) || len(d.Name) > 253 {
			fail("metadata.name", "metadata.name %q: want a rule ID of lower case letters, digits, '-' and '.'", d.Name)
		}
	default:
		if !identPattern.MatchString(d.Name) {
			fail("metadata.name", "metadata.name %q: want a CEL identifier (letters, digits, '_'): it is referenced as %s.%s",
				d.Name, map[bool]string{true: "lists", false: "macros"}[d.list != nil], d.Name)
		}
	}
	switch {
	case d.rule != nil:
		errs = append(errs, d.validateRule()...)
	case d.list != nil:
		var str, num int
		for i, it := range d.list.Items {
			switch it.(type) {
			case string:
				str++
			case int64:
				num++
			default:
				fail(fmt.Sprintf("spec.items[%d]", i), "spec.items[%d]: %v is neither a string nor an integer", i, it)
			}
		}
		if str > 0 && num > 0 {
			fail("spec.items", "spec.items mixes strings and integers: a list holds one type")
		}
	case d.macro != nil:
		if strings.TrimSpace(d.macro.Condition) == "" {
			fail("spec", "spec.condition is required")
		}
	case d.override != nil:
		o := d.override
		if o.Enabled == nil && o.Mode == "" && o.Severity == "" {
			fail("spec", "an override changes at least one of enabled, mode and severity")
		}
		if o.Mode != "" && o.Mode != Monitor && o.Mode != Enforce {
			fail("spec.mode", "spec.mode %q: want monitor or enforce", o.Mode)
		}
		if o.Severity != "" && !slices.Contains(severities, o.Severity) {
			fail("spec.severity", "spec.severity %q: want one of %s", o.Severity, strings.Join(severities, ", "))
		}
	}
	return errs
}

func (d *document) validateRule() []error {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, d.Errorf(path, format, args...))
	}
	s := d.rule
	if strings.TrimSpace(s.Title) == "" {
		fail("spec", "spec.title is required")
	}
	if !slices.Contains(severities, s.Severity) {
		fail("spec.severity", "spec.severity %q: want one of %s", s.Severity, strings.Join(severities, ", "))
	}
	if s.Technique != "" && !techniquePattern.MatchString(s.Technique) {
		fail("spec.technique", "spec.technique %q: want a MITRE ATT&CK technique ID such as T1059 or T1059.004", s.Technique)
	}
	if s.Tactic != "" && !slices.Contains(tactics, s.Tactic) {
		fail("spec.tactic", "spec.tactic %q: want a MITRE ATT&CK tactic (%s)", s.Tactic, strings.Join(tactics, ", "))
	}
	if len(s.Events) == 0 {
		fail("spec", "spec.events is required: the event kinds the rule sees")
	}
	seen := map[string]bool{}
	for i, k := range s.Events {
		if !knownKind(k) {
			fail(fmt.Sprintf("spec.events[%d]", i), "spec.events[%d]: unknown event kind %q (want one of %s)", i, k, kindNames())
		}
		if seen[k] {
			fail(fmt.Sprintf("spec.events[%d]", i), "spec.events[%d]: %q listed twice", i, k)
		}
		seen[k] = true
	}
	if strings.TrimSpace(s.Output) == "" {
		fail("spec", "spec.output is required")
	} else if strings.ContainsAny(s.Output, "\n\r") {
		fail("spec.output", "spec.output must be one line")
	}
	switch s.Action {
	case "", Alert, Kill:
	default:
		fail("spec.action", "spec.action %q: want alert or kill", s.Action)
	}
	switch s.Mode {
	case "", Monitor, Enforce:
	default:
		fail("spec.mode", "spec.mode %q: want monitor or enforce", s.Mode)
	}
	if strings.TrimSpace(s.Condition) == "" && s.Kernel == nil {
		if s.Action == Kill {
			fail("spec", "a kill rule needs spec.condition or spec.kernel")
		} else {
			fail("spec", "spec.condition is required")
		}
	}
	if k := s.Kernel; k != nil {
		if s.Action != Kill {
			fail("spec.kernel", "spec.kernel is a kill condition: it needs action: kill")
		}
		if len(s.Events) != 1 || s.Events[0] != "exec" {
			fail("spec.kernel", "spec.kernel kills at exec: the rule's events must be [exec]")
		}
		if len(k.Names) == 0 && len(k.Binaries) == 0 {
			fail("spec.kernel", "spec.kernel needs names or binaries")
		}
		for i, n := range k.Names {
			if n == "" || strings.ContainsRune(n, '/') || len(n) > 255 {
				fail(fmt.Sprintf("spec.kernel.names[%d]", i), "spec.kernel.names[%d] %q: want a file name without '/'", i, n)
			}
		}
		for i, b := range k.Binaries {
			if !path.IsAbs(b) || path.Clean(b) != b || len(b) > 4095 {
				fail(fmt.Sprintf("spec.kernel.binaries[%d]", i), "spec.kernel.binaries[%d] %q: want a clean absolute path", i, b)
			}
		}
		if k.Selector != nil {
			if _, err := metav1.LabelSelectorAsSelector(k.Selector); err != nil {
				fail("spec.kernel.selector", "spec.kernel.selector: %v", err)
			}
		}
	}
	for i := range s.Paths {
		p := &s.Paths[i]
		at := fmt.Sprintf("spec.paths[%d]", i)
		if !strings.HasPrefix(p.Prefix, "/") {
			fail(at, "%s.prefix %q: want an absolute path prefix", at, p.Prefix)
		}
		switch p.Access {
		case "":
			p.Access = AnyAccess
		case Read, Write, AnyAccess:
		default:
			fail(at+".access", "%s.access %q: want read, write or any", at, p.Access)
		}
	}
	if len(s.Paths) > 0 && !slices.Contains(s.Events, "open") {
		fail("spec.paths", "spec.paths are open filters: the rule's events must include open")
	}
	if len(s.Paths) == 0 && slices.Contains(s.Events, "open") {
		fail("spec.events", "a rule that sees open events needs spec.paths: the sensor reports only opens of watched paths")
	}
	return errs
}

// conditionPos maps a line and column of a CEL expression written at path
// to a line of the file: a literal block (|) keeps its lines, anything
// else is reported at the field's line.
func (d *document) conditionPos(path string, line int) int {
	keyLine, block := d.Block(path)
	switch {
	case line <= 1 && block != 0:
		return keyLine + 1 // the value starts on the next line
	case line > 1 && block == '|':
		return keyLine + line
	}
	return keyLine
}
