package ruby

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Gemspec is the type of packages read from installed gem specifications.
const Gemspec inventory.Type = "gemspec"

const maxGemspec = 1 << 20

var (
	specName     = regexp.MustCompile(`(?m)^\s*\w+\.name\s*=\s*["']([^"'\n]+)["']`)
	specVersion  = regexp.MustCompile(`(?m)^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?["']([^"'\n]+)["']`)
	specLicenses = regexp.MustCompile(`(?m)^\s*\w+\.licenses?\s*=\s*(.*)$`)
	quoted       = regexp.MustCompile(`["']([^"'\n]*)["']`)
)

type gemspecAnalyzer struct{}

// NewGemspec returns the analyzer of installed gem specifications, the
// specifications/*.gemspec files (and specifications/default/ for the
// gems bundled with Ruby) RubyGems writes when it installs a gem. These
// are Ruby code that RubyGems generates in one fixed shape; the analyzer
// reads s.name, s.version and s.license(s) with regular expressions and
// does not evaluate Ruby, so a hand-written gemspec that computes its
// version is an error, not a guess. Gemspecs outside a specifications
// directory (a gem's source tree) are not read.
func NewGemspec() inventory.Analyzer { return gemspecAnalyzer{} }

func (gemspecAnalyzer) Name() string { return string(Gemspec) }

func (gemspecAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && strings.HasSuffix(p, ".gemspec") &&
		(strings.Contains(p, "/specifications/") || strings.HasPrefix(p, "specifications/"))
}

func (gemspecAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxGemspec {
		return nil, fmt.Errorf("%d bytes, over %d: %w", f.Size, maxGemspec, inventory.ErrTooLarge)
	}
	b := make([]byte, f.Size)
	if _, err := io.ReadFull(f.Reader(), b); err != nil {
		return nil, err
	}
	p, err := parseGemspec(b, f.Path)
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: []inventory.Package{p}}, nil
}

func parseGemspec(b []byte, file string) (inventory.Package, error) {
	name := specName.FindSubmatch(b)
	version := specVersion.FindSubmatch(b)
	if name == nil || version == nil {
		return inventory.Package{}, fmt.Errorf("no literal s.name and s.version: not a gem specification as RubyGems installs it")
	}
	p := gemPackage(Gemspec, string(name[1]), string(version[1]), file)
	p.ID = "" // installed gems record no graph
	if l := specLicenses.FindSubmatch(b); l != nil {
		for _, m := range quoted.FindAllSubmatch(l[1], -1) {
			if s := strings.TrimSpace(string(m[1])); s != "" {
				p.Licenses = append(p.Licenses, s)
			}
		}
	}
	return p, nil
}
