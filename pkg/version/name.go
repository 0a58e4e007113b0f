package version

import "strings"

// Name normalises a package name for matching within ecosystem: PyPI
// names as PEP 503 does (lower case, runs of '-', '_', '.' become '-'),
// NuGet and Packagist names in lower case (both registries treat names
// case-insensitively, while OSV records keep the publisher's spelling).
// Other ecosystems' names are compared exactly.
func Name(ecosystem, name string) string {
	switch Base(ecosystem) {
	case "PyPI":
		var b strings.Builder
		b.Grow(len(name))
		sep := false
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c == '-' || c == '_' || c == '.' {
				sep = true
				continue
			}
			if sep {
				b.WriteByte('-')
				sep = false
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		if sep {
			b.WriteByte('-')
		}
		return b.String()
	case "NuGet", "Packagist":
		return strings.ToLower(name)
	}
	return name
}
