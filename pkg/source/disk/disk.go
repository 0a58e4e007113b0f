// Package disk reads raw disk images, such as VM snapshots, without
// mounting them: the partition table (MBR with logical partitions, or GPT)
// and ext2/3/4 filesystems, whose files it serves as an inventory.Tree.
// Everything is read through io.ReaderAt, a block at a time, so neither
// root privileges nor a kernel driver are needed, and memory stays bounded
// by the largest directory rather than the disk.
package disk

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// ErrUnsupported is returned by Tree for filesystems other than ext2/3/4.
var ErrUnsupported = errors.New("unsupported filesystem; mamori reads ext2/3/4")

// Disk is an open raw disk image.
type Disk struct {
	path  string
	f     *os.File
	parts []Partition
}

// Partition is one partition of a disk, or the whole disk when it has no
// partition table.
type Partition struct {
	// Index is the partition's number: 1-4 primary and 5… logical on
	// MBR, the entry number on GPT, 1 without a table.
	Index int
	// Scheme is the partition table: SchemeGPT, SchemeMBR or SchemeNone.
	Scheme string
	// Type is the GPT type GUID's name (or the GUID when unknown), or
	// the MBR type byte ("0x83 (Linux)"); empty without a table.
	Type string
	// Name is the GPT partition name.
	Name string
	// Label is the filesystem's volume label, where it has one.
	Label string
	// Start and Size are in bytes from the start of the disk.
	Start, Size int64
	// Filesystem is told by the superblock magic: FSExt4, FSXFS, ….
	Filesystem string

	disk *Disk
}

// Open opens a raw disk image and reads its partition table.
func Open(path string) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	d := &Disk{path: path, f: f}
	parts, err := readTable(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range parts {
		p := &parts[i]
		p.disk = d
		if p.Filesystem == "" {
			p.Filesystem = detect(p.section(), p.Size)
		}
		if IsExt(p.Filesystem) {
			p.Label = extLabel(p.section(), p.Size)
		}
	}
	d.parts = parts
	return d, nil
}

// Close closes the image.
func (d *Disk) Close() error { return d.f.Close() }

// Path is the image's path as given to Open.
func (d *Disk) Path() string { return d.path }

// Partitions returns the disk's partitions in table order.
func (d *Disk) Partitions() []Partition { return d.parts }

func (p Partition) section() *io.SectionReader {
	return io.NewSectionReader(p.disk.f, p.Start, p.Size)
}

// String describes the partition for messages: "partition 2 (xfs)".
func (p Partition) String() string {
	return fmt.Sprintf("partition %d (%s)", p.Index, p.Filesystem)
}

// Tree returns the files of an ext2/3/4 partition. It reads and checks
// the superblock and group descriptors; other filesystems give an error
// wrapping ErrUnsupported.
func (p Partition) Tree() (inventory.Tree, error) {
	if !IsExt(p.Filesystem) {
		return nil, fmt.Errorf("%s: %s: %w", p.disk.path, p, ErrUnsupported)
	}
	fs, err := openExt(p.section(), p.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", p.disk.path, p, err)
	}
	return fs, nil
}

// Scannable splits partitions into those Tree reads (ext2/3/4) and notes
// on the others ("partition 2 (xfs): unsupported filesystem; …"), which a
// scan reports rather than silently skipping.
func Scannable(parts []Partition) (scan []Partition, notes []string) {
	for _, p := range parts {
		if IsExt(p.Filesystem) {
			scan = append(scan, p)
			continue
		}
		var why string
		switch p.Filesystem {
		case FSSwap:
			why = "swap space, no files"
		case FSLVM2:
			why = "LVM2 physical volume; logical volumes are not read"
		case FSUnknown:
			why = "no known filesystem"
		default:
			why = ErrUnsupported.Error()
		}
		notes = append(notes, fmt.Sprintf("%s: %s", p, why))
	}
	return scan, notes
}
