package sbom

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/osrelease"
)

const noAssertion = "NOASSERTION"

// WriteSPDX writes inv as an SPDX 2.3 JSON document. The document
// DESCRIBES the target, which CONTAINS the OS and every package; packages
// DEPENDS_ON one another as their files say. Properties a package URL does
// not carry are package annotations (see the package documentation);
// licence names that are not on the SPDX licence list are LicenseRef-s
// with the name as extracted text.
func WriteSPDX(w io.Writer, inv *inventory.Inventory, meta Meta) error {
	ids := loadLicenseIDs()
	created := meta.Timestamp.UTC().Format(time.RFC3339)
	tool := "mamori"
	if meta.ToolVersion != "" {
		tool += "-" + meta.ToolVersion
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      targetName(meta),
		DocumentNamespace: "https://github.com/mamori-dev/mamori/spdx/" + url.PathEscape(targetName(meta)) + "-" + documentUUID(meta).String(),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: tool}},
			Created:  created,
		},
	}
	rootID := common.ElementID("Target")
	root := &spdx.Package{
		PackageName:             targetName(meta),
		PackageSPDXIdentifier:   rootID,
		PackageVersion:          meta.Digest,
		PackageDownloadLocation: noAssertion,
		PrimaryPackagePurpose:   map[string]string{KindImage: "CONTAINER", KindVM: "DEVICE"}[meta.Kind],
	}
	if root.PrimaryPackagePurpose == "" {
		root.PrimaryPackagePurpose = "APPLICATION"
	}
	if meta.Kind != "" {
		root.PackageComment = "mamori:kind=" + meta.Kind
	}
	doc.Packages = append(doc.Packages, root)
	rel := func(a common.ElementID, typ string, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: typ,
		})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, rootID)
	annotate := func(props []property) []spdx.Annotation {
		var out []spdx.Annotation
		for _, p := range props {
			out = append(out, spdx.Annotation{
				Annotator:         common.Annotator{AnnotatorType: "Tool", Annotator: tool},
				AnnotationDate:    created,
				AnnotationType:    "OTHER",
				AnnotationComment: p.name + "=" + p.value,
			})
		}
		return out
	}
	if o := inv.OS; o != nil {
		id := common.ElementID(spdxID("OperatingSystem", osRef(o)))
		var props []property
		for _, p := range []property{{"mamori:os:codename", o.Codename}, {"mamori:os:ecosystem", o.Ecosystem}, {propPath, o.Path}} {
			if p.value != "" {
				props = append(props, p)
			}
		}
		if o.Distroless {
			props = append(props, property{"mamori:os:distroless", "true"})
		}
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             o.Family,
			PackageSPDXIdentifier:   id,
			PackageVersion:          o.Version,
			PackageDescription:      o.Name,
			PackageDownloadLocation: noAssertion,
			PrimaryPackagePurpose:   "OPERATING_SYSTEM",
			Annotations:             annotate(props),
		})
		rel(rootID, common.TypeRelationshipContains, id)
	}
	r := newRefs(inv.Packages)
	pids := make([]common.ElementID, len(inv.Packages))
	extracted := map[string]bool{}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		pids[i] = common.ElementID(spdxID("Package", r.ref[i]))
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   pids[i],
			PackageVersion:          p.Version,
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  noAssertion,
			PrimaryPackagePurpose:   "LIBRARY",
			Annotations:             annotate(properties(p)),
		}
		if len(p.Licenses) > 0 {
			var refs []string
			sp.PackageLicenseDeclared, refs = spdxLicense(ids, p.Licenses)
			for k, ref := range refs {
				if ref != "" && !extracted[ref] {
					extracted[ref] = true
					doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{
						LicenseIdentifier: ref, ExtractedText: p.Licenses[k], LicenseName: p.Licenses[k],
					})
				}
			}
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p.PURL,
			}}
		}
		doc.Packages = append(doc.Packages, sp)
		rel(rootID, common.TypeRelationshipContains, pids[i])
	}
	for i := range inv.Packages {
		for _, j := range r.dependsOn(inv.Packages, i) {
			rel(pids[i], common.TypeRelationshipDependsOn, pids[j])
		}
	}
	if err := spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return fmt.Errorf("write SPDX: %w", err)
	}
	return nil
}

// spdxLicense makes a declared-licence expression of a package's
// licences, joined by AND. It returns, index for index with ls, the
// LicenseRef made for each licence that is not an expression over listed
// licences ("" for the others).
func spdxLicense(ids licenseIDs, ls []string) (string, []string) {
	parts := make([]string, len(ls))
	refs := make([]string, len(ls))
	for i, l := range ls {
		if e, ok := ids.expression(l); ok {
			if len(ls) > 1 && strings.Contains(e, " ") {
				e = "(" + e + ")"
			}
			parts[i] = e
			continue
		}
		refs[i] = "LicenseRef-" + strings.Trim(spdxIDUnsafe.ReplaceAllString(l, "-"), "-")
		parts[i] = refs[i]
	}
	return strings.Join(parts, " AND "), refs
}

// readSPDX reads an SPDX 2.2 or 2.3 JSON document.
func readSPDX(data []byte, name string) (*inventory.Inventory, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, jsonError(data, name, err)
	}
	extracted := map[string]string{}
	for _, l := range doc.OtherLicenses {
		if l == nil {
			continue
		}
		n := l.LicenseName
		if n == "" || n == noAssertion {
			n = l.ExtractedText
		}
		extracted[l.LicenseIdentifier] = n
	}
	described := map[common.ElementID]bool{}
	contains := map[common.ElementID]bool{}
	for _, r := range doc.Relationships {
		if r == nil {
			continue
		}
		switch r.Relationship {
		case common.TypeRelationshipDescribe:
			described[r.RefB.ElementRefID] = true
		case common.TypeRelationshipDescribeBy:
			described[r.RefA.ElementRefID] = true
		case common.TypeRelationshipContains:
			contains[r.RefA.ElementRefID] = true
		}
	}
	inv := &inventory.Inventory{}
	index := map[common.ElementID]int{}
	for _, sp := range doc.Packages {
		if sp == nil {
			continue
		}
		purl := spdxPURL(sp)
		if sp.PrimaryPackagePurpose == "OPERATING_SYSTEM" || sp.PrimaryPackagePurpose == "OPERATING-SYSTEM" {
			if inv.OS == nil {
				inv.OS = spdxOS(sp)
			}
			continue
		}
		if described[sp.PackageSPDXIdentifier] && isTarget(sp, purl, contains[sp.PackageSPDXIdentifier]) {
			continue
		}
		p := packageFromPURL(purl, sp.PackageName, sp.PackageVersion)
		p.Path = name
		p.Licenses = spdxLicenses(sp.PackageLicenseDeclared, extracted)
		if len(p.Licenses) == 0 {
			p.Licenses = spdxLicenses(sp.PackageLicenseConcluded, extracted)
		}
		for _, a := range sp.Annotations {
			n, v, ok := strings.Cut(a.AnnotationComment, "=")
			if !ok || !strings.HasPrefix(n, "mamori:") {
				continue
			}
			if err := setProperty(&p, n, v); err != nil {
				return nil, fmt.Errorf("%s: package %s: %w", name, sp.PackageSPDXIdentifier, err)
			}
		}
		index[sp.PackageSPDXIdentifier] = len(inv.Packages)
		inv.Packages = append(inv.Packages, p)
	}
	pkgs := inv.Packages
	dep := func(from, to common.ElementID) {
		i, ok1 := index[from]
		j, ok2 := index[to]
		if !ok1 || !ok2 || i == j || pkgs[i].Path != pkgs[j].Path {
			return
		}
		if pkgs[i].ID == "" {
			pkgs[i].ID = string(from)
		}
		if pkgs[j].ID == "" {
			pkgs[j].ID = string(to)
		}
		pkgs[i].DependsOn = append(pkgs[i].DependsOn, pkgs[j].ID)
	}
	for _, r := range doc.Relationships {
		if r == nil || r.RefA.DocumentRefID != "" || r.RefB.DocumentRefID != "" {
			continue
		}
		switch r.Relationship {
		case common.TypeRelationshipDependsOn:
			dep(r.RefA.ElementRefID, r.RefB.ElementRefID)
		case common.TypeRelationshipDependencyOf:
			dep(r.RefB.ElementRefID, r.RefA.ElementRefID)
		}
	}
	finish(inv)
	return inv, nil
}

// isTarget reports whether a package the document describes is the
// scanned thing (an image, a directory) rather than a package in it.
func isTarget(sp *spdx.Package, purl string, contains bool) bool {
	switch sp.PrimaryPackagePurpose {
	case "CONTAINER", "DEVICE":
		return true
	}
	if strings.HasPrefix(purl, "pkg:oci/") || strings.HasPrefix(purl, "pkg:docker/") {
		return true
	}
	return purl == "" && contains
}

func spdxPURL(sp *spdx.Package) string {
	for _, r := range sp.PackageExternalReferences {
		if r != nil && r.RefType == common.TypePackageManagerPURL {
			return r.Locator
		}
	}
	return ""
}

func spdxOS(sp *spdx.Package) *inventory.OS {
	o := &inventory.OS{Family: strings.ToLower(sp.PackageName), Version: sp.PackageVersion, Name: sp.PackageDescription}
	for _, a := range sp.Annotations {
		n, v, _ := strings.Cut(a.AnnotationComment, "=")
		switch n {
		case "mamori:os:codename":
			o.Codename = v
		case "mamori:os:ecosystem":
			o.Ecosystem = v
		case "mamori:os:distroless":
			o.Distroless = v == "true"
		case propPath:
			o.Path = v
		}
	}
	if o.Ecosystem == "" {
		osrelease.Complete(o)
	}
	return o
}

// spdxLicenses splits a licence expression at its top-level ANDs, and
// turns LicenseRefs back into the names they were extracted from.
func spdxLicenses(expr string, extracted map[string]string) []string {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == noAssertion || expr == "NONE" {
		return nil
	}
	var out []string
	depth, start := 0, 0
	add := func(s string) {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") && balanced(s[1:len(s)-1]) {
			s = s[1 : len(s)-1]
		}
		if n, ok := extracted[s]; ok {
			s = n
		}
		if s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ' ':
			if depth == 0 && strings.HasPrefix(expr[i:], " AND ") {
				add(expr[start:i])
				start = i + len(" AND ")
				i = start - 1
			}
		}
	}
	add(expr[start:])
	return out
}

func balanced(s string) bool {
	d := 0
	for _, c := range s {
		switch c {
		case '(':
			d++
		case ')':
			d--
			if d < 0 {
				return false
			}
		}
	}
	return d == 0
}
