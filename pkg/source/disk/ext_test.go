package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

// TestExtTree copies one source tree into filesystems of each flavour
// mkfs makes and checks that walking the image gives exactly the source:
// the same regular files in the same order, sizes, modes and content.
func TestExtTree(t *testing.T) {
	needMkfs(t)
	// mkfs takes seconds to fill a 5,000-entry directory, so only the
	// default flavour gets one.
	srcs := map[bool]string{false: makeSource(t, false), true: makeSource(t, true)}
	wants := map[bool][]entry{}
	for many, src := range srcs {
		want, prob := walkAll(t, inventory.Dir{Root: src})
		if len(prob) > 0 || len(want) < 15 {
			t.Fatalf("source walk: %d files, problems %v", len(want), prob)
		}
		wants[many] = want
	}
	for _, tc := range []struct {
		name string
		fs   string
		opts []string
		many bool
	}{
		{"ext4", FSExt4, nil, true},
		{"ext4-32bit", FSExt4, []string{"-O", "^64bit"}, false},
		{"ext4-inline", FSExt4, []string{"-O", "inline_data"}, false},
		{"ext4-1k", FSExt4, []string{"-b", "1024"}, false},
		{"ext4-nocsum-128", FSExt4, []string{"-O", "^metadata_csum", "-I", "128"}, false},
		{"ext4-metabg", FSExt4, []string{"-O", "meta_bg,^resize_inode", "-b", "1024"}, false},
		{"ext3", FSExt3, []string{"-t", "ext3"}, false},
		{"ext2", FSExt2, []string{"-t", "ext2"}, false},
		{"ext2-1k", FSExt2, []string{"-t", "ext2", "-b", "1024"}, false}, // triple indirect
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := wants[tc.many]
			img := makeImage(t, srcs[tc.many], "160M", append([]string{"-N", "16384"}, tc.opts...)...)
			d, err := Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			parts := d.Partitions()
			if len(parts) != 1 || parts[0].Scheme != SchemeNone || parts[0].Filesystem != tc.fs {
				t.Fatalf("partitions = %+v, want one whole-disk %s", parts, tc.fs)
			}
			tree, err := parts[0].Tree()
			if err != nil {
				t.Fatal(err)
			}
			got, prob := walkAll(t, tree)
			if len(prob) > 0 {
				t.Errorf("problems: %v", prob)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("walk differs from the source (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFileReadAt reads a file at unaligned offsets across extent and
// hole boundaries, and past its end.
func TestFileReadAt(t *testing.T) {
	src := t.TempDir()
	data := random(7, 300_000)
	writeFile(t, src, "f", data, 0o644)
	writeSparse(t, src, "s", 1<<20, map[int64][]byte{4096*3 + 5: []byte("abc")})
	for _, opts := range [][]string{nil, {"-t", "ext2", "-b", "1024"}} {
		img := makeImage(t, src, "8M", opts...)
		fsys := openTestFS(t, img)
		files := map[string]*inventory.File{}
		if err := fsys.Walk(context.Background(), func(p string, _ inventory.FileInfo, open inventory.OpenFunc) error {
			f, err := open()
			files[p] = f
			return err
		}, func(p inventory.Problem) { t.Error(p) }); err != nil {
			t.Fatal(err)
		}
		sparse := make([]byte, 1<<20)
		copy(sparse[4096*3+5:], "abc")
		for name, content := range map[string][]byte{"f": data, "s": sparse} {
			f := files[name]
			for _, c := range []struct{ off, n int }{{0, 1}, {1023, 2}, {4095, 4098}, {12000, 70000}, {len(content) - 10, 10}, {len(content) - 10, 20}} {
				buf := make([]byte, c.n)
				n, err := f.ReadAt(buf, int64(c.off))
				wantN := min(c.n, len(content)-c.off)
				if n != wantN || (n < c.n) != (err != nil) {
					t.Errorf("%v %s ReadAt(%d, %d) = %d, %v; want %d", opts, name, c.off, c.n, n, err, wantN)
					continue
				}
				if !bytes.Equal(content[c.off:c.off+n], buf[:n]) {
					t.Errorf("%v %s ReadAt(%d, %d) content differs", opts, name, c.off, c.n)
				}
			}
			if n, err := f.ReadAt(make([]byte, 1), int64(len(content))); n != 0 || err == nil {
				t.Errorf("%s: ReadAt at EOF = %d, %v; want 0, EOF", name, n, err)
			}
		}
	}
}

func openTestFS(t testing.TB, img string) *extFS {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	fsys, err := openExt(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// TestExtentIndexWithoutEntries: a damaged extent index (depth 1, no
// entries) is an error from ReadAt, not a slice-bounds panic that would
// stop the whole walk.
func TestExtentIndexWithoutEntries(t *testing.T) {
	fs := &extFS{r: bytes.NewReader(make([]byte, 64<<10)), blockSize: 1024, blocks: 64}
	in := &inode{num: 12, mode: sIFREG | 0o644, size: 16 << 10, flags: flagExtents}
	// Header: magic 0xF30A, 0 entries, max 4, depth 1; the stale bytes
	// after it claim a first entry at logical block 0.
	copy(in.block[:], []byte{0x0a, 0xf3, 0, 0, 4, 0, 1, 0, 0, 0, 0, 0})
	buf := make([]byte, 1024)
	n, err := fs.open(in).ReadAt(buf, 5*1024)
	if err == nil || n != 0 {
		t.Fatalf("ReadAt = %d, %v; want an error", n, err)
	}
	if !strings.Contains(err.Error(), "no entries") {
		t.Errorf("error %q does not say what is wrong", err)
	}
}

// TestHardLinkedDirectories: directories hard-linked into themselves
// level after level (a crafted image; debugfs can make one) are walked
// once each, with a problem for every second link, instead of 2^levels
// times.
func TestHardLinkedDirectories(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src, "d0/f", []byte("x"), 0o644)
	img := makeImage(t, src, "4M")
	// d0/b0 → d1 ... each level has a and b naming the same directory.
	var cmds []string
	parent := "d0"
	for i := 1; i <= 24; i++ {
		dir := fmt.Sprintf("%s/a", parent)
		cmds = append(cmds, "mkdir "+dir, fmt.Sprintf("link %s %s/b", dir, parent))
		parent = dir
	}
	script := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-w", "-f", script, img).CombinedOutput(); err != nil {
		t.Skipf("debugfs: %v\n%s", err, out)
	}
	d, err := Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tree, err := d.Partitions()[0].Tree()
	if err != nil {
		t.Fatal(err)
	}
	files, problems := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = tree.Walk(ctx, func(string, inventory.FileInfo, inventory.OpenFunc) error { files++; return nil },
		func(p inventory.Problem) {
			if strings.Contains(p.Err.Error(), "already walked") {
				problems++
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if files != 1 || problems != 24 {
		t.Errorf("%d files and %d repeated directories, want 1 and 24", files, problems)
	}
}
