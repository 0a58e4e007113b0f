// Package dpkg reads the package database of Debian and its derivatives:
// var/lib/dpkg/status, and the per-package files of Google distroless
// images in var/lib/dpkg/status.d/.
//
// The database is a sequence of RFC 822-style stanzas separated by blank
// lines (deb-control(5)). Only packages whose files are on disk are
// reported; see installed for which states count. Debian's database holds
// no licences: NewCopyright reads them from usr/share/doc/<package>/copyright
// and inventory.Finish joins them to the packages.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
)

const (
	statusFile = "var/lib/dpkg/status"
	statusDir  = "var/lib/dpkg/status.d"

	// maxSize caps the database read; a real status file is a few MiB.
	maxSize = 256 << 20
	// maxLine caps one line; long Description and Conffiles fields are
	// split over continuation lines, so real lines are short.
	maxLine = 1 << 20
	// maxErrors bounds the per-stanza errors reported for one file.
	maxErrors = 10
)

type analyzer struct{}

// New returns the dpkg analyzer.
func New() inventory.Analyzer { return analyzer{} }

func (analyzer) Name() string { return "dpkg" }

// Wants reports whether path is the status file or a distroless
// per-package file (not its .md5sums sibling).
func (analyzer) Wants(p string, _ inventory.FileInfo) bool {
	if p == statusFile {
		return true
	}
	dir, file := path.Split(p)
	return dir == statusDir+"/" && file != "" && !strings.HasSuffix(file, ".md5sums")
}

// Analyze reads the installed packages of one database file. A stanza
// that cannot be read is reported in the error (with its line) and the
// others are still returned, so one damaged entry does not hide the rest.
func (analyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxSize {
		return nil, fmt.Errorf("%w: %d bytes (the cap is %d)", inventory.ErrTooLarge, f.Size, maxSize)
	}
	// Distroless writes one file per package and may leave Status out: the
	// file exists only for installed packages.
	needStatus := f.Path == statusFile
	pkgs, err := parse(ctx, f.Reader(), needStatus)
	for i := range pkgs {
		pkgs[i].Path = f.Path
	}
	if len(pkgs) == 0 && err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, err
}

// stanza holds the fields of one paragraph that an inventory needs.
type stanza struct {
	line                                     int // first line, 1-based
	pkg, status, version, arch, source       string
	hasPkg, hasStatus, hasVersion, hasSource bool
}

// parse reads the stanzas of r. It returns the installed packages and,
// joined, the errors of the stanzas it could not read; an error reading r
// itself ends the parse.
func parse(ctx context.Context, r io.Reader, needStatus bool) ([]inventory.Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs    []inventory.Package
		errs    []error
		cur     stanza
		in      bool  // inside a stanza
		inField bool  // a field has begun, which continuation lines extend
		bad     error // the first syntax error of the current stanza
		line    int
	)
	flush := func() {
		if !in {
			return
		}
		if bad == nil {
			var p *inventory.Package
			p, bad = cur.toPackage(needStatus)
			if p != nil {
				pkgs = append(pkgs, *p)
			}
		}
		if bad != nil {
			errs = append(errs, bad)
		}
		cur, in, inField, bad = stanza{}, false, false, nil
	}
	for sc.Scan() {
		line++
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// Bytes, not strings: only the kept values are copied.
		text := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			flush()
			continue
		}
		if !in {
			cur, in = stanza{line: line}, true
		}
		if bad != nil {
			continue // skip to the end of a stanza already in error
		}
		if text[0] == ' ' || text[0] == '\t' {
			if !inField {
				bad = fmt.Errorf("line %d: continuation line before any field", line)
			}
			continue // only single-line fields are kept
		}
		name, value, ok := bytes.Cut(text, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			bad = fmt.Errorf("line %d: not a field (want \"Name: value\"): %.40q", line, text)
			continue
		}
		inField = true
		// Field names are case-insensitive (deb-control(5)).
		var dst *string
		var seen *bool
		switch {
		case bytes.EqualFold(name, []byte("Package")):
			dst, seen = &cur.pkg, &cur.hasPkg
		case bytes.EqualFold(name, []byte("Status")):
			dst, seen = &cur.status, &cur.hasStatus
		case bytes.EqualFold(name, []byte("Version")):
			dst, seen = &cur.version, &cur.hasVersion
		case bytes.EqualFold(name, []byte("Source")):
			dst, seen = &cur.source, &cur.hasSource
		case bytes.EqualFold(name, []byte("Architecture")):
			dst = &cur.arch
		default:
			continue
		}
		if seen != nil && *seen {
			bad = fmt.Errorf("line %d: %s given twice in the stanza at line %d", line, name, cur.line)
			continue
		}
		*dst = string(bytes.TrimSpace(value))
		if seen != nil {
			*seen = true
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d bytes", line+1, maxLine)
		} else {
			err = fmt.Errorf("read after line %d: %w", line, err)
		}
		return pkgs, errors.Join(append(textutil.CapErrors(errs, maxErrors), err)...)
	}
	flush()
	return pkgs, errors.Join(textutil.CapErrors(errs, maxErrors)...)
}

// toPackage turns the stanza into a package: nil (and no error) for a package
// that is not installed.
func (s *stanza) toPackage(needStatus bool) (*inventory.Package, error) {
	if s.pkg == "" {
		return nil, fmt.Errorf("stanza at line %d: no Package field", s.line)
	}
	at := stanzaAt{s.line, s.pkg} // formatted only for errors
	if needStatus && !s.hasStatus {
		return nil, fmt.Errorf("%s: no Status field", at)
	}
	if s.hasStatus {
		ok, err := installed(s.status)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if !ok {
			return nil, nil
		}
	}
	if s.version == "" {
		return nil, fmt.Errorf("%s: no Version field", at)
	}
	if strings.IndexFunc(s.pkg+s.version, textutil.NotPrintable) >= 0 {
		return nil, fmt.Errorf("%s: white space or control character in name or version %q", at, s.version)
	}
	p := &inventory.Package{Type: inventory.Dpkg, Name: s.pkg, Version: s.version, Arch: s.arch}
	if s.source != "" {
		name, version, err := parseSource(s.source)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if version == "" {
			// Without a version the source has the binary's version.
			version = s.version
		}
		if name != p.Name || version != p.Version {
			p.SourceName, p.SourceVersion = name, version
		}
	}
	return p, nil
}

type stanzaAt struct {
	line int
	pkg  string
}

func (a stanzaAt) String() string { return fmt.Sprintf("stanza at line %d (%s)", a.line, a.pkg) }

// parseSource reads a Source field, "name" or "name (version)"; the
// version is given when it differs from the binary's (binNMUs, "+b1").
func parseSource(s string) (name, version string, err error) {
	name, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return name, "", nil
	}
	v, ok := strings.CutPrefix(rest, "(")
	if ok {
		v, ok = strings.CutSuffix(v, ")")
	}
	v = strings.TrimSpace(v)
	if !ok || v == "" || strings.ContainsAny(v, " \t()") {
		return "", "", fmt.Errorf("bad Source %q: want \"name\" or \"name (version)\"", s)
	}
	return name, v, nil
}

// installed reads a Status field, "want flag state" (dpkg(1)). A package
// counts as installed when its files are unpacked and configured: state
// installed, or triggers-pending/-awaited (configured, waiting only for
// another package's triggers). The want flag does not matter: a package
// on hold or selected for removal is still on disk. not-installed,
// config-files (removed, configuration left), half-installed, unpacked
// and half-configured packages are left out.
func installed(status string) (bool, error) {
	f := strings.Fields(status)
	if len(f) != 3 {
		return false, fmt.Errorf("bad Status %q: want \"want flag state\"", status)
	}
	switch f[2] {
	case "installed", "triggers-pending", "triggers-awaited":
		return true, nil
	case "not-installed", "config-files", "half-installed", "unpacked", "half-configured":
		return false, nil
	}
	return false, fmt.Errorf("bad Status %q: unknown state %q", status, f[2])
}
