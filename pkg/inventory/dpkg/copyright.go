package dpkg

import (
	"bufio"
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// maxCopyright caps a copyright file read; the largest in Debian are a
// few hundred KiB.
const maxCopyright = 4 << 20

type copyright struct{}

// NewCopyright returns the analyzer of Debian's per-package copyright
// files, usr/share/doc/<package>/copyright, the only place a Debian
// system records licences. The licences join the dpkg packages of the
// same name (inventory.Finish).
func NewCopyright() inventory.Analyzer { return copyright{} }

func (copyright) Name() string { return "dpkg-copyright" }

func (copyright) Wants(p string, _ inventory.FileInfo) bool {
	rest, ok := strings.CutPrefix(p, "usr/share/doc/")
	if !ok {
		return false
	}
	pkg, file, ok := strings.Cut(rest, "/")
	return ok && file == "copyright" && pkg != ""
}

// commonLicense finds references to the licence texts Debian ships, the
// way copyright files that predate the machine-readable format name
// their licence: "can be found in `/usr/share/common-licenses/GPL-2'".
var commonLicense = regexp.MustCompile(`/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+_-]*[A-Za-z0-9+])`)

// Analyze reads the licences of one package: the License: fields of a
// machine-readable (DEP-5) file in order of appearance, else the common
// licence texts the file refers to.
func (copyright) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxCopyright {
		return nil, fmt.Errorf("%w: %d bytes (the cap is %d)", inventory.ErrTooLarge, f.Size, maxCopyright)
	}
	pkg := path.Base(path.Dir(f.Path))
	var dep5, common []string
	add := func(list *[]string, s string) {
		if s = strings.TrimSpace(s); s != "" && !contains(*list, s) {
			*list = append(*list, s)
		}
	}
	sc := bufio.NewScanner(f.Reader())
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "License:"); ok {
			add(&dep5, v)
			continue
		}
		for _, m := range commonLicense.FindAllStringSubmatch(line, -1) {
			add(&common, strings.TrimSuffix(m[1], ".gz"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lic := dep5
	if len(lic) == 0 {
		lic = common
	}
	if len(lic) == 0 {
		return nil, nil
	}
	return &inventory.Result{Licenses: map[string][]string{pkg: lic}}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
