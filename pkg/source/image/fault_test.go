package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func randomBytes(n int, seed uint64) string {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return string(b)
}

// faultImage has a middle layer whose second database follows 512 KiB of
// incompressible data, so that a cut in the middle falls after the first.
func faultImage(t testing.TB) v1.Image {
	return buildImage(t, "linux/amd64",
		step{"base", []tf{pkgdb("var/lib", "base=1")}},
		step{"middle", []tf{pkgdb("app", "early=1"), file("blob.bin", randomBytes(512<<10, 1)), pkgdb("late", "late=1")}},
		step{"top", []tf{pkgdb("opt", "top=1")}},
	)
}

func blobPath(lay string, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(lay, "blobs", alg, hex)
}

func TestLayerFaults(t *testing.T) {
	ctx := context.Background()
	img := faultImage(t)
	middle := mustDigests(t, img)[1][0]
	cfgName, _ := img.ConfigName()
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, blob string)
		want    []string // package names
		problem string
	}{
		{"truncated", func(t *testing.T, blob string) {
			fi, _ := os.Stat(blob)
			if err := os.Truncate(blob, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, []string{"early", "base", "top"}, "unexpected EOF"},
		{"corrupt", func(t *testing.T, blob string) {
			b, _ := os.ReadFile(blob)
			b[len(b)*3/4] ^= 0xff
			os.WriteFile(blob, b, 0o644)
		}, []string{"early", "late", "base", "top"}, "gzip: invalid checksum"},
		{"not gzip", func(t *testing.T, blob string) {
			os.WriteFile(blob, []byte(strings.Repeat("garbage ", 200)), 0o644)
		}, []string{"base", "top"}, "layer is no readable tar stream: archive/tar: invalid tar header"},
		{"missing blob", func(t *testing.T, blob string) {
			os.Remove(blob)
		}, []string{"base", "top"}, "open layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lay := writeLayout(t, img)
			tc.damage(t, blobPath(lay, middle))
			im, err := Open(ctx, lay, Options{})
			if err != nil {
				t.Fatal(err)
			}
			inv, err := im.Inventory(ctx, testScanner())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range inv.Packages {
				got = append(got, p.Name)
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("packages %v, want %v", got, tc.want)
			}
			if len(inv.Problems) != 1 {
				t.Fatalf("problems %v, want one", inv.Problems)
			}
			p := inv.Problems[0]
			if p.Layer == nil || p.Layer.Index != 1 || p.Layer.Digest != middle || !strings.Contains(p.Error(), tc.problem) {
				t.Errorf("problem %q (layer %+v), want layer 1 %s saying %q", p.Error(), p.Layer, middle, tc.problem)
			}
		})
	}
	t.Run("missing config", func(t *testing.T) {
		lay := writeLayout(t, img)
		os.Remove(blobPath(lay, cfgName.String()))
		_, err := Open(ctx, lay, Options{})
		if err == nil || !strings.Contains(err.Error(), "config") || !strings.Contains(err.Error(), lay) {
			t.Errorf("error %v, want one naming the layout and its config", err)
		}
	})
}

// TestDockerSaveUncompressed reads an archive as docker save writes it:
// uncompressed layers, one of them reached through a symbolic link.
func TestDockerSaveUncompressed(t *testing.T) {
	ctx := context.Background()
	img := attributionImage(t)
	rawCfg, _ := img.RawConfigFile()
	ls, _ := img.Layers()
	var files []tf
	var paths []string
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		p := filepath.Join("l"+string(rune('0'+i)), "layer.tar")
		if i == 1 {
			files = append(files, file("data/one.tar", b.String()), symlink(p, "../data/one.tar"))
		} else {
			files = append(files, file(p, b.String()))
		}
		paths = append(paths, p)
	}
	m, _ := json.Marshal(tarball.Manifest{{Config: "config.json", RepoTags: []string{"app:1"}, Layers: paths}})
	files = append(files, file("config.json", string(rawCfg)), file("manifest.json", string(m)))
	archive := filepath.Join(t.TempDir(), "save.tar")
	if err := os.WriteFile(archive, tarBytes(t, files...), 0o644); err != nil {
		t.Fatal(err)
	}
	im, err := Open(ctx, archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if im.Digest != "" || !im.raw {
		t.Errorf("digest %q raw %v, want none and raw", im.Digest, im.raw)
	}
	for i, l := range im.Layers() {
		if l.Digest != l.DiffID || l.DiffID != mustDigests(t, img)[i][1] {
			t.Errorf("layer %d: %+v, want digest = diff ID", i, l)
		}
	}
	inv, err := im.Inventory(ctx, testScanner())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "attribution.golden.json", summarize(inv))
}

func TestWalk(t *testing.T) {
	ctx := context.Background()
	const limit = 4 << 10
	big := strings.Repeat("0123456789abcdef", limit/8)
	img := buildImage(t, "linux/amd64",
		step{"base", []tf{dir("./etc/"), file("./etc/passwd", "root:x:0:0\n"), file("/abs", "x"), {name: "etc/hard", typ: tar.TypeLink, link: "./etc/passwd"}, file("big", big)}},
		step{"change", []tf{whiteout("etc/passwd"), opaque("usr/lib"), symlink("lib", "usr/lib"), {name: "dev/null", typ: tar.TypeChar}, {name: ".wh..wh.plnk/1", typ: tar.TypeReg}}},
	)
	im, err := Open(ctx, writeLayout(t, img), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	im.memLimit = limit
	type seen struct {
		Layer      int
		Kind, Path string
		Link, Body string
	}
	var got []seen
	var opens []inventory.OpenFunc
	err = im.Walk(ctx, func(l inventory.Layer, e Entry, open inventory.OpenFunc) error {
		s := seen{Layer: l.Index, Kind: e.Kind.String(), Path: e.Path, Link: e.Link}
		if open != nil {
			opens = append(opens, open)
			f, err := open()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(f.Reader())
			if err != nil {
				return err
			}
			s.Body = string(b)
			if len(s.Body) > limit {
				// Spilled to a temporary file named like the original,
				// which Close removes.
				if filepath.Base(f.LocalPath) != "big" {
					t.Errorf("big file's local path %q", f.LocalPath)
				}
				if s.Body != big {
					t.Error("big file's content differs")
				}
				s.Body = "(big)"
				f.Close()
				if _, err := os.Stat(f.LocalPath); !os.IsNotExist(err) {
					t.Errorf("temporary %s left after Close: %v", f.LocalPath, err)
				}
			} else {
				f.Close()
			}
		}
		got = append(got, s)
		return nil
	}, func(p inventory.Problem) { t.Errorf("problem %v", p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{0, "dir", "etc", "", ""},
		{0, "file", "etc/passwd", "", "root:x:0:0\n"},
		{0, "file", "abs", "", "x"},
		{0, "hardlink", "etc/hard", "etc/passwd", ""},
		{0, "file", "big", "", "(big)"},
		{1, "whiteout", "etc/passwd", "", ""},
		{1, "opaque", "usr/lib", "", ""},
		{1, "symlink", "lib", "usr/lib", ""},
		{1, "other", "dev/null", "", ""},
		{1, "other", ".wh..wh.plnk/1", "", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("walk:\n got %+v\nwant %+v", got, want)
	}
	if _, err := opens[0](); err == nil {
		t.Error("open after the callback returned worked")
	}
}

func TestZstdLayers(t *testing.T) {
	ctx := context.Background()
	var ls []v1.Layer
	for _, files := range [][]tf{
		{pkgdb("var/lib", "a=1", "b=2")},
		{pkgdb("var/lib", "a=1", "b=3")},
	} {
		b := tarBytes(t, files...)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
			tarball.WithCompression(compression.ZStd))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Open(ctx, writeLayout(t, img), Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := im.Inventory(ctx, testScanner())
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(inv)
	want := summary{Packages: []string{"var/lib/pkgdb a@1: layer 0 ()", "var/lib/pkgdb b@3: layer 1 ()"}}
	if !slices.Equal(got.Packages, want.Packages) || len(got.Problems) > 0 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestInventoryCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	im, err := Open(ctx, writeLayout(t, faultImage(t)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := im.Inventory(ctx, testScanner()); !errors.Is(err, context.Canceled) {
		t.Errorf("Inventory after cancel: %v, want context.Canceled", err)
	}
	err = im.Walk(ctx, func(inventory.Layer, Entry, inventory.OpenFunc) error { return nil }, func(inventory.Problem) {})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Walk after cancel: %v, want context.Canceled", err)
	}
}

// TestHardlinks: a hard link to an analyzed file carries its packages
// under its own path, and outlives the deletion of its target; a link an
// analyzer wants to a file none read is a problem.
func TestHardlinks(t *testing.T) {
	ctx := context.Background()
	hard := func(name, to string) tf { return tf{name: name, typ: tar.TypeLink, link: to} }
	img := buildImage(t, "linux/amd64",
		step{"install", []tf{
			pkgdb("opt/tool", "tool=1"), hard("usr/bin/pkgdb", "opt/tool/pkgdb"),
			file("usr/share/blob", "data"), hard("srv/pkgdb", "usr/share/blob"),
			hard("usr/share/blob2", "usr/share/blob"), // wanted by no one: nothing to say
		}},
		step{"rm -rf /opt/tool", []tf{whiteout("opt/tool")}},
	)
	im, err := Open(ctx, writeLayout(t, img), Options{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := im.Inventory(ctx, testScanner())
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(inv)
	want := summary{
		Packages: []string{"usr/bin/pkgdb tool@1: layer 0 (install)"},
		Problems: []string{"layer 0 srv/pkgdb: : hard link to usr/share/blob, which no analyzer read, so its content is gone from the stream"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDuplicatePathInLayer: a layer holding one path twice (tar --append)
// counts its last copy, as extraction does, however the analyses of the
// two copies finish.
func TestDuplicatePathInLayer(t *testing.T) {
	first := []string{}
	for i := range 2000 { // a slow first copy, a quick last one
		first = append(first, fmt.Sprintf("old%d=1.0.0", i))
	}
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, pkgdb("app", first...), pkgdb("app", "new=2.0.0")))
	if err != nil {
		t.Fatal(err)
	}
	ref := writeLayout(t, img)
	for range 20 {
		im, err := Open(context.Background(), ref, Options{})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := im.Inventory(context.Background(), testScanner())
		im.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Packages) != 1 || inv.Packages[0].Name != "new" {
			t.Fatalf("%d packages (first %v), want only new=2.0.0 from the last copy", len(inv.Packages), inv.Packages[:min(1, len(inv.Packages))])
		}
	}
}
