// Package analyzers lists mamori's inventory analyzers for each kind of
// scan: what is installed in an image, root filesystem or disk, and what a
// source tree's lock files and manifests declare.
package analyzers

import (
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/apk"
	"github.com/mamori-dev/mamori/pkg/inventory/dotnet"
	"github.com/mamori-dev/mamori/pkg/inventory/dpkg"
	"github.com/mamori-dev/mamori/pkg/inventory/golang"
	"github.com/mamori-dev/mamori/pkg/inventory/java"
	"github.com/mamori-dev/mamori/pkg/inventory/npm"
	"github.com/mamori-dev/mamori/pkg/inventory/osrelease"
	"github.com/mamori-dev/mamori/pkg/inventory/php"
	"github.com/mamori-dev/mamori/pkg/inventory/python"
	"github.com/mamori-dev/mamori/pkg/inventory/rpm"
	"github.com/mamori-dev/mamori/pkg/inventory/ruby"
	"github.com/mamori-dev/mamori/pkg/inventory/rust"
)

// Installed returns the analyzers of what is installed in a system (an
// image, a root filesystem, a disk): the OS and its package database,
// and language packages as installed (node_modules, dist-info, gemspecs,
// composer's installed.json, jars, .deps.json, binaries). Lock files are
// left out, as Trivy and grype do for images: what a lock file declares
// is installed beside it and would be reported twice; Cargo.lock stays,
// as Rust leaves no other record of what a binary was built from unless
// it was built with cargo-auditable.
func Installed() []inventory.Analyzer {
	return []inventory.Analyzer{
		osrelease.New(), dpkg.New(), dpkg.NewCopyright(), apk.New(), rpm.New(),
		golang.NewBinary(), rust.NewBinary(), rust.NewCargoLock(),
		npm.NewInstalled(), python.NewInstalled(), php.NewInstalled(), ruby.NewGemspec(),
		java.NewArchive(), dotnet.NewDepsJSON(),
	}
}

// Source returns the analyzers of a source tree: lock files and
// manifests, plus archives and binaries checked into it.
func Source() []inventory.Analyzer {
	return append(lockfiles(), java.NewArchive(), golang.NewBinary(), rust.NewBinary(), dotnet.NewDepsJSON())
}

func lockfiles() []inventory.Analyzer {
	return []inventory.Analyzer{
		golang.NewMod(),
		npm.NewPackageLock(), npm.NewYarn(), npm.NewPnpm(),
		python.NewRequirements(), python.NewPoetry(), python.NewPipenv(), python.NewUV(),
		rust.NewCargoLock(),
		ruby.NewGemfileLock(),
		php.NewComposerLock(),
		java.NewPom(), java.NewGradleLock(),
		dotnet.NewPackagesLock(),
	}
}
