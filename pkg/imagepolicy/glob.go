package imagepolicy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// imageRef is an image reference as written and in its normalised forms.
type imageRef struct {
	written string
	repo    name.Repository
	tag     string // explicit or the implied "latest"; "" when only a digest is written
	digest  string // "" when not written
}

// parseRef parses a reference the way the container runtime does: a bare
// "nginx" is index.docker.io/library/nginx:latest, and a reference with
// both a tag and a digest ("x:1.0@sha256:…") means the digest.
func parseRef(s string) (imageRef, error) {
	r := imageRef{written: s}
	base := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		d, err := name.NewDigest(s, name.WeakValidation)
		if err != nil {
			return r, err
		}
		r.digest = d.DigestStr()
		base = s[:i]
	}
	if last := base[strings.LastIndexByte(base, '/')+1:]; strings.Contains(last, ":") {
		t, err := name.NewTag(base, name.WeakValidation)
		if err != nil {
			return r, err
		}
		r.repo, r.tag = t.Context(), t.TagStr()
		return r, nil
	}
	repo, err := name.NewRepository(base, name.WeakValidation)
	if err != nil {
		return r, err
	}
	r.repo = repo
	if r.digest == "" {
		r.tag = "latest"
	}
	return r, nil
}

// repoName is registry/repository with the registry as the runtime
// reaches it: host names are case-insensitive, a trailing dot and the
// default HTTPS port name the same registry.
func (r imageRef) repoName() string {
	return normHost(r.repo.RegistryStr()) + "/" + r.repo.RepositoryStr()
}

// normHost lower-cases a registry host and drops a trailing dot and the
// default port, so that a pattern cannot be dodged by spelling the host
// another way.
func normHost(h string) string {
	h = strings.ToLower(h)
	if host, port, ok := strings.Cut(h, ":"); ok && port == "443" {
		h = host
	}
	if host, port, ok := strings.Cut(h, ":"); ok {
		return strings.TrimSuffix(host, ".") + ":" + port
	}
	return strings.TrimSuffix(h, ".")
}

// normalised is registry/repo[:tag][@digest].
func (r imageRef) normalised() string {
	s := r.repoName()
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

// forms are what globs are matched against: the whole normalised
// reference and its shorter forms, so that a pattern naming a repository
// matches every tag and digest of it.
func (r imageRef) forms() []string {
	repo := r.repoName()
	f := []string{r.normalised()}
	if r.tag != "" && r.digest != "" {
		f = append(f, repo+":"+r.tag, repo+"@"+r.digest)
	}
	if r.tag != "" || r.digest != "" {
		f = append(f, repo)
	}
	return f
}

// excludeForms are the forms an exclusion is matched against: with a
// digest written, the tag says nothing about what runs, so "x:debug"
// does not exclude "x:debug@sha256:…".
func (r imageRef) excludeForms() []string {
	if r.digest == "" {
		return r.forms()
	}
	repo := r.repoName()
	return []string{r.normalised(), repo + "@" + r.digest, repo}
}

// glob is a compiled image pattern: '*' matches within a path segment,
// '**' across segments, '?' one character other than '/'.
type glob struct {
	pattern string
	re      *regexp.Regexp
}

// globChars are those allowed in a pattern: a reference's and the
// wildcards.
var globChars = regexp.MustCompile(`^[A-Za-z0-9._\-/:@*?]+$`)

// compileGlob normalises the pattern's registry like a reference's (a
// pattern without a registry names Docker Hub, "docker.io" is
// index.docker.io) and compiles it.
func compileGlob(pattern string) (*glob, error) {
	switch {
	case pattern == "":
		return nil, errors.New("empty pattern")
	case !globChars.MatchString(pattern):
		return nil, fmt.Errorf("pattern %q: want a reference with '*', '**' or '?' (letters, digits and . _ - / : @ only)", pattern)
	case strings.Contains(pattern, "***"):
		return nil, fmt.Errorf("pattern %q: '***' is not a wildcard (use '*' within a segment, '**' across)", pattern)
	case pattern == "*":
		return nil, errors.New(`pattern "*" matches no reference (every one has a registry and a repository): use "**" for every image`)
	case strings.Count(pattern, "@") > 1:
		return nil, fmt.Errorf("pattern %q: more than one '@'", pattern)
	}
	norm := normalisePattern(pattern)
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(norm); i++ {
		switch c := norm[i]; {
		case c == '*' && i+1 < len(norm) && norm[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return &glob{pattern: pattern, re: re}, nil
}

// normalisePattern adds what a reference without a registry implies. A
// first segment with a wildcard is left alone: it may stand for any
// registry.
func normalisePattern(p string) string {
	first, rest, hasSlash := strings.Cut(p, "/")
	if strings.ContainsAny(first, "*?") {
		return p
	}
	if !hasSlash || !looksLikeRegistry(first) {
		if !hasSlash {
			return name.DefaultRegistry + "/library/" + p
		}
		return name.DefaultRegistry + "/" + p
	}
	first = normHost(first)
	if first == "docker.io" || first == name.DefaultRegistry {
		// Official images live under library/, as the runtime reads them.
		if !strings.Contains(rest, "/") && !strings.ContainsAny(rest, "*?") {
			rest = "library/" + rest
		}
		return name.DefaultRegistry + "/" + rest
	}
	return first + "/" + rest
}

// looksLikeRegistry is Docker's rule for the first path component.
func looksLikeRegistry(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

func (g *glob) match(forms []string) bool {
	for _, f := range forms {
		if g.re.MatchString(f) {
			return true
		}
	}
	return false
}

// registryGlob matches a registry host ("registry.example.com",
// "*.example.com", "localhost:5000").
type registryGlob struct {
	pattern string
	re      *regexp.Regexp
}

var registryChars = regexp.MustCompile(`^[A-Za-z0-9.\-:*\[\]]+$`)

func compileRegistry(pattern string) (*registryGlob, error) {
	if pattern == "" || !registryChars.MatchString(pattern) || strings.Contains(pattern, "**") {
		return nil, fmt.Errorf("registry %q: want a host[:port], optionally with '*' (no path)", pattern)
	}
	if pattern == "docker.io" {
		pattern = name.DefaultRegistry
	}
	expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(normHost(pattern)), `\*`, `[^.:]*`) + "$"
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w", pattern, err)
	}
	return &registryGlob{pattern: pattern, re: re}, nil
}

func (g *registryGlob) match(registry string) bool {
	return g.re.MatchString(normHost(registry))
}
