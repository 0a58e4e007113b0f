package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const sectorSize = 512

// Partition table schemes.
const (
	SchemeGPT  = "gpt"
	SchemeMBR  = "mbr"
	SchemeNone = "none" // a filesystem on the whole disk
)

// maxLogical bounds the chain of extended boot records, which a corrupt
// disk could make circular.
const maxLogical = 128

// readTable reads the partition table of a disk of the given size: GPT
// (behind a protective MBR), MBR with logical partitions, or none when a
// filesystem starts at offset 0.
func readTable(r io.ReaderAt, size int64) ([]Partition, error) {
	if size < sectorSize {
		return nil, fmt.Errorf("disk is %d bytes, smaller than one sector", size)
	}
	var mbr [sectorSize]byte
	if _, err := r.ReadAt(mbr[:], 0); err != nil {
		return nil, fmt.Errorf("read MBR: %w", err)
	}
	var hdr [sectorSize]byte
	if size >= 2*sectorSize {
		if _, err := r.ReadAt(hdr[:], sectorSize); err != nil {
			return nil, fmt.Errorf("read GPT header: %w", err)
		}
	}
	if bytes.Equal(hdr[:8], []byte("EFI PART")) {
		return readGPT(r, size, hdr[:])
	}
	if fs := detect(r, size); fs != FSUnknown {
		return []Partition{{Index: 1, Scheme: SchemeNone, Start: 0, Size: size, Filesystem: fs}}, nil
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return nil, errors.New("no partition table (no MBR signature, no GPT header) and no known filesystem at offset 0")
	}
	return readMBR(r, size, mbr[:])
}

type mbrEntry struct {
	typ          byte
	start, count int64 // in sectors
}

func mbrEntries(b []byte) [4]mbrEntry {
	var es [4]mbrEntry
	for i := range es {
		e := b[446+16*i:]
		es[i] = mbrEntry{
			typ:   e[4],
			start: int64(binary.LittleEndian.Uint32(e[8:])),
			count: int64(binary.LittleEndian.Uint32(e[12:])),
		}
	}
	return es
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

func readMBR(r io.ReaderAt, size int64, mbr []byte) ([]Partition, error) {
	var parts []Partition
	for i, e := range mbrEntries(mbr) {
		switch {
		case e.typ == 0 || e.count == 0:
			continue
		case e.typ == 0xEE:
			return nil, errors.New("protective MBR (type 0xee) but no GPT header at LBA 1")
		case isExtended(e.typ):
			logical, err := readEBRs(r, size, e.start, len(parts))
			if err != nil {
				return nil, fmt.Errorf("MBR partition %d (extended): %w", i+1, err)
			}
			parts = append(parts, logical...)
			continue
		}
		p := Partition{Index: i + 1, Scheme: SchemeMBR, Type: mbrType(e.typ), Start: e.start * sectorSize, Size: e.count * sectorSize}
		if err := checkBounds(p, size); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return nil, errors.New("MBR has no partitions")
	}
	return parts, nil
}

// readEBRs follows the chain of extended boot records. Logical
// partitions are numbered from 5, as Linux does.
func readEBRs(r io.ReaderAt, size, extStart int64, _ int) ([]Partition, error) {
	var parts []Partition
	seen := map[int64]bool{}
	next := extStart
	for n := 0; ; n++ {
		if n == maxLogical {
			return nil, fmt.Errorf("more than %d logical partitions (loop in the EBR chain?)", maxLogical)
		}
		if seen[next] {
			return nil, fmt.Errorf("EBR at sector %d: loop in the EBR chain", next)
		}
		seen[next] = true
		var ebr [sectorSize]byte
		if next*sectorSize+sectorSize > size {
			return nil, fmt.Errorf("EBR at sector %d is beyond the end of the disk", next)
		}
		if _, err := r.ReadAt(ebr[:], next*sectorSize); err != nil {
			return nil, fmt.Errorf("read EBR at sector %d: %w", next, err)
		}
		if ebr[510] != 0x55 || ebr[511] != 0xAA {
			return nil, fmt.Errorf("EBR at sector %d: no 0x55aa signature", next)
		}
		es := mbrEntries(ebr[:])
		if es[0].typ != 0 && es[0].count != 0 {
			p := Partition{Index: 5 + len(parts), Scheme: SchemeMBR, Type: mbrType(es[0].typ),
				Start: (next + es[0].start) * sectorSize, Size: es[0].count * sectorSize}
			if err := checkBounds(p, size); err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		if es[1].typ == 0 || es[1].start == 0 {
			return parts, nil
		}
		next = extStart + es[1].start
	}
}

func checkBounds(p Partition, size int64) error {
	if p.Start < 0 || p.Size <= 0 || p.Start+p.Size > size || p.Start+p.Size < p.Start {
		return fmt.Errorf("partition %d: bytes %d..%d are beyond the end of the disk (%d bytes)", p.Index, p.Start, p.Start+p.Size, size)
	}
	return nil
}

var mbrTypes = map[byte]string{
	0x07: "NTFS/exFAT", 0x0B: "FAT32", 0x0C: "FAT32 LBA", 0x0E: "FAT16 LBA", 0x82: "Linux swap",
	0x83: "Linux", 0x8E: "Linux LVM", 0xEF: "EFI System", 0xFD: "Linux RAID",
}

func mbrType(t byte) string {
	if n, ok := mbrTypes[t]; ok {
		return fmt.Sprintf("0x%02x (%s)", t, n)
	}
	return fmt.Sprintf("0x%02x", t)
}

// gptTypes names well-known partition type GUIDs.
var gptTypes = map[string]string{
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM64)",
	"8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
	"4D21B016-B534-45C2-A9FB-5C16E091FD2D": "Linux /var",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux /home",
	"BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
}

// guid formats a GUID stored in the mixed-endian on-disk layout.
func guid(b []byte) string {
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16]))
}

const maxGPTEntries = 1024

func readGPT(r io.ReaderAt, size int64, hdr []byte) ([]Partition, error) {
	hsize := binary.LittleEndian.Uint32(hdr[12:])
	if hsize < 92 || hsize > sectorSize {
		return nil, fmt.Errorf("GPT header: size %d out of range 92..512", hsize)
	}
	h := make([]byte, hsize)
	copy(h, hdr)
	want := binary.LittleEndian.Uint32(h[16:])
	clear(h[16:20])
	if got := crc32.ChecksumIEEE(h); got != want {
		return nil, fmt.Errorf("GPT header: CRC32 is %#08x, header says %#08x (corrupt header)", got, want)
	}
	entLBA := int64(binary.LittleEndian.Uint64(hdr[72:]))
	n := binary.LittleEndian.Uint32(hdr[80:])
	esize := binary.LittleEndian.Uint32(hdr[84:])
	if n > maxGPTEntries {
		return nil, fmt.Errorf("GPT header: %d partition entries, more than %d", n, maxGPTEntries)
	}
	if esize < 128 || esize > 4096 || esize%8 != 0 {
		return nil, fmt.Errorf("GPT header: partition entry size %d is not a multiple of 8 in 128..4096", esize)
	}
	total := int64(n) * int64(esize)
	if entLBA < 2 || entLBA > size/sectorSize || entLBA*sectorSize+total > size {
		return nil, fmt.Errorf("GPT header: partition entries at LBA %d (%d bytes) are beyond the end of the disk", entLBA, total)
	}
	ents := make([]byte, total)
	if _, err := r.ReadAt(ents, entLBA*sectorSize); err != nil {
		return nil, fmt.Errorf("read GPT partition entries: %w", err)
	}
	if got, want := crc32.ChecksumIEEE(ents), binary.LittleEndian.Uint32(hdr[88:]); got != want {
		return nil, fmt.Errorf("GPT partition entries: CRC32 is %#08x, header says %#08x (corrupt entries)", got, want)
	}
	var parts []Partition
	for i := range int(n) {
		e := ents[i*int(esize):]
		if allZero(e[:16]) {
			continue
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		if last < first || last >= uint64(size/sectorSize) {
			return nil, fmt.Errorf("GPT partition %d: LBAs %d..%d are beyond the end of the disk (%d sectors)", i+1, first, last, size/sectorSize)
		}
		t := guid(e[:16])
		if name, ok := gptTypes[t]; ok {
			t = name
		}
		parts = append(parts, Partition{
			Index: i + 1, Scheme: SchemeGPT, Type: t, Name: utf16Name(e[56:128]),
			Start: int64(first) * sectorSize, Size: int64(last-first+1) * sectorSize,
		})
	}
	if len(parts) == 0 {
		return nil, errors.New("GPT has no partitions")
	}
	return parts, nil
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
