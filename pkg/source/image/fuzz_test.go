package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// fixtureImage is the small image of the fixtures in testdata.
func fixtureImage(t testing.TB) v1.Image {
	return buildImage(t, "linux/amd64",
		step{"base", []tf{file("etc/test-os", "debian 12\n"), pkgdb("var/lib", "a=1", "b=2")}},
		step{"change", []tf{pkgdb("var/lib", "a=1", "b=3"), whiteout("etc/test-os"), opaque("srv"), symlink("lib", "usr/lib")}},
	)
}

// TestFixtures pins what the fixture tarballs in testdata (the fuzz
// seeds) hold; -update regenerates them.
func TestFixtures(t *testing.T) {
	ctx := context.Background()
	if *update {
		img := fixtureImage(t)
		tarDir(t, writeLayout(t, img), filepath.Join("testdata", "oci.tar"))
		if err := tarball.WriteToFile(filepath.Join("testdata", "docker.tar"), mustTag(t, "fixture:1"), img); err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		rc, _ := ls[1].Uncompressed()
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if err := os.WriteFile(filepath.Join("testdata", "layer.tar"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]summary{}
	for _, n := range []string{"oci.tar", "docker.tar"} {
		im, err := Open(ctx, filepath.Join("testdata", n), Options{})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := im.Inventory(ctx, testScanner())
		if err != nil {
			t.Fatal(err)
		}
		im.Close()
		got[n] = summarize(inv)
	}
	golden(t, "fixtures.golden.json", got)
}

func seeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, n := range []string{"oci.tar", "docker.tar", "layer.tar"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzOpenTarball feeds arbitrary files to Open and Inventory: errors
// are fine, panics are not.
func FuzzOpenTarball(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		p := filepath.Join(t.TempDir(), "in.tar")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		im, err := Open(ctx, p, Options{})
		if err != nil {
			return
		}
		defer im.Close()
		if _, err := im.Inventory(ctx, testScanner()); err != nil {
			t.Fatalf("Inventory: %v (only ctx may fail it)", err)
		}
	})
}

// FuzzLayer feeds arbitrary layer blobs (tar, gzip, anything) to the
// walk and the squash.
func FuzzLayer(f *testing.F) {
	for _, b := range seeds(f) {
		f.Add(b)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		f.Add(z.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		im := &Image{
			layers: []inventory.Layer{{Index: 0, Digest: "sha256:0"}, {Index: 1, Digest: "sha256:1"}},
			v1:     []v1.Layer{static.NewLayer(b, types.OCILayer), static.NewLayer(b, types.OCILayer)},
		}
		inv, err := im.Inventory(context.Background(), testScanner())
		if err != nil {
			t.Fatalf("Inventory: %v", err)
		}
		for _, p := range inv.Packages {
			if p.Layer == nil {
				t.Fatalf("package %s without a layer", p.Name)
			}
		}
		for _, p := range inv.Problems {
			if p.Layer == nil {
				t.Fatalf("problem %v without a layer", p)
			}
		}
	})
}
