package rules

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"

	"github.com/mamori-dev/mamori/internal/ruledoc"
	"github.com/mamori-dev/mamori/pkg/audit"
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
type Error = ruledoc.Error

type document struct {
	*ruledoc.Doc

	rule     *ruleSpec
	list     *listSpec
	macro    *macroSpec
	override *overrideSpec
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
			d.Builtin = true
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
	ds, e := ruledoc.ParseFiles(files, parse)
	docs, errs = append(docs, ds...), append(errs, e...)
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

// parse reads the documents of one file; a bad document is reported and
// the others are still read.
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
		// Unknown fields and invalid values are all reported.
		return d, append(decodeStrict(d, spec), d.validate()...)
	})
}

// decodeStrict decodes the spec, naming unknown and mistyped fields at
// their lines.
func decodeStrict(d *document, dst any) []error {
	spec, errs, ok := ruledoc.DecodeFields[struct {
		Name string `json:"name"`
	}](d.Doc)
	if !ok {
		return errs
	}
	if len(spec) == 0 || string(spec) == "null" {
		return append(errs, d.Errorf("", "spec is required"))
	}
	strict, err := sigsjson.UnmarshalStrict(spec, dst)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return append(errs, d.Errorf("spec."+te.Field, "spec.%s: want %s, not %s", te.Field, te.Type, te.Value))
		}
		return append(errs, d.Errorf("spec", "spec: %v", err))
	}
	return append(errs, d.FieldErrors("spec.", strict)...)
}

func (d *document) validate() []error {
	var errs []error
	fail := func(p, format string, args ...any) { errs = append(errs, d.Errorf(p, format, args...)) }
	switch {
	case d.Name == "":
		fail("metadata", "metadata.name is required")
	case d.rule != nil || d.override != nil:
		if !idPattern.MatchString(d.Name) {
			fail("metadata.name", "metadata.name %q: want a rule ID of lower case letters, digits, '-' and '.'", d.Name)
		}
	case !identPattern.MatchString(d.Name):
		fail("metadata.name", "metadata.name %q: want a CEL identifier (letters, digits, '_')", d.Name)
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
	key, block := d.Block(p)
	switch block {
	case '|':
		return key + max(l, 1)
	case '>':
		return key + 1
	}
	return key
}
