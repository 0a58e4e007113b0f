package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite golden files")

// pkgdbAnalyzer reads the test format: files named "pkgdb", one
// name=version per line, "#" comments.
type pkgdbAnalyzer struct{}

func (pkgdbAnalyzer) Name() string { return "pkgdb" }

func (pkgdbAnalyzer) Wants(p string, _ inventory.FileInfo) bool {
	return p == "pkgdb" || strings.HasSuffix(p, "/pkgdb")
}

func (pkgdbAnalyzer) Analyze(_ context.Context, f *inventory.File) (*inventory.Result, error) {
	r := &inventory.Result{}
	sc := bufio.NewScanner(f.Reader())
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, ver, ok := strings.Cut(line, "=")
		if !ok || name == "" || ver == "" {
			return nil, fmt.Errorf("line %d: want name=version, got %q", n, line)
		}
		r.Packages = append(r.Packages, inventory.Package{Type: inventory.Npm, Ecosystem: inventory.EcoNpm, Name: name, Version: ver, Path: f.Path})
	}
	return r, sc.Err()
}

// osAnalyzer reads etc/test-os: "family version".
type osAnalyzer struct{}

func (osAnalyzer) Name() string { return "testos" }

func (osAnalyzer) Wants(p string, _ inventory.FileInfo) bool { return p == "etc/test-os" }

func (osAnalyzer) Analyze(_ context.Context, f *inventory.File) (*inventory.Result, error) {
	b, err := io.ReadAll(f.Reader())
	if err != nil {
		return nil, err
	}
	fam, ver, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok {
		return nil, fmt.Errorf("line 1: want family and version")
	}
	return &inventory.Result{OS: &inventory.OS{Family: fam, Version: ver, Path: f.Path}}, nil
}

func testScanner() *inventory.Scanner {
	return &inventory.Scanner{Analyzers: []inventory.Analyzer{pkgdbAnalyzer{}, osAnalyzer{}}, Workers: 2}
}

// tf is a tar entry of a test layer: a file unless typ says otherwise.
type tf struct {
	name, body string
	typ        byte
	link       string
}

func dir(name string) tf         { return tf{name: name, typ: tar.TypeDir} }
func whiteout(p string) tf       { d, b := filepath.Split(p); return tf{name: d + ".wh." + b} }
func opaque(d string) tf         { return tf{name: d + "/.wh..wh..opq"} }
func symlink(name, to string) tf { return tf{name: name, typ: tar.TypeSymlink, link: to} }
func file(name, body string) tf  { return tf{name: name, body: body} }
func pkgdb(dir string, pkgs ...string) tf {
	return file(strings.TrimPrefix(dir+"/pkgdb", "/"), strings.Join(pkgs, "\n")+"\n")
}

func tarBytes(t testing.TB, files ...tf) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: 0o644, Linkname: f.link}
		switch f.typ {
		case 0:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		case tar.TypeDir:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t testing.TB, files ...tf) v1.Layer {
	t.Helper()
	b := tarBytes(t, files...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one layer with the command that made it.
type step struct {
	createdBy string
	files     []tf
}

// buildImage stacks layers on an empty image with history, an empty_layer
// entry before each layer so that pairing has to skip them.
func buildImage(t testing.TB, platform string, steps ...step) v1.Image {
	t.Helper()
	var ls []v1.Layer
	var hist []v1.History
	for i, s := range steps {
		ls = append(ls, layerOf(t, s.files...))
		hist = append(hist, v1.History{CreatedBy: fmt.Sprintf("ENV STEP=%d", i), EmptyLayer: true}, v1.History{CreatedBy: s.createdBy})
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.History = hist
	cfg.Config.Env = []string{"PATH=/usr/bin"}
	cfg.Config.User = "1000"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeLayout(t testing.TB, img v1.Image) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(d, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return d
}

// tarDir writes the files of dir into a tar, as `tar -cf out -C dir .`.
func tarDir(t testing.TB, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// summary is the part of an inventory the golden files pin.
type summary struct {
	OS       string   `json:"os,omitempty"`
	Packages []string `json:"packages"`
	Problems []string `json:"problems,omitempty"`
}

func summarize(inv *inventory.Inventory) summary {
	s := summary{Packages: []string{}}
	if inv.OS != nil {
		s.OS = inv.OS.Family + " " + inv.OS.Version + " from " + inv.OS.Path
	}
	for _, p := range inv.Packages {
		l := "no layer"
		if p.Layer != nil {
			l = fmt.Sprintf("layer %d (%s)", p.Layer.Index, p.Layer.CreatedBy)
		}
		s.Packages = append(s.Packages, fmt.Sprintf("%s %s@%s: %s", p.Path, p.Name, p.Version, l))
	}
	for _, p := range inv.Problems {
		// Digests differ between compressed and uncompressed stores of
		// the same image; the index says which layer.
		s.Problems = append(s.Problems, fmt.Sprintf("layer %d %s: %s: %v", layerIndex(p.Layer), p.Path, p.Analyzer, p.Err))
	}
	return s
}

func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from the golden file (-update rewrites it):\n got: %s\nwant: %s", p, b, want)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
