package cli

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/vulndb"
)

const rootfs = "../../examples/vuln/rootfs"

// testDB imports the matcher's hand-written records into a new database.
func testDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "osv.db")
	if _, err := vulndb.Import(context.Background(), db, []string{"../../examples/vuln/osv.zip"}, vulndb.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// vulnJSON is the part of the JSON report these tests read.
type vulnJSON struct {
	Artifact struct {
		Name, Kind, OSEcosystem string
		Packages                int
	}
	Findings []struct {
		CheckID       string
		Severity      string
		Location      struct{ File, Source string }
		Vulnerability struct {
			ID, Package, InstalledVersion, SourcePackage, Due string
			FixedVersions                                     []string
			Overdue                                           bool
			Layer                                             *struct{ Index int }
		}
	}
	Suppressed []struct {
		Finding   struct{ CheckID string }
		Exception struct{ File, Reason string }
	}
	Errors []struct{ File, Message string }
}

func scanJSON(t *testing.T, wantCode int, args ...string) vulnJSON {
	t.Helper()
	code, out, errOut := run(t, "", append(args, "--format", "json", "--now", "2026-11-24", "--exit-code", "0")...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstderr: %s\nstdout: %s", code, wantCode, errOut, out)
	}
	var rep vulnJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rep
}

func ids(rep vulnJSON) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.CheckID+" "+f.Vulnerability.Package+" "+f.Location.File)
	}
	return out
}

func TestScanRootfs(t *testing.T) {
	db := testDB(t)
	rep := scanJSON(t, ExitClean, "scan", "rootfs", "--db", db, rootfs)
	want := []string{
		// Matched by source package (glibc, openssl), installed Python
		// package by its PEP 503 name.
		"CVE-2024-22195 Jinja2 usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA",
		"CVE-2010-4756 libc6 var/lib/dpkg/status",
		"CVE-2023-5363 libssl3 var/lib/dpkg/status",
	}
	got := ids(rep)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Artifact.OSEcosystem != "Debian:12" || rep.Artifact.Packages != 4 || rep.Artifact.Kind != "rootfs" {
		t.Errorf("artifact = %+v", rep.Artifact)
	}

	t.Run("ignore-unfixed", func(t *testing.T) {
		rep := scanJSON(t, ExitClean, "scan", "rootfs", "--db", db, "--ignore-unfixed", rootfs)
		for _, f := range rep.Findings {
			if len(f.Vulnerability.FixedVersions) == 0 {
				t.Errorf("%s has no fix but was reported", f.CheckID)
			}
		}
		if len(rep.Findings) != 2 {
			t.Errorf("got %d findings, want 2", len(rep.Findings))
		}
	})
	t.Run("exceptions by package and VEX", func(t *testing.T) {
		dir := t.TempDir()
		ignore := filepath.Join(dir, "ignore.yaml")
		os.WriteFile(ignore, []byte("exceptions:\n  - check: CVE-2010-4756\n    packages: [libc6]\n    reason: not reachable\n    owner: platform\n    expires: 2027-01-31\n"), 0o644)
		vexDoc := filepath.Join(dir, "vex.json")
		os.WriteFile(vexDoc, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"sec","timestamp":"2026-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2024-22195"},"products":[{"@id":"pkg:pypi/jinja2"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`), 0o644)
		rep := scanJSON(t, ExitClean, "scan", "rootfs", "--db", db, "--ignorefile", ignore, "--vex", vexDoc, "--show-suppressed", rootfs)
		if got := ids(rep); !slices.Equal(got, []string{"CVE-2023-5363 libssl3 var/lib/dpkg/status"}) {
			t.Errorf("findings %v", got)
		}
		var sup []string
		for _, s := range rep.Suppressed {
			sup = append(sup, s.Finding.CheckID+": "+s.Exception.Reason)
		}
		slices.Sort(sup)
		want := []string{"CVE-2010-4756: not reachable", "CVE-2024-22195: VEX not_affected: vulnerable_code_not_in_execute_path"}
		if !slices.Equal(sup, want) {
			t.Errorf("suppressed %q, want %q", sup, want)
		}
	})
	t.Run("SLA and fail-on-overdue", func(t *testing.T) {
		rep := scanJSON(t, ExitClean, "scan", "rootfs", "--db", db, "--sla", "HIGH=30,MEDIUM=30", rootfs)
		overdue := 0
		for _, f := range rep.Findings {
			if f.Vulnerability.Overdue {
				overdue++
				if f.Vulnerability.Due == "" {
					t.Errorf("%s overdue without a due date", f.CheckID)
				}
			}
		}
		if overdue != 2 {
			t.Errorf("%d overdue, want 2 (CVE-2023-5363 and CVE-2024-22195)", overdue)
		}
		code, _, errOut := run(t, "", "scan", "rootfs", "--db", db, "--now", "2026-11-24", "--sla", "HIGH=30", "--fail-on", "CRITICAL", "--fail-on-overdue", rootfs)
		if code != ExitFindings || !strings.Contains(errOut, "past their SLA due date") {
			t.Errorf("exit %d, stderr %q; want %d and an SLA message", code, errOut, ExitFindings)
		}
	})
	t.Run("gate", func(t *testing.T) {
		for _, tt := range []struct {
			failOn string
			want   int
		}{{"CRITICAL", ExitClean}, {"HIGH", ExitFindings}} {
			if code, _, errOut := run(t, "", "scan", "rootfs", "--db", db, "--fail-on", tt.failOn, rootfs); code != tt.want {
				t.Errorf("--fail-on %s: exit %d, want %d\n%s", tt.failOn, code, tt.want, errOut)
			}
		}
	})
	t.Run("missing database", func(t *testing.T) {
		code, _, errOut := run(t, "", "scan", "rootfs", "--db", filepath.Join(t.TempDir(), "none.db"), rootfs)
		if code != ExitError || !strings.Contains(errOut, "mamori db") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("stale database", func(t *testing.T) {
		code, _, errOut := run(t, "", "scan", "rootfs", "--db", db, "--db-max-age", "1ns", "--fail-on-stale-db", rootfs)
		if code != ExitError || !strings.Contains(errOut, "older than --db-max-age") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestScanFs(t *testing.T) {
	db := testDB(t)
	rep := scanJSON(t, ExitClean, "scan", "fs", "--db", db, "../../examples/vuln")
	// A source scan reads lock files, not the installed dist-info or the
	// dpkg database under the rootfs fixture.
	if got := ids(rep); !slices.Equal(got, []string{"CVE-2024-22195 jinja2 src/requirements.txt"}) {
		t.Errorf("findings %v", got)
	}
}

// TestScanImageLayers scans the rootfs fixture as a two-layer image: the
// dpkg database in the first layer, the Python package in the second.
func TestScanImageLayers(t *testing.T) {
	db := testDB(t)
	dir := t.TempDir()
	base := tarDir(t, rootfs, "var", "etc")
	app := tarDir(t, rootfs, "usr")
	l1, err := tarball.LayerFromFile(base)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := tarball.LayerFromFile(app)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	rep := scanJSON(t, ExitClean, "scan", "image", "--db", db, filepath.Join(dir, "oci"))
	layers := map[string]int{}
	for _, f := range rep.Findings {
		if f.Vulnerability.Layer == nil {
			t.Errorf("%s: no layer", f.CheckID)
			continue
		}
		layers[f.Vulnerability.Package] = f.Vulnerability.Layer.Index
	}
	if layers["libssl3"] != 0 || layers["Jinja2"] != 1 || len(layers) != 3 {
		t.Errorf("layers by package: %v", layers)
	}
	if !strings.Contains(rep.Artifact.Name, "@sha256:") {
		t.Errorf("artifact name %q has no digest", rep.Artifact.Name)
	}

	t.Run("SBOM round trip", func(t *testing.T) {
		for _, format := range []string{"cyclonedx", "spdx-json"} {
			out := filepath.Join(dir, format+".json")
			if code, _, errOut := run(t, "", "scan", "image", "--format", format, "-o", out, filepath.Join(dir, "oci")); code != 0 {
				t.Fatalf("%s: exit %d: %s", format, code, errOut)
			}
			// Licences from Debian's copyright files join the dpkg
			// packages through the image's layers too.
			if data, err := os.ReadFile(out); err != nil || !strings.Contains(string(data), "LGPL-2.1") {
				t.Errorf("%s: no libc6 licence in the SBOM (%v)", format, err)
			}
			back := scanJSON(t, ExitClean, "scan", "sbom", "--db", db, out)
			got, want := idsOnly(back), idsOnly(rep)
			if !slices.Equal(got, want) {
				t.Errorf("%s: findings from the SBOM %v, from the image %v", format, got, want)
			}
		}
	})
}

// TestScanImageRegistry pulls a multi-arch image from an in-process
// registry on loopback over plain HTTP and picks the platform with
// --platform. (Loopback registries are plain HTTP even without
// --insecure; pkg/source/image tests the flag on a named host.)
func TestScanImageRegistry(t *testing.T) {
	db := testDB(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	layer, err := tarball.LayerFromFile(tarDir(t, rootfs, "var", "etc", "usr"))
	if err != nil {
		t.Fatal(err)
	}
	amd, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if amd, err = mutate.AppendLayers(amd, layer); err != nil {
		t.Fatal(err)
	}
	arm, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	ref, err := name.ParseReference(host+"/shop/api:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the machine's own
	rep := scanJSON(t, ExitClean, "scan", "image", "--db", db, "--insecure", "--platform", "linux/amd64", host+"/shop/api:1.0")
	if len(rep.Findings) != 3 {
		t.Errorf("linux/amd64: findings %v, want 3", ids(rep))
	}
	rep = scanJSON(t, ExitClean, "scan", "image", "--db", db, "--insecure", "--platform", "linux/arm64", host+"/shop/api:1.0")
	if len(rep.Findings) != 0 {
		t.Errorf("linux/arm64 (an empty image): findings %v", ids(rep))
	}
	// An OpenVEX statement about the image, by its OCI package URL, with
	// the package as a subcomponent.
	vexDoc := filepath.Join(t.TempDir(), "vex.json")
	os.WriteFile(vexDoc, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/2","author":"shop","timestamp":"2026-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2023-5363"},"products":[{"@id":"pkg:oci/api?repository_url=`+host+`/shop/api","subcomponents":[{"@id":"pkg:deb/debian/libssl3"}]}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`), 0o644)
	rep = scanJSON(t, ExitClean, "scan", "image", "--db", db, "--vex", vexDoc, "--show-suppressed", host+"/shop/api:1.0")
	if len(rep.Findings) != 2 || len(rep.Suppressed) != 1 || rep.Suppressed[0].Finding.CheckID != "CVE-2023-5363" {
		t.Errorf("with VEX: findings %v, suppressed %+v", ids(rep), rep.Suppressed)
	}
	code, _, errOut := run(t, "", "scan", "image", "--db", db, "--insecure", "--platform", "linux/s390x", host+"/shop/api:1.0")
	if code != ExitError || !strings.Contains(errOut, "linux/arm64") {
		t.Errorf("unknown platform: exit %d, stderr %q; want the available platforms listed", code, errOut)
	}
}

func idsOnly(rep vulnJSON) []string {
	var out []string
	for _, f := range rep.Findings {
		// Package URLs spell PyPI names normalised (Jinja2 → jinja2).
		out = append(out, f.CheckID+" "+strings.ToLower(f.Vulnerability.Package)+" "+f.Vulnerability.InstalledVersion)
	}
	slices.Sort(out)
	return out
}

// tarDir writes the named top-level directories of root as a tar file.
func tarDir(t *testing.T, root string, dirs ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "layer.tar")
	args := append([]string{"-cf", out, "-C", root}, dirs...)
	if b, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	return out
}

// TestScanVM scans the rootfs fixture as an ext4 filesystem in a raw disk
// image, read without mounting.
func TestScanVM(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("mkfs.ext4 not installed (e2fsprogs)")
	}
	db := testDB(t)
	img := filepath.Join(t.TempDir(), "disk.raw")
	if b, err := exec.Command(mkfs, "-q", "-F", "-d", rootfs, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, b)
	}
	rep := scanJSON(t, ExitClean, "scan", "vm", "--db", db, img)
	if len(rep.Findings) != 3 || rep.Artifact.OSEcosystem != "Debian:12" {
		t.Errorf("findings %v, artifact %+v", ids(rep), rep.Artifact)
	}

	t.Run("unsupported filesystem", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "xfs.raw")
		data := make([]byte, 1<<20)
		copy(data, "XFSB")
		os.WriteFile(bad, data, 0o644)
		code, _, errOut := run(t, "", "scan", "vm", "--db", db, bad)
		if code != ExitError || !strings.Contains(errOut, "xfs") || !strings.Contains(errOut, "unsupported") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

func TestVersionCompareCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"Debian", "3.0.11-1~deb12u1", "3.0.11-1"}, "-1"},
		{[]string{"Debian:12", "1:1.2.13.dfsg-1", "1.2.13.dfsg-1"}, "1"},
		{[]string{"PyPI", "1.0.post1", "1.0rc1"}, "1"},
		{[]string{"Maven", "2.0", "2.0.0"}, "0"},
		{[]string{"npm", "--", "1.0.0-alpha", "1.0.0"}, "-1"},
	} {
		code, out, errOut := run(t, "", append([]string{"version-compare"}, tt.args...)...)
		if code != 0 || strings.TrimSpace(out) != tt.want {
			t.Errorf("version-compare %v = %q (exit %d, %s), want %s", tt.args, out, code, errOut, tt.want)
		}
	}
	if code, _, errOut := run(t, "", "version-compare", "Nonesuch", "1", "2"); code != ExitError || errOut == "" {
		t.Errorf("unknown ecosystem: exit %d, %q", code, errOut)
	}
}

func TestVulnExplain(t *testing.T) {
	db := testDB(t)
	code, out, errOut := run(t, "", "vuln", "explain", "--db", db, "CVE-2023-5363", "--package", "openssl", "--version", "3.0.11-1~deb12u1", "--ecosystem", "Debian:12")
	if code != 0 || !strings.Contains(out, "3.0.11-1~deb12u2") || !strings.Contains(strings.ToLower(out), "affected") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	// The CVE record names only Debian's package; the Go record that
	// aliases it explains the module.
	code, out, errOut = run(t, "", "vuln", "explain", "--db", db, "CVE-2023-45288", "--package", "golang.org/x/net", "--version", "0.22.0")
	if code != 0 || !strings.Contains(out, "GO-2024-2687") || !strings.Contains(out, "AFFECTED") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	// By alias: the GHSA names CVE-2024-22195.
	code, out, errOut = run(t, "", "vuln", "explain", "--db", db, "CVE-2024-22195", "--package", "Jinja2", "--version", "3.1.3")
	if code != 0 || !strings.Contains(out, "GHSA-h5c8-rqwp-cp95") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestOCIPURL(t *testing.T) {
	for _, tt := range []struct{ ref, want string }{
		// packageurl-go percent-encodes the qualifier's slashes; VEX
		// matching compares decoded values.
		{"registry.example.com/shop/api:1.4", "pkg:oci/api@sha256:abc?repository_url=registry.example.com%2Fshop%2Fapi"},
		{"alpine:3.20", "pkg:oci/alpine@sha256:abc?repository_url=index.docker.io%2Flibrary%2Falpine"},
		{"Not A Reference", ""},
		{"", ""},
	} {
		if got := ociPURL(tt.ref, "sha256:abc"); got != tt.want {
			t.Errorf("ociPURL(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
}

// TestScanRootfsBrokenDatabase: a damaged package database is an error
// naming the file and line (exit 2), and the rest of the tree is still
// matched.
func TestScanRootfsBrokenDatabase(t *testing.T) {
	db := testDB(t)
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(rootfs)); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(root, "var/lib/dpkg/status")
	os.Chmod(status, 0o644)
	if err := os.WriteFile(status, []byte("Package: libssl3\nStatus: install ok installed\nVersion: 3.0\x01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := scanJSON(t, ExitError, "scan", "rootfs", "--db", db, root)
	if got := ids(rep); !slices.Equal(got, []string{"CVE-2024-22195 Jinja2 usr/lib/python3/dist-packages/Jinja2-3.1.2.dist-info/METADATA"}) {
		t.Errorf("findings %v", got)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].File != "var/lib/dpkg/status" || !strings.Contains(rep.Errors[0].Message, "line 1") {
		t.Errorf("errors %+v", rep.Errors)
	}
}
