package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

const mkfs = "/usr/sbin/mkfs.ext4"

func needMkfs(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(mkfs); err != nil {
		t.Skipf("e2fsprogs not installed: %v", err)
	}
}

// makeImage runs mkfs.ext4 -d src on a new sparse image file of size
// bytes, unprivileged and without mounting.
func makeImage(t testing.TB, src string, size string, opts ...string) string {
	t.Helper()
	needMkfs(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	args := append([]string{"-q", "-F"}, opts...)
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img, size)
	out, err := exec.Command(mkfs, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return img
}

// writeFile writes a file under root, making its directories.
func writeFile(t testing.TB, root, name string, data []byte, perm os.FileMode) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

// writeSparse makes a file of size bytes holding data only at the given
// offsets, the rest holes.
func writeSparse(t testing.TB, root, name string, size int64, at map[int64][]byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range at {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeSource builds the tree the ext tests copy into images: deep paths,
// with many a 5,000-entry (htree) directory, sparse files reaching the double and
// triple indirect blocks of ext2, empty and tiny (inline) files, odd
// names, set-id bits and symlinks (fast and slow).
func makeSource(t testing.TB, many bool) string {
	t.Helper()
	src := t.TempDir()
	writeFile(t, src, "etc/os-release", []byte("ID=debian\nVERSION_ID=12\n"), 0o644)
	writeFile(t, src, "var/lib/dpkg/status", bytes.Repeat([]byte("Package: x\nVersion: 1\n\n"), 3000), 0o644)
	writeFile(t, src, strings.Repeat("deep/", 30)+"leaf.txt", []byte("deep\n"), 0o600)
	writeFile(t, src, "empty", nil, 0o644)
	writeFile(t, src, "tiny", []byte("x"), 0o755)
	writeFile(t, src, "inline-max", random(1, 150), 0o644) // past i_block, into system.data
	writeFile(t, src, "setuid", []byte("#!/bin/sh\n"), 0o4755)
	writeFile(t, src, "setgid-sticky", []byte("g"), 0o3750)
	writeFile(t, src, "rand-3m.bin", random(2, 3<<20+17), 0o644)
	for _, n := range []string{"sp ace", "ünïcödé-名前", "-dash", "new\nline", "#hash", strings.Repeat("L", 255)} {
		writeFile(t, src, "names/"+n, []byte(n), 0o644)
	}
	if many {
		for i := range 5000 {
			writeFile(t, src, fmt.Sprintf("many/f%05d", i), []byte(fmt.Sprint(i)), 0o644)
		}
	}
	writeSparse(t, src, "hole-20m.bin", 20<<20, map[int64][]byte{0: []byte("start"), 15_000_000: []byte("middle"), 20<<20 - 3: []byte("end")})
	writeSparse(t, src, "far-sparse.bin", 80<<20, map[int64][]byte{70 << 20: random(3, 5000), 80<<20 - 1: {1}})
	for name, target := range map[string]string{"fastlink": "tiny", "slowlink": strings.Repeat("s", 100) + "/target", "dirlink": "deep"} {
		if err := os.Symlink(target, filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// entry is one file of a walk, with its content's hash.
type entry struct {
	Path string
	Size int64
	Mode os.FileMode
	Hash string
}

// walkAll walks a tree, reading every file in full.
func walkAll(t testing.TB, tree inventory.Tree) ([]entry, []inventory.Problem) {
	t.Helper()
	var (
		out  []entry
		prob []inventory.Problem
	)
	err := tree.Walk(context.Background(), func(path string, info inventory.FileInfo, open inventory.OpenFunc) error {
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f.Reader())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if n != info.Size {
			return fmt.Errorf("%s: read %d bytes, size %d", path, n, info.Size)
		}
		out = append(out, entry{path, info.Size, info.Mode, fmt.Sprintf("%x", h.Sum(nil))})
		return nil
	}, func(p inventory.Problem) { prob = append(prob, p) })
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out, prob
}

type gptPart struct {
	typ        string // GUID as text
	name       string
	first, end int64 // LBAs, end inclusive
}

// guidBytes encodes a textual GUID in the mixed-endian on-disk layout.
func guidBytes(s string) []byte {
	var b [16]byte
	var a uint32
	var c, d uint16
	var e, f uint64
	fmt.Sscanf(strings.ReplaceAll(s, "-", " "), "%x %x %x %x %x", &a, &c, &d, &e, &f)
	binary.LittleEndian.PutUint32(b[0:], a)
	binary.LittleEndian.PutUint16(b[4:], c)
	binary.LittleEndian.PutUint16(b[6:], d)
	binary.BigEndian.PutUint16(b[8:], uint16(e))
	for i := range 6 {
		b[10+i] = byte(f >> (8 * (5 - i)))
	}
	return b[:]
}

// writeGPT writes a protective MBR, the primary GPT header and 128
// entries at the start of w, as sgdisk would.
func writeGPT(t testing.TB, w io.WriterAt, sectors int64, parts []gptPart) {
	t.Helper()
	mbr := make([]byte, 512)
	mbr[446+4] = 0xEE
	binary.LittleEndian.PutUint32(mbr[446+8:], 1)
	binary.LittleEndian.PutUint32(mbr[446+12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA
	ents := make([]byte, 128*128)
	for i, p := range parts {
		e := ents[128*i:]
		copy(e, guidBytes(p.typ))
		copy(e[16:], guidBytes(fmt.Sprintf("00000000-0000-0000-0000-%012x", i+1)))
		binary.LittleEndian.PutUint64(e[32:], uint64(p.first))
		binary.LittleEndian.PutUint64(e[40:], uint64(p.end))
		for j, c := range utf16.Encode([]rune(p.name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
	}
	h := make([]byte, 512)
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[32:], uint64(sectors-1))
	binary.LittleEndian.PutUint64(h[40:], 34)
	binary.LittleEndian.PutUint64(h[48:], uint64(sectors-34))
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], 128)
	binary.LittleEndian.PutUint32(h[84:], 128)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(ents))
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	for off, b := range map[int64][]byte{0: mbr, 512: h, 1024: ents} {
		if _, err := w.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

type mbrPart struct {
	typ          byte
	start, count int64 // sectors, relative as the table stores them
}

func mbrSector(parts ...mbrPart) []byte {
	b := make([]byte, 512)
	for i, p := range parts {
		e := b[446+16*i:]
		e[4] = p.typ
		binary.LittleEndian.PutUint32(e[8:], uint32(p.start))
		binary.LittleEndian.PutUint32(e[12:], uint32(p.count))
	}
	b[510], b[511] = 0x55, 0xAA
	return b
}

// copyAt copies the file src into w at off.
func copyAt(t testing.TB, w io.WriterAt, off int64, src string) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Zero chunks are left as holes, keeping the disk sparse.
	buf := make([]byte, 64<<10)
	for pos := int64(0); ; pos += int64(len(buf)) {
		n, err := io.ReadFull(f, buf)
		if n > 0 && !allZero(buf[:n]) {
			writeAt(t, w, off+pos, buf[:n])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func writeAt(t testing.TB, w io.WriterAt, off int64, b []byte) {
	t.Helper()
	if _, err := w.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// newDisk creates a sparse disk image file of size bytes.
func newDisk(t testing.TB, size int64) (*os.File, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f, p
}
