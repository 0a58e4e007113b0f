package disk

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Filesystems, as told by their superblock magic.
const (
	FSExt4    = "ext4"
	FSExt3    = "ext3"
	FSExt2    = "ext2"
	FSXFS     = "xfs"
	FSBtrfs   = "btrfs"
	FSVFAT    = "vfat"
	FSSwap    = "swap"
	FSLVM2    = "lvm2"
	FSUnknown = "unknown"
)

// ext feature bits beyond what ext3 knows, which make a filesystem ext4
// (the rule blkid follows).
const (
	ext3Incompat  = incompatFiletype | incompatRecover | incompatMetaBG
	ext3RoCompat  = 0x1 | 0x2 | 0x4 // sparse_super, large_file, btree_dir
	compatJournal = 0x4
)

// at reads len(b) bytes at off, reporting whether it could.
func at(r io.ReaderAt, size, off int64, b []byte) bool {
	if off+int64(len(b)) > size {
		return false
	}
	n, _ := r.ReadAt(b, off)
	return n == len(b)
}

// detect names the filesystem of the size bytes of r by its magic.
func detect(r io.ReaderAt, size int64) string {
	var sb [1024]byte
	if at(r, size, 1024, sb[:]) && binary.LittleEndian.Uint16(sb[56:]) == extMagic {
		compat := binary.LittleEndian.Uint32(sb[92:])
		incompat := binary.LittleEndian.Uint32(sb[96:])
		ro := binary.LittleEndian.Uint32(sb[100:])
		switch {
		case incompat&^ext3Incompat != 0 || ro&^ext3RoCompat != 0:
			return FSExt4
		case compat&compatJournal != 0:
			return FSExt3
		}
		return FSExt2
	}
	var b [512]byte
	if at(r, size, 0, b[:]) {
		if bytes.Equal(b[:4], []byte("XFSB")) {
			return FSXFS
		}
		if b[510] == 0x55 && b[511] == 0xAA && (bytes.HasPrefix(b[0x36:], []byte("FAT")) || bytes.HasPrefix(b[0x52:], []byte("FAT32"))) {
			return FSVFAT
		}
	}
	var m [8]byte
	for _, off := range []int64{0, 512} {
		var l [32]byte
		if at(r, size, off, l[:]) && bytes.Equal(l[:8], []byte("LABELONE")) && bytes.Equal(l[24:32], []byte("LVM2 001")) {
			return FSLVM2
		}
	}
	if at(r, size, 0x10040, m[:]) && bytes.Equal(m[:], []byte("_BHRfS_M")) {
		return FSBtrfs
	}
	var s [10]byte
	for _, page := range []int64{4096, 8192, 16384, 65536} {
		if at(r, size, page-10, s[:]) && (bytes.Equal(s[:], []byte("SWAPSPACE2")) || bytes.Equal(s[:], []byte("SWAP-SPACE"))) {
			return FSSwap
		}
	}
	return FSUnknown
}

// IsExt reports whether fs is ext2, ext3 or ext4.
func IsExt(fs string) bool { return fs == FSExt2 || fs == FSExt3 || fs == FSExt4 }
