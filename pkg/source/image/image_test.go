package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// attributionImage installs, adds, upgrades and deletes packages over
// four layers, with whiteouts, opaque directories and a directory
// replaced by a symlink.
func attributionImage(t testing.TB) v1.Image {
	return buildImage(t, "linux/amd64",
		step{"ADD rootfs.tar /", []tf{
			dir("etc"), file("etc/test-os", "debian 12\n"),
			pkgdb("var/lib", "openssl=1.0", "zlib=1.2", "libc=2.36"),
			pkgdb("opt", "tool=1"),
			pkgdb("srv", "web=1"),
			pkgdb("lib", "old=1"),
			file("usr/bin/a", "binary"),
		}},
		step{"RUN apt-get install curl", []tf{
			pkgdb("var/lib", "openssl=1.0", "zlib=1.2", "libc=2.36", "curl=7.88"),
			pkgdb("app", "left-pad=1.0.0"),
			opaque("srv"),
			pkgdb("tmp/x", "a=1"),
		}},
		step{"RUN apt-get upgrade openssl", []tf{
			pkgdb("var/lib", "openssl=3.0", "zlib=1.2", "libc=2.36", "curl=7.88"),
			opaque("opt"), pkgdb("opt", "tool=1"),
			pkgdb("srv", "web=1"),
			symlink("lib", "usr/lib"),
			file("bad/pkgdb", "this is not a database\n"),
		}},
		step{"RUN apt-get remove zlib && rm -rf /app /tmp/x", []tf{
			file("etc/test-os", "debian 12.5\n"),
			pkgdb("var/lib", "openssl=3.0", "libc=2.36", "curl=7.88"),
			whiteout("app/pkgdb"),
			whiteout("tmp/x"),
		}},
	)
}

func TestInventoryAttribution(t *testing.T) {
	ctx := context.Background()
	img := attributionImage(t)
	im, err := Open(ctx, writeLayout(t, img), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	inv, err := im.Inventory(ctx, testScanner())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "attribution.golden.json", summarize(inv))
	for _, p := range inv.Packages {
		if p.Layer == nil {
			t.Fatalf("%s has no layer", p.Name)
		}
		if want := im.Layers()[p.Layer.Index]; *p.Layer != want {
			t.Errorf("%s: layer %+v, want %+v", p.Name, *p.Layer, want)
		}
	}
	// The problem of the bad database names its layer by digest.
	if len(inv.Problems) != 1 || inv.Problems[0].Layer == nil || inv.Problems[0].Layer.Digest != im.Layers()[2].Digest {
		t.Errorf("problems %v, want one in layer 2 (%s)", inv.Problems, im.Layers()[2].Digest)
	}
}

// TestFormats opens one image written in every format Open reads and
// checks that each gives the same layers and inventory.
func TestFormats(t *testing.T) {
	ctx := context.Background()
	img := attributionImage(t)
	wantDigest, _ := img.Digest()
	wantID, _ := img.ConfigName()

	lay := writeLayout(t, img)
	ociTar := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, lay, ociTar)
	dockerTar := filepath.Join(t.TempDir(), "docker.tar")
	tag, _ := name.NewTag("example.com/team/app:1.0")
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/app:1.0"
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}

	var want []inventory.Layer
	for i, d := range mustDigests(t, img) {
		want = append(want, inventory.Layer{Index: i, Digest: d[0], DiffID: d[1]})
	}
	for i, c := range []string{"ADD rootfs.tar /", "RUN apt-get install curl", "RUN apt-get upgrade openssl", "RUN apt-get remove zlib && rm -rf /app /tmp/x"} {
		want[i].CreatedBy = c
	}
	for _, tc := range []struct {
		name, ref, digest string
	}{
		{"layout dir", lay, wantDigest.String()},
		{"OCI tarball", ociTar, wantDigest.String()},
		{"docker archive", dockerTar, ""},
		{"registry", ref, wantDigest.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := Open(ctx, tc.ref, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if im.Name != tc.ref || im.Digest != tc.digest || im.ID != wantID.String() || im.IndexDigest != "" {
				t.Errorf("name %q digest %q id %q, want %q %q %q", im.Name, im.Digest, im.ID, tc.ref, tc.digest, wantID)
			}
			if im.Platform() != "linux/amd64" || im.Config.Config.User != "1000" || len(im.Config.History) != 8 {
				t.Errorf("config: platform %s user %q history %d", im.Platform(), im.Config.Config.User, len(im.Config.History))
			}
			if diff := cmp.Diff(want, im.Layers()); diff != "" {
				t.Errorf("layers (-want +got):\n%s", diff)
			}
			inv, err := im.Inventory(ctx, testScanner())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "attribution.golden.json", summarize(inv))
		})
	}
}

func mustRef(t testing.TB, s string, opts ...name.Option) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustDigests returns each layer's digest and diff ID.
func mustDigests(t testing.TB, img v1.Image) [][2]string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		id, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{d.String(), id.String()})
	}
	return out
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	d := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("notes.txt", []byte("hello\n"))
	gz := write("image.tar.gz", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0})
	otherTar := write("other.tar", tarBytes(t, file("README", "hi")))
	emptyDir := filepath.Join(d, "emptydir")
	os.Mkdir(emptyDir, 0o755)
	for _, tc := range []struct {
		name, ref string
		is        error
		msg       string
	}{
		{"text file", plain, ErrFormat, "notes.txt is neither a docker save tarball nor an OCI layout tarball"},
		{"gzip", gz, ErrFormat, "gzip-compressed"},
		{"other tar", otherTar, ErrFormat, "no manifest.json"},
		{"dir", emptyDir, ErrFormat, "without an oci-layout file"},
		{"missing path", filepath.Join(d, "nope.tar"), os.ErrNotExist, "nope.tar"},
		{"bad platform", plain, nil, "want os/arch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.name == "bad platform" {
				opts.Platform = "arm64"
			}
			_, err := Open(ctx, tc.ref, opts)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestLayersHistoryMismatch(t *testing.T) {
	h := []v1.History{{CreatedBy: "a"}, {CreatedBy: "b", EmptyLayer: true}}
	if got := createdBy(h, 2); !slices.Equal(got, []string{"", ""}) {
		t.Errorf("createdBy with too little history = %q, want blanks", got)
	}
	if got := createdBy(h, 1); !slices.Equal(got, []string{"a"}) {
		t.Errorf("createdBy = %q", got)
	}
}

// errTransport fails every request: tests never reach the internet.
type errTransport struct{}

func (errTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("no network in tests: %s", r.URL.Host)
}

// TestRefNotShadowedByDirectory: a directory that is no image layout
// does not turn a registry reference into a local path.
func TestRefNotShadowedByDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("alpine", 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), "alpine:3.20", Options{Transport: errTransport{}, Keychain: authn.NewMultiKeychain()})
	if err == nil || !strings.Contains(err.Error(), "no network in tests: index.docker.io") {
		t.Errorf("alpine:3.20 with a directory alpine here: %v, want a registry request", err)
	}
	// The directory itself, named whole, is an error about it.
	if _, err := Open(context.Background(), "alpine", Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("alpine: %v, want ErrFormat", err)
	}
}
