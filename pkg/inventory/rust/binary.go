package rust

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// MaxAuditData caps the decompressed cargo-auditable data (a large
// binary's is tens of kilobytes).
const MaxAuditData = 16 << 20

// minBinarySize skips files too small to be a Rust program.
const minBinarySize = 4 << 10

// NewBinary returns the analyzer of binaries built with cargo-auditable.
// It reads executables (by mode, or .exe), checks the ELF, Mach-O or PE
// magic and looks for the .dep-v0 section; binaries without one give no
// result and no error. Build-time dependencies (kind "build") are
// included: they ran during the build.
func NewBinary() inventory.Analyzer { return binary{} }

type binary struct{}

func (binary) Name() string { return string(inventory.RustBin) }

func (binary) Wants(p string, info inventory.FileInfo) bool {
	if !info.Mode.IsRegular() || info.Size < minBinarySize {
		return false
	}
	return info.Mode.Perm()&0o111 != 0 || len(p) > 4 && (p[len(p)-4:] == ".exe" || p[len(p)-4:] == ".EXE")
}

func (binary) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	sec, err := depSection(f.ReaderAt)
	if err != nil || sec == nil {
		return nil, err
	}
	zr, err := zlib.NewReader(sec)
	if err != nil {
		return nil, fmt.Errorf("cargo-auditable section: %w", err)
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, MaxAuditData+1))
	if err != nil {
		return nil, fmt.Errorf("cargo-auditable section: %w", err)
	}
	if len(data) > MaxAuditData {
		return nil, fmt.Errorf("cargo-auditable data over %d bytes: %w", MaxAuditData, inventory.ErrTooLarge)
	}
	return auditData(f.Path, data)
}

type auditInfo struct {
	Packages []struct {
		Name         string `json:"name"`
		Version      string `json:"version"`
		Source       string `json:"source"`
		Kind         string `json:"kind"`
		Dependencies []int  `json:"dependencies"`
		Root         bool   `json:"root"`
	} `json:"packages"`
}

// auditData reads cargo-auditable's JSON.
func auditData(path string, data []byte) (*inventory.Result, error) {
	var info auditInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("cargo-auditable JSON: %w", err)
	}
	g := newGraph(inventory.RustBin, path)
	ids := make([]string, len(info.Packages))
	for i, p := range info.Packages {
		if p.Name == "" || p.Version == "" {
			return nil, fmt.Errorf("cargo-auditable package %d: no name or version", i)
		}
		if p.Source != "local" && !p.Root {
			ids[i] = g.add(p.Name, p.Version)
		}
	}
	for i, p := range info.Packages {
		for _, d := range p.Dependencies {
			if d < 0 || d >= len(ids) {
				return nil, fmt.Errorf("cargo-auditable package %s: dependency index %d out of range", p.Name, d)
			}
			to := ids[d]
			switch {
			case to == "":
			case ids[i] == "":
				if p.Root {
					g.direct(to)
				}
			default:
				g.dep(ids[i], to)
			}
		}
	}
	return &inventory.Result{Packages: g.packages()}, nil
}

// depSection finds the cargo-auditable section, or nil.
func depSection(r io.ReaderAt) (io.Reader, error) {
	var m [4]byte
	if _, err := r.ReadAt(m[:], 0); err != nil {
		return nil, nil
	}
	switch {
	case bytes.Equal(m[:], []byte("\x7fELF")):
		f, err := elf.NewFile(r)
		if err != nil {
			return nil, fmt.Errorf("read ELF: %w", err)
		}
		if s := f.Section(".dep-v0"); s != nil {
			return s.Open(), nil
		}
	case m[0] == 'M' && m[1] == 'Z':
		f, err := pe.NewFile(r)
		if err != nil {
			return nil, nil // DOS programs and other MZ files
		}
		if s := f.Section(".dep-v0"); s != nil {
			return io.LimitReader(s.Open(), int64(min(s.VirtualSize, s.Size))), nil
		}
	case isMachO(m):
		f, err := macho.NewFile(r)
		if err != nil {
			return nil, fmt.Errorf("read Mach-O: %w", err)
		}
		if s := f.Section("__dep_v0"); s != nil {
			return s.Open(), nil
		}
	}
	return nil, nil
}

// isMachO reports whether m is a thin Mach-O magic number. Universal
// binaries start like Java class files (0xcafebabe) and are not read.
func isMachO(m [4]byte) bool {
	switch string(m[:]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe":
		return true
	}
	return false
}
