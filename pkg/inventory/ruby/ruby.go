// Package ruby inventories Ruby gems: the gems a Gemfile.lock resolves and
// the gems installed in an image (specifications/*.gemspec).
package ruby

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/package-url/packageurl-go"
)

const maxLock = 16 << 20

func gemPackage(typ inventory.Type, name, version, file string) inventory.Package {
	return inventory.Package{
		Type:      typ,
		Ecosystem: inventory.EcoRubyGems,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeGem, "", name, version, nil, "").ToString(),
		Path:      file,
		ID:        name + "@" + version,
	}
}

type lockAnalyzer struct{}

// NewGemfileLock returns the analyzer of Bundler's Gemfile.lock. Every
// spec of the GEM, GIT, PATH and PLUGIN SOURCE sections is a package;
// platform variants ("nokogiri (1.15.4-x86_64-linux)") are one package at
// the version without the platform. DependsOn comes from the specs'
// dependency lines, Direct from DEPENDENCIES. Bundler records no groups,
// so nothing is marked Dev.
func NewGemfileLock() inventory.Analyzer { return lockAnalyzer{} }

func (lockAnalyzer) Name() string { return string(inventory.Bundler) }

func (lockAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	if !info.Mode.IsRegular() {
		return false
	}
	b := path.Base(p)
	return b == "Gemfile.lock" || b == "gems.locked"
}

func (lockAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxLock {
		return nil, fmt.Errorf("%d bytes, over %d: %w", f.Size, maxLock, inventory.ErrTooLarge)
	}
	pkgs, err := parseGemfileLock(f.Reader(), f.Path)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, nil
}

type lockSpec struct {
	name, version string
	deps          []string
}

// parseGemfileLock reads the lock file the way Bundler's LockfileParser
// does: sections start in column 0; in a source section two spaces indent
// its attributes, four a spec, six a spec's dependency.
func parseGemfileLock(r io.Reader, file string) ([]inventory.Package, error) {
	var (
		specs   []*lockSpec
		byName  = map[string]*lockSpec{}
		direct  = map[string]bool{}
		section string
		cur     *lockSpec
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent == 0 {
			section, cur = line, nil
			continue
		}
		text := line[indent:]
		switch section {
		case "GEM", "GIT", "PATH", "PLUGIN SOURCE":
			switch indent {
			case 2: // remote:, revision:, specs:
				if !strings.HasSuffix(text, ":") && !strings.Contains(text, ": ") {
					return nil, fmt.Errorf("line %d: want an attribute (\"remote: …\") in %s, got %q", n, section, clip(text))
				}
				cur = nil
			case 4:
				name, version, platform, ok := nameVersion(text)
				if !ok || version == "" {
					return nil, fmt.Errorf("line %d: want \"name (version)\", got %q", n, clip(text))
				}
				_ = platform // one package for all platform builds of a version
				if s, dup := byName[name]; dup && s.version == version {
					cur = s
					continue
				}
				cur = &lockSpec{name: name, version: version}
				specs = append(specs, cur)
				byName[name] = cur
			case 6:
				name, _, _, ok := nameVersion(text)
				if !ok || cur == nil {
					return nil, fmt.Errorf("line %d: dependency %q outside a spec", n, clip(text))
				}
				if !slices.Contains(cur.deps, name) {
					cur.deps = append(cur.deps, name)
				}
			default:
				return nil, fmt.Errorf("line %d: unexpected indentation of %d spaces in %s", n, indent, section)
			}
		case "DEPENDENCIES":
			name, _, _, ok := nameVersion(strings.TrimSuffix(text, "!"))
			if !ok || indent != 2 {
				return nil, fmt.Errorf("line %d: want a dependency name, got %q", n, clip(text))
			}
			direct[name] = true
		}
		// PLATFORMS, RUBY VERSION, BUNDLED WITH, CHECKSUMS: nothing to inventory.
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	pkgs := make([]inventory.Package, 0, len(specs))
	for _, s := range specs {
		p := gemPackage(inventory.Bundler, s.name, s.version, file)
		p.Direct = direct[s.name]
		for _, d := range s.deps {
			// A dependency Bundler did not resolve for any platform of
			// this lock (a platform-only gem) has no spec: no edge.
			if t := byName[d]; t != nil {
				p.DependsOn = append(p.DependsOn, t.name+"@"+t.version)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// nameVersion splits "name (version-platform)" as Bundler's NAME_VERSION
// pattern does: the version ends at the first "-".
func nameVersion(s string) (name, version, platform string, ok bool) {
	name, rest, paren := strings.Cut(s, " (")
	if name == "" || strings.ContainsAny(name, " ()") {
		return "", "", "", false
	}
	if !paren {
		return name, "", "", true
	}
	rest, ok = strings.CutSuffix(rest, ")")
	if !ok || rest == "" {
		return "", "", "", false
	}
	version, platform, _ = strings.Cut(rest, "-")
	return name, version, platform, true
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
