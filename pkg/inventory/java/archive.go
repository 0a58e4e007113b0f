package java

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Limits of the archive analyzer.
const (
	maxMeta   = 1 << 20 // pom.properties, pom.xml, MANIFEST.MF
	maxMem    = 64 << 20
	maxNested = 1 << 30
	maxTotal  = 4 << 30 // bytes decompressed for one outer archive
	maxDepth  = 4       // archives inside archives inside …
)

// archiveExts are the zip-based Java archives: jar, web and enterprise
// archives, JBoss par/sar, Jenkins plugins.
var archiveExts = [...]string{".jar", ".war", ".ear", ".par", ".sar", ".jpi", ".hpi"}

func isArchive(name string) bool {
	if len(name) < 4 {
		return false
	}
	ext := name[len(name)-4:]
	for _, e := range archiveExts {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}

type archiveAnalyzer struct {
	maxMeta, maxMem, maxNested, maxTotal int64
	maxDepth                             int
}

// NewArchive returns the analyzer of Java archives (jar, war, ear, par,
// sar, jpi, hpi). Every META-INF/maven/<groupId>/<artifactId>/pom.properties
// is a package, so a shaded jar yields all it embeds. An archive whose
// pom.properties do not describe the archive itself falls back to its
// MANIFEST.MF, and one with neither to its file name (artifact-version.jar).
// Nested archives (WEB-INF/lib, BOOT-INF/lib, an ear's modules) are read
// recursively, up to 4 levels; the outer archive is never read whole.
func NewArchive() inventory.Analyzer {
	return &archiveAnalyzer{maxMeta: maxMeta, maxMem: maxMem, maxNested: maxNested, maxTotal: maxTotal, maxDepth: maxDepth}
}

func (*archiveAnalyzer) Name() string { return string(inventory.Jar) }

func (*archiveAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return info.Mode.IsRegular() && isArchive(p)
}

func (a *archiveAnalyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	w := &walker{a: a, budget: a.maxTotal}
	if err := w.archive(ctx, f.ReaderAt, f.Size, f.Path, "", 0); err != nil {
		return nil, err
	}
	var res *inventory.Result
	if len(w.pkgs) > 0 {
		res = &inventory.Result{Packages: w.pkgs}
	}
	// Problems in nested archives do not hide what the rest yielded.
	return res, errors.Join(w.errs...)
}

type walker struct {
	a      *archiveAnalyzer
	budget int64
	pkgs   []inventory.Package
	errs   []error
}

// take charges n decompressed bytes against the budget.
func (w *walker) take(n int64) error {
	w.budget -= n
	if w.budget < 0 {
		return fmt.Errorf("more than %d bytes decompressed in all: %w", w.a.maxTotal, inventory.ErrTooLarge)
	}
	return nil
}

// archive inventories one archive; p is its path for packages (with "!"
// for nesting), where the same relative to the outer file, for errors.
func (w *walker) archive(ctx context.Context, r io.ReaderAt, size int64, p, where string, depth int) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("%sread zip: %w", where, err)
	}
	var (
		props    []*zip.File
		poms     = map[string]*zip.File{}
		manifest *zip.File
		nested   []*zip.File
	)
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, "/")
		switch {
		case strings.HasSuffix(name, "/"):
		case isPomProperties(name):
			props = append(props, zf)
		case strings.HasPrefix(name, "META-INF/maven/") && strings.HasSuffix(name, "/pom.xml"):
			poms[name] = zf
		case strings.EqualFold(name, "META-INF/MANIFEST.MF"):
			manifest = zf
		case isArchive(name):
			nested = append(nested, zf)
		}
	}

	var own []inventory.Package
	self := false
	fileArtifact, fileVersion := splitFileName(path.Base(p))
	for _, zf := range props {
		pkg, err := w.pomProperties(zf, p, where)
		if err != nil {
			w.errs = append(w.errs, err)
			continue
		}
		if pom := poms[strings.TrimSuffix(strings.TrimPrefix(zf.Name, "/"), ".properties")+".xml"]; pom != nil {
			pkg.Licenses, err = w.licenses(pom, where)
			if err != nil {
				w.errs = append(w.errs, err)
			}
		}
		own = append(own, pkg)
		if artifactOf(pkg.Name) == fileArtifact {
			self = true
		}
	}
	if !self {
		var m map[string]string
		if manifest != nil {
			m, err = w.manifest(manifest, where)
			if err != nil {
				w.errs = append(w.errs, err)
			}
		}
		if pkg, ok := fallbackPackage(m, fileArtifact, fileVersion, p); ok && !has(own, pkg) {
			own = append(own, pkg)
		}
	}
	w.pkgs = append(w.pkgs, own...)

	for _, zf := range nested {
		if err := ctx.Err(); err != nil {
			return err
		}
		np := p + "!" + zf.Name
		nwhere := where + zf.Name + ": "
		if depth+1 > w.a.maxDepth {
			w.errs = append(w.errs, fmt.Errorf("%sarchives nested more than %d deep are not read", nwhere, w.a.maxDepth))
			continue
		}
		if err := w.nested(ctx, r, zf, np, nwhere, depth+1); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.errs = append(w.errs, err)
		}
	}
	return nil
}

// nested inventories an archive inside another: a stored (uncompressed)
// entry is read in place, a small one from memory, a large one from a
// temporary file.
func (w *walker) nested(ctx context.Context, parent io.ReaderAt, zf *zip.File, p, where string, depth int) error {
	if zf.Method == zip.Store && zf.Flags&0x1 == 0 {
		// Spring Boot stores nested jars uncompressed: no copy needed.
		// The budget is still charged, against entries sharing data.
		if err := w.take(int64(zf.CompressedSize64)); err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		off, err := zf.DataOffset()
		if err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		return w.archive(ctx, io.NewSectionReader(parent, off, int64(zf.CompressedSize64)), int64(zf.CompressedSize64), p, where, depth)
	}
	if zf.UncompressedSize64 > uint64(w.a.maxNested) {
		return fmt.Errorf("%s%d bytes uncompressed, over %d: %w", where, zf.UncompressedSize64, w.a.maxNested, inventory.ErrTooLarge)
	}
	n := int64(zf.UncompressedSize64)
	if err := w.take(n); err != nil {
		return fmt.Errorf("%s%w", where, err)
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%s%w", where, err)
	}
	defer rc.Close()
	if n <= w.a.maxMem {
		b, err := readAll(rc, n)
		if err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		return w.archive(ctx, bytesReaderAt(b), int64(len(b)), p, where, depth)
	}
	tmp, err := os.CreateTemp("", "mamori-jar-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	m, err := io.Copy(tmp, io.LimitReader(rc, n+1))
	if err != nil {
		return fmt.Errorf("%s%w", where, err)
	}
	if m > n {
		return fmt.Errorf("%smore data than the %d bytes declared", where, n)
	}
	return w.archive(ctx, tmp, m, p, where, depth)
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readEntry reads a small metadata entry.
func (w *walker) readEntry(zf *zip.File, where string) ([]byte, error) {
	if zf.UncompressedSize64 > uint64(w.a.maxMeta) {
		return nil, fmt.Errorf("%s%s: %d bytes, over %d: %w", where, zf.Name, zf.UncompressedSize64, w.a.maxMeta, inventory.ErrTooLarge)
	}
	if err := w.take(int64(zf.UncompressedSize64)); err != nil {
		return nil, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	defer rc.Close()
	b, err := readAll(rc, w.a.maxMeta)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	return b, nil
}

// isPomProperties matches META-INF/maven/<groupId>/<artifactId>/pom.properties.
func isPomProperties(name string) bool {
	rest, ok := strings.CutPrefix(name, "META-INF/maven/")
	if !ok || !strings.HasSuffix(rest, "/pom.properties") {
		return false
	}
	return strings.Count(rest, "/") == 2
}

func (w *walker) pomProperties(zf *zip.File, p, where string) (inventory.Package, error) {
	b, err := w.readEntry(zf, where)
	if err != nil {
		return inventory.Package{}, err
	}
	props, err := parseProperties(b)
	if err != nil {
		return inventory.Package{}, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	// The directory names are the coordinates maven-archiver wrote;
	// the file's own keys win where present.
	dirs := strings.Split(strings.TrimPrefix(zf.Name, "/"), "/")
	group, artifact, version := props["groupId"], props["artifactId"], props["version"]
	if group == "" {
		group = dirs[2]
	}
	if artifact == "" {
		artifact = dirs[3]
	}
	for _, v := range []string{group, artifact, version} {
		if v == "" || strings.Contains(v, "${") || strings.ContainsAny(v, " \t\n") {
			return inventory.Package{}, fmt.Errorf("%s%s: no usable coordinates (groupId %q, artifactId %q, version %q)",
				where, zf.Name, group, artifact, version)
		}
	}
	return mavenPackage(inventory.Jar, group, artifact, version, p), nil
}

// licenses reads the license names of the pom.xml beside a pom.properties.
func (w *walker) licenses(zf *zip.File, where string) ([]string, error) {
	b, err := w.readEntry(zf, where)
	if err != nil {
		return nil, err
	}
	pom, err := parsePom(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	return pom.licenses, nil
}

func (w *walker) manifest(zf *zip.File, where string) (map[string]string, error) {
	b, err := w.readEntry(zf, where)
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", where, zf.Name, err)
	}
	return m, nil
}

// fallbackPackage names an archive from its manifest and file name. The
// groupId comes only from Implementation-Vendor-Id, which maven-archiver
// sets to the project's groupId; it is otherwise left unknown.
func fallbackPackage(m map[string]string, fileArtifact, fileVersion, p string) (inventory.Package, bool) {
	artifact := fileArtifact
	if artifact == "" {
		if t := m["Implementation-Title"]; t != "" && !strings.ContainsAny(t, " \t") {
			artifact = t
		}
	}
	version := firstOf(m["Implementation-Version"], fileVersion, m["Bundle-Version"], m["Specification-Version"])
	if artifact == "" || version == "" || strings.ContainsAny(version, " \t") {
		return inventory.Package{}, false
	}
	group := m["Implementation-Vendor-Id"]
	if strings.ContainsAny(group, " \t:") {
		group = ""
	}
	pkg := mavenPackage(inventory.Jar, group, artifact, version, p)
	if l := m["Bundle-License"]; l != "" {
		for s := range strings.SplitSeq(l, ",") {
			s, _, _ = strings.Cut(s, ";") // OSGi attributes: ;link=…
			if s = strings.TrimSpace(s); s != "" {
				pkg.Licenses = append(pkg.Licenses, s)
			}
		}
	}
	return pkg, true
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func has(pkgs []inventory.Package, p inventory.Package) bool {
	for _, q := range pkgs {
		if q.Version == p.Version && artifactOf(q.Name) == artifactOf(p.Name) {
			return true
		}
	}
	return false
}

func artifactOf(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// splitFileName splits "log4j-core-2.14.1.jar" into "log4j-core" and
// "2.14.1": the version starts at the first "-" followed by a digit.
func splitFileName(base string) (artifact, version string) {
	if isArchive(base) {
		base = base[:len(base)-4]
	}
	for i := 0; i+1 < len(base); i++ {
		if base[i] == '-' && base[i+1] >= '0' && base[i+1] <= '9' {
			return base[:i], base[i+1:]
		}
	}
	return base, ""
}
