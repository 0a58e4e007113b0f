// Package osrelease detects the operating system of a tree from
// os-release(5) and the older per-distribution release files, with the
// OSV ecosystem of the release and its end of security support.
//
// Several files usually describe the same system; each gives as complete
// an inventory.OS as it can on its own, and inventory.Merge picks one by
// rank. Ranked best first (see Rank):
//
//  1. os-release (etc/ or usr/lib/): the standard, and the only file that
//     says an image is Google distroless;
//  2. the distribution's own files: alpine-release, debian_version (a
//     numbered stable release), lsb-release (Ubuntu), redhat-release and
//     its siblings;
//  3. debian_version naming a suite ("trixie/sid"), which Ubuntu and
//     Debian testing share: family only, no ecosystem.
package osrelease

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// maxSize caps a release file; real ones are under 1 KiB.
const maxSize = 64 << 10

type kind int

const (
	osRelease kind = iota + 1
	alpineRelease
	debianVersion
	lsbRelease
	redhatRelease
)

func fileKind(p string) kind {
	switch p {
	case "etc/os-release", "usr/lib/os-release":
		return osRelease
	case "etc/alpine-release":
		return alpineRelease
	case "etc/debian_version":
		return debianVersion
	case "etc/lsb-release":
		return lsbRelease
	case "etc/redhat-release", "etc/system-release", "etc/centos-release",
		"etc/rocky-release", "etc/almalinux-release", "etc/fedora-release":
		return redhatRelease
	}
	return 0
}

type analyzer struct{}

// New returns the OS release analyzer.
func New() inventory.Analyzer { return analyzer{} }

func (analyzer) Name() string { return "osrelease" }

func (analyzer) Wants(p string, _ inventory.FileInfo) bool { return fileKind(p) != 0 }

// Analyze reads one release file. A file with some bad lines still gives
// the OS it describes, with the error.
func (analyzer) Analyze(_ context.Context, f *inventory.File) (*inventory.Result, error) {
	if f.Size > maxSize {
		return nil, fmt.Errorf("%w: %d bytes (the cap is %d)", inventory.ErrTooLarge, f.Size, maxSize)
	}
	b, err := io.ReadAll(io.LimitReader(f.Reader(), maxSize+1))
	if err != nil {
		return nil, err
	}
	o, err := parse(fileKind(f.Path), b)
	if o == nil {
		return nil, err
	}
	o.Path = f.Path
	return &inventory.Result{OS: o}, err
}

func parse(k kind, b []byte) (*inventory.OS, error) {
	switch k {
	case osRelease:
		return parseOSRelease(b)
	case alpineRelease:
		return parseAlpineRelease(b)
	case debianVersion:
		return parseDebianVersion(b)
	case lsbRelease:
		return parseLSBRelease(b)
	case redhatRelease:
		return parseRedhatRelease(b)
	}
	return nil, errors.New("not a release file")
}

func parseOSRelease(b []byte) (*inventory.OS, error) {
	kv, err := parseKV(b)
	id := strings.ToLower(kv["ID"])
	if id == "" {
		return nil, errors.Join(err, errors.New("no ID field"))
	}
	o := &inventory.OS{
		Family:   id,
		Name:     kv["PRETTY_NAME"],
		Version:  kv["VERSION_ID"],
		Codename: firstOf(kv["VERSION_CODENAME"], kv["UBUNTU_CODENAME"], parenthesized(kv["VERSION"])),
		// Google distroless writes PRETTY_NAME="Distroless" over Debian's
		// ID and VERSION_ID.
		Distroless: kv["PRETTY_NAME"] == "Distroless",
	}
	if o.Name == "" {
		o.Name = kv["NAME"]
	}
	stream := id == "centos" && strings.Contains(kv["NAME"], "Stream")
	if id == "debian" && o.Version == "" {
		// Testing and unstable have no VERSION_ID; the codename gives
		// the release they become.
		o.Version = debianMajor(o.Codename)
	}
	complete(o, stream)
	if o.EOL.IsZero() {
		// The vendor's own word, where the table has none (Fedora, SUSE).
		if t, perr := time.Parse(time.DateOnly, kv["SUPPORT_END"]); perr == nil {
			o.EOL = t
		}
	}
	return o, err
}

func parseAlpineRelease(b []byte) (*inventory.OS, error) {
	v, err := oneLine(b)
	if err != nil {
		return nil, err
	}
	if !isVersion(v) {
		return nil, fmt.Errorf("line 1: %.40q is not an Alpine release", v)
	}
	o := &inventory.OS{Family: "alpine", Version: v}
	complete(o, false)
	return o, nil
}

func parseDebianVersion(b []byte) (*inventory.OS, error) {
	v, err := oneLine(b)
	if err != nil {
		return nil, err
	}
	if suite, ok := strings.CutSuffix(v, "/sid"); ok {
		// Debian testing says "trixie/sid", and so does every Ubuntu
		// (Ubuntu 24.04: "trixie/sid"): no ecosystem from this file.
		return &inventory.OS{Family: "debian", Codename: suite}, nil
	}
	if !isVersion(v) {
		return nil, fmt.Errorf("line 1: %.40q is not a Debian release", v)
	}
	o := &inventory.OS{Family: "debian", Version: v}
	complete(o, false)
	return o, nil
}

func parseLSBRelease(b []byte) (*inventory.OS, error) {
	kv, err := parseKV(b)
	id := strings.ToLower(kv["DISTRIB_ID"])
	if id == "" {
		return nil, errors.Join(err, errors.New("no DISTRIB_ID field"))
	}
	o := &inventory.OS{
		Family:   id,
		Name:     kv["DISTRIB_DESCRIPTION"],
		Version:  kv["DISTRIB_RELEASE"],
		Codename: kv["DISTRIB_CODENAME"],
	}
	complete(o, false)
	return o, err
}

// redhatNames maps the product names of redhat-release lines to families,
// longest first where one is a prefix of another.
var redhatNames = []struct{ prefix, family string }{
	{"Red Hat Enterprise Linux", "rhel"},
	{"Rocky Linux", "rocky"},
	{"AlmaLinux", "almalinux"},
	{"CentOS Stream", "centos"},
	{"CentOS", "centos"},
	{"Amazon Linux", "amzn"},
	{"Fedora", "fedora"},
	{"Oracle Linux", "ol"},
}

// parseRedhatRelease reads "Rocky Linux release 9.4 (Blue Onyx)" and the
// like.
func parseRedhatRelease(b []byte) (*inventory.OS, error) {
	line, err := oneLine(b)
	if err != nil {
		return nil, err
	}
	product, rest, ok := strings.Cut(line, " release ")
	version, _, _ := strings.Cut(rest, " ")
	if !ok || !isVersion(version) {
		return nil, fmt.Errorf("line 1: %.60q: want \"<product> release <version> (<codename>)\"", line)
	}
	for _, n := range redhatNames {
		if strings.HasPrefix(product, n.prefix) {
			o := &inventory.OS{Family: n.family, Name: line, Version: version, Codename: parenthesized(rest)}
			complete(o, n.prefix == "CentOS Stream")
			return o, nil
		}
	}
	return nil, fmt.Errorf("line 1: unknown distribution %.40q", product)
}

// Complete fills in what follows from an OS's family and version (as
// os-release gives them: "debian" "12", "alpine" "3.20.3"): the OSV
// ecosystem, end of life and Debian codename. Other descriptions of an
// OS (an SBOM's distro qualifier) use it to agree with a scan of the tree.
func Complete(o *inventory.OS) { complete(o, false) }

// complete fills in what follows from the family and version: the release
// key, ecosystem, end of life and (Debian) codename.
func complete(o *inventory.OS, stream bool) {
	key := releaseKey(o.Family, o.Version, stream)
	if key == "" {
		return
	}
	o.Ecosystem = ecosystem(o.Family, key, o.Version)
	o.EOL = eol(o.Family, key)
	if o.Family == "debian" && o.Codename == "" {
		o.Codename = debianCodenames[key]
	}
}

// releaseKey is the part of a version that names the release: Debian and
// the RHEL family by major, Ubuntu and Alpine by major.minor.
func releaseKey(family, version string, stream bool) string {
	if version == "" {
		return ""
	}
	parts := strings.Split(version, ".")
	switch family {
	case "debian", "rhel", "rocky", "almalinux", "ol", "fedora":
		return parts[0]
	case "centos":
		if stream {
			return "stream" + parts[0]
		}
		return parts[0]
	case "ubuntu", "alpine", "sles", "opensuse-leap":
		if len(parts) < 2 {
			return parts[0]
		}
		return parts[0] + "." + parts[1]
	case "amzn":
		if parts[0] == "2" || parts[0] == "2023" {
			return parts[0]
		}
	}
	return version
}

// ecosystem is the OSV ecosystem of a release, as OSV records spell it;
// empty where OSV has none (CentOS, Amazon Linux, Fedora).
func ecosystem(family, key, version string) string {
	switch family {
	case "debian":
		if _, err := strconv.Atoi(key); err == nil {
			return inventory.EcoDebian + ":" + key
		}
	case "ubuntu":
		year, month, ok := strings.Cut(key, ".")
		y, err := strconv.Atoi(year)
		if !ok || err != nil {
			return ""
		}
		// LTS releases are the April releases of even years.
		if y%2 == 0 && month == "04" {
			return inventory.EcoUbuntu + ":" + key + ":LTS"
		}
		return inventory.EcoUbuntu + ":" + key
	case "alpine":
		// Edge snapshots (3.21_alpha20240807) have no branch of their own.
		if !strings.Contains(version, "_") {
			return inventory.EcoAlpine + ":v" + key
		}
	case "wolfi":
		return inventory.EcoWolfi
	case "chainguard":
		return inventory.EcoChainguard
	case "rocky":
		return inventory.EcoRocky + ":" + key
	case "almalinux":
		return inventory.EcoAlma + ":" + key
	case "rhel":
		// Red Hat records name a CPE per repository after this prefix
		// ("Red Hat:enterprise_linux:9::appstream").
		return inventory.EcoRedHat + ":enterprise_linux:" + key
	case "sles":
		major, minor, _ := strings.Cut(key, ".")
		if minor == "" || minor == "0" {
			return "SUSE:Linux Enterprise Server " + major
		}
		return "SUSE:Linux Enterprise Server " + major + " SP" + minor
	case "opensuse-leap":
		return "openSUSE:Leap " + key
	case "opensuse-tumbleweed":
		return "openSUSE:Tumbleweed"
	}
	return ""
}

// parseKV reads the shell-style assignments of os-release(5) and
// lsb-release: KEY=value, KEY="value" or KEY='value', comments and blank
// lines. Bad lines are reported and skipped.
func parseKV(b []byte) (map[string]string, error) {
	kv := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxSize+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok || !isKey(key) {
			errs = append(errs, fmt.Errorf("line %d: not KEY=value: %.40q", line, text))
			continue
		}
		v, err := unquote(value)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", line, key, err))
			continue
		}
		kv[key] = v
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return kv, errors.Join(errs...)
}

func isKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// unquote undoes shell quoting as os-release(5) allows it.
func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q {
			return "", errors.New("unterminated quote")
		}
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v, nil
		}
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
				c = v[i]
			}
			sb.WriteByte(c)
		}
		return sb.String(), nil
	}
	return v, nil
}

// oneLine returns the first line of a one-line release file.
func oneLine(b []byte) (string, error) {
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	s := strings.TrimSpace(string(line))
	if s == "" {
		return "", errors.New("line 1: empty")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", errors.New("line 2: more than one line")
	}
	return s, nil
}

// isVersion reports a release number: digits and dots, with an optional
// suffix after '_' (Alpine edge).
func isVersion(s string) bool {
	num, _, _ := strings.Cut(s, "_")
	if num == "" || num[0] == '.' || num[len(num)-1] == '.' {
		return false
	}
	for _, r := range num {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// parenthesized returns the text in the last parentheses of s: the
// codename in "12 (bookworm)" or "9.4 (Blue Onyx)".
func parenthesized(s string) string {
	i := strings.LastIndexByte(s, '(')
	j := strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return ""
	}
	return strings.TrimSpace(s[i+1 : j])
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
