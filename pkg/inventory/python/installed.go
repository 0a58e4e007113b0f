package python

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// NewInstalled returns the analyzer of installed distributions:
// *.dist-info/METADATA, *.egg-info/PKG-INFO and single-file *.egg-info.
// Only the header is read, not the description after it. Licenses come
// from License-Expression (PEP 639), else a one-line License field, else
// the "License ::" classifiers.
func NewInstalled() inventory.Analyzer { return installed{} }

type installed struct{}

func (installed) Name() string { return string(inventory.PythonPkg) }

func (installed) Wants(p string, info inventory.FileInfo) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case base == "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info") || strings.HasSuffix(dir, "/EGG-INFO")
	}
	return strings.HasSuffix(base, ".egg-info") // distutils writes a file
}

// maxHeaderLine caps one header line, maxHeader the whole header;
// descriptions, after it, are not read.
const (
	maxHeaderLine = 1 << 20
	maxHeader     = 8 << 20
)

func (installed) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	// Read through a limit: a multi-gigabyte METADATA without a newline
	// must not be read into memory whole.
	lr := &io.LimitedReader{R: f.Reader(), N: maxHeader + 1}
	r := bufio.NewReaderSize(lr, 64<<10)
	var (
		name, version, expr, license string
		classifiers                  []string
		last                         *string
	)
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) > maxHeaderLine {
			return nil, fmt.Errorf("line %d: over %d bytes", n, maxHeaderLine)
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: the header goes on past %d bytes", inventory.ErrTooLarge, maxHeader)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break // end of the header
		}
		if line[0] == ' ' || line[0] == '\t' { // continuation
			if last != nil {
				*last += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: header line without a colon: %q", n, trunc(line))
		}
		value = strings.TrimSpace(value)
		last = nil
		switch strings.ToLower(key) {
		case "name":
			name = value
		case "version":
			version = value
		case "license-expression":
			expr = value
		case "license":
			license = value
			last = &license
		case "classifier":
			if l, ok := strings.CutPrefix(value, "License ::"); ok {
				parts := strings.Split(l, "::")
				classifiers = append(classifiers, strings.TrimSpace(parts[len(parts)-1]))
			}
		}
		if err == io.EOF {
			break
		}
	}
	if name == "" || version == "" {
		return nil, fmt.Errorf("no Name or Version header (name %q, version %q)", name, version)
	}
	var lic []string
	switch {
	case expr != "":
		lic = []string{expr}
	case license != "" && license != "UNKNOWN" && !strings.Contains(license, "\n") && len(license) < 100:
		lic = []string{license}
	default:
		lic = classifiers
	}
	return &inventory.Result{Packages: []inventory.Package{{
		Type: inventory.PythonPkg, Ecosystem: inventory.EcoPyPI, Name: name, Version: version,
		Licenses: lic, PURL: PURL(name, version), Path: f.Path,
	}}}, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
