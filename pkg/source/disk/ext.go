package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

const (
	extMagic    = 0xEF53
	sbOffset    = 1024
	rootIno     = 2
	extentMagic = 0xF30A

	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompat64bit       = 0x80

	roCompatSparseSuper  = 0x1
	roCompatMetadataCsum = 0x400

	flagExtents    = 0x80000
	flagInlineData = 0x10000000

	maxExtentDepth = 5
	// maxDirSize bounds the directory a walk holds in memory at once.
	maxDirSize = 64 << 20
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// extFS is an ext2/3/4 filesystem read through an io.ReaderAt.
type extFS struct {
	r              io.ReaderAt
	blockSize      int64
	blocks         uint64
	inodes         uint32
	inodesPerGroup uint32
	inodeSize      int64
	incompat       uint32
	inodeTables    []uint64 // first block of each group's inode table
}

func extLabel(r io.ReaderAt, size int64) string {
	var b [16]byte
	if !at(r, size, sbOffset+120, b[:]) {
		return ""
	}
	s, _, _ := strings.Cut(string(b[:]), "\x00")
	return s
}

// openExt reads the superblock and group descriptors of the size bytes
// of r.
func openExt(r io.ReaderAt, size int64) (*extFS, error) {
	sb := make([]byte, 1024)
	if !at(r, size, sbOffset, sb) {
		return nil, fmt.Errorf("superblock: truncated (filesystem is %d bytes)", size)
	}
	if m := binary.LittleEndian.Uint16(sb[56:]); m != extMagic {
		return nil, fmt.Errorf("superblock: magic %#04x, want %#04x", m, extMagic)
	}
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(sb[off:]) }
	le16 := func(off int) uint16 { return binary.LittleEndian.Uint16(sb[off:]) }
	ro := le32(100)
	if ro&roCompatMetadataCsum != 0 {
		// Linux stores the raw CRC32C (seed ~0, no final inversion).
		if got, want := ^crc32.Checksum(sb[:1020], crc32c), le32(1020); got != want {
			return nil, fmt.Errorf("superblock: checksum %#08x, superblock says %#08x (corrupt superblock)", got, want)
		}
	}
	fs := &extFS{r: r, incompat: le32(96)}
	logBS := le32(24)
	if logBS > 6 {
		return nil, fmt.Errorf("superblock: block size 2^(10+%d) out of range 1 KiB..64 KiB", logBS)
	}
	fs.blockSize = 1024 << logBS
	if fs.incompat&(incompatCompression|incompatJournalDev) != 0 {
		return nil, fmt.Errorf("superblock: incompatible features %#x (compression or external journal device) not supported", fs.incompat)
	}
	fs.blocks = uint64(le32(4))
	descSize := int64(32)
	if fs.incompat&incompat64bit != 0 {
		fs.blocks |= uint64(le32(336)) << 32
		descSize = int64(le16(254))
		if descSize < 64 || descSize > 1024 || descSize&(descSize-1) != 0 {
			return nil, fmt.Errorf("superblock: group descriptor size %d, want a power of two in 64..1024", descSize)
		}
	}
	fs.inodes = le32(0)
	fs.inodesPerGroup = le32(40)
	fs.inodeSize = 128
	if le32(76) >= 1 { // dynamic revision
		fs.inodeSize = int64(le16(88))
	}
	if fs.inodeSize < 128 || fs.inodeSize > fs.blockSize || fs.inodeSize&(fs.inodeSize-1) != 0 {
		return nil, fmt.Errorf("superblock: inode size %d, want a power of two from 128 to the block size", fs.inodeSize)
	}
	firstData := uint64(le32(20))
	perGroup := uint64(le32(32))
	if perGroup == 0 || fs.inodesPerGroup == 0 || fs.blocks <= firstData {
		return nil, fmt.Errorf("superblock: %d blocks per group, %d inodes per group, %d blocks: not a valid geometry", perGroup, fs.inodesPerGroup, fs.blocks)
	}
	// Each group's bitmaps fill at most one block: a larger group, or one
	// so small that the descriptor table would dwarf the disk, is damage
	// (and would size the allocation below from a corrupt field).
	if maxPer := 8 * uint64(fs.blockSize); perGroup > maxPer || uint64(fs.inodesPerGroup) > maxPer || perGroup < 8 {
		return nil, fmt.Errorf("superblock: %d blocks and %d inodes per group: not a valid geometry for %d-byte blocks", perGroup, fs.inodesPerGroup, fs.blockSize)
	}
	if uint64(fs.blockSize)*fs.blocks/fs.blocks != uint64(fs.blockSize) || fs.blocks > uint64(size)/uint64(fs.blockSize) {
		return nil, fmt.Errorf("superblock: %d blocks of %d bytes do not fit in the %d bytes of the partition (truncated image?)", fs.blocks, fs.blockSize, size)
	}
	groups := (fs.blocks - firstData + perGroup - 1) / perGroup
	if uint64(fs.inodes) > groups*uint64(fs.inodesPerGroup) {
		return nil, fmt.Errorf("superblock: %d inodes but %d groups of %d", fs.inodes, groups, fs.inodesPerGroup)
	}

	// Group descriptors: in the blocks after the superblock, or with
	// meta_bg, from s_first_meta_bg on, at the start of each meta group.
	perBlock := uint64(fs.blockSize / descSize)
	firstMeta := uint64(le32(260))
	sparse := ro&roCompatSparseSuper != 0
	fs.inodeTables = make([]uint64, groups)
	buf := make([]byte, fs.blockSize)
	for b := uint64(0); b*perBlock < groups; b++ {
		blk := firstData + 1 + b
		if fs.incompat&incompatMetaBG != 0 && b >= firstMeta {
			g := b * perBlock
			blk = firstData + g*perGroup
			if hasSuper(g, sparse) {
				blk++
			}
		}
		if err := fs.readBlock(buf, blk); err != nil {
			return nil, fmt.Errorf("group descriptors: %w", err)
		}
		for i := uint64(0); i < perBlock && b*perBlock+i < groups; i++ {
			d := buf[int64(i)*descSize:]
			t := uint64(binary.LittleEndian.Uint32(d[8:]))
			if descSize >= 64 {
				t |= uint64(binary.LittleEndian.Uint32(d[40:])) << 32
			}
			g := b*perBlock + i
			tableBlocks := (uint64(fs.inodesPerGroup)*uint64(fs.inodeSize) + uint64(fs.blockSize) - 1) / uint64(fs.blockSize)
			if t == 0 || t+tableBlocks > fs.blocks {
				return nil, fmt.Errorf("group descriptor %d: inode table at block %d is outside the filesystem (%d blocks)", g, t, fs.blocks)
			}
			fs.inodeTables[g] = t
		}
	}
	return fs, nil
}

// hasSuper reports whether group g holds a superblock backup.
func hasSuper(g uint64, sparse bool) bool {
	if !sparse || g <= 1 {
		return true
	}
	for _, p := range []uint64{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

func (fs *extFS) readBlock(b []byte, blk uint64) error {
	if blk >= fs.blocks {
		return fmt.Errorf("block %d is outside the filesystem (%d blocks)", blk, fs.blocks)
	}
	if _, err := fs.r.ReadAt(b, int64(blk)*fs.blockSize); err != nil {
		return fmt.Errorf("read block %d: %w", blk, err)
	}
	return nil
}

// inode is the part of an on-disk inode the walk needs.
type inode struct {
	num   uint32
	mode  uint16
	size  int64
	flags uint32
	block [60]byte // i_block: extent tree root, block map or inline data
	// inline is the rest of inline data, from the system.data attribute.
	inline []byte
}

const (
	sIFMT  = 0xF000
	sIFREG = 0x8000
	sIFDIR = 0x4000
	sIFLNK = 0xA000
)

func (fs *extFS) inode(n uint32) (*inode, error) {
	if n == 0 || n > fs.inodes {
		return nil, fmt.Errorf("inode %d out of range 1..%d", n, fs.inodes)
	}
	g, i := (n-1)/fs.inodesPerGroup, (n-1)%fs.inodesPerGroup
	b := make([]byte, fs.inodeSize)
	off := int64(fs.inodeTables[g])*fs.blockSize + int64(i)*fs.inodeSize
	if _, err := fs.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read inode %d: %w", n, err)
	}
	in := &inode{
		num:   n,
		mode:  binary.LittleEndian.Uint16(b[0:]),
		size:  int64(binary.LittleEndian.Uint32(b[4:])),
		flags: binary.LittleEndian.Uint32(b[32:]),
	}
	in.size |= int64(binary.LittleEndian.Uint32(b[108:])) << 32
	if in.size < 0 {
		return nil, fmt.Errorf("inode %d: size %d is negative", n, in.size)
	}
	copy(in.block[:], b[40:100])
	if in.flags&flagInlineData != 0 {
		v, err := inlineXattr(b)
		if err != nil {
			return nil, fmt.Errorf("inode %d: inline data: %w", n, err)
		}
		in.inline = v
		if in.size > int64(len(in.block)+len(v)) {
			return nil, fmt.Errorf("inode %d: size %d exceeds its %d bytes of inline data", n, in.size, len(in.block)+len(v))
		}
	}
	return in, nil
}

// inlineXattr returns the value of the in-inode "system.data" extended
// attribute, which holds inline data past the first 60 bytes.
func inlineXattr(b []byte) ([]byte, error) {
	if len(b) <= 160 {
		return nil, nil
	}
	extra := int(binary.LittleEndian.Uint16(b[128:]))
	start := 128 + extra
	if extra%4 != 0 || start+4 > len(b) {
		return nil, fmt.Errorf("i_extra_isize %d out of range", extra)
	}
	if binary.LittleEndian.Uint32(b[start:]) != 0xEA020000 {
		return nil, nil
	}
	base := start + 4
	for e := base; e+16 <= len(b); {
		nameLen := int(b[e])
		if nameLen == 0 && binary.LittleEndian.Uint32(b[e:]) == 0 {
			break
		}
		idx := b[e+1]
		voff := int(binary.LittleEndian.Uint16(b[e+2:]))
		vsize := int(binary.LittleEndian.Uint32(b[e+8:]))
		if e+16+nameLen > len(b) {
			return nil, errors.New("extended attribute name runs past the inode")
		}
		if idx == 7 && string(b[e+16:e+16+nameLen]) == "data" {
			if base+voff+vsize > len(b) || vsize < 0 {
				return nil, fmt.Errorf("system.data value (%d bytes at %d) runs past the inode", vsize, voff)
			}
			return b[base+voff : base+voff+vsize], nil
		}
		e += (16 + nameLen + 3) &^ 3
	}
	return nil, nil
}
