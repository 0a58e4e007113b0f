// Package apk reads the package database of Alpine Linux, Wolfi and
// Chainguard images: lib/apk/db/installed.
//
// The database is a sequence of stanzas separated by blank lines, one
// "K:value" field a line, K a single letter (apk-tools' doc/apk-package.5:
// P name, V version, A architecture, L licence, o origin, and file lists
// that an inventory does not need).
package apk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/inventory/internal/textutil"
)

const (
	installedFile = "lib/apk/db/installed"

	// maxSize caps the database read; a large image's is a few MiB.
	maxSize = 256 << 20
	// maxLine caps one line; the longest real ones list provides.
	maxLine = 1 << 20
	// maxErrors bounds the per-stanza errors reported for one file.
	maxErrors = 10
)

type analyzer struct{}

// New returns the apk analyzer.
func New() inventory.Analyzer { return analyzer{} }

func (analyzer) Name() string { return "apk" }

func (analyzer) Wants(path string, _ inventory.FileInfo) bool { return path == installedFile }

// Analyze reads the packages of the database. A stanza that cannot be
// read is reported in the error (with its line) and the others are still
// returned, so one damaged entry does not hide the rest.
func (analyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxSize {
		return nil, fmt.Errorf("%w: %d bytes (the cap is %d)", inventory.ErrTooLarge, f.Size, maxSize)
	}
	pkgs, err := parse(ctx, f.Reader())
	for i := range pkgs {
		pkgs[i].Path = f.Path
	}
	if len(pkgs) == 0 && err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: pkgs}, err
}

type stanza struct {
	line                                 int // first line, 1-based
	name, version, arch, license, origin string
}

func parse(ctx context.Context, r io.Reader) ([]inventory.Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs []inventory.Package
		errs []error
		cur  stanza
		in   bool
		bad  error // the first error of the current stanza
		line int
	)
	flush := func() {
		if !in {
			return
		}
		if bad == nil {
			var p inventory.Package
			if p, bad = cur.toPackage(); bad == nil {
				pkgs = append(pkgs, p)
			}
		}
		if bad != nil {
			errs = append(errs, bad)
		}
		cur, in, bad = stanza{}, false, nil
	}
	for sc.Scan() {
		line++
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// Bytes, not strings: most lines are file lists, never kept.
		text := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			flush()
			continue
		}
		if !in {
			cur, in = stanza{line: line}, true
		}
		if bad != nil {
			continue
		}
		if len(text) < 2 || text[1] != ':' {
			bad = fmt.Errorf("line %d: not a field (want \"K:value\"): %.40q", line, text)
			continue
		}
		var dst *string
		switch text[0] {
		case 'P':
			dst = &cur.name
		case 'V':
			dst = &cur.version
		case 'A':
			dst = &cur.arch
		case 'L':
			dst = &cur.license
		case 'o':
			dst = &cur.origin
		default:
			continue
		}
		if *dst != "" {
			// Most likely two packages run together without a blank line.
			bad = fmt.Errorf("line %d: %c: given twice in the stanza at line %d", line, text[0], cur.line)
			continue
		}
		*dst = string(bytes.TrimSpace(text[2:]))
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

func (s *stanza) toPackage() (inventory.Package, error) {
	if s.name == "" {
		return inventory.Package{}, fmt.Errorf("stanza at line %d: no P: (name) field", s.line)
	}
	if s.version == "" {
		return inventory.Package{}, fmt.Errorf("stanza at line %d (%s): no V: (version) field", s.line, s.name)
	}
	if strings.IndexFunc(s.name+s.version, textutil.NotPrintable) >= 0 {
		return inventory.Package{}, fmt.Errorf("stanza at line %d (%s): white space or control character in name or version %q", s.line, s.name, s.version)
	}
	p := inventory.Package{Type: inventory.Apk, Name: s.name, Version: s.version, Arch: s.arch}
	// The origin is the aport the package was built from; it has the
	// same version. Advisories (secdb, OSV) name origins.
	if s.origin != "" && s.origin != s.name {
		p.SourceName, p.SourceVersion = s.origin, s.version
	}
	if s.license != "" {
		// Kept whole: newer aports write one SPDX expression
		// ("ISC AND (BSD-3-Clause OR MIT)"), older ones a space-separated
		// list ("MIT BSD GPL2+") that splitting would not make SPDX.
		p.Licenses = []string{s.license}
	}
	return p, nil
}
