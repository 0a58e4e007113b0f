package imagepolicy

import "testing"

// TestExcludeByTagKeepsDigests: with a digest written, the digest runs,
// so a tag in an exclusion does not exempt it.
func TestExcludeByTagKeepsDigests(t *testing.T) {
	const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	inc, _ := compileGlob("registry.example.com/team/**")
	exc, _ := compileGlob("registry.example.com/team/app:debug")
	p := &Policy{images: []*glob{inc}, exclude: []*glob{exc}}
	for image, want := range map[string]bool{
		"registry.example.com/team/app:debug":            false,
		"registry.example.com/team/app:debug@" + dig:     true,
		"registry.example.com/team/app:1.0":              true,
		"REGISTRY.example.com:443/team/app:debug@" + dig: true,
	} {
		if got := p.Matches(image); got != want {
			t.Errorf("%s: matched %v, want %v", image, got, want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		pattern, image string
		want           bool
	}{
		// '*' within a segment, tags and digests included.
		{"registry.example.com/team/*", "registry.example.com/team/app", true},
		{"registry.example.com/team/*", "registry.example.com/team/app:1.0", true},
		{"registry.example.com/team/*", "registry.example.com/team/app@" + dig, true},
		{"registry.example.com/team/*", "registry.example.com/team/app:1.0@" + dig, true},
		{"registry.example.com/team/*", "registry.example.com/team/sub/app:1.0", false},
		{"registry.example.com/team/*", "registry.example.com/other/app", false},
		{"registry.example.com/team/*", "registry.example.com/teamx/app", false},
		// '**' across segments.
		{"registry.example.com/**", "registry.example.com/team/sub/app:1.0", true},
		{"registry.example.com/**", "registry.example.com.evil.io/team/app", false},
		{"**", "nginx", true},
		{"**/app", "registry.example.com/team/app:2", true},
		{"*.example.com/**", "registry.example.com/team/app", true},
		{"*.example.com/**", "example.com/team/app", false},
		// A pattern naming a repository matches all its tags and digests.
		{"registry.example.com/team/app", "registry.example.com/team/app:1.0", true},
		{"registry.example.com/team/app", "registry.example.com/team/app@" + dig, true},
		{"registry.example.com/team/app", "registry.example.com/team/app2", false},
		// Tags and digests in patterns.
		{"registry.example.com/team/app:1.*", "registry.example.com/team/app:1.4", true},
		{"registry.example.com/team/app:1.*", "registry.example.com/team/app:2.0", false},
		{"registry.example.com/team/app:1.*", "registry.example.com/team/app:1.4@" + dig, true},
		{"registry.example.com/team/app:1.*", "registry.example.com/team/app@" + dig, false},
		{"registry.example.com/team/app@" + dig, "registry.example.com/team/app:1.0@" + dig, true},
		{"registry.example.com/team/app:?", "registry.example.com/team/app:1", true},
		{"registry.example.com/team/app:?", "registry.example.com/team/app:10", false},
		// Docker Hub normalisation, of images and of patterns.
		{"nginx", "nginx", true},
		{"nginx", "docker.io/library/nginx:1.25", true},
		{"nginx", "index.docker.io/library/nginx@" + dig, true},
		{"index.docker.io/library/nginx:latest", "nginx", true},
		{"docker.io/library/*", "nginx:1.25", true},
		{"library/*", "redis", true},
		{"bitnami/*", "bitnami/redis:7", true},
		{"bitnami/*", "redis", false},
		{"nginx", "registry.example.com/nginx", false},
		{"localhost/app", "localhost/app:1", true},
		{"localhost:5000/*", "localhost:5000/app", true},
		// A host spelt another way is the same registry (review finding:
		// these skipped signature policies).
		{"registry.example.com/team/**", "REGISTRY.EXAMPLE.COM/team/app:1", true},
		{"registry.example.com/team/**", "registry.example.com:443/team/app:1", true},
		{"registry.example.com/team/**", "registry.example.com./team/app:1", true},
		{"Registry.Example.com:443/team/**", "registry.example.com/team/app:1", true},
		{"registry.example.com/team/**", "registry.example.com:5000/team/app:1", false},
		{"docker.io/nginx", "nginx", true},
		{"docker.io/nginx", "docker.io/library/nginx:1", true},
		// Regexp characters are literal.
		{"registry.example.com/team/a.p", "registry.example.com/team/axp", false},
		{"registry.example.com/team/a.p", "registry.example.com/team/a.p", true},
	} {
		g, err := compileGlob(tc.pattern)
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		r, err := parseRef(tc.image)
		if err != nil {
			t.Errorf("%s: %v", tc.image, err)
			continue
		}
		if got := g.match(r.forms()); got != tc.want {
			t.Errorf("%q matches %q (forms %q): %v, want %v", tc.pattern, tc.image, r.forms(), got, tc.want)
		}
	}
}

func TestParseRef(t *testing.T) {
	const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, want string }{
		{"nginx", "index.docker.io/library/nginx:latest"},
		{"docker.io/bitnami/redis:7", "index.docker.io/bitnami/redis:7"},
		{"registry.example.com:5000/team/app", "registry.example.com:5000/team/app:latest"},
		{"registry.example.com/team/app@" + dig, "registry.example.com/team/app@" + dig},
		{"x:1.0@" + dig, "index.docker.io/library/x:1.0@" + dig},
	} {
		r, err := parseRef(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := r.normalised(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a@sha256:short", "registry.example.com/app:tag:tag"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestRegistryGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, registry string
		want              bool
	}{
		{"registry.example.com", "registry.example.com", true},
		{"registry.example.com", "Registry.Example.com", true},
		{"registry.example.com", "registry.example.com:5000", false},
		{"*.example.com", "registry.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"docker.io", "index.docker.io", true},
		{"localhost:*", "localhost:5000", true},
	} {
		g, err := compileRegistry(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.match(tc.registry); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.registry, got, tc.want)
		}
	}
}
