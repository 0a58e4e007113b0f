package image

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// npmAnalyzer reads node_modules/*/package.json, as the real npm
// analyzer will, so that the benchmark opens and parses thousands of
// small files.
type npmAnalyzer struct{}

func (npmAnalyzer) Name() string { return "npm" }

func (npmAnalyzer) Wants(p string, info inventory.FileInfo) bool {
	return strings.HasSuffix(p, "/package.json") && strings.Contains(p, "node_modules/") && info.Size < 1<<20
}

func (npmAnalyzer) Analyze(_ context.Context, f *inventory.File) (*inventory.Result, error) {
	var m struct{ Name, Version string }
	if err := json.NewDecoder(f.Reader()).Decode(&m); err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: []inventory.Package{{Type: inventory.Npm, Ecosystem: inventory.EcoNpm, Name: m.Name, Version: m.Version, Path: f.Path}}}, nil
}

// genFile is a generated layer entry: size bytes, text-like (compressible)
// or random.
type genFile struct {
	name string
	size int
	text bool
	code bool   // machine code: the test binary itself, over and over
	body string // fixed content, when set
}

// genLayer streams a layer's tar from a deterministic generator, so that
// building a large image never holds a layer in memory.
func genLayer(files []genFile, seed uint64) tarball.Opener {
	return func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
			tw := tar.NewWriter(pw)
			buf := make([]byte, 1<<16)
			text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789\n", 1400))
			var code []byte
			codeOff := 0
			for _, f := range files {
				size := f.size
				if f.body != "" {
					size = len(f.body)
				}
				if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
					pw.CloseWithError(err)
					return
				}
				if f.body != "" {
					io.WriteString(tw, f.body)
					continue
				}
				for left := size; left > 0; {
					n := min(left, len(buf))
					chunk := buf[:n]
					switch {
					case f.code:
						if code == nil {
							exe, _ := os.Executable()
							if code, _ = os.ReadFile(exe); len(code) < len(buf) {
								code = append(code, text...)
							}
						}
						if codeOff+n > len(code) {
							codeOff = 0
						}
						chunk = code[codeOff : codeOff+n]
						codeOff += n
					case f.text:
						off := int(rng.Uint64() % 1000)
						chunk = text[off : off+n]
					default:
						// Six bits of entropy a byte: like machine code,
						// it takes real Huffman decoding to inflate.
						rng.Read(chunk)
						for i := range chunk {
							chunk[i] &= 0x3f
						}
					}
					if _, err := tw.Write(chunk); err != nil {
						pw.CloseWithError(err)
						return
					}
					left -= n
				}
			}
			pw.CloseWithError(tw.Close())
		}()
		return pr, nil
	}
}

// benchImage describes an image of about scale×1 GB uncompressed
// (scale×0.45 GB as a gzip docker archive) in five layers: a base of a
// few thousand files of varied sizes with a package database, a
// node_modules layer of npm packages, a runtime layer of four 100 MB
// libraries and an application layer of three 100 MB binaries (machine
// code: the test binary, repeated) and 50 MB of incompressible assets,
// and a last layer that rewrites the database and deletes a package.
func benchImage(b testing.TB, scale float64) v1.Image {
	b.Helper()
	n := func(x int) int { return max(1, int(float64(x)*scale)) }
	var base, node, runtime, app, top []genFile
	var db []string
	for i := range 300 {
		db = append(db, fmt.Sprintf("lib%d=1.%d", i, i))
	}
	base = append(base, genFile{name: "var/lib/pkgdb", body: strings.Join(db, "\n") + "\n"})
	for i := range n(4000) {
		base = append(base, genFile{name: fmt.Sprintf("usr/share/doc/p%d/file%d", i%400, i), size: 1024 << (i % 7), text: i%3 != 0})
	}
	for i := range n(3000) {
		p := fmt.Sprintf("app/node_modules/pkg%d", i)
		node = append(node,
			genFile{name: p + "/package.json", body: fmt.Sprintf(`{"name":"pkg%d","version":"1.%d.0","description":"generated"}`, i, i%50)},
			genFile{name: p + "/index.js", size: 2048 + i%8192, text: true},
			genFile{name: p + "/dist/bundle.js", size: 40 << 10, text: true})
	}
	for i := range 4 {
		runtime = append(runtime, genFile{name: "usr/lib/runtime/lib" + strconv.Itoa(i) + ".so", size: n(100 << 20), code: true})
	}
	for i := range 3 {
		app = append(app, genFile{name: "usr/local/bin/tool" + strconv.Itoa(i), size: n(100 << 20), code: true})
	}
	app = append(app, genFile{name: "usr/share/app/assets.bin", size: n(50 << 20)})
	top = append(top, genFile{name: "var/lib/pkgdb", body: strings.Join(append(db[1:], "newlib=2.0"), "\n") + "\n"},
		genFile{name: "app/node_modules/.wh.pkg0"})
	var ls []v1.Layer
	for i, files := range [][]genFile{base, node, runtime, app, top} {
		l, err := tarball.LayerFromOpener(genLayer(files, uint64(i)), tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

func benchScanner() *inventory.Scanner {
	return &inventory.Scanner{Analyzers: []inventory.Analyzer{pkgdbAnalyzer{}, npmAnalyzer{}, osAnalyzer{}}}
}

func runInventory(b *testing.B, ref string, wantPkgs int) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		im, err := Open(ctx, ref, Options{})
		if err != nil {
			b.Fatal(err)
		}
		inv, err := im.Inventory(ctx, benchScanner())
		if err != nil {
			b.Fatal(err)
		}
		im.Close()
		if len(inv.Problems) > 0 || len(inv.Packages) != wantPkgs {
			b.Fatalf("%d packages (want %d), problems %v", len(inv.Packages), wantPkgs, inv.Problems)
		}
	}
	if fi, err := os.Stat(ref); err == nil {
		b.SetBytes(fi.Size())
	}
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkInventory streams a ~25 MB docker archive (gzip layers)
// through Inventory.
func BenchmarkInventory(b *testing.B) {
	p := filepath.Join(b.TempDir(), "small.tar")
	if err := tarball.WriteToFile(p, mustTag(b, "bench:small"), benchImage(b, 0.02)); err != nil {
		b.Fatal(err)
	}
	runInventory(b, p, 300+max(1, int(3000*0.02))-1)
}

// BenchmarkInventoryLarge streams a ~1 GB image tarball through
// Inventory. It runs only with MAMORI_BENCH_DIR set (hack/bench/image.sh
// sets it), where the tarball is generated once and kept.
func BenchmarkInventoryLarge(b *testing.B) {
	dir := os.Getenv("MAMORI_BENCH_DIR")
	if dir == "" {
		b.Skip("set MAMORI_BENCH_DIR to a cache directory outside the repository (hack/bench/image.sh)")
	}
	p := filepath.Join(dir, "image-1g-v2.tar")
	if _, err := os.Stat(p); err != nil {
		b.Fatalf("%v: generate it first with TestGenerateBenchImage (hack/bench/image.sh)", err)
	}
	runInventory(b, p, 300+3000-1)
}

// TestGenerateBenchImage writes the large benchmark image into
// MAMORI_BENCH_DIR unless it is there already.
func TestGenerateBenchImage(t *testing.T) {
	dir := os.Getenv("MAMORI_BENCH_DIR")
	if dir == "" {
		t.Skip("MAMORI_BENCH_DIR not set")
	}
	p := filepath.Join(dir, "image-1g-v2.tar")
	if _, err := os.Stat(p); err == nil {
		return
	}
	tag, _ := name.NewTag("bench:1g")
	if err := tarball.WriteToFile(p+".tmp", tag, benchImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

// vmHWM is the process's peak resident set in bytes, from Linux's
// /proc/self/status; 0 elsewhere.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
