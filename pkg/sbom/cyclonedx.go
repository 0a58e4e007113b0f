package sbom

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/osrelease"
)

// mamoriNamespace seeds the name-based UUIDs of document serial numbers
// and namespaces, so that one target and timestamp always give the same.
var mamoriNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/mamori-dev/mamori"))

// WriteCycloneDX writes inv as a CycloneDX 1.6 JSON document.
func WriteCycloneDX(w io.Writer, inv *inventory.Inventory, meta Meta) error {
	ids := loadLicenseIDs()
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.SerialNumber = "urn:uuid:" + documentUUID(meta).String()
	root := cdx.Component{
		BOMRef:  "mamori:target",
		Type:    targetType(meta.Kind),
		Name:    targetName(meta),
		Version: meta.Digest,
	}
	if meta.Kind != "" {
		root.Properties = &[]cdx.Property{{Name: "mamori:kind", Value: meta.Kind}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: meta.Timestamp.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "mamori", Version: meta.ToolVersion,
			Group: "mamori-dev",
		}}},
		Component: &root,
	}

	var comps []cdx.Component
	var top []string
	if o := inv.OS; o != nil {
		c := cdx.Component{
			BOMRef:      osRef(o),
			Type:        cdx.ComponentTypeOS,
			Name:        o.Family,
			Version:     o.Version,
			Description: o.Name,
		}
		var props []cdx.Property
		for _, p := range []property{{"mamori:os:codename", o.Codename}, {"mamori:os:ecosystem", o.Ecosystem}, {propPath, o.Path}} {
			if p.value != "" {
				props = append(props, cdx.Property{Name: p.name, Value: p.value})
			}
		}
		if o.Distroless {
			props = append(props, cdx.Property{Name: "mamori:os:distroless", Value: "true"})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		comps = append(comps, c)
		top = append(top, c.BOMRef)
	}
	r := newRefs(inv.Packages)
	var deps []cdx.Dependency
	for i := range inv.Packages {
		p := &inv.Packages[i]
		c := cdx.Component{
			BOMRef:     r.ref[i],
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(ids, p.Licenses),
		}
		if p.Dev {
			c.Scope = cdx.ScopeOptional
		}
		if props := properties(p); len(props) > 0 {
			cp := make([]cdx.Property, len(props))
			for k, pr := range props {
				cp[k] = cdx.Property{Name: pr.name, Value: pr.value}
			}
			c.Properties = &cp
		}
		comps = append(comps, c)
		top = append(top, c.BOMRef)
		if on := r.dependsOn(inv.Packages, i); len(on) > 0 {
			refs := make([]string, len(on))
			for k, j := range on {
				refs[k] = r.ref[j]
			}
			deps = append(deps, cdx.Dependency{Ref: c.BOMRef, Dependencies: &refs})
		}
	}
	bom.Components = &comps
	// The target contains everything found in it.
	deps = append([]cdx.Dependency{{Ref: root.BOMRef, Dependencies: &top}}, deps...)
	bom.Dependencies = &deps
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return fmt.Errorf("write CycloneDX: %w", err)
	}
	return nil
}

func documentUUID(meta Meta) uuid.UUID {
	return uuid.NewSHA1(mamoriNamespace, []byte(strings.Join([]string{meta.Kind, meta.Name, meta.Digest, meta.Timestamp.UTC().Format(time.RFC3339Nano)}, "\x00")))
}

func targetName(meta Meta) string {
	if meta.Name == "" {
		return "unknown"
	}
	return meta.Name
}

func targetType(kind string) cdx.ComponentType {
	switch kind {
	case KindImage:
		return cdx.ComponentTypeContainer
	case KindVM:
		return cdx.ComponentTypePlatform
	}
	return cdx.ComponentTypeApplication
}

func osRef(o *inventory.OS) string {
	return "os:" + o.Family + "@" + o.Version
}

// cdxLicenses writes one licence expression as an expression, and
// licences otherwise one by one, by SPDX ID where the list has it and by
// name where it does not (CycloneDX does not allow mixing the two kinds).
func cdxLicenses(ids licenseIDs, ls []string) *cdx.Licenses {
	if len(ls) == 0 {
		return nil
	}
	if len(ls) == 1 {
		if e, ok := ids.expression(ls[0]); ok && strings.ContainsAny(e, " ") {
			return &cdx.Licenses{{Expression: e}}
		}
	}
	out := make(cdx.Licenses, 0, len(ls))
	for _, l := range ls {
		if id, ok := ids.canonical(l); ok {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: id}})
		} else {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
		}
	}
	return &out
}

// readCycloneDX reads a CycloneDX JSON document.
func readCycloneDX(data []byte, name string) (*inventory.Inventory, error) {
	var bom cdx.BOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, jsonError(data, name, err)
	}
	inv := &inventory.Inventory{}
	var pkgs []inventory.Package
	refIndex := map[string]int{}
	var walk func(cs *[]cdx.Component, depth int) error
	walk = func(cs *[]cdx.Component, depth int) error {
		if cs == nil {
			return nil
		}
		if depth > 64 {
			return fmt.Errorf("%s: components nested deeper than 64", name)
		}
		for k := range *cs {
			c := &(*cs)[k]
			if c.Type == cdx.ComponentTypeOS {
				if inv.OS == nil {
					inv.OS = cdxOS(c)
				}
			} else if !cdxGrouping(c) {
				p, err := cdxPackage(c, name)
				if err != nil {
					return err
				}
				if c.BOMRef != "" {
					refIndex[c.BOMRef] = len(pkgs)
				}
				pkgs = append(pkgs, p)
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	if bom.Dependencies != nil {
		for _, d := range *bom.Dependencies {
			i, ok := refIndex[d.Ref]
			if !ok || d.Dependencies == nil {
				continue
			}
			p := &pkgs[i]
			if p.ID == "" {
				p.ID = d.Ref
			}
			for _, on := range *d.Dependencies {
				j, ok := refIndex[on]
				if !ok || pkgs[j].Path != p.Path {
					continue
				}
				if pkgs[j].ID == "" {
					pkgs[j].ID = on
				}
				p.DependsOn = append(p.DependsOn, pkgs[j].ID)
			}
		}
	}
	inv.Packages = pkgs
	finish(inv)
	return inv, nil
}

func cdxOS(c *cdx.Component) *inventory.OS {
	o := &inventory.OS{Family: strings.ToLower(c.Name), Version: c.Version, Name: c.Description}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			switch p.Name {
			case "mamori:os:codename":
				o.Codename = p.Value
			case "mamori:os:ecosystem":
				o.Ecosystem = p.Value
			case "mamori:os:distroless":
				o.Distroless = p.Value == "true"
			case propPath:
				o.Path = p.Value
			}
		}
	}
	if o.Ecosystem == "" {
		osrelease.Complete(o)
	}
	return o
}

func cdxPackage(c *cdx.Component, name string) (inventory.Package, error) {
	p := packageFromPURL(c.PackageURL, c.Name, c.Version)
	if c.Group != "" && c.PackageURL == "" {
		p.Name = c.Group + ":" + c.Name
	}
	if c.Licenses != nil {
		for _, l := range *c.Licenses {
			switch {
			case l.Expression != "":
				p.Licenses = append(p.Licenses, l.Expression)
			case l.License != nil && l.License.ID != "":
				p.Licenses = append(p.Licenses, l.License.ID)
			case l.License != nil && l.License.Name != "":
				p.Licenses = append(p.Licenses, l.License.Name)
			}
		}
	}
	if c.Scope == cdx.ScopeOptional {
		p.Dev = true
	}
	p.Path = name
	if c.Properties != nil {
		for _, pr := range *c.Properties {
			if err := setProperty(&p, pr.Name, pr.Value); err != nil {
				return p, fmt.Errorf("%s: component %q: %w", name, c.BOMRef, err)
			}
		}
	}
	return p, nil
}

// cdxGrouping reports whether a component stands for what holds packages
// (an image, a file, a binary or lock file listing its modules as nested
// components) rather than for a package.
func cdxGrouping(c *cdx.Component) bool {
	switch c.Type {
	case cdx.ComponentTypeContainer, cdx.ComponentTypePlatform, cdx.ComponentTypeFile:
		return true
	}
	return c.PackageURL == "" && c.Components != nil && len(*c.Components) > 0
}
