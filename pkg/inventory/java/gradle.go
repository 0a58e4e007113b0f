package java

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

const maxGradleLock = 16 << 20

type gradleAnalyzer struct{}

// NewGradleLock returns the analyzer of Gradle dependency lock files:
// gradle.lockfile and the older per-configuration
// gradle/dependency-locks/*.lockfile. Each line
// "group:artifact:version=configuration,…" is a package; one locked only
// in test configurations (testCompileClasspath, androidTestRuntimeClasspath,
// …) is Dev.
func NewGradleLock() inventory.Analyzer { return gradleAnalyzer{} }

func (gradleAnalyzer) Name() string { return string(inventory.Gradle) }

func (gradleAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	if !info.Mode.IsRegular() {
		return false
	}
	dir, base := path.Split(p)
	return base == "gradle.lockfile" ||
		strings.HasSuffix(base, ".lockfile") && strings.HasSuffix(dir, "gradle/dependency-locks/")
}

func (gradleAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxGradleLock {
		return nil, fmt.Errorf("%d bytes, over %d: %w", f.Size, maxGradleLock, inventory.ErrTooLarge)
	}
	// The per-configuration files of Gradle 6 list no configurations; the
	// file name is the configuration.
	conf := ""
	if base := path.Base(f.Path); base != "gradle.lockfile" {
		conf = strings.TrimSuffix(base, ".lockfile")
	}
	pkgs, err := parseGradleLock(f.Reader(), f.Path, conf)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, nil
}

func parseGradleLock(r io.Reader, file, conf string) ([]inventory.Package, error) {
	var pkgs []inventory.Package
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		coords, confs, hasConfs := strings.Cut(line, "=")
		if coords == "empty" {
			continue // configurations that resolve to nothing
		}
		parts := strings.Split(coords, ":")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("line %d: want group:artifact:version=configurations, got %q", n, clip(line))
		}
		var cs []string
		if hasConfs {
			cs = strings.Split(confs, ",")
		} else if conf != "" {
			cs = []string{conf}
		}
		dev := len(cs) > 0
		for _, c := range cs {
			dev = dev && isTestConfiguration(c)
		}
		id := parts[0] + ":" + parts[1] + "@" + parts[2]
		if i, ok := seen[id]; ok {
			pkgs[i].Dev = pkgs[i].Dev && dev
			continue
		}
		seen[id] = len(pkgs)
		pkg := mavenPackage(inventory.Gradle, parts[0], parts[1], parts[2], file)
		pkg.ID = id
		pkg.Dev = dev
		pkgs = append(pkgs, pkg)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// isTestConfiguration reports whether a Gradle configuration is for tests
// only: testRuntimeClasspath, androidTestCompileClasspath,
// integrationTestRuntimeClasspath, debugUnitTestRuntimeClasspath.
func isTestConfiguration(c string) bool {
	c = strings.TrimSpace(c)
	return strings.HasPrefix(c, "test") || strings.Contains(c, "Test")
}
