// Package rpm reads the RPM package database in its three formats:
// Berkeley DB (Packages: RHEL/CentOS 7 and 8, Amazon Linux 2), ndb
// (Packages.db: SUSE) and SQLite (rpmdb.sqlite: RHEL 9, Fedora 33+,
// CBL-Mariner), under var/lib/rpm or usr/lib/sysimage/rpm.
//
// The headers are read by github.com/knqyf263/go-rpmdb, which needs a file
// on disk; files without one (image layers) are copied to a temporary file
// first.
package rpm

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	rpmdb "github.com/knqyf263/go-rpmdb/pkg"
	// The SQLite driver go-rpmdb opens rpmdb.sqlite with; without it
	// those databases fail to open.
	_ "modernc.org/sqlite"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// maxSize caps the database read; a large RHEL system's is a few hundred
// MiB in Berkeley DB form.
const maxSize = 1 << 30

var sqliteMagic = []byte("SQLite format 3\x00")

type analyzer struct{}

// New returns the rpm analyzer.
func New() inventory.Analyzer { return analyzer{} }

func (analyzer) Name() string { return "rpm" }

// Wants reports whether path is an rpmdb: Packages, Packages.db or
// rpmdb.sqlite in var/lib/rpm or usr/lib/sysimage/rpm.
func (analyzer) Wants(path string, _ inventory.FileInfo) bool {
	dir, file, ok := cutLast(path, '/')
	if !ok || dir != "var/lib/rpm" && dir != "usr/lib/sysimage/rpm" {
		return false
	}
	return file == "Packages" || file == "Packages.db" || file == "rpmdb.sqlite"
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// Analyze reads the installed packages of the database. gpg-pubkey
// entries (imported signing keys, not software) are left out.
func (analyzer) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxSize {
		return nil, fmt.Errorf("%w: %d bytes (the cap is %d)", inventory.ErrTooLarge, f.Size, maxSize)
	}
	head := make([]byte, len(sqliteMagic))
	if _, err := f.ReadAt(head, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("not an rpm database: %d bytes, too short", f.Size)
		}
		return nil, err
	}
	isSQLite := bytes.Equal(head, sqliteMagic)
	path := f.LocalPath
	// SQLite opens a WAL database (as rpm writes it) read-write, creating
	// -shm and -wal files beside it: never do that in the scanned tree.
	if path == "" || isSQLite {
		dir, err := os.MkdirTemp("", "mamori-rpmdb-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, filepath.Base(f.Path))
		if err := copyFile(ctx, path, f.Reader()); err != nil {
			return nil, err
		}
		// Transactions not yet checkpointed live in the -wal file beside
		// the database; take it along when there is one.
		if isSQLite && f.LocalPath != "" {
			if wal, err := os.Open(f.LocalPath + "-wal"); err == nil {
				err = copyFile(ctx, path+"-wal", wal)
				wal.Close()
				if err != nil {
					return nil, err
				}
			}
		}
	}
	want := -1
	if isSQLite {
		n, err := checkSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		want = n
	}
	pkgs, err := read(path)
	if err != nil {
		return nil, err
	}
	// go-rpmdb stops at an unreadable row without saying so; the count
	// tells.
	if want >= 0 && len(pkgs) != want {
		return nil, fmt.Errorf("read %d of the %d packages in the database", len(pkgs), want)
	}
	res := &inventory.Result{}
	var errs []error
	for _, p := range pkgs {
		if p.Name == "gpg-pubkey" {
			continue
		}
		pkg, err := toPackage(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pkg.Path = f.Path
		res.Packages = append(res.Packages, pkg)
	}
	return res, errors.Join(errs...)
}

// read lists the packages of the database at path, turning a panic of the
// library on a damaged database into an error.
func read(path string) (pkgs []*rpmdb.PackageInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			pkgs, err = nil, fmt.Errorf("damaged rpm database: %v", p)
		}
	}()
	db, err := rpmdb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open rpm database: %w", err)
	}
	defer db.Close()
	pkgs, err = db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("read rpm database: %w", err)
	}
	return pkgs, nil
}

// checkSQLite checks a SQLite rpmdb page by page and counts its packages.
// A truncated or damaged file fails here with SQLite's own words instead
// of yielding a short list.
func checkSQLite(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&ok); err != nil {
		return 0, fmt.Errorf("damaged rpm database (SQLite): %w", err)
	}
	if ok != "ok" {
		return 0, fmt.Errorf("damaged rpm database (SQLite): %s", ok)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM Packages").Scan(&n); err != nil {
		return 0, fmt.Errorf("not an rpm database (SQLite): %w", err)
	}
	return n, nil
}

func copyFile(ctx context.Context, dst string, r io.Reader) error {
	w, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, ctxReader{ctx, r})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy to a temporary file: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func toPackage(p *rpmdb.PackageInfo) (inventory.Package, error) {
	if p.Name == "" || p.Version == "" {
		return inventory.Package{}, fmt.Errorf("package without name or version: %q %q", p.Name, p.Version)
	}
	evr := p.Version + "-" + p.Release
	if p.Release == "" {
		evr = p.Version
	}
	epoch := ""
	if p.Epoch != nil && *p.Epoch != 0 {
		epoch = strconv.Itoa(*p.Epoch) + ":"
	}
	pkg := inventory.Package{Type: inventory.RPM, Name: p.Name, Version: epoch + evr, Arch: p.Arch}
	if p.License != "" {
		// One expression ("OpenSSL and ASL 2.0"), as rpm records it.
		pkg.Licenses = []string{p.License}
	}
	if p.SourceRpm != "" && p.SourceRpm != "(none)" {
		name, vr, err := parseSourceRPM(p.SourceRpm)
		if err != nil {
			return inventory.Package{}, fmt.Errorf("package %s-%s: %w", p.Name, evr, err)
		}
		// The source RPM's file name has no epoch; it is the binary's.
		if name != pkg.Name || vr != evr {
			pkg.SourceName, pkg.SourceVersion = name, epoch+vr
		}
	}
	return pkg, nil
}

// parseSourceRPM splits "name-version-release.src.rpm" from the right:
// names hold dashes, versions and releases do not.
func parseSourceRPM(s string) (name, versionRelease string, err error) {
	base, ok := strings.CutSuffix(s, ".src.rpm")
	if !ok {
		base, ok = strings.CutSuffix(s, ".nosrc.rpm")
	}
	if !ok {
		return "", "", fmt.Errorf("source RPM %q: want name-version-release.src.rpm", s)
	}
	rest, release, ok1 := cutLast(base, '-')
	name, version, ok2 := cutLast(rest, '-')
	if !ok1 || !ok2 || name == "" || version == "" || release == "" {
		return "", "", fmt.Errorf("source RPM %q: want name-version-release.src.rpm", s)
	}
	return name, version + "-" + release, nil
}
