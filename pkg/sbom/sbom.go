// Package sbom writes inventories as software bills of materials
// (CycloneDX 1.6 JSON and SPDX 2.3 JSON) and reads CycloneDX (1.4 to 1.6)
// and SPDX (2.2, 2.3) JSON documents back into inventories whose packages
// can be matched against OSV records.
//
// Packages are identified by their package URL in both directions. What a
// package URL cannot say is written as mamori properties: CycloneDX
// component properties, and SPDX package annotations of type OTHER whose
// comment is "name=value". The names are
//
//	mamori:path           the file the package was read from
//	mamori:type           the analyzer's package type (dpkg, npm, ...)
//	mamori:id             the package's ID within its file (for dependencies)
//	mamori:source:name    the source package (OS packages), where the PURL
//	                      has no upstream qualifier for it
//	mamori:source:version the source package's version, likewise
//	mamori:dev            "true" for development-only dependencies
//	mamori:direct         "true" for dependencies the project declares
//	mamori:layer:index    the image layer that added the package
//	mamori:layer:digest   its compressed digest
//	mamori:layer:diffID   its uncompressed digest
//	mamori:layer:createdBy the history entry that made it
//
// Dependencies (Package.DependsOn, which names IDs within one file) are
// written as CycloneDX dependencies and SPDX DEPENDS_ON relationships.
package sbom

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Target kinds, for Meta.Kind.
const (
	KindImage  = "image"
	KindRootfs = "rootfs"
	KindFS     = "fs"
	KindVM     = "vm"
	KindSBOM   = "sbom"
)

// Meta describes what was scanned, for the document's header.
type Meta struct {
	// Name names the target: an image reference, a path.
	Name string
	// Kind is one of the Kind constants.
	Kind string
	// Digest is the image's manifest digest ("sha256:..."), if any.
	Digest string
	// ToolVersion is mamori's version.
	ToolVersion string
	// Timestamp is the document's creation time. The caller supplies it
	// so that the same inventory gives the same document.
	Timestamp time.Time
}

// Format is an SBOM format.
type Format string

// Formats.
const (
	CycloneDX Format = "cyclonedx"
	SPDX      Format = "spdx"
)

// Property names; see the package documentation.
const (
	propPath           = "mamori:path"
	propType           = "mamori:type"
	propID             = "mamori:id"
	propSourceName     = "mamori:source:name"
	propSourceVersion  = "mamori:source:version"
	propDev            = "mamori:dev"
	propDirect         = "mamori:direct"
	propLayerIndex     = "mamori:layer:index"
	propLayerDigest    = "mamori:layer:digest"
	propLayerDiffID    = "mamori:layer:diffID"
	propLayerCreatedBy = "mamori:layer:createdBy"
)

// maxSize bounds the documents Read accepts.
const maxSize = 1 << 30

// ErrTooLarge is returned for documents over 1 GiB.
var ErrTooLarge = errors.New("SBOM larger than 1 GiB")

type property struct{ name, value string }

// properties lists what the package URL of p does not say.
func properties(p *inventory.Package) []property {
	var out []property
	add := func(n, v string) {
		if v != "" {
			out = append(out, property{n, v})
		}
	}
	add(propPath, p.Path)
	add(propType, string(p.Type))
	add(propID, p.ID)
	// OSPURL leaves the upstream qualifier out when the source name is
	// the package's own, which loses a differing source version (binNMUs).
	add(propSourceName, p.SourceName)
	add(propSourceVersion, p.SourceVersion)
	if p.Dev {
		add(propDev, "true")
	}
	if p.Direct {
		add(propDirect, "true")
	}
	if l := p.Layer; l != nil {
		add(propLayerIndex, strconv.Itoa(l.Index))
		add(propLayerDigest, l.Digest)
		add(propLayerDiffID, l.DiffID)
		add(propLayerCreatedBy, l.CreatedBy)
	}
	return out
}

// setProperty applies one mamori property to p; others are ignored.
func setProperty(p *inventory.Package, name, value string) error {
	layer := func() *inventory.Layer {
		if p.Layer == nil {
			p.Layer = &inventory.Layer{}
		}
		return p.Layer
	}
	switch name {
	case propPath:
		p.Path = value
	case propType:
		p.Type = inventory.Type(value)
	case propID:
		p.ID = value
	case propSourceName:
		p.SourceName = value
	case propSourceVersion:
		p.SourceVersion = value
	case propDev:
		p.Dev = value == "true"
	case propDirect:
		p.Direct = value == "true"
	case propLayerIndex:
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("property %s: %q is not a number", name, value)
		}
		layer().Index = n
	case propLayerDigest:
		layer().Digest = value
	case propLayerDiffID:
		layer().DiffID = value
	case propLayerCreatedBy:
		layer().CreatedBy = value
	}
	return nil
}

// refs gives every package of an inventory a stable, unique reference
// derived from its PURL (or name and version) and path, and resolves
// DependsOn IDs, which are unique within one file, to those references.
type refs struct {
	ref  []string          // by package index
	byID map[[2]string]int // (path, ID) → package index
}

func newRefs(pkgs []inventory.Package) *refs {
	r := &refs{ref: make([]string, len(pkgs)), byID: map[[2]string]int{}}
	seen := map[string]int{}
	for i := range pkgs {
		p := &pkgs[i]
		key := packageKey(p)
		if p.Path != "" {
			key += "#" + p.Path
		}
		// The same package twice in one file (npm lock files can
		// list one version at several places) still gets two refs.
		if n := seen[key]; n > 0 {
			seen[key]++
			key += "#" + strconv.Itoa(n+1)
		} else {
			seen[key] = 1
		}
		r.ref[i] = key
		if p.ID != "" {
			if _, dup := r.byID[[2]string{p.Path, p.ID}]; !dup {
				r.byID[[2]string{p.Path, p.ID}] = i
			}
		}
	}
	return r
}

func packageKey(p *inventory.Package) string {
	if p.PURL != "" {
		return p.PURL
	}
	k := p.Name
	if p.Version != "" {
		k += "@" + p.Version
	}
	return k
}

// dependsOn returns the indexes of the packages i depends on that are in
// the inventory, sorted and without duplicates.
func (r *refs) dependsOn(pkgs []inventory.Package, i int) []int {
	var out []int
	for _, id := range pkgs[i].DependsOn {
		if j, ok := r.byID[[2]string{pkgs[i].Path, id}]; ok && j != i {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxID turns a reference into an SPDX element ID: letters, digits, "."
// and "-" only, with a hash of the reference to keep IDs unique where
// sanitizing merges two.
func spdxID(prefix, ref string) string {
	s := strings.Trim(spdxIDUnsafe.ReplaceAllString(ref, "-"), "-")
	s = strings.TrimPrefix(s, "pkg-")
	if len(s) > 100 {
		s = s[:100]
	}
	h := sha256.Sum256([]byte(ref))
	return prefix + "-" + s + "-" + hex.EncodeToString(h[:4])
}

//go:embed spdx_licenses.txt
var spdxLicenseList string

// licenseIDs is the SPDX licence list (the enum of CycloneDX's
// spdx.schema.json; a test keeps the two equal).
type licenseIDs map[string]string // lower case → canonical

func loadLicenseIDs() licenseIDs {
	ids := licenseIDs{}
	sc := bufio.NewScanner(strings.NewReader(spdxLicenseList))
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids[strings.ToLower(id)] = id
		}
	}
	return ids
}

// canonical returns the licence ID as the SPDX list spells it.
func (ids licenseIDs) canonical(s string) (string, bool) {
	id, ok := ids[strings.ToLower(strings.TrimSpace(s))]
	return id, ok
}

// expression reports whether s is an SPDX licence expression over listed
// licences (or LicenseRef-s): "MIT", "Apache-2.0 OR MIT",
// "(GPL-2.0-only WITH Classpath-exception-2.0) AND BSD-3-Clause". It
// returns the expression with IDs as the list spells them.
func (ids licenseIDs) expression(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	var out []string
	depth := 0
	operand := false // whether the last token was an operand
	for _, tok := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)) {
		switch up := strings.ToUpper(tok); {
		case tok == "(":
			if operand {
				return "", false
			}
			depth++
			out = append(out, tok)
		case tok == ")":
			if !operand || depth == 0 {
				return "", false
			}
			depth--
			out = append(out, tok)
		case up == "AND" || up == "OR" || up == "WITH":
			if !operand {
				return "", false
			}
			operand = false
			out = append(out, up)
		default:
			if operand {
				return "", false
			}
			operand = true
			id := strings.TrimSuffix(tok, "+")
			if c, ok := ids.canonical(id); ok {
				out = append(out, c+tok[len(id):])
			} else if strings.HasPrefix(tok, "LicenseRef-") || strings.HasPrefix(tok, "DocumentRef-") {
				out = append(out, tok)
			} else {
				return "", false
			}
		}
	}
	if depth != 0 || !operand {
		return "", false
	}
	e := strings.Join(out, " ")
	return strings.NewReplacer("( ", "(", " )", ")").Replace(e), true
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// readAll reads a document, refusing ones over maxSize.
func readAll(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSize {
		return nil, ErrTooLarge
	}
	return data, nil
}
