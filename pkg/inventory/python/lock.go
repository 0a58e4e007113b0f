package python

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
)

// NewPoetry returns the analyzer of poetry.lock. Dependencies link to the
// locked versions of their names; Dev marks packages of the old "dev"
// category or, in Poetry 2 lock files, of groups other than "main".
// poetry.lock does not say what the project declares: Direct is not set.
func NewPoetry() inventory.Analyzer { return poetry{} }

// NewPipenv returns the analyzer of Pipfile.lock: "default" packages, and
// "develop" ones as Dev. It has no dependency graph.
func NewPipenv() inventory.Analyzer { return pipenv{} }

// NewUV returns the analyzer of uv.lock. The project (a package whose
// source is editable or virtual ".") is not a package; what it declares
// is Direct, and what only its dev-dependencies lead to is Dev.
func NewUV() inventory.Analyzer { return uv{} }

type poetry struct{}

func (poetry) Name() string { return string(inventory.Poetry) }

func (poetry) Wants(p string, _ inventory.FileInfo) bool { return path.Base(p) == "poetry.lock" }

type poetryLock struct {
	Package []struct {
		Name         string                    `toml:"name"`
		Version      string                    `toml:"version"`
		Category     string                    `toml:"category"`
		Groups       []string                  `toml:"groups"`
		Dependencies map[string]toml.Primitive `toml:"dependencies"`
		Source       struct {
			Type string `toml:"type"`
		} `toml:"source"`
	} `toml:"package"`
}

func (poetry) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	var lock poetryLock
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil, err // "toml: line 12 (last key ...): ..."
	}
	g := newGraph(inventory.Poetry, f.Path)
	ids := make([]string, len(lock.Package))
	for i, p := range lock.Package {
		if p.Name == "" || p.Version == "" {
			return nil, fmt.Errorf("package %d (%q): no name or version", i+1, p.Name)
		}
		if local(p.Source.Type) {
			continue
		}
		dev := p.Category == "dev" || len(p.Groups) > 0 && !slices.Contains(p.Groups, "main")
		ids[i] = g.add(p.Name, p.Version, dev)
	}
	for i, p := range lock.Package {
		if ids[i] == "" {
			continue
		}
		for name := range p.Dependencies {
			g.depByName(ids[i], name)
		}
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

// local reports whether a lock file's source type is local code.
func local(typ string) bool {
	return typ == "directory" || typ == "file" || typ == "editable" || typ == "virtual" || typ == "path"
}

type pipenv struct{}

func (pipenv) Name() string { return string(inventory.Pipenv) }

func (pipenv) Wants(p string, _ inventory.FileInfo) bool { return path.Base(p) == "Pipfile.lock" }

type pipfileLock struct {
	Default map[string]pipfileEntry `json:"default"`
	Develop map[string]pipfileEntry `json:"develop"`
}

type pipfileEntry struct {
	Version string `json:"version"`
}

func (pipenv) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	var lock pipfileLock
	if err := json.Unmarshal(data, &lock); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			l, c := textutil.LineCol(data, se.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", l, c, err)
		case errors.As(err, &te):
			l, c := textutil.LineCol(data, te.Offset)
			return nil, fmt.Errorf("line %d, column %d: %w", l, c, err)
		}
		return nil, err
	}
	g := newGraph(inventory.Pipenv, f.Path)
	for _, sec := range []struct {
		m   map[string]pipfileEntry
		dev bool
	}{{lock.Default, false}, {lock.Develop, true}} {
		for name, e := range sec.m {
			// Git, path and editable entries have no version.
			if v, ok := strings.CutPrefix(e.Version, "=="); ok && v != "" {
				g.add(name, v, sec.dev)
			}
		}
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

type uv struct{}

func (uv) Name() string { return string(inventory.UV) }

func (uv) Wants(p string, _ inventory.FileInfo) bool { return path.Base(p) == "uv.lock" }

type uvDep struct {
	Name    string `toml:"name"`
	Version string `toml:"version"`
}

type uvLock struct {
	Package []struct {
		Name                 string             `toml:"name"`
		Version              string             `toml:"version"`
		Source               map[string]string  `toml:"source"`
		Dependencies         []uvDep            `toml:"dependencies"`
		OptionalDependencies map[string][]uvDep `toml:"optional-dependencies"`
		DevDependencies      map[string][]uvDep `toml:"dev-dependencies"`
	} `toml:"package"`
}

func (uv) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	var lock uvLock
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil, err
	}
	g := newGraph(inventory.UV, f.Path)
	ids := make([]string, len(lock.Package))
	for i, p := range lock.Package {
		if p.Name == "" {
			return nil, fmt.Errorf("package %d: no name", i+1)
		}
		if isProject(p.Source) || p.Version == "" {
			continue // the project, a workspace member or local code
		}
		ids[i] = g.add(p.Name, p.Version, false)
	}
	link := func(from string, d uvDep) []string {
		var to []string
		for _, id := range g.ByName(Normalize(d.Name)) {
			if d.Version == "" || id == Normalize(d.Name)+"@"+d.Version {
				to = append(to, id)
				if from != "" {
					g.Dep(from, id)
				}
			}
		}
		return to
	}
	var prod, direct []string
	projects := false
	for i, p := range lock.Package {
		if ids[i] != "" {
			for _, d := range p.Dependencies {
				link(ids[i], d)
			}
			for _, ds := range p.OptionalDependencies {
				for _, d := range ds {
					link(ids[i], d)
				}
			}
			continue
		}
		if !isProject(p.Source) {
			continue
		}
		projects = true
		for _, d := range p.Dependencies {
			t := link("", d)
			prod = append(prod, t...)
			direct = append(direct, t...)
		}
		for _, ds := range p.OptionalDependencies {
			for _, d := range ds {
				t := link("", d)
				prod = append(prod, t...)
				direct = append(direct, t...)
			}
		}
		for _, ds := range p.DevDependencies {
			for _, d := range ds {
				direct = append(direct, link("", d)...)
			}
		}
	}
	if projects {
		g.MarkDev(prod)
		for _, id := range direct {
			g.Direct(id)
		}
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

// isProject reports whether a uv source is local code: the project
// (editable or virtual ".") or another path.
func isProject(src map[string]string) bool {
	for k := range src {
		if local(k) {
			return true
		}
	}
	return false
}
