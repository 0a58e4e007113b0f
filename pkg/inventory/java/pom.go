package java

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

const maxPom = 16 << 20

// ErrUnresolved marks a pom.xml dependency left out because its version
// cannot be known from the file alone (a parent POM, an imported BOM, a
// property defined elsewhere, a version range). The analyzer returns such
// notes together with the packages it could resolve.
var ErrUnresolved = errors.New("version not resolvable from this file")

type pomAnalyzer struct{}

// NewPom returns the analyzer of pom.xml files. It reports the project's
// direct dependencies, resolving ${property} references from the POM's own
// <properties>, ${project.version}, ${project.groupId} and the inline
// <parent>, and missing versions from its own <dependencyManagement>.
// Test-scoped dependencies are Dev. Parent POMs and BOMs are not fetched:
// what only they define is left out with an ErrUnresolved note.
func NewPom() inventory.Analyzer { return pomAnalyzer{} }

func (pomAnalyzer) Name() string { return string(inventory.Pom) }

func (pomAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && path.Base(p) == "pom.xml"
}

func (pomAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxPom {
		return nil, fmt.Errorf("%d bytes, over %d: %w", f.Size, maxPom, inventory.ErrTooLarge)
	}
	pom, err := parsePom(io.LimitReader(f.Reader(), maxPom))
	if err != nil {
		return nil, err
	}
	pkgs, notes := pom.dependencies(f.Path)
	var res *inventory.Result
	if len(pkgs) > 0 {
		res = &inventory.Result{Packages: pkgs}
	}
	return res, errors.Join(notes...)
}

type pomDep struct {
	group, artifact, version, scope string
	line                            int
}

type pomFile struct {
	group, artifact, version             string
	parentGroup, parentArtifact, parentV string
	props                                map[string]string
	deps, managed                        []pomDep
	licenses                             []string
}

// parsePom reads the parts of a POM the inventory needs, keeping the line
// of each dependency.
func parsePom(r io.Reader) (*pomFile, error) {
	d := xml.NewDecoder(r)
	d.CharsetReader = charsetReader
	p := &pomFile{props: map[string]string{}}
	var (
		stack []string
		text  bytes.Buffer
		dep   *pomDep
		root  bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("line %d: %s", se.Line, se.Msg)
			}
			line, col := d.InputPos()
			return nil, fmt.Errorf("line %d:%d: %w", line, col, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && t.Name.Local != "project" {
				line, _ := d.InputPos()
				return nil, fmt.Errorf("line %d: root element <%s>, not a Maven <project>", line, t.Name.Local)
			}
			root = true
			stack = append(stack, t.Name.Local)
			text.Reset()
			if dep == nil && t.Name.Local == "dependency" && (is(stack, "project", "dependencies", "dependency") ||
				is(stack, "project", "dependencyManagement", "dependencies", "dependency")) {
				line, _ := d.InputPos()
				dep = &pomDep{line: line}
			}
		case xml.CharData:
			if text.Len() < maxMeta {
				text.Write(t)
			}
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			text.Reset()
			p.end(stack, v, &dep)
			stack = stack[:len(stack)-1]
		}
	}
	if !root {
		return nil, errors.New("no <project> element")
	}
	return p, nil
}

func (p *pomFile) end(stack []string, v string, dep **pomDep) {
	n := len(stack)
	switch {
	case n == 2:
		switch stack[1] {
		case "groupId":
			p.group = v
		case "artifactId":
			p.artifact = v
		case "version":
			p.version = v
		}
	case n == 3 && stack[1] == "parent":
		switch stack[2] {
		case "groupId":
			p.parentGroup = v
		case "artifactId":
			p.parentArtifact = v
		case "version":
			p.parentV = v
		}
	case n == 3 && stack[1] == "properties":
		p.props[stack[2]] = v
	case n == 4 && stack[1] == "licenses" && stack[3] == "name":
		p.licenses = append(p.licenses, v)
	case *dep != nil:
		d := *dep
		switch {
		case stack[n-1] == "dependency":
			if stack[1] == "dependencies" {
				p.deps = append(p.deps, *d)
			} else {
				p.managed = append(p.managed, *d)
			}
			*dep = nil
		case stack[n-2] == "dependency":
			switch stack[n-1] {
			case "groupId":
				d.group = v
			case "artifactId":
				d.artifact = v
			case "version":
				d.version = v
			case "scope":
				d.scope = v
			}
		}
	}
}

func is(stack []string, path ...string) bool {
	if len(stack) != len(path) {
		return false
	}
	for i := range path {
		if stack[i] != path[i] {
			return false
		}
	}
	return true
}

// charsetReader accepts the single-byte encodings POMs declare besides
// UTF-8 (ISO-8859-1 is common in older projects).
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(b))
		for i, c := range b {
			out[i] = rune(c)
		}
		return strings.NewReader(string(out)), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// resolve expands ${…} references; ok is false when one stays unknown.
func (p *pomFile) resolve(s string) (string, bool) {
	for range 10 { // properties may refer to properties, and to themselves
		i := strings.Index(s, "${")
		if i < 0 {
			return s, true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return s, false
		}
		v, ok := p.lookup(s[i+2 : i+j])
		if !ok {
			return s, false
		}
		s = s[:i] + v + s[i+j+1:]
	}
	return s, !strings.Contains(s, "${")
}

func (p *pomFile) lookup(name string) (string, bool) {
	if v, ok := p.props[name]; ok {
		return v, true
	}
	var v string
	switch name {
	case "project.version", "pom.version", "version":
		v = cmpOr(p.version, p.parentV)
	case "project.groupId", "pom.groupId", "groupId":
		v = cmpOr(p.group, p.parentGroup)
	case "project.artifactId", "pom.artifactId", "artifactId":
		v = p.artifact
	case "project.parent.version", "parent.version":
		v = p.parentV
	case "project.parent.groupId", "parent.groupId":
		v = p.parentGroup
	}
	return v, v != ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dependencies resolves the direct dependencies; notes say which were
// left out and why.
func (p *pomFile) dependencies(file string) ([]inventory.Package, []error) {
	type ga struct{ g, a string }
	managed := map[ga]pomDep{}
	for _, m := range p.managed {
		g, _ := p.resolve(m.group)
		a, _ := p.resolve(m.artifact)
		if m.scope == "import" {
			continue // a BOM, not a dependency
		}
		if _, dup := managed[ga{g, a}]; !dup {
			managed[ga{g, a}] = m
		}
	}
	var (
		pkgs  []inventory.Package
		notes []error
		seen  = map[ga]bool{}
	)
	for _, d := range p.deps {
		g, ok1 := p.resolve(d.group)
		a, ok2 := p.resolve(d.artifact)
		if !ok1 || !ok2 || g == "" || a == "" {
			notes = append(notes, fmt.Errorf("line %d: dependency %s:%s: unresolved coordinates: %w", d.line, d.group, d.artifact, ErrUnresolved))
			continue
		}
		raw, scope := d.version, d.scope
		if m, ok := managed[ga{g, a}]; ok {
			raw = cmpOr(raw, m.version)
			scope = cmpOr(scope, m.scope)
		}
		if raw == "" {
			notes = append(notes, fmt.Errorf("line %d: dependency %s:%s: no version (a parent POM or BOM manages it): %w", d.line, g, a, ErrUnresolved))
			continue
		}
		v, ok := p.resolve(raw)
		if !ok {
			notes = append(notes, fmt.Errorf("line %d: dependency %s:%s: version %q: %w", d.line, g, a, raw, ErrUnresolved))
			continue
		}
		if strings.ContainsAny(v, "[](), ") {
			notes = append(notes, fmt.Errorf("line %d: dependency %s:%s: version range %q: %w", d.line, g, a, v, ErrUnresolved))
			continue
		}
		if seen[ga{g, a}] {
			continue
		}
		seen[ga{g, a}] = true
		pkg := mavenPackage(inventory.Pom, g, a, v, file)
		pkg.ID = g + ":" + a + "@" + v
		pkg.Direct = true
		pkg.Dev = scope == "test"
		pkgs = append(pkgs, pkg)
	}
	return pkgs, notes
}
