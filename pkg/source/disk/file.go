package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// run is a stretch of logical blocks mapped to contiguous physical ones,
// or a hole (phys 0) that reads as zeros.
type run struct {
	phys uint64
	n    uint64 // blocks, at least 1
}

// fileReader reads a file's content, mapping logical blocks to physical
// ones on demand: nothing beyond one extent leaf or indirect block is
// held, whatever the file's size.
type fileReader struct {
	fs *extFS
	in *inode

	mu sync.Mutex
	// The last extent leaf read, covering logical blocks [leafLo, leafHi).
	leaf           []byte
	leafLo, leafHi uint64
	// The last indirect block of pointers read.
	ind    []uint32
	indBlk uint64
}

func (fs *extFS) open(in *inode) *fileReader { return &fileReader{fs: fs, in: in} }

// ReadAt implements io.ReaderAt.
func (f *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("inode %d: negative offset", f.in.num)
	}
	if off >= f.in.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := f.in.size - off; int64(want) > rem {
		p = p[:rem]
	}
	if f.in.flags&flagInlineData != 0 {
		n := copy(p, f.inlineAt(off))
		clear(p[n:])
		return f.done(len(p), want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := f.fs.blockSize
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		lblk := uint64(pos / bs)
		r, err := f.lookup(lblk)
		if err != nil {
			return done, fmt.Errorf("inode %d: block %d: %w", f.in.num, lblk, err)
		}
		n := int64(r.n)*bs - pos%bs
		if r.n == 0 || r.n > 1<<32 || n <= 0 {
			// A damaged map must not turn into a slice bound.
			return done, fmt.Errorf("inode %d: block %d: bad extent mapping (%d blocks)", f.in.num, lblk, r.n)
		}
		if rem := int64(len(p) - done); n > rem {
			n = rem
		}
		buf := p[done : done+int(n)]
		if r.phys == 0 {
			clear(buf)
		} else {
			if r.phys+r.n > f.fs.blocks {
				return done, fmt.Errorf("inode %d: block %d maps to block %d, outside the filesystem", f.in.num, lblk, r.phys)
			}
			if _, err := f.fs.r.ReadAt(buf, int64(r.phys)*bs+pos%bs); err != nil {
				return done, fmt.Errorf("inode %d: read block %d: %w", f.in.num, r.phys, err)
			}
		}
		done += int(n)
	}
	return f.done(done, want)
}

func (f *fileReader) done(n, want int) (int, error) {
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

func (f *fileReader) inlineAt(off int64) []byte {
	b := f.in.block[:]
	if off < int64(len(b)) {
		return append(b[off:len(b):len(b)], f.in.inline...)
	}
	off -= int64(len(b))
	if off >= int64(len(f.in.inline)) {
		return nil
	}
	return f.in.inline[off:]
}

func (f *fileReader) lookup(lblk uint64) (run, error) {
	if f.in.flags&flagExtents != 0 {
		return f.extentLookup(lblk)
	}
	return f.mapLookup(lblk)
}

// extentLookup finds lblk in the extent tree, descending from the root
// in the inode unless the cached leaf covers it.
func (f *fileReader) extentLookup(lblk uint64) (run, error) {
	if f.leaf != nil && lblk >= f.leafLo && lblk < f.leafHi {
		return leafLookup(f.leaf, lblk, f.leafHi)
	}
	node := f.in.block[:]
	lo, hi := uint64(0), uint64(1<<32)
	depth := -1
	for range maxExtentDepth + 2 {
		h, err := extentHeader(node)
		if err != nil {
			return run{}, err
		}
		if depth >= 0 && h.depth != depth-1 {
			return run{}, fmt.Errorf("extent node depth %d under depth %d", h.depth, depth)
		}
		depth = h.depth
		if depth == 0 {
			if len(node) == int(f.fs.blockSize) {
				f.leaf, f.leafLo, f.leafHi = node, lo, hi
			}
			return leafLookup(node, lblk, hi)
		}
		// The last index entry starting at or before lblk.
		i := -1
		for j := range h.entries {
			if uint64(binary.LittleEndian.Uint32(node[12+12*j:])) > lblk {
				break
			}
			i = j
		}
		if h.entries == 0 {
			return run{}, errors.New("extent index node with no entries")
		}
		if i < 0 {
			// A hole before the first entry, which starts above lblk.
			first := uint64(binary.LittleEndian.Uint32(node[12:]))
			return run{n: first - lblk}, nil
		}
		e := node[12+12*i:]
		lo = uint64(binary.LittleEndian.Uint32(e))
		if i+1 < h.entries {
			hi = uint64(binary.LittleEndian.Uint32(node[12+12*(i+1):]))
		}
		child := uint64(binary.LittleEndian.Uint32(e[4:])) | uint64(binary.LittleEndian.Uint16(e[8:]))<<32
		next := make([]byte, f.fs.blockSize)
		if err := f.fs.readBlock(next, child); err != nil {
			return run{}, fmt.Errorf("extent index: %w", err)
		}
		node = next
	}
	return run{}, errors.New("extent tree deeper than 5 levels")
}

type extHeader struct{ entries, depth int }

func extentHeader(node []byte) (extHeader, error) {
	if len(node) < 12 || binary.LittleEndian.Uint16(node) != extentMagic {
		return extHeader{}, errors.New("bad extent header magic")
	}
	h := extHeader{entries: int(binary.LittleEndian.Uint16(node[2:])), depth: int(binary.LittleEndian.Uint16(node[6:]))}
	if maxEntries := int(binary.LittleEndian.Uint16(node[4:])); h.entries > maxEntries || 12+12*maxEntries > len(node) {
		return extHeader{}, fmt.Errorf("extent node holds %d of at most %d entries, which do not fit in %d bytes", h.entries, maxEntries, len(node))
	}
	if h.depth > maxExtentDepth {
		return extHeader{}, fmt.Errorf("extent tree depth %d, more than %d", h.depth, maxExtentDepth)
	}
	return h, nil
}

// leafLookup finds lblk among a leaf's extents; hi bounds the leaf's range,
// so that a hole after its last extent ends there.
func leafLookup(node []byte, lblk, hi uint64) (run, error) {
	h, err := extentHeader(node)
	if err != nil {
		return run{}, err
	}
	for j := range h.entries {
		e := node[12+12*j:]
		start := uint64(binary.LittleEndian.Uint32(e))
		n := uint64(binary.LittleEndian.Uint16(e[4:]))
		uninit := n > 32768
		if uninit { // preallocated, reads as zeros
			n -= 32768
		}
		if lblk < start {
			return run{n: start - lblk}, nil
		}
		if lblk < start+n {
			if uninit {
				return run{n: start + n - lblk}, nil
			}
			phys := uint64(binary.LittleEndian.Uint32(e[8:])) | uint64(binary.LittleEndian.Uint16(e[6:]))<<32
			if phys == 0 {
				return run{}, errors.New("extent maps to block 0")
			}
			return run{phys: phys + lblk - start, n: start + n - lblk}, nil
		}
	}
	if hi <= lblk {
		return run{n: 1}, nil
	}
	return run{n: hi - lblk}, nil
}

// mapLookup finds lblk in an ext2/3 block map: 12 direct pointers, then
// single, double and triple indirect blocks.
func (f *fileReader) mapLookup(lblk uint64) (run, error) {
	per := uint64(f.fs.blockSize / 4)
	ptr := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(f.in.block[4*i:])) }
	if lblk < 12 {
		r := run{phys: ptr(int(lblk)), n: 1}
		for i := int(lblk) + 1; i < 12 && r.phys != 0 && ptr(i) == r.phys+r.n; i++ {
			r.n++
		}
		return r, nil
	}
	lblk -= 12
	var blk uint64
	var path []uint64
	switch {
	case lblk < per:
		blk, path = ptr(12), []uint64{lblk}
	case lblk < per+per*per:
		lblk -= per
		blk, path = ptr(13), []uint64{lblk / per, lblk % per}
	case lblk < per+per*per+per*per*per:
		lblk -= per + per*per
		blk, path = ptr(14), []uint64{lblk / (per * per), lblk / per % per, lblk % per}
	default:
		return run{}, fmt.Errorf("block beyond the triple indirect map")
	}
	for i, idx := range path {
		if blk == 0 {
			return run{n: 1}, nil // hole
		}
		ptrs, err := f.indirect(blk)
		if err != nil {
			return run{}, err
		}
		blk = uint64(ptrs[idx])
		if i == len(path)-1 {
			r := run{phys: blk, n: 1}
			for j := idx + 1; j < uint64(len(ptrs)) && r.phys != 0 && uint64(ptrs[j]) == r.phys+r.n; j++ {
				r.n++
			}
			return r, nil
		}
	}
	return run{}, errors.New("empty indirect path")
}

func (f *fileReader) indirect(blk uint64) ([]uint32, error) {
	if f.ind != nil && f.indBlk == blk {
		return f.ind, nil
	}
	b := make([]byte, f.fs.blockSize)
	if err := f.fs.readBlock(b, blk); err != nil {
		return nil, fmt.Errorf("indirect block: %w", err)
	}
	ptrs := make([]uint32, len(b)/4)
	for i := range ptrs {
		ptrs[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	f.ind, f.indBlk = ptrs, blk
	return ptrs, nil
}
