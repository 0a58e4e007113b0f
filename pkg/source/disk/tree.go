package disk

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// dirent is a directory entry; typ is the dirent file type (0 unknown,
// 1 regular, 2 directory, 7 symlink), or 0 without the filetype feature.
type dirent struct {
	name string
	ino  uint32
	typ  byte
}

const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
)

// readDir lists a directory, sorted by name, without "." and "..".
func (fs *extFS) readDir(in *inode) ([]dirent, error) {
	if in.size > maxDirSize {
		return nil, fmt.Errorf("directory inode %d is %d bytes, more than %d", in.num, in.size, maxDirSize)
	}
	var ents []dirent
	if in.flags&flagInlineData != 0 {
		// Inline directories: the parent's inode number, then entries
		// in the rest of i_block and in the system.data attribute.
		var err error
		if ents, err = parseDirents(ents, in.block[4:], in.num, 0); err != nil {
			return nil, err
		}
		if len(in.inline) > 0 {
			if ents, err = parseDirents(ents, in.inline, in.num, 0); err != nil {
				return nil, err
			}
		}
	} else {
		// Linear read of every block: htree index blocks look like
		// empty entries and are skipped as such.
		r := fs.open(in)
		buf := make([]byte, fs.blockSize)
		for off := int64(0); off < in.size; off += fs.blockSize {
			n, err := r.ReadAt(buf, off)
			if err != nil && err != io.EOF {
				return nil, err
			}
			if ents, err = parseDirents(ents, buf[:n], in.num, off); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(ents, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return ents, nil
}

func parseDirents(ents []dirent, b []byte, dir uint32, base int64) ([]dirent, error) {
	for off := 0; off+8 <= len(b); {
		ino := binary.LittleEndian.Uint32(b[off:])
		recLen := int(binary.LittleEndian.Uint16(b[off+4:]))
		nameLen := int(b[off+6])
		if recLen < 8 || recLen%4 != 0 || off+recLen > len(b) || 8+nameLen > recLen {
			return ents, fmt.Errorf("directory inode %d: entry at byte %d: record length %d (name %d bytes) does not fit", dir, base+int64(off), recLen, nameLen)
		}
		name := string(b[off+8 : off+8+nameLen])
		if ino != 0 && name != "." && name != ".." {
			if nameLen == 0 || strings.ContainsAny(name, "/\x00") {
				return ents, fmt.Errorf("directory inode %d: entry at byte %d: invalid name %q", dir, base+int64(off), name)
			}
			ents = append(ents, dirent{name: name, ino: ino, typ: b[off+7]})
		}
		off += recLen
	}
	return ents, nil
}

// mode converts a Unix mode to an fs.FileMode, as os.Stat does.
func mode(m uint16) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	if m&sIFMT == sIFDIR {
		fm |= fs.ModeDir
	}
	return fm
}

// Walk calls fn for each regular file, directory by directory in name
// order (as filepath.WalkDir). A directory or inode that cannot be read is
// reported to problem and skipped; only the root's failure, fn's error or
// ctx ends the walk early.
func (fs *extFS) Walk(ctx context.Context, fn inventory.WalkFunc, problem func(inventory.Problem)) error {
	root, err := fs.inode(rootIno)
	if err != nil {
		return fmt.Errorf("root directory: %w", err)
	}
	if root.mode&sIFMT != sIFDIR {
		return fmt.Errorf("root directory: inode 2 has mode %#o, not a directory", root.mode)
	}
	ents, err := fs.readDir(root)
	if err != nil {
		return fmt.Errorf("root directory: %w", err)
	}
	return fs.walk(ctx, "", ents, map[uint32]bool{rootIno: true}, fn, problem)
}

// walk walks the directory entries ents. seen holds every directory inode
// entered so far: a directory reached twice (a loop, or a hard-linked
// directory in a damaged or crafted image) is a problem, not a second
// walk, so the walk stays linear in the size of the tree.
func (fs *extFS) walk(ctx context.Context, dir string, ents []dirent, seen map[uint32]bool, fn inventory.WalkFunc, problem func(inventory.Problem)) error {
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.typ != ftUnknown && e.typ != ftReg && e.typ != ftDir {
			continue // symlinks, devices, fifos, sockets
		}
		p := dir + e.name
		in, err := fs.inode(e.ino)
		if err != nil {
			problem(inventory.Problem{Path: p, Err: err})
			continue
		}
		switch in.mode & sIFMT {
		case sIFDIR:
			if seen[e.ino] {
				problem(inventory.Problem{Path: p, Err: fmt.Errorf("directory inode %d was already walked: a loop or a hard-linked directory (corrupt filesystem)", e.ino)})
				continue
			}
			seen[e.ino] = true
			sub, err := fs.readDir(in)
			if err != nil {
				problem(inventory.Problem{Path: p, Err: err})
				continue
			}
			if err := fs.walk(ctx, p+"/", sub, seen, fn, problem); err != nil {
				return err
			}
		case sIFREG:
			info := inventory.FileInfo{Size: in.size, Mode: mode(in.mode)}
			if err := fn(p, info, func() (*inventory.File, error) {
				return inventory.NewFile(p, info, fs.open(in), "", nil), nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
