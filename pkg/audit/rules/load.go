package rules

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// NoBuiltin leaves out the built-in rules, lists and macros.
	NoBuiltin bool
	// Lists replaces the items of lists by name (--list name=a,b), after
	// every file is read.
	Lists map[string][]string
}

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

type document struct {
	kind, name string
	file       string
	line       int
	obj        *manifest.Object
	src        []byte
	builtin    bool

	rule     *ruleSpec
	list     *listSpec
	macro    *macroSpec
	override *overrideSpec
}

func (d *document) at(p string) int {
	if p == "" || d.obj == nil {
		return d.line
	}
	l, _, _ := d.obj.Locate(p)
	return l
}

func (d *document) errorf(p, format string, args ...any) *Error {
	return &Error{File: d.file, Line: d.at(p), Msg: fmt.Sprintf("%s %s: ", d.kind, d.name) + fmt.Sprintf(format, args...)}
}

type matchSpec struct {
	Verbs      []string               `json:"verbs,omitempty"`
	Resources  []audit.GroupResources `json:"resources,omitempty"`
	Namespaces []string               `json:"namespaces,omitempty"`
	Level      string                 `json:"level,omitempty"`
	Stages     []string               `json:"stages,omitempty"`
}

type aggregateSpec struct {
	Count  int    `json:"count"`
	Window string `json:"window"`
	By     string `json:"by"`
}

type ruleSpec struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Severity    string         `json:"severity"`
	Technique   string         `json:"technique,omitempty"`
	Tactic      string         `json:"tactic,omitempty"`
	Match       matchSpec      `json:"match,omitempty"`
	Condition   string         `json:"condition"`
	Output      string         `json:"output"`
	Aggregate   *aggregateSpec `json:"aggregate,omitempty"`
	Enabled     *bool          `json:"enabled,omitempty"`
}

type listSpec struct {
	Items  []string `json:"items"`
	Append bool     `json:"append,omitempty"`
}

type macroSpec struct {
	Condition string `json:"condition"`
}

type overrideSpec struct {
	Enabled   *bool          `json:"enabled,omitempty"`
	Severity  string         `json:"severity,omitempty"`
	Condition string         `json:"condition,omitempty"`
	Append    bool           `json:"append,omitempty"` // condition is ANDed to the rule's
	Aggregate *aggregateSpec `json:"aggregate,omitempty"`
}

var (
	idPattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	identPattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	severities   = []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}
	tactics      = []string{"Initial Access", "Execution", "Persistence", "Privilege Escalation", "Defense Evasion",
		"Credential Access", "Discovery", "Lateral Movement", "Collection", "Command and Control", "Exfiltration", "Impact"}
	levels = []string{audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse}
	stages = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// BuiltinFiles returns the built-in rule files.
func BuiltinFiles() fs.FS {
	sub, err := fs.Sub(builtinFS, "builtin")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return sub
}

func builtinDocs() ([]*document, []error) {
	fsys := BuiltinFiles()
	names, _ := fs.Glob(fsys, "*.yaml")
	var docs []*document
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ds, e := parse(path.Join("builtin", name), data)
		for _, d := range ds {
			d.builtin = true
		}
		docs, errs = append(docs, ds...), append(errs, e...)
	}
	return docs, errs
}

// Load compiles the built-in rules (unless o.NoBuiltin) and then the rule
// files and directories of files, in order: a list with append: true
// extends the one before, a list without it replaces it, a macro
// redefines one, an override changes a rule. Every problem of every file
// is reported, as file:line(:col): message.
func Load(files []string, o LoadOptions) (*Set, error) {
	var docs []*document
	var errs []error
	if !o.NoBuiltin {
		docs, errs = builtinDocs()
	}
	for _, target := range files {
		found, err := ruleFiles(target)
		if err != nil {
			errs = append(errs, err)
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
	s, e := compile(docs, o.Lists)
	errs = append(errs, e...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// LoadBytes compiles data, named file, after the built-ins unless
// o.NoBuiltin.
func LoadBytes(file string, data []byte, o LoadOptions) (*Set, error) {
	var docs []*document
	var errs []error
	if !o.NoBuiltin {
		docs, errs = builtinDocs()
	}
	ds, e := parse(file, data)
	docs, errs = append(docs, ds...), append(errs, e...)
	s, e := compile(docs, o.Lists)
	errs = append(errs, e...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// ValidateFiles checks rule files as Load would compile them with the
// built-ins, for a rules check command: nil when they are sound.
func ValidateFiles(files []string) error {
	_, err := Load(files, LoadOptions{})
	return err
}

func ruleFiles(target string) ([]string, error) {
	files, err := policy.Files(target)
	if err == nil && len(files) == 0 {
		err = errors.New("no .yaml, .yml or .json file")
	}
	if err != nil {
		return nil, fmt.Errorf("rules: %s: %w", target, err)
	}
	return files, nil
}

// parse reads the documents of one file; a bad document is reported and
// the others are still read.
func parse(file string, data []byte) ([]*document, []error) {
	res := manifest.Parse(file, data)
	var errs []error
	for _, p := range slices.Concat(res.Errors, res.Notes) {
		errs = append(errs, &Error{File: p.File, Line: p.Line, Msg: p.Message})
	}
	if len(res.Objects) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{File: file, Msg: "no rule documents"})
	}
	var docs []*document
	for _, o := range res.Objects {
		d := &document{kind: o.Kind(), name: o.Name(), file: file, line: o.Line, obj: o, src: data}
		if o.APIVersion() != APIVersion {
			errs = append(errs, d.errorf("apiVersion", "apiVersion %q is not supported (want %s)", o.APIVersion(), APIVersion))
			continue
		}
		var spec any
		switch o.Kind() {
		case KindRule:
			d.rule = &ruleSpec{}
			spec = d.rule
		case KindList:
			d.list = &listSpec{}
			spec = d.list
		case KindMacro:
			d.macro = &macroSpec{}
			spec = d.macro
		case KindOverride:
			d.override = &overrideSpec{}
			spec = d.override
		default:
			errs = append(errs, d.errorf("kind", "unknown kind (want %s, %s, %s or %s)", KindRule, KindList, KindMacro, KindOverride))
			continue
		}
		// Unknown fields and invalid values are all reported.
		bad := decodeStrict(d, spec)
		if e := d.validate(); len(e) > 0 || len(bad) > 0 {
			errs = append(errs, bad...)
			errs = append(errs, e...)
			continue
		}
		docs = append(docs, d)
	}
	return docs, errs
}

// decodeStrict decodes the spec, naming unknown and mistyped fields at
// their lines.
func decodeStrict(d *document, dst any) []error {
	raw, err := json.Marshal(d.obj.Data())
	if err != nil {
		return []error{d.errorf("", "%v", err)}
	}
	var whole struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	}
	var errs []error
	report := func(prefix string, strict []error) {
		for _, e := range strict {
			var fe sigsjson.FieldError
			if !errors.As(e, &fe) {
				errs = append(errs, d.errorf("", "%v", e))
				continue
			}
			p := prefix + fe.FieldPath()
			errs = append(errs, d.errorf(p, "%s", strings.Replace(e.Error(), `"`+fe.FieldPath()+`"`, `"`+p+`"`, 1)))
		}
	}
	strict, err := sigsjson.UnmarshalStrict(raw, &whole)
	if err != nil {
		return []error{d.errorf("", "%v", err)}
	}
	report("", strict)
	if len(whole.Spec) == 0 || string(whole.Spec) == "null" {
		return append(errs, d.errorf("", "spec is required"))
	}
	strict, err = sigsjson.UnmarshalStrict(whole.Spec, dst)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return append(errs, d.errorf("spec."+te.Field, "spec.%s: want %s, not %s", te.Field, te.Type, te.Value))
		}
		return append(errs, d.errorf("spec", "spec: %v", err))
	}
	report("spec.", strict)
	return errs
}

func (d *document) validate() []error {
	var errs []error
	fail := func(p, format string, args ...any) { errs = append(errs, d.errorf(p, format, args...)) }
	switch {
	case d.name == "":
		fail("metadata", "metadata.name is required")
	case d.rule != nil || d.override != nil:
		if !idPattern.MatchString(d.name) {
			fail("metadata.name", "metadata.name %q: want a rule ID of lower case letters, digits, '-' and '.'", d.name)
		}
	case !identPattern.MatchString(d.name):
		fail("metadata.name", "metadata.name %q: want a CEL identifier (letters, digits, '_')", d.name)
	}
	switch {
	case d.rule != nil:
		s := d.rule
		if strings.TrimSpace(s.Title) == "" {
			fail("spec", "spec.title is required")
		}
		if !slices.Contains(severities, s.Severity) {
			fail("spec.severity", "spec.severity %q: want one of %s", s.Severity, strings.Join(severities, ", "))
		}
		if s.Technique != "" && !techniquePattern.MatchString(s.Technique) {
			fail("spec.technique", "spec.technique %q: want a MITRE ATT&CK technique ID such as T1609 or T1552.007", s.Technique)
		}
		if s.Tactic != "" && !slices.Contains(tactics, s.Tactic) {
			fail("spec.tactic", "spec.tactic %q: want a MITRE ATT&CK tactic (%s)", s.Tactic, strings.Join(tactics, ", "))
		}
		if strings.TrimSpace(s.Condition) == "" {
			fail("spec", "spec.condition is required")
		}
		if strings.TrimSpace(s.Output) == "" {
			fail("spec", "spec.output is required")
		} else if _, err := parseTemplate(s.Output); err != nil {
			fail("spec.output", "spec.output: %v", err)
		}
		m := &s.Match
		if m.Level == "" {
			m.Level = audit.LevelMetadata
		} else if !slices.Contains(levels, m.Level) {
			fail("spec.match.level", "spec.match.level %q: want one of %s", m.Level, strings.Join(levels, ", "))
		}
		for i, st := range m.Stages {
			if !slices.Contains(stages, st) {
				fail(fmt.Sprintf("spec.match.stages[%d]", i), "spec.match.stages[%d] %q: want one of %s", i, st, strings.Join(stages, ", "))
			}
		}
		if len(m.Stages) == 0 {
			m.Stages = []string{audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
		}
		for i, r := range m.Resources {
			if len(r.Resources) == 0 {
				fail(fmt.Sprintf("spec.match.resources[%d]", i), "spec.match.resources[%d]: resources is required (\"*\" for all of the group)", i)
			}
		}
		if s.Aggregate != nil {
			if _, err := parseAggregate(s.Aggregate); err != nil {
				fail("spec.aggregate", "spec.aggregate: %v", err)
			}
		}
	case d.list != nil:
	case d.macro != nil:
		if strings.TrimSpace(d.macro.Condition) == "" {
			fail("spec", "spec.condition is required")
		}
	case d.override != nil:
		o := d.override
		if o.Enabled == nil && o.Severity == "" && o.Condition == "" && o.Aggregate == nil {
			fail("spec", "an override changes at least one of enabled, severity, condition and aggregate")
		}
		if o.Severity != "" && !slices.Contains(severities, o.Severity) {
			fail("spec.severity", "spec.severity %q: want one of %s", o.Severity, strings.Join(severities, ", "))
		}
		if o.Append && o.Condition == "" {
			fail("spec.append", "spec.append needs spec.condition")
		}
		if o.Aggregate != nil {
			if _, err := parseAggregate(o.Aggregate); err != nil {
				fail("spec.aggregate", "spec.aggregate: %v", err)
			}
		}
	}
	return errs
}

func parseAggregate(a *aggregateSpec) (*Aggregate, error) {
	if a.Count < 2 {
		return nil, fmt.Errorf("count %d: want at least 2", a.Count)
	}
	w, err := time.ParseDuration(a.Window)
	if err != nil || w <= 0 {
		return nil, fmt.Errorf("window %q: want a positive duration such as 1m", a.Window)
	}
	if a.By != "user" && a.By != "sourceIP" {
		return nil, fmt.Errorf("by %q: want user or sourceIP", a.By)
	}
	return &Aggregate{Count: a.Count, Window: w, By: a.By}, nil
}

// exprLine maps line l (1-based) of a CEL expression written at field p to
// a line of the file: a block scalar (| or >) starts on the next line and,
// literal, keeps its lines; an inline value is on the field's line.
func (d *document) exprLine(p string, l int) int {
	key := d.at(p)
	text := lineText(d.src, key)
	i := bytes.IndexByte(text, ':')
	if i < 0 {
		return key
	}
	v := bytes.TrimSpace(text[i+1:])
	switch {
	case len(v) > 0 && v[0] == '|':
		return key + max(l, 1)
	case len(v) > 0 && v[0] == '>':
		return key + 1
	}
	return key
}

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
