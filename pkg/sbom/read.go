package sbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Read reads a CycloneDX (1.4 to 1.6) or SPDX (2.2, 2.3) JSON document;
// name names it in errors and is the Path of packages the document gives
// no mamori:path for. Components become packages by their package URL
// (see PURLToPackage); the OS comes from an operating-system component or
// package, or else from the packages' distro qualifier. Components
// without a package URL, or with one of a type OSV has no ecosystem for,
// are kept without an Ecosystem; Unmatchable counts them.
func Read(r io.Reader, name string) (*inventory.Inventory, Format, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	var probe struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "", jsonError(data, name, err)
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		switch probe.SpecVersion {
		case "1.4", "1.5", "1.6":
		default:
			return nil, CycloneDX, fmt.Errorf("%s: CycloneDX specVersion %q not supported (1.4 to 1.6 are)", name, probe.SpecVersion)
		}
		inv, err := readCycloneDX(data, name)
		return inv, CycloneDX, err
	case probe.SPDXVersion != "":
		switch probe.SPDXVersion {
		case "SPDX-2.2", "SPDX-2.3":
		default:
			return nil, SPDX, fmt.Errorf("%s: spdxVersion %q not supported (SPDX-2.2 and SPDX-2.3 are)", name, probe.SPDXVersion)
		}
		inv, err := readSPDX(data, name)
		return inv, SPDX, err
	}
	return nil, "", fmt.Errorf("%s: neither a CycloneDX JSON document (no \"bomFormat\": \"CycloneDX\") nor an SPDX JSON document (no \"spdxVersion\")", name)
}

// Unmatchable counts the packages of inv that have no OSV ecosystem: in
// an inventory Read made, the components without a usable package URL.
func Unmatchable(inv *inventory.Inventory) int {
	n := 0
	for i := range inv.Packages {
		if inv.Packages[i].Ecosystem == "" {
			n++
		}
	}
	return n
}

// jsonError names the file, and for syntax and type errors the line and
// column.
func jsonError(data []byte, name string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the offending one included.
		off := max(syn.Offset-1, 0)
		if syn.Offset >= int64(len(data)) {
			off = int64(len(data)) // the input ended early
		}
		l, c := lineCol(data, off)
		return fmt.Errorf("%s:%d:%d: invalid JSON: %w", name, l, c, err)
	case errors.As(err, &typ):
		l, c := lineCol(data, typ.Offset)
		return fmt.Errorf("%s:%d:%d: %w", name, l, c, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		l, c := lineCol(data, int64(len(data)))
		return fmt.Errorf("%s:%d:%d: invalid JSON: unexpected end of input", name, l, c)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// packageFromPURL makes a package from a component's package URL, or from
// its name and version when it has none or a malformed one.
func packageFromPURL(purl, name, version string) inventory.Package {
	if purl == "" {
		return inventory.Package{Name: name, Version: version}
	}
	p, _, err := PURLToPackage(purl)
	if err != nil && !errors.Is(err, ErrUnknownPURLType) {
		return inventory.Package{Name: name, Version: version, PURL: purl}
	}
	return p
}

// finish takes the OS from the first distro qualifier of an OS package
// when the document has no OS component, and sorts the packages as a scan
// does.
func finish(inv *inventory.Inventory) {
	for i := 0; inv.OS == nil && i < len(inv.Packages); i++ {
		if u := inv.Packages[i].PURL; u != "" {
			if _, o, err := PURLToPackage(u); err == nil && o != nil {
				inv.OS = o
			}
		}
	}
	inventory.Finish(inv)
}
