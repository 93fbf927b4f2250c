package vmimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// The GPT is written here rather than by sfdisk on the file: the layout is two partitions at fixed
// offsets, every GUID derived from the image's name, so the table is byte-for-byte reproducible, and
// reading it back (ReadGPT) needs no tool either.

const (
	sectorSize = 512
	// gptEntries is the usual table size: 128 entries of 128 bytes, 32 sectors.
	gptEntries    = 128
	gptEntrySize  = 128
	gptTableBytes = gptEntries * gptEntrySize
	// partAlign is 1 MiB, the alignment every partitioning tool uses.
	partAlign = 1 << 20
)

// Partition type GUIDs: the EFI System Partition, and the root partition for x86-64 of the
// Discoverable Partitions Specification (so that systemd-gpt-auto-generator also recognises it).
var (
	TypeESP      = MustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeRootX864 = MustGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
)

// ErrPartitionTable means a disk's GPT is missing or damaged.
var ErrPartitionTable = errors.New("vmimage: bad GPT")

// GUID is a GUID in its textual (big-endian) byte order.
type GUID [16]byte

// MustGUID parses "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"; it panics on a malformed constant.
func MustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// ParseGUID parses the textual form of a GUID.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return g, fmt.Errorf("%w: GUID %q", ErrPartitionTable, s)
	}
	for i := range 16 {
		var b byte
		if _, err := fmt.Sscanf(h[2*i:2*i+2], "%02x", &b); err != nil {
			return g, fmt.Errorf("%w: GUID %q", ErrPartitionTable, s)
		}
		g[i] = b
	}
	return g, nil
}

func (g GUID) String() string {
	return fmt.Sprintf("%X-%X-%X-%X-%X", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}

// derivedGUID is a version-4-shaped GUID derived from seed: the same image gets the same GUIDs and
// file system UUIDs in every build, different images different ones.
func derivedGUID(seed ...string) GUID {
	sum := sha256.Sum256([]byte(strings.Join(seed, "\x00")))
	var g GUID
	copy(g[:], sum[:16])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// mixed is the GUID in GPT's on-disk order: the first three fields little-endian.
func (g GUID) mixed() [16]byte {
	var m [16]byte
	m[0], m[1], m[2], m[3] = g[3], g[2], g[1], g[0]
	m[4], m[5] = g[5], g[4]
	m[6], m[7] = g[7], g[6]
	copy(m[8:], g[8:])
	return m
}

func unmixed(m []byte) GUID {
	var g GUID
	g[0], g[1], g[2], g[3] = m[3], m[2], m[1], m[0]
	g[4], g[5] = m[5], m[4]
	g[6], g[7] = m[7], m[6]
	copy(g[8:], m[8:16])
	return g
}

// Partition is one GPT entry; FirstLBA and LastLBA are inclusive, in 512-byte sectors.
type Partition struct {
	Type, GUID        GUID
	FirstLBA, LastLBA uint64
	Name              string
}

// Size is the partition's size in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * sectorSize } //nolint:gosec // LBAs lie within the disk (ReadGPT and Bytes check)

// Offset is where the partition starts on the disk, in bytes.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * sectorSize } //nolint:gosec // LBAs lie within the disk (ReadGPT and Bytes check)

// GPT is a disk's partition table.
type GPT struct {
	DiskGUID   GUID
	Sectors    uint64 // the disk's size in sectors
	Partitions []Partition
}

// gptHeaders returns the protective MBR with the primary header (sectors 0 and 1), the entry array,
// and the backup header, for writing at 0, at sector 2 and at the end (entries, then header).
func (t GPT) encode() (primary, entries, backup []byte, err error) {
	if len(t.Partitions) > gptEntries {
		return nil, nil, nil, fmt.Errorf("%w: %d partitions", ErrPartitionTable, len(t.Partitions))
	}
	tableSectors := uint64(gptTableBytes / sectorSize)
	firstUsable, lastUsable := 2+tableSectors, t.Sectors-2-tableSectors
	entries = make([]byte, gptTableBytes)
	for i, p := range t.Partitions {
		if p.FirstLBA < firstUsable || p.LastLBA > lastUsable || p.FirstLBA > p.LastLBA {
			return nil, nil, nil, fmt.Errorf("%w: partition %d (%d-%d) outside the usable sectors %d-%d", ErrPartitionTable, i+1, p.FirstLBA, p.LastLBA, firstUsable, lastUsable)
		}
		e := entries[i*gptEntrySize : (i+1)*gptEntrySize]
		typ, id := p.Type.mixed(), p.GUID.mixed()
		copy(e[0:16], typ[:])
		copy(e[16:32], id[:])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		name := utf16.Encode([]rune(p.Name))
		if len(name) > 36 {
			return nil, nil, nil, fmt.Errorf("%w: partition name %q is longer than 36 UTF-16 units", ErrPartitionTable, p.Name)
		}
		for j, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)
	header := func(current, other, table uint64) []byte {
		h := make([]byte, sectorSize)
		copy(h[0:8], "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], current)
		binary.LittleEndian.PutUint64(h[32:], other)
		binary.LittleEndian.PutUint64(h[40:], firstUsable)
		binary.LittleEndian.PutUint64(h[48:], lastUsable)
		disk := t.DiskGUID.mixed()
		copy(h[56:72], disk[:])
		binary.LittleEndian.PutUint64(h[72:], table)
		binary.LittleEndian.PutUint32(h[80:], gptEntries)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	last := t.Sectors - 1
	mbr := make([]byte, sectorSize)
	// One partition of type 0xEE covering the disk (capped at 2^32-1 sectors), as UEFI requires.
	pe := mbr[446:462]
	pe[1], pe[2], pe[3] = 0x00, 0x02, 0x00
	pe[4] = 0xEE
	pe[5], pe[6], pe[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(pe[8:], 1)
	size := min(t.Sectors-1, 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(pe[12:], uint32(size))
	mbr[510], mbr[511] = 0x55, 0xAA
	primary = append(mbr, header(1, last, 2)...)
	backup = header(last, 1, last-tableSectors)
	return primary, entries, backup, nil
}

// WriteTo writes the table into a disk file of t.Sectors sectors.
func (t GPT) WriteTo(w io.WriterAt) error {
	primary, entries, backup, err := t.encode()
	if err != nil {
		return err
	}
	last := int64(t.Sectors-1) * sectorSize //nolint:gosec // Sectors comes from a disk size held in an int64
	for _, part := range []struct {
		off  int64
		data []byte
	}{{0, primary}, {2 * sectorSize, entries}, {last - gptTableBytes, entries}, {last, backup}} {
		if _, err := w.WriteAt(part.data, part.off); err != nil {
			return fmt.Errorf("writing the GPT: %w", err)
		}
	}
	return nil
}

// ReadGPT reads and checks the primary GPT of a disk of size bytes: signature, header and entry
// CRCs, and that every partition lies inside the disk.
func ReadGPT(r io.ReaderAt, size int64) (*GPT, error) {
	if size < 3*sectorSize+gptTableBytes {
		return nil, fmt.Errorf("%w: a disk of %d bytes cannot hold one", ErrPartitionTable, size)
	}
	h := make([]byte, sectorSize)
	if _, err := r.ReadAt(h, sectorSize); err != nil {
		return nil, fmt.Errorf("%w: reading the header: %w", ErrPartitionTable, err)
	}
	if string(h[0:8]) != "EFI PART" {
		return nil, fmt.Errorf("%w: no EFI PART signature at sector 1", ErrPartitionTable)
	}
	hsize := binary.LittleEndian.Uint32(h[12:])
	if hsize < 92 || hsize > sectorSize {
		return nil, fmt.Errorf("%w: header size %d", ErrPartitionTable, hsize)
	}
	want := binary.LittleEndian.Uint32(h[16:])
	c := bytes.Clone(h[:hsize])
	binary.LittleEndian.PutUint32(c[16:], 0)
	if crc32.ChecksumIEEE(c) != want {
		return nil, fmt.Errorf("%w: header CRC mismatch", ErrPartitionTable)
	}
	n, esize := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
	table := binary.LittleEndian.Uint64(h[72:])
	// table is bounded by the disk's sectors before it is converted (the || short-circuits).
	if esize < gptEntrySize || esize > 4096 || n > 1024 || table < 2 || table > uint64(size/sectorSize) || //nolint:gosec // size is a file size, not negative
		int64(table)*sectorSize+int64(n)*int64(esize) > size { //nolint:gosec // table <= size/sectorSize here
		return nil, fmt.Errorf("%w: %d entries of %d bytes at sector %d", ErrPartitionTable, n, esize, table)
	}
	entries := make([]byte, int(n)*int(esize))
	if _, err := r.ReadAt(entries, int64(table)*sectorSize); err != nil { //nolint:gosec // table <= size/sectorSize, checked above
		return nil, fmt.Errorf("%w: reading the entries: %w", ErrPartitionTable, err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
		return nil, fmt.Errorf("%w: entry array CRC mismatch", ErrPartitionTable)
	}
	t := &GPT{DiskGUID: unmixed(h[56:72]), Sectors: uint64(size / sectorSize)}
	for i := range int(n) {
		e := entries[i*int(esize) : (i+1)*int(esize)]
		typ := unmixed(e[0:16])
		if typ == (GUID{}) {
			continue
		}
		p := Partition{Type: typ, GUID: unmixed(e[16:32]), FirstLBA: binary.LittleEndian.Uint64(e[32:]), LastLBA: binary.LittleEndian.Uint64(e[40:])}
		if p.FirstLBA > p.LastLBA || p.LastLBA >= t.Sectors {
			return nil, fmt.Errorf("%w: partition %d (%d-%d) lies outside the disk", ErrPartitionTable, i+1, p.FirstLBA, p.LastLBA)
		}
		var name []uint16
		for j := 56; j+1 < 128; j += 2 {
			u := binary.LittleEndian.Uint16(e[j:])
			if u == 0 {
				break
			}
			name = append(name, u)
		}
		p.Name = string(utf16.Decode(name))
		t.Partitions = append(t.Partitions, p)
	}
	return t, nil
}
