// Package java inventories Java packages: Maven coordinates in jar, war and
// ear archives (nested archives included), pom.xml dependencies and Gradle
// lock files.
//
// Names are Maven's "groupId:artifactId", as OSV names Maven packages. A
// package read only from a MANIFEST.MF or a file name may have no known
// groupId; its Name is then the bare artifactId, without a colon. Such a
// name never equals an OSV Maven name, so it is inventoried but not matched:
// guessing a groupId (from Bundle-SymbolicName, say) is a known source of
// false positives.
//
// A package found inside a nested archive has a Path naming the chain of
// archives, each step separated by "!": "app.war!WEB-INF/lib/log4j-core-2.14.1.jar".
package java

import (
	"fmt"
	"io"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/package-url/packageurl-go"
)

// mavenPackage makes a Maven package; group may be empty when unknown.
func mavenPackage(typ inventory.Type, group, artifact, version, path string) inventory.Package {
	name := artifact
	if group != "" {
		name = group + ":" + artifact
	}
	return inventory.Package{
		Type:      typ,
		Ecosystem: inventory.EcoMaven,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeMaven, group, artifact, version, nil, "").ToString(),
		Path:      path,
	}
}

// readAll reads r up to limit bytes, failing with inventory.ErrTooLarge
// beyond it.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("over %d bytes: %w", limit, inventory.ErrTooLarge)
	}
	return b, nil
}
