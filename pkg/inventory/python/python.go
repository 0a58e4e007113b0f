// Package python inventories Python packages: requirements files,
// poetry.lock, Pipfile.lock, uv.lock, and installed distributions'
// *.dist-info/METADATA and *.egg-info/PKG-INFO.
//
// Each format has its own analyzer (NewRequirements, NewPoetry,
// NewPipenv, NewUV, NewInstalled; Analyzers returns them all). Names are
// as the file writes them; PURLs carry the normalised name the PURL spec
// asks for. Packages are identified as name@version with the name
// normalised (PEP 503), once per file.
//
// Requirements files give a version only for exact pins (== or ===);
// every other line (ranges, URLs, paths, -r includes, which are not
// followed) names no installed version and is left out. Local code
// (editable, virtual, directory and file sources) is the project itself
// and is left out of lock files too.
package python

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/depgraph"
	"github.com/package-url/packageurl-go"
)

// MaxLockSize caps the lock and requirements files read.
const MaxLockSize = 64 << 20

// Analyzers returns every analyzer of this package.
func Analyzers() []inventory.Analyzer {
	return []inventory.Analyzer{NewRequirements(), NewPoetry(), NewPipenv(), NewUV(), NewInstalled()}
}

var separators = regexp.MustCompile(`[-_.]+`)

// Normalize is the PEP 503 form of a distribution name.
func Normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// PURL is the package URL of a PyPI package: pkg:pypi/django-rest-framework@3.15.1.
func PURL(name, version string) string {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	return packageurl.NewPackageURL(packageurl.TypePyPi, "", n, version, nil, "").ToString()
}

func readAll(f *inventory.File, max int64) ([]byte, error) {
	if f.Size > max {
		return nil, fmt.Errorf("%d bytes, over the %d-byte cap: %w", f.Size, max, inventory.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(f.Reader(), max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("over the %d-byte cap: %w", max, inventory.ErrTooLarge)
	}
	return data, nil
}

// graph collects a file's packages by normalised name@version.
type graph struct {
	*depgraph.Graph
	typ  inventory.Type
	path string
}

func newGraph(typ inventory.Type, path string) *graph {
	return &graph{Graph: depgraph.New(), typ: typ, path: path}
}

func (g *graph) add(name, version string, dev bool) string {
	return g.Add(inventory.Package{
		Type: g.typ, Ecosystem: inventory.EcoPyPI, Name: name, Version: version,
		PURL: PURL(name, version), Path: g.path, ID: Normalize(name) + "@" + version,
	}, Normalize(name), dev)
}

// depByName links from to every version of a name in the file (lock
// files hold one, or one per environment marker).
func (g *graph) depByName(from, name string) {
	for _, to := range g.ByName(Normalize(name)) {
		g.Dep(from, to)
	}
}
