package version

import (
	"strings"

	pep440 "github.com/aquasecurity/go-pep440-version"
)

// pep440Version wraps aquasecurity/go-pep440-version, a port of
// pypa/packaging's Version, which orders every PEP 440 example right but
// does not normalise local-version separators itself.
type pep440Version struct{ v pep440.Version }

func parsePEP440(s string) (parsed, string) {
	// PEP 440: "-" and "_" in a local version are "."; case is ignored.
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i+1] + strings.ToLower(strings.NewReplacer("-", ".", "_", ".").Replace(s[i+1:]))
	}
	v, err := pep440.Parse(s)
	if err != nil {
		return nil, err.Error()
	}
	return pep440Version{v}, ""
}

func (v pep440Version) compare(o parsed) int { return v.v.Compare(o.(pep440Version).v) }
