package disk

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mamori-dev/mamori/pkg/inventory"
)

const (
	mib       = 1 << 20
	linuxFS   = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	linuxSwap = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	msData    = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
)

// smallImage is an ext4 image of a two-file tree, and that tree's walk.
func smallImage(t testing.TB, opts ...string) (string, []entry) {
	t.Helper()
	src := t.TempDir()
	writeFile(t, src, "etc/os-release", []byte("ID=debian\n"), 0o644)
	writeFile(t, src, "var/lib/dpkg/status", random(9, 10000), 0o644)
	img := makeImage(t, src, "4M", append([]string{"-L", "rootfs"}, opts...)...)
	fsys := openTestFS(t, img)
	got, prob := walkAll(t, fsys)
	if len(got) != 2 || len(prob) > 0 {
		t.Fatalf("image walk: %v, %v", got, prob)
	}
	return img, got
}

// swapSig marks a 4 KiB-page swap area.
func swapSig(t testing.TB, f *os.File, off int64) { writeAt(t, f, off+4096-10, []byte("SWAPSPACE2")) }

func TestPartitions(t *testing.T) {
	img, files := smallImage(t)
	ignore := cmpopts.IgnoreUnexported(Partition{})

	t.Run("gpt", func(t *testing.T) {
		f, path := newDisk(t, 20*mib)
		writeGPT(t, f, 20*mib/512, []gptPart{
			{linuxFS, "root", 2048, 2048 + 8192 - 1},
			{msData, "data", 12288, 14335},
			{linuxSwap, "swap", 14336, 16383},
			{"12345678-1234-1234-1234-123456789ABC", "", 16384, 18431},
		})
		copyAt(t, f, 1*mib, img)
		writeAt(t, f, 6*mib, []byte("XFSB"))
		swapSig(t, f, 7*mib)
		writeAt(t, f, 8*mib+0x10040, []byte("_BHRfS_M"))
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		want := []Partition{
			{Index: 1, Scheme: SchemeGPT, Type: "Linux filesystem", Name: "root", Label: "rootfs", Start: mib, Size: 4 * mib, Filesystem: FSExt4},
			{Index: 2, Scheme: SchemeGPT, Type: "Microsoft basic data", Name: "data", Start: 6 * mib, Size: mib, Filesystem: FSXFS},
			{Index: 3, Scheme: SchemeGPT, Type: "Linux swap", Name: "swap", Start: 7 * mib, Size: mib, Filesystem: FSSwap},
			{Index: 4, Scheme: SchemeGPT, Type: "12345678-1234-1234-1234-123456789ABC", Start: 8 * mib, Size: mib, Filesystem: FSBtrfs},
		}
		if diff := cmp.Diff(want, d.Partitions(), ignore); diff != "" {
			t.Fatalf("partitions (-want +got):\n%s", diff)
		}
		checkTrees(t, path, d.Partitions(), files, 1)
		scan, notes := Scannable(d.Partitions())
		if len(scan) != 1 || scan[0].Index != 1 {
			t.Errorf("Scannable picked %v", scan)
		}
		wantNotes := []string{
			"partition 2 (xfs): unsupported filesystem; mamori reads ext2/3/4",
			"partition 3 (swap): swap space, no files",
			"partition 4 (btrfs): unsupported filesystem; mamori reads ext2/3/4",
		}
		if diff := cmp.Diff(wantNotes, notes); diff != "" {
			t.Errorf("notes (-want +got):\n%s", diff)
		}
	})

	t.Run("mbr-logical", func(t *testing.T) {
		f, path := newDisk(t, 20*mib)
		// Primary 1: ext4 at 1 MiB; 2: extended from 6 MiB holding
		// logical 5 (xfs at 7 MiB) and 6 (ext4 at 9 MiB).
		writeAt(t, f, 0, mbrSector(mbrPart{0x83, 2048, 8192}, mbrPart{0x05, 12288, 28672}))
		writeAt(t, f, 6*mib, mbrSector(mbrPart{0x83, 2048, 2048}, mbrPart{0x05, 4096, 10240}))
		writeAt(t, f, 8*mib, mbrSector(mbrPart{0x83, 2048, 8192}))
		copyAt(t, f, 1*mib, img)
		writeAt(t, f, 7*mib, []byte("XFSB"))
		copyAt(t, f, 9*mib, img)
		d, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		want := []Partition{
			{Index: 1, Scheme: SchemeMBR, Type: "0x83 (Linux)", Label: "rootfs", Start: mib, Size: 4 * mib, Filesystem: FSExt4},
			{Index: 5, Scheme: SchemeMBR, Type: "0x83 (Linux)", Start: 7 * mib, Size: mib, Filesystem: FSXFS},
			{Index: 6, Scheme: SchemeMBR, Type: "0x83 (Linux)", Label: "rootfs", Start: 9 * mib, Size: 4 * mib, Filesystem: FSExt4},
		}
		if diff := cmp.Diff(want, d.Partitions(), ignore); diff != "" {
			t.Fatalf("partitions (-want +got):\n%s", diff)
		}
		checkTrees(t, path, d.Partitions(), files, 1, 6)
	})

	t.Run("whole-disk", func(t *testing.T) {
		d, err := Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		want := []Partition{{Index: 1, Scheme: SchemeNone, Label: "rootfs", Size: 4 * mib, Filesystem: FSExt4}}
		if diff := cmp.Diff(want, d.Partitions(), ignore); diff != "" {
			t.Fatalf("partitions (-want +got):\n%s", diff)
		}
		checkTrees(t, img, d.Partitions(), files, 1)
	})
}

// checkTrees walks the ext partitions (by index) and checks that Tree
// refuses the others with a message naming disk and partition.
func checkTrees(t *testing.T, path string, parts []Partition, want []entry, ext ...int) {
	t.Helper()
	for _, p := range parts {
		tree, err := p.Tree()
		if !contains(ext, p.Index) {
			msg := path + ": partition " + p.String()[len("partition "):] + ": unsupported filesystem; mamori reads ext2/3/4"
			if !errors.Is(err, ErrUnsupported) || err.Error() != msg {
				t.Errorf("partition %d: Tree() error = %v, want %q", p.Index, err, msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("partition %d: %v", p.Index, err)
			continue
		}
		got, prob := walkAll(t, tree)
		if diff := cmp.Diff(want, got); diff != "" || len(prob) > 0 {
			t.Errorf("partition %d walk (-want +got):\n%s%v", p.Index, diff, prob)
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestBadDisks checks that damaged tables and filesystems give errors
// naming the disk, the partition and what is wrong.
func TestBadDisks(t *testing.T) {
	img, _ := smallImage(t)
	content, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	gpt := func(t *testing.T, f *os.File) {
		writeGPT(t, f, 20*mib/512, []gptPart{{linuxFS, "root", 2048, 2048 + 8192 - 1}})
		copyAt(t, f, mib, img)
	}
	for _, tc := range []struct {
		name    string
		build   func(t *testing.T, f *os.File)
		openErr string // from Open
		treeErr string // from partition 1's Tree
	}{
		{"empty", func(t *testing.T, f *os.File) { f.Truncate(0) }, "disk is 0 bytes, smaller than one sector", ""},
		{"no-table", func(t *testing.T, f *os.File) {}, "no partition table (no MBR signature, no GPT header) and no known filesystem at offset 0", ""},
		{"gpt-header-crc", func(t *testing.T, f *os.File) { gpt(t, f); writeAt(t, f, 512+40, []byte{9}) }, "GPT header: CRC32 is", ""},
		{"gpt-entries-crc", func(t *testing.T, f *os.File) { gpt(t, f); writeAt(t, f, 1024+60, []byte{9}) }, "GPT partition entries: CRC32 is", ""},
		{"gpt-beyond-end", func(t *testing.T, f *os.File) {
			writeGPT(t, f, 20*mib/512, []gptPart{{linuxFS, "root", 2048, 50 * mib / 512}})
		}, "GPT partition 1: LBAs 2048..102400 are beyond the end of the disk (40960 sectors)", ""},
		{"protective-without-gpt", func(t *testing.T, f *os.File) { writeAt(t, f, 0, mbrSector(mbrPart{0xEE, 1, 100})) }, "protective MBR (type 0xee) but no GPT header at LBA 1", ""},
		{"mbr-beyond-end", func(t *testing.T, f *os.File) { writeAt(t, f, 0, mbrSector(mbrPart{0x83, 2048, 1 << 20})) }, "partition 1: bytes 1048576..537919488 are beyond the end of the disk", ""},
		{"ebr-cycle", func(t *testing.T, f *os.File) {
			writeAt(t, f, 0, mbrSector(mbrPart{0x05, 2048, 20000}))
			writeAt(t, f, mib, mbrSector(mbrPart{0x83, 100, 100}, mbrPart{0x05, 0x10, 100}))
			writeAt(t, f, mib+0x10*512, mbrSector(mbrPart{0x83, 1, 10}, mbrPart{0x05, 0x10, 100}))
		}, "MBR partition 1 (extended): EBR at sector 2064: loop in the EBR chain", ""},
		{"ext-bad-magic", func(t *testing.T, f *os.File) { gpt(t, f); writeAt(t, f, mib+1024+56, []byte{0x53, 0xEE}) }, "", "partition 1 (unknown): unsupported filesystem"},
		{"ext-bad-csum", func(t *testing.T, f *os.File) { gpt(t, f); writeAt(t, f, mib+1024+120, []byte("X")) }, "", "partition 1 (ext4): superblock: checksum"},
		{"ext-truncated", func(t *testing.T, f *os.File) {
			writeGPT(t, f, 20*mib/512, []gptPart{{linuxFS, "root", 2048, 2048 + 4095}})
			writeAt(t, f, mib, content[:2*mib])
		}, "", "partition 1 (ext4): superblock: 4096 blocks of 1024 bytes do not fit in the 2097152 bytes of the partition (truncated image?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, path := newDisk(t, 20*mib)
			tc.build(t, f)
			d, err := Open(path)
			if tc.openErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.openErr) {
					t.Fatalf("Open error = %v, want %q naming %s", err, tc.openErr, filepath.Base(path))
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			if tc.treeErr == "" {
				return
			}
			_, err = d.Partitions()[0].Tree()
			if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.treeErr) {
				t.Fatalf("Tree error = %v, want %q", err, tc.treeErr)
			}
		})
	}
}

// TestCorruptInodes damages one directory's and one file's extent tree:
// the directory becomes a Problem naming its path, the file's read fails
// naming the inode, and the rest of the tree is still walked.
func TestCorruptInodes(t *testing.T) {
	img, _ := smallImage(t)
	fsys := openTestFS(t, img)
	inodeOff := func(path ...string) int64 {
		in, err := fsys.inode(rootIno)
		for _, name := range path {
			if err != nil {
				t.Fatal(err)
			}
			ents, err := fsys.readDir(in)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(ents, func(e dirent) bool { return e.name == name })
			in, err = fsys.inode(ents[i].ino)
		}
		if err != nil {
			t.Fatal(err)
		}
		g, i := (in.num-1)/fsys.inodesPerGroup, (in.num-1)%fsys.inodesPerGroup
		return int64(fsys.inodeTables[g])*fsys.blockSize + int64(i)*fsys.inodeSize
	}
	varOff, osOff := inodeOff("var"), inodeOff("etc", "os-release")
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, f, varOff+40, []byte{0, 0})
	writeAt(t, f, osOff+40, []byte{0, 0})
	f.Close()

	d, err := Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tree, err := d.Partitions()[0].Tree()
	if err != nil {
		t.Fatal(err)
	}
	var (
		paths []string
		probs []string
	)
	err = tree.Walk(context.Background(), func(path string, info inventory.FileInfo, open inventory.OpenFunc) error {
		paths = append(paths, path)
		f, err := open()
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.ReadAll(f.Reader())
		if want := "bad extent header magic"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "inode ") {
			t.Errorf("%s: read error = %v, want %q naming the inode", path, err, want)
		}
		return nil
	}, func(p inventory.Problem) { probs = append(probs, p.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"etc/os-release"}, paths); diff != "" {
		t.Errorf("walked (-want +got):\n%s", diff)
	}
	if len(probs) != 1 || !strings.HasPrefix(probs[0], "var: inode ") || !strings.Contains(probs[0], "bad extent header magic") {
		t.Errorf("problems = %q, want one for var", probs)
	}
}
