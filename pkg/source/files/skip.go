package files

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// lockFiles are dependency lock files: they hold names, versions, download
// URLs and integrity hashes, nothing a person types in. Their hashes look
// like high-entropy secrets, so reading them only gives false positives.
// A credential in a registry URL comes from a manifest or a config file
// (Pipfile, pyproject.toml, .npmrc, Gemfile, auth.json), which are read.
// Names are exact: "*.lock" would also skip files that are not lock files.
var lockFiles = map[string]bool{
	"package-lock.json":   true, // npm
	"npm-shrinkwrap.json": true, // npm
	"yarn.lock":           true, // Yarn
	"pnpm-lock.yaml":      true, // pnpm
	"bun.lock":            true, // Bun (text)
	"bun.lockb":           true, // Bun (binary)
	"deno.lock":           true, // Deno
	"go.sum":              true, // Go
	"go.work.sum":         true, // Go workspaces
	"Cargo.lock":          true, // Rust
	"poetry.lock":         true, // Poetry
	"Pipfile.lock":        true, // Pipenv
	"uv.lock":             true, // uv
	"pdm.lock":            true, // PDM
	"Gemfile.lock":        true, // Bundler (strips credentials from source URLs)
	"composer.lock":       true, // Composer
	"packages.lock.json":  true, // NuGet
	"gradle.lockfile":     true, // Gradle
	"Package.resolved":    true, // SwiftPM
	"Podfile.lock":        true, // CocoaPods
	"mix.lock":            true, // Elixir
	"pubspec.lock":        true, // Dart
	"flake.lock":          true, // Nix
	".terraform.lock.hcl": true, // Terraform provider hashes
}

// IsLockFile reports whether name (a base name, or a slash path whose last
// element is taken) is a dependency lock file, which holds only names,
// versions, URLs and hashes. The names are exact and case-sensitive.
func IsLockFile(name string) bool {
	return lockFiles[path.Base(name)]
}

// vendorDirs are trees of other people's code or of version-control
// metadata. Deliberately not listed: third_party (often holds first-party
// forks and configuration), .terraform (its terraform.tfstate can hold
// backend credentials), "venv" and "env" (common names for other things:
// Walk skips a virtualenv by its pyvenv.cfg instead, whatever its name).
var vendorDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".bzr": true, // version control
	"node_modules": true, "bower_components": true, "jspm_packages": true, // JavaScript
	"vendor":        true, // Go modules, PHP Composer, Ruby Bundler
	".venv":         true, // Python virtualenv (also found by pyvenv.cfg)
	"site-packages": true, // installed Python packages
	"dist-packages": true, // Debian's installed Python packages
	"__pycache__":   true, // Python bytecode
	".tox":          true, // tox environments
}

// IsVendorDir reports whether a directory with this base name holds
// vendored dependencies or version-control metadata. It is about
// directories only: a file named "vendor" is an ordinary file.
func IsVendorDir(name string) bool {
	return vendorDirs[path.Base(name)]
}

// binaryExts are extensions of formats that are binary or compressed, in
// which a secret is not readable as text. Key stores (.p12, .pfx, .jks,
// .keystore, .der, .kdbx) are binary too but are deliberately not listed:
// they are themselves what a secret scan looks for.
var binaryExts = map[string]bool{
	// images
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true, ".ico": true,
	".icns": true, ".webp": true, ".tif": true, ".tiff": true, ".psd": true, ".heic": true, ".avif": true,
	// fonts
	".woff": true, ".woff2": true, ".ttf": true, ".otf": true, ".eot": true,
	// audio and video
	".mp3": true, ".mp4": true, ".m4a": true, ".wav": true, ".ogg": true, ".flac": true,
	".avi": true, ".mov": true, ".mkv": true, ".webm": true,
	// archives and packages
	".zip": true, ".gz": true, ".tgz": true, ".bz2": true, ".xz": true, ".zst": true, ".7z": true,
	".rar": true, ".tar": true, ".jar": true, ".war": true, ".ear": true, ".aar": true, ".apk": true,
	".whl": true, ".nupkg": true, ".deb": true, ".rpm": true,
	// compiled code
	".class": true, ".so": true, ".dll": true, ".exe": true, ".dylib": true, ".o": true, ".a": true,
	".obj": true, ".lib": true, ".pyc": true, ".pyo": true, ".wasm": true,
	// documents (compressed containers)
	".pdf": true, ".docx": true, ".xlsx": true, ".pptx": true, ".odt": true, ".ods": true,
}

// IsBinaryName reports whether a file's extension (case-insensitive) marks
// a binary or compressed format, which Walk skips without reading. A
// dotfile such as ".so" has no extension.
func IsBinaryName(name string) bool {
	base := path.Base(name)
	ext := path.Ext(base)
	if len(ext) < 2 || len(ext) > 7 || len(ext) == len(base) {
		return false
	}
	return binaryExts[strings.ToLower(ext)]
}

// IsBinary reports whether content, given its first bytes (8 KiB is
// enough), is binary: it holds a NUL byte, as git and grep decide, or more
// than one byte in ten is neither UTF-8 text nor a usual control character
// (tab, newline, carriage return, form feed, vertical tab, escape). Text
// in Latin-1 or another legacy encoding has few such bytes and stays text;
// UTF-16 text has NULs and counts as binary. A multi-byte character cut
// off at the end of head does not count against it.
func IsBinary(head []byte) bool {
	odd := 0
	for i := 0; i < len(head); {
		c := head[i]
		if c == 0 {
			return true
		}
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b || c == 0x7f {
				odd++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && n == 1 {
			if !utf8.FullRune(head[i:]) {
				break // cut off at the end of head
			}
			odd++
		}
		i += n
	}
	return odd*10 > len(head)
}

// Skip is compiled Options.Skip globs, for paths that come from elsewhere
// than a walk (a repository's history) and must be left out the same way.
type Skip []glob

// CompileSkip compiles Options.Skip globs; a malformed one is an error
// naming it.
func CompileSkip(patterns []string) (Skip, error) {
	var s Skip
	for _, p := range patterns {
		g, err := compileGlob(p)
		if err != nil {
			return nil, err
		}
		s = append(s, g)
	}
	return s, nil
}

// match reports whether a glob matches the slash path rel or its base
// name, as Walk tests each file and directory.
func (s Skip) match(rel string) bool {
	for i := range s {
		if s[i].match(rel) {
			return true
		}
	}
	return false
}

// Skips reports whether Walk would leave out the file at the slash path
// rel: a glob matches it or a directory it is in.
func (s Skip) Skips(rel string) bool {
	if len(s) == 0 {
		return false
	}
	for dir := rel; ; {
		if s.match(dir) {
			return true
		}
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			return false
		}
		dir = dir[:i]
	}
}

// glob is a compiled Options.Skip pattern.
type glob struct {
	raw  string
	segs []string // "**" segments match any number of path elements
}

func compileGlob(p string) (glob, error) {
	g := glob{raw: p, segs: strings.Split(strings.Trim(p, "/"), "/")}
	for _, s := range g.segs {
		if _, err := path.Match(s, ""); err != nil {
			return glob{}, fmt.Errorf("skip pattern %q: %w", p, err)
		}
	}
	return g, nil
}

// match reports whether the glob matches the slash path rel or its base
// name.
func (g *glob) match(rel string) bool {
	if matchSegs(g.segs, rel, false) {
		return true
	}
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return matchSegs(g.segs, rel[i+1:], false)
	}
	return false
}

// matchSegs matches pattern elements against the elements of the slash
// path rel; end says no element is left.
func matchSegs(segs []string, rel string, end bool) bool {
	if len(segs) == 0 {
		return end
	}
	if segs[0] == "**" {
		for {
			if matchSegs(segs[1:], rel, end) {
				return true
			}
			if end {
				return false
			}
			if i := strings.IndexByte(rel, '/'); i >= 0 {
				rel = rel[i+1:]
			} else {
				rel, end = "", true
			}
		}
	}
	if end {
		return false
	}
	elem, more, last := rel, "", true
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		elem, more, last = rel[:i], rel[i+1:], false
	}
	if ok, _ := path.Match(segs[0], elem); !ok {
		return false
	}
	return matchSegs(segs[1:], more, last)
}
