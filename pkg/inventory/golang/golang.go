// Package golang inventories Go modules: the build information the Go
// linker embeds in every module-aware binary, and go.mod files.
//
// NewBinary reads executables (ELF, Mach-O, PE): the main module when it
// has a released version (not "(devel)"), every dependency module as
// built (a replace directive's target, when it is a module; modules
// replaced by a local directory have no version and are left out) and the
// standard library as the module "stdlib", versioned the way the Go
// vulnerability database spells it ("go1.22.1" → "1.22.1", "go1.21rc2" →
// "1.21.0-rc.2"). Files that are not Go executables give no result and no
// error.
//
// NewMod reads go.mod: each required module (Direct unless marked
// "// indirect"), with replace directives applied the same way. The module
// itself is the project and is not a package.
package golang

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/package-url/packageurl-go"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// MaxModSize caps the go.mod files read.
const MaxModSize = 8 << 20

// minBinarySize skips files too small to hold a Go binary (the smallest
// stripped hello world is over 1 MB); it keeps Wants cheap on rootfs
// scans full of small scripts.
const minBinarySize = 64 << 10

// NewBinary returns the analyzer of Go executables.
func NewBinary() inventory.Analyzer { return binaryAnalyzer{} }

// NewMod returns the analyzer of go.mod files.
func NewMod() inventory.Analyzer { return modAnalyzer{} }

// Analyzers returns every analyzer of this package.
func Analyzers() []inventory.Analyzer { return []inventory.Analyzer{NewBinary(), NewMod()} }

type binaryAnalyzer struct{}

func (binaryAnalyzer) Name() string { return string(inventory.GoBinary) }

// Wants takes regular files with an execute bit, and .exe files and files
// without an extension in bin directories (Windows layers and archives
// do not always keep modes).
func (binaryAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return IsExecutable(p, info) && info.Size >= minBinarySize
}

// IsExecutable reports whether a file may be an executable by its path
// and mode alone.
func IsExecutable(p string, info inventory.FileInfo) bool {
	if !info.Mode.IsRegular() {
		return false
	}
	if info.Mode.Perm()&0o111 != 0 {
		return true
	}
	ext := path.Ext(p)
	if strings.EqualFold(ext, ".exe") {
		return true
	}
	dir := path.Base(path.Dir(p))
	return ext == "" && (dir == "bin" || dir == "sbin")
}

// HasExecutableMagic reports whether r starts like an ELF, Mach-O or PE file.
func HasExecutableMagic(r io.ReaderAt) bool {
	var m [4]byte
	if _, err := r.ReadAt(m[:], 0); err != nil {
		return false
	}
	switch {
	case bytes.Equal(m[:], []byte("\x7fELF")):
		return true
	case m[0] == 'M' && m[1] == 'Z':
		return true
	}
	switch string(m[:]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe", "\xca\xfe\xba\xbe":
		return true
	}
	return false
}

func (binaryAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if !HasExecutableMagic(f.ReaderAt) {
		return nil, nil
	}
	bi, err := buildinfo.Read(io.NewSectionReader(f.ReaderAt, 0, f.Size))
	if err != nil {
		// Most executables of a system are not Go programs; debug/buildinfo
		// says so only in the message.
		if strings.Contains(err.Error(), "not a Go executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("read Go build info: %w", err)
	}
	var pkgs []inventory.Package
	if v := bi.Main.Version; bi.Main.Path != "" && v != "" && v != "(devel)" {
		pkgs = append(pkgs, pkg(inventory.GoBinary, f.Path, bi.Main.Path, v))
	}
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		if m.Version == "" || m.Version == "(devel)" { // replaced by a local directory
			continue
		}
		pkgs = append(pkgs, pkg(inventory.GoBinary, f.Path, m.Path, m.Version))
	}
	if v, ok := StdlibVersion(bi.GoVersion); ok {
		pkgs = append(pkgs, pkg(inventory.GoBinary, f.Path, "stdlib", v))
	}
	return &inventory.Result{Packages: dedupe(pkgs)}, nil
}

var goVersionRE = regexp.MustCompile(`^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta)(\d+))?$`)

// StdlibVersion converts a Go toolchain version ("go1.22.1",
// "go1.21rc2 X:boringcrypto") to the semantic version the Go
// vulnerability database gives the standard library ("1.22.1",
// "1.21.0-rc.2"). Development toolchains ("devel ...") have none.
func StdlibVersion(goVersion string) (string, bool) {
	v, _, _ := strings.Cut(goVersion, " ") // drop " X:experiment,..."
	m := goVersionRE.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	minor, patch := m[2], m[3]
	if minor == "" {
		minor = "0"
	}
	if patch == "" {
		patch = "0"
	}
	s := m[1] + "." + minor + "." + patch
	if m[4] != "" {
		s += "-" + m[4] + "." + m[5]
	}
	return s, true
}

type modAnalyzer struct{}

func (modAnalyzer) Name() string { return string(inventory.GoMod) }

func (modAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return path.Base(p) == "go.mod"
}

func (modAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > MaxModSize {
		return nil, fmt.Errorf("%d bytes, over the %d-byte cap: %w", f.Size, MaxModSize, inventory.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(f.Reader(), MaxModSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxModSize {
		return nil, inventory.ErrTooLarge
	}
	mf, err := modfile.Parse(path.Base(f.Path), data, nil)
	if err != nil {
		return nil, err // "go.mod:3:1: unknown directive: ..."
	}
	var pkgs []inventory.Package
	for _, r := range mf.Require {
		mod := r.Mod
		if rep := replacement(mf.Replace, mod.Path, mod.Version); rep != nil {
			mod = *rep
		}
		if mod.Version == "" {
			continue // replaced by a local directory
		}
		p := pkg(inventory.GoMod, f.Path, mod.Path, mod.Version)
		p.Direct = !r.Indirect
		pkgs = append(pkgs, p)
	}
	return &inventory.Result{Packages: dedupe(pkgs)}, nil
}

// replacement finds the replace directive that applies to a module
// version: one for that exact version wins over one for all versions.
func replacement(reps []*modfile.Replace, modPath, version string) *module.Version {
	var best *modfile.Replace
	for _, r := range reps {
		if r.Old.Path != modPath {
			continue
		}
		if r.Old.Version == version {
			best = r
			break
		}
		if r.Old.Version == "" {
			best = r
		}
	}
	if best == nil {
		return nil
	}
	return &best.New
}

func pkg(typ inventory.Type, file, modPath, version string) inventory.Package {
	return inventory.Package{
		Type:      typ,
		Ecosystem: inventory.EcoGo,
		Name:      modPath,
		Version:   version,
		PURL:      PURL(modPath, version),
		Path:      file,
		ID:        modPath + "@" + version,
	}
}

// PURL is the package URL of a Go module: pkg:golang/github.com/pkg/errors@v0.9.1.
func PURL(modPath, version string) string {
	ns, name := "", modPath
	if i := strings.LastIndexByte(modPath, '/'); i >= 0 {
		ns, name = modPath[:i], modPath[i+1:]
	}
	return packageurl.NewPackageURL(packageurl.TypeGolang, ns, name, version, nil, "").ToString()
}

// dedupe drops repeated module versions (two requirements replaced by
// the same module) and sorts by name and version.
func dedupe(pkgs []inventory.Package) []inventory.Package {
	slices.SortStableFunc(pkgs, func(a, b inventory.Package) int {
		return strings.Compare(a.ID, b.ID)
	})
	out := pkgs[:0]
	for _, p := range pkgs {
		if n := len(out); n > 0 && out[n-1].ID == p.ID {
			out[n-1].Direct = out[n-1].Direct || p.Direct
			continue
		}
		out = append(out, p)
	}
	return out
}
