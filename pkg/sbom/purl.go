package sbom

import (
	"errors"
	"fmt"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/osrelease"
)

// ErrUnknownPURLType is wrapped by PURLToPackage's error for package URL
// types that name no OSV ecosystem.
var ErrUnknownPURLType = errors.New("package URL type with no OSV ecosystem")

// PURLToPackage turns a package URL into a package: its OSV ecosystem
// (from the type, and for OS packages the namespace), its name as OSV
// spells it (Maven "group:artifact", npm "@scope/name", Go module paths),
// its version (an rpm or deb "epoch" qualifier put back in front), the
// source package from an "upstream" qualifier, and the architecture. The
// OS comes from a "distro" qualifier ("debian-12", "alpine-3.20.3",
// "ubuntu-22.04", "bookworm"); it is nil when there is none.
//
// A package URL of a type with no OSV ecosystem gives the package (name,
// version, PURL) with an empty Ecosystem and an error wrapping
// ErrUnknownPURLType; a malformed one gives only an error.
func PURLToPackage(purl string) (inventory.Package, *inventory.OS, error) {
	u, err := packageurl.FromString(purl)
	if err != nil {
		return inventory.Package{}, nil, fmt.Errorf("package URL %q: %w", purl, err)
	}
	q := u.Qualifiers.Map()
	p := inventory.Package{Name: u.Name, Version: u.Version, PURL: purl, Arch: q["arch"]}
	var family string
	switch u.Type {
	case packageurl.TypeDebian:
		p.Type = inventory.Dpkg
		family = strings.ToLower(u.Namespace)
		p.Ecosystem = map[string]string{"debian": inventory.EcoDebian, "ubuntu": inventory.EcoUbuntu}[family]
	case packageurl.TypeApk:
		p.Type = inventory.Apk
		family = strings.ToLower(u.Namespace)
		p.Ecosystem = map[string]string{"alpine": inventory.EcoAlpine, "wolfi": inventory.EcoWolfi, "chainguard": inventory.EcoChainguard}[family]
	case packageurl.TypeRPM:
		p.Type = inventory.RPM
		family = rpmFamily(strings.ToLower(u.Namespace))
		p.Ecosystem = rpmEcosystems[family]
	case packageurl.TypeGolang:
		p.Type, p.Ecosystem = inventory.GoMod, inventory.EcoGo
		p.Name = join(u.Namespace, "/", u.Name)
	case packageurl.TypeNPM:
		p.Type, p.Ecosystem = inventory.Npm, inventory.EcoNpm
		p.Name = join(u.Namespace, "/", u.Name)
	case packageurl.TypePyPi:
		p.Type, p.Ecosystem = inventory.PythonPkg, inventory.EcoPyPI
	case packageurl.TypeCargo:
		p.Type, p.Ecosystem = inventory.Cargo, inventory.EcoCrates
	case packageurl.TypeGem:
		p.Type, p.Ecosystem = inventory.Bundler, inventory.EcoRubyGems
	case packageurl.TypeComposer:
		p.Type, p.Ecosystem = inventory.Composer, inventory.EcoPackagist
		p.Name = join(u.Namespace, "/", u.Name)
	case packageurl.TypeMaven:
		p.Type, p.Ecosystem = inventory.Jar, inventory.EcoMaven
		p.Name = join(u.Namespace, ":", u.Name)
	case packageurl.TypeNuget:
		p.Type, p.Ecosystem = inventory.NuGetLock, inventory.EcoNuGet
	default:
		p.Name = join(u.Namespace, "/", u.Name)
		return p, nil, fmt.Errorf("package URL %q: %w: %s", purl, ErrUnknownPURLType, u.Type)
	}
	if family == "" {
		return p, nil, nil
	}
	// OS package: epoch, source package, release.
	if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(p.Version, ":") {
		p.Version = e + ":" + p.Version
	}
	if up := q["upstream"]; up != "" {
		name, ver, _ := strings.Cut(up, "@")
		if src, ok := strings.CutSuffix(up, ".src.rpm"); ok && u.Type == packageurl.TypeRPM {
			// A source RPM file name: name-version-release.src.rpm.
			if i := strings.LastIndexByte(src, '-'); i > 0 {
				if j := strings.LastIndexByte(src[:i], '-'); j > 0 {
					name, ver = src[:j], src[j+1:]
					if e, v, ok := strings.Cut(p.Version, ":"); ok && v == ver {
						ver = e + ":" + ver
					}
				}
			}
		}
		if name != p.Name || (ver != "" && ver != p.Version) {
			p.SourceName, p.SourceVersion = name, ver
		}
	}
	return p, distroOS(family, q["distro"]), nil
}

func join(ns, sep, name string) string {
	if ns == "" {
		return name
	}
	return ns + sep + name
}

// rpmFamily maps rpm PURL namespaces to os-release IDs.
func rpmFamily(ns string) string {
	switch ns {
	case "redhat", "rhel":
		return "rhel"
	case "rocky", "rockylinux":
		return "rocky"
	case "alma", "almalinux":
		return "almalinux"
	case "amazon", "amzn", "amazonlinux":
		return "amzn"
	}
	return ns
}

var rpmEcosystems = map[string]string{
	"rhel":      inventory.EcoRedHat,
	"rocky":     inventory.EcoRocky,
	"almalinux": inventory.EcoAlma,
	"amzn":      inventory.EcoAmazon,
}

// codenames maps Debian and Ubuntu release names, which some tools put in
// the distro qualifier, to versions.
var codenames = map[string]string{
	"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
	"bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04",
}

// distroOS reads a distro qualifier: "debian-12", "alpine-3.20.3",
// "rhel-9.4", "bookworm", or a bare version "12".
func distroOS(family, distro string) *inventory.OS {
	if distro == "" {
		return nil
	}
	o := &inventory.OS{Family: family}
	d := strings.ToLower(distro)
	if f, v, ok := strings.Cut(d, "-"); ok && v != "" && v[0] >= '0' && v[0] <= '9' {
		o.Family, o.Version = rpmFamily(f), v
	} else if v, ok := codenames[d]; ok {
		o.Version, o.Codename = v, d
	} else if d[0] >= '0' && d[0] <= '9' {
		o.Version = d
	} else {
		o.Codename = d
	}
	osrelease.Complete(o)
	return o
}
