package disk

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// FuzzReadTable feeds damaged partition tables to readTable.
func FuzzReadTable(f *testing.F) {
	var gpt, mbr writerAt
	gpt.b = make([]byte, 40*512)
	writeGPT(f, &gpt, int64(len(gpt.b))/512, []gptPart{{linuxFS, "root", 34, 36}, {linuxSwap, "swap", 37, 38}})
	mbr.b = make([]byte, 60*512)
	writeAt(f, &mbr, 0, mbrSector(mbrPart{0x83, 1, 10}, mbrPart{0x05, 20, 39}))
	writeAt(f, &mbr, 20*512, mbrSector(mbrPart{0x83, 1, 10}, mbrPart{0x05, 30, 9}))
	writeAt(f, &mbr, 50*512, mbrSector(mbrPart{0x82, 1, 5}))
	f.Add(gpt.b)
	f.Add(mbr.b)
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := readTable(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			for _, p := range parts {
				if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > int64(len(b)) {
					t.Fatalf("partition %+v outside the %d-byte disk", p, len(b))
				}
			}
		}
	})
}

type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) { return copy(w.b[off:], p), nil }

// FuzzExt opens damaged ext images and walks them, reading every file:
// superblock, group descriptors, inodes, extent trees, block maps,
// directories and inline data all see the mutations.
func FuzzExt(f *testing.F) {
	src := f.TempDir()
	writeFile(f, src, "a/b", []byte("hello"), 0o644)
	writeFile(f, src, "big", random(1, 40<<10), 0o644)
	writeFile(f, src, "inline", []byte("tiny"), 0o644)
	for _, opts := range [][]string{
		{"-b", "1024", "-N", "16", "-O", "^has_journal,inline_data"},
		{"-t", "ext2", "-b", "1024", "-N", "16"},
	} {
		b, err := os.ReadFile(makeImage(f, src, "128K", opts...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys, err := openExt(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		fsys.Walk(context.Background(), func(path string, info inventory.FileInfo, open inventory.OpenFunc) error {
			f, err := open()
			if err != nil {
				return err
			}
			defer f.Close()
			// Bounded: a mutated size must not make the fuzzer read
			// gigabytes of holes.
			io.Copy(io.Discard, io.LimitReader(f.Reader(), 1<<20))
			return nil
		}, func(inventory.Problem) {})
	})
}

// FuzzDirents parses damaged directory blocks.
func FuzzDirents(f *testing.F) {
	f.Add([]byte("\x0c\x00\x00\x00\x0c\x00\x01\x02.\x00\x00\x00\x02\x00\x00\x00\xf4\x0f\x02\x02..\x00\x00"))
	f.Add([]byte("\x0b\x00\x00\x00\x10\x00\x05\x01hello\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := parseDirents(nil, b, 2, 0)
		for _, e := range ents {
			if err == nil && (e.name == "" || e.ino == 0) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
