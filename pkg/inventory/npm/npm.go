// Package npm inventories JavaScript packages: npm's package-lock.json and
// npm-shrinkwrap.json (lockfile versions 1 to 3), yarn.lock (classic and
// berry), pnpm-lock.yaml (lockfile versions 5 to 9) and the package.json
// files of installed packages under node_modules.
//
// Each format has its own analyzer (NewPackageLock, NewYarn, NewPnpm,
// NewInstalled; Analyzers returns them all). Packages are identified as
// name@version, once per lock file however often the version is
// installed; DependsOn, Direct and Dev are set where the lock file records
// them (Dev when every copy of a version is a development dependency).
//
// Local code — workspace members, link:, file: and portal: dependencies —
// is the project itself and is left out. Aliased dependencies
// ("alias": "npm:real@1.2.3") are reported under the real package's name.
package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/depgraph"
	"github.com/package-url/packageurl-go"
)

// MaxLockSize caps the lock files read.
const MaxLockSize = 64 << 20

// MaxManifestSize caps the installed package.json files read.
const MaxManifestSize = 4 << 20

// Analyzers returns every analyzer of this package.
func Analyzers() []inventory.Analyzer {
	return []inventory.Analyzer{NewPackageLock(), NewYarn(), NewPnpm(), NewInstalled()}
}

// readAll reads a whole file of at most max bytes.
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

// jsonError adds the line and column to a JSON decoding error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err
	}
	line, col := lineCol(data, off)
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// lineCol converts a byte offset to a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// PURL is the package URL of an npm package: pkg:npm/%40babel/core@7.24.0.
func PURL(name, version string) string {
	ns, n := "", name
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 0 {
			ns, n = name[:i], name[i+1:]
		}
	}
	return packageurl.NewPackageURL(packageurl.TypeNPM, ns, n, version, nil, "").ToString()
}

// isLocal reports whether a version or resolution names local code.
func isLocal(v string) bool {
	for _, p := range []string{"file:", "link:", "portal:", "workspace:"} {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// graph collects a lock file's npm packages by name@version.
type graph struct {
	*depgraph.Graph
	typ  inventory.Type
	path string
}

func newGraph(typ inventory.Type, path string) *graph {
	return &graph{Graph: depgraph.New(), typ: typ, path: path}
}

// add records a copy of name@version and returns its ID.
func (g *graph) add(name, version string, dev bool) string {
	return g.Add(inventory.Package{
		Type: g.typ, Ecosystem: inventory.EcoNpm, Name: name, Version: version,
		PURL: PURL(name, version), Path: g.path, ID: name + "@" + version,
	}, name, dev)
}

// splitNameVersion splits "name@version" and "@scope/name@version".
func splitNameVersion(s string) (name, version string, ok bool) {
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// licenses reads package.json's license field in its several shapes:
// "MIT", {"type": "MIT"}, and the old "licenses": [{"type": ...}].
func licenses(license, list json.RawMessage) []string {
	var out []string
	one := func(raw json.RawMessage) {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s != "" {
				out = append(out, s)
			}
			return
		}
		var o struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Type != "" {
			out = append(out, o.Type)
		}
	}
	if len(license) > 0 {
		one(license)
	}
	var l []json.RawMessage
	if len(list) > 0 && json.Unmarshal(list, &l) == nil {
		for _, r := range l {
			one(r)
		}
	}
	return out
}
