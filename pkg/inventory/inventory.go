// Package inventory describes what is installed in, or declared by, a file
// tree: OS packages from the package manager's database and language
// packages from lock files, manifests and binaries. Analyzers (one
// subpackage per package manager) read single files; Scan walks a Tree and
// hands each analyzer the files it asks for.
package inventory

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Type names the kind of source a package was read from.
type Type string

// Package sources.
const (
	Dpkg       Type = "dpkg"
	Apk        Type = "apk"
	RPM        Type = "rpm"
	GoBinary   Type = "gobinary"
	GoMod      Type = "gomod"
	Npm        Type = "npm"
	Yarn       Type = "yarn"
	Pnpm       Type = "pnpm"
	Pip        Type = "pip"    // requirements.txt
	Poetry     Type = "poetry" // poetry.lock
	Pipenv     Type = "pipenv" // Pipfile.lock
	UV         Type = "uv"     // uv.lock
	PythonPkg  Type = "python-pkg"
	Cargo      Type = "cargo"       // Cargo.lock
	RustBin    Type = "rustbinary"  // cargo-auditable data in a binary
	Bundler    Type = "bundler"     // Gemfile.lock
	Composer   Type = "composer"    // composer.lock
	Jar        Type = "jar"         // jar/war/ear archives
	Pom        Type = "pom"         // pom.xml
	Gradle     Type = "gradle"      // gradle.lockfile
	DotnetDeps Type = "dotnet-deps" // *.deps.json
	NuGetLock  Type = "nuget"       // packages.lock.json
)

// OSV ecosystem names (https://ossf.github.io/osv-schema/#affectedpackage-field),
// without the release suffix an OS ecosystem takes in a record ("Debian:12").
const (
	EcoDebian     = "Debian"
	EcoUbuntu     = "Ubuntu"
	EcoAlpine     = "Alpine"
	EcoWolfi      = "Wolfi"
	EcoChainguard = "Chainguard"
	EcoRedHat     = "Red Hat"
	EcoRocky      = "Rocky Linux"
	EcoAlma       = "AlmaLinux"
	EcoAmazon     = "Amazon Linux"
	EcoGo         = "Go"
	EcoNpm        = "npm"
	EcoPyPI       = "PyPI"
	EcoCrates     = "crates.io"
	EcoRubyGems   = "RubyGems"
	EcoPackagist  = "Packagist"
	EcoMaven      = "Maven"
	EcoNuGet      = "NuGet"
)

// Package is one installed or declared package.
type Package struct {
	Type Type `json:"type"`
	// Ecosystem is the OSV ecosystem without a release: "Debian", "npm".
	// OS packages take their release from the tree's OS.
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	// Version is exactly as the package manager records it, epoch
	// included (dpkg "1:1.2.13.dfsg-1", rpm "1:3.0.7-27.el9").
	Version string `json:"version"`
	// SourceName and SourceVersion name the source package an OS package
	// was built from (dpkg Source:, apk origin, rpm source RPM); empty when
	// they equal Name and Version. Distro advisories are per source package.
	SourceName    string   `json:"sourceName,omitempty"`
	SourceVersion string   `json:"sourceVersion,omitempty"`
	Arch          string   `json:"arch,omitempty"`
	Licenses      []string `json:"licenses,omitempty"`
	// PURL is the package URL. Analyzers of OS packages leave it empty;
	// Scan fills it once the OS is known (the distro is a qualifier).
	PURL string `json:"purl,omitempty"`
	// Path is the file the package was read from, slash-separated and
	// relative to the scanned root: "var/lib/dpkg/status",
	// "app/package-lock.json", "usr/local/bin/kubectl".
	Path string `json:"path"`
	// ID identifies the package within its file, for DependsOn; analyzers
	// that know dependencies set it (usually name@version), others may
	// leave it empty.
	ID string `json:"id,omitempty"`
	// DependsOn lists the IDs of the package's direct dependencies, where
	// the source says.
	DependsOn []string `json:"dependsOn,omitempty"`
	// Dev marks development-only dependencies.
	Dev bool `json:"dev,omitempty"`
	// Direct marks dependencies the project itself declares, where the
	// source says.
	Direct bool `json:"direct,omitempty"`
	// Layer is the image layer that added the package; nil outside images.
	Layer *Layer `json:"layer,omitempty"`
}

// Layer is an image layer.
type Layer struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest,omitempty"` // compressed, as in the manifest
	DiffID    string `json:"diffID,omitempty"` // uncompressed
	CreatedBy string `json:"createdBy,omitempty"`
}

// OS is the operating system of a tree, from os-release and the like.
type OS struct {
	// Family is the distribution's ID: debian, ubuntu, alpine, wolfi,
	// chainguard, rhel, rocky, almalinux, centos, amzn.
	Family   string `json:"family"`
	Name     string `json:"name,omitempty"`    // PRETTY_NAME
	Version  string `json:"version,omitempty"` // VERSION_ID or the full release (3.20.3)
	Codename string `json:"codename,omitempty"`
	// Ecosystem is the OSV ecosystem of the release, as records spell it:
	// "Debian:12", "Alpine:v3.20", "Ubuntu:22.04:LTS". Empty when OSV has
	// no such ecosystem.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Distroless is set for Google distroless images (Debian underneath).
	Distroless bool `json:"distroless,omitempty"`
	// EOL is the vendor's end of life (end of security support) for the
	// release; zero when unknown.
	EOL  time.Time `json:"eol,omitzero"`
	Path string    `json:"path,omitempty"` // the file it was read from
}

// PastEOL reports whether the release's security support ended before now.
func (o *OS) PastEOL(now time.Time) bool {
	return o != nil && !o.EOL.IsZero() && now.After(o.EOL)
}

// FileInfo is what an analyzer may look at before asking for content.
type FileInfo struct {
	Size int64
	Mode fs.FileMode
}

// File is a file handed to an analyzer. Its content is valid only during
// the Analyze call.
type File struct {
	// Path is slash-separated and relative to the scanned root, without a
	// leading slash.
	Path string
	Size int64
	Mode fs.FileMode
	io.ReaderAt
	// LocalPath is the file's path on the local disk when it has one
	// (rootfs and fs scans); empty for files in image layers and disks.
	// Analyzers whose library needs a path (rpm) copy to a temporary file
	// when it is empty.
	LocalPath string

	close func() error
}

// Reader returns a reader of the whole file.
func (f *File) Reader() io.Reader { return io.NewSectionReader(f.ReaderAt, 0, f.Size) }

// Result is what an analyzer found in one file.
type Result struct {
	Packages []Package
	OS       *OS
	// Licenses gives licences of OS packages by package name, from files
	// apart from the package database (Debian's copyright files);
	// Finish joins them to the packages that have none.
	Licenses map[string][]string
}

// Analyzer reads one kind of file.
type Analyzer interface {
	// Name identifies the analyzer in errors and flags: "dpkg", "npm".
	Name() string
	// Wants reports whether the analyzer reads the file. It is called for
	// every file of a tree, so it looks at the path and info only.
	Wants(path string, info FileInfo) bool
	// Analyze reads the file. An error names what is wrong (and the line,
	// for text formats); the file's path is added by the caller.
	Analyze(ctx context.Context, f *File) (*Result, error)
}

// Problem is a file that could not be read; the rest of the tree is still
// inventoried.
type Problem struct {
	Path     string `json:"path"`
	Layer    *Layer `json:"layer,omitempty"`
	Analyzer string `json:"analyzer,omitempty"`
	Err      error  `json:"-"`
}

func (p Problem) Error() string {
	where := p.Path
	if p.Layer != nil {
		where = fmt.Sprintf("layer %d (%s) %s", p.Layer.Index, p.Layer.Digest, p.Path)
	}
	if p.Analyzer != "" {
		return fmt.Sprintf("%s: %s: %v", where, p.Analyzer, p.Err)
	}
	return fmt.Sprintf("%s: %v", where, p.Err)
}

func (p Problem) Unwrap() error { return p.Err }

// Inventory is everything found in one tree.
type Inventory struct {
	OS       *OS       `json:"os,omitempty"`
	Packages []Package `json:"packages"`
	Problems []Problem `json:"-"`
	// Licenses collects Result.Licenses until Finish joins them.
	Licenses map[string][]string `json:"-"`
}

// AddLicenses records licences of OS packages by name for Finish.
func (inv *Inventory) AddLicenses(m map[string][]string) {
	for name, l := range m {
		if inv.Licenses == nil {
			inv.Licenses = map[string][]string{}
		}
		inv.Licenses[name] = l
	}
}
