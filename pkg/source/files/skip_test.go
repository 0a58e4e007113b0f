package files

import (
	"bytes"
	"strings"
	"testing"
)

func TestIsLockFile(t *testing.T) {
	tests := map[string]bool{
		"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true,
		"go.sum": true, "Cargo.lock": true, "poetry.lock": true, "Pipfile.lock": true, "uv.lock": true,
		"Gemfile.lock": true, "composer.lock": true, "packages.lock.json": true, "gradle.lockfile": true,
		"web/app/yarn.lock": true, ".terraform.lock.hcl": true,
		// manifests and look-alikes hold what people type: read
		"package.json": false, "go.mod": false, "Pipfile": false, "Gemfile": false, "my.lock": false,
		"yarn.lock.orig": false, "cargo.lock": false, "lock": false, "": false, "yarn.lock/x": false,
	}
	for name, want := range tests {
		if got := IsLockFile(name); got != want {
			t.Errorf("IsLockFile(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsVendorDir(t *testing.T) {
	tests := map[string]bool{
		"vendor": true, "node_modules": true, "bower_components": true, ".venv": true, "site-packages": true,
		"__pycache__": true, ".git": true, ".hg": true, ".svn": true, "a/b/node_modules": true,
		"third_party": false, ".terraform": false, "venv": false, "Vendor": false, "vendors": false, "src": false,
	}
	for name, want := range tests {
		if got := IsVendorDir(name); got != want {
			t.Errorf("IsVendorDir(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsBinaryName(t *testing.T) {
	tests := map[string]bool{
		"logo.png": true, "LOGO.PNG": true, "a.jpg": true, "x.tar.gz": true, "a.tgz": true, "lib.so": true,
		"app.exe": true, "A.class": true, "font.woff2": true, "doc.pdf": true, "v.mp4": true, "x.jar": true,
		// key stores are what a secret scan looks for; text formats are read
		"id.p12": false, "store.jks": false, "cert.der": false, "key.pem": false, "icon.svg": false,
		"main.go": false, "Makefile": false, ".png": false, "png": false, "a.png.txt": false, "": false,
	}
	for name, want := range tests {
		if got := IsBinaryName(name); got != want {
			t.Errorf("IsBinaryName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsBinary(t *testing.T) {
	latin1 := []byte("caf\xe9 cr\xe8me br\xfbl\xe9e, " + strings.Repeat("plain text ", 10))
	cut := append([]byte(strings.Repeat("x", 100)), "€"[:2]...) // a character cut off at the end
	tests := []struct {
		name string
		head []byte
		want bool
	}{
		{"empty", nil, false},
		{"ascii", []byte("password = hunter2\n"), false},
		{"utf8", []byte("Schlüssel = 秘密 🔑\n"), false},
		{"tabs and ANSI colours", []byte("\x1b[31mred\x1b[0m\tx\r\n\f\v"), false},
		{"latin-1", latin1, false},
		{"cut-off character", cut, false},
		{"NUL", []byte("text\x00more"), true},
		{"utf-16", []byte("\xff\xfea\x00b\x00"), true},
		{"PNG header", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), true},
		{"random high bytes", bytes.Repeat([]byte{0x80, 0xff, 0xc3}, 50), true},
		{"control characters", bytes.Repeat([]byte{1, 2, 3, 'a'}, 20), true},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03}, true},
	}
	for _, tt := range tests {
		if got := IsBinary(tt.head); got != tt.want {
			t.Errorf("%s: IsBinary(%q) = %v, want %v", tt.name, tt.head, got, tt.want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, rel string
		want         bool
	}{
		{"*.md", "README.md", true},
		{"*.md", "docs/a/x.md", true}, // by base name
		{"docs", "docs", true},
		{"docs", "a/docs", true},
		{"docs/*.md", "docs/x.md", true},
		{"docs/*.md", "docs/a/x.md", false},
		{"docs/*.md", "a/docs/x.md", false},
		{"docs/**/*.md", "docs/x.md", true},
		{"docs/**/*.md", "docs/a/b/x.md", true},
		{"**/testdata", "a/b/testdata", true},
		{"**/testdata", "testdata", true},
		{"a/**", "a/b/c", true},
		{"a/**", "b/a/c", false},
		{"**", "x/y", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"[ab]/x", "b/x", true},
		{"/abs/x", "abs/x", true},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pattern)
		if err != nil {
			t.Fatalf("compileGlob(%q): %v", tt.pattern, err)
		}
		if got := g.match(tt.rel); got != tt.want {
			t.Errorf("glob %q match %q = %v, want %v", tt.pattern, tt.rel, got, tt.want)
		}
	}
	for _, bad := range []string{"[", "a/[x", "x/\\"} {
		if _, err := compileGlob(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("compileGlob(%q) = %v, want an error naming it", bad, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 10 << 20: "10 MiB", 5 << 30: "5 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
