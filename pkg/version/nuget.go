package version

import (
	"strconv"
	"strings"
)

// nugetVersion is a NuGetVersion: SemVer 2.0 with an optional fourth
// (revision) number, release labels compared case-insensitively, build
// metadata ignored (NuGet.Versioning's VersionComparer.Default). Our own:
// no Go library implements NuGet's ordering.
type nugetVersion struct {
	nums   [4]int64
	labels []string
}

// parseNuGet follows NuGetVersion.TryParse: 1 to 4 non-negative numbers
// (each an Int32, leading zeros allowed), then -release and +metadata.
func parseNuGet(s string) (parsed, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "empty version"
	}
	var v nugetVersion
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if reason := semVerIdents(s[i+1:], false); reason != "" {
			return nil, "metadata: " + reason
		}
		s = s[:i]
	}
	core := s
	if i := strings.IndexByte(s, '-'); i >= 0 {
		core = s[:i]
		pre := s[i+1:]
		for _, id := range strings.Split(pre, ".") {
			if id == "" {
				return nil, "empty release label"
			}
			for j := 0; j < len(id); j++ {
				if !isAlnum(id[j]) && id[j] != '-' {
					return nil, "invalid character in release label " + quote(id)
				}
			}
		}
		v.labels = strings.Split(pre, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) > 4 {
		return nil, "more than four version numbers"
	}
	for i, p := range parts {
		if !allDigits(p) {
			return nil, "version part " + quote(p) + " is not a number"
		}
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, "version part " + quote(p) + " is too big"
		}
		v.nums[i] = n
	}
	return v, ""
}

func (v nugetVersion) compare(o parsed) int {
	w := o.(nugetVersion)
	for i := range v.nums {
		if c := cmpInt(v.nums[i], w.nums[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.labels) == 0 && len(w.labels) == 0:
		return 0
	case len(v.labels) == 0:
		return 1
	case len(w.labels) == 0:
		return -1
	}
	for i := 0; i < len(v.labels) && i < len(w.labels); i++ {
		if c := nugetLabel(v.labels[i], w.labels[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(v.labels), len(w.labels))
}

// nugetLabel is VersionComparer.CompareRelease for one label: numbers
// numerically and before text, text by OrdinalIgnoreCase (ASCII upper).
func nugetLabel(a, b string) int {
	an, bn := allDigits(a), allDigits(b)
	switch {
	case an && bn:
		return cmpDigits(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(strings.ToUpper(a), strings.ToUpper(b))
}
