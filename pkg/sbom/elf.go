package sbom

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// mayHoldGoBuildInfo reports whether the ELF file data may hold Go build info: whether its magic
// sits where debug/buildinfo looks for it, at a 16-byte aligned address of the data start region
// (the .go.buildinfo section or, without one, the first writable, non-executable PT_LOAD segment),
// in the file bytes of a segment that holds that address. It reads the headers and that region only,
// so the C programs and shared libraries that make up most of an ordinary image's executables are
// ruled out without searching all their bytes. It is a necessary condition, never more: every file
// debug/buildinfo.Read accepts passes it (FuzzGoBuildInfo). Headers it does not follow as debug/elf
// would make it search the whole file instead.
func mayHoldGoBuildInfo(data []byte) bool {
	magic := []byte(buildInfoMagic)
	f, ok := parseELF(data)
	if !ok {
		return bytes.Contains(data, magic)
	}
	start, size, ok := f.dataStart()
	if !ok {
		return bytes.Contains(data, magic)
	}
	end := start + size
	if size == 0 || end < start {
		return false // debug/buildinfo: not a Go executable, or an unrecognised one
	}
	start = (start + buildInfoAlign - 1) &^ (buildInfoAlign - 1)
	if start >= end {
		return false
	}
	// debug/buildinfo reads each chunk of the region through the first program header (of any type)
	// whose file bytes hold the chunk's address; searching every such header's bytes covers them all.
	for _, p := range f.progs {
		pend := p.vaddr + p.filesz
		if pend < p.vaddr {
			pend = ^uint64(0)
		}
		lo, hi := max(p.vaddr, start), min(pend, end)
		if lo >= hi {
			continue
		}
		off := p.off + (lo - p.vaddr)
		if off < p.off || off >= uint64(len(data)) {
			continue
		}
		stop := uint64(len(data))
		if n := hi - lo; n < stop-off {
			stop = off + n
		}
		if alignedIndex(data[off:stop], magic, lo) {
			return true
		}
	}
	return false
}

// buildInfoAlign is the alignment of the build info blob's address (debug/buildinfo).
const buildInfoAlign = 16

// alignedIndex reports whether needle occurs in b at an offset whose address (addr is b[0]'s) is a
// multiple of buildInfoAlign.
func alignedIndex(b, needle []byte, addr uint64) bool {
	for k := 0; k < len(b); {
		i := bytes.Index(b[k:], needle)
		if i < 0 {
			return false
		}
		at := k + i
		if (addr+uint64(at))%buildInfoAlign == 0 {
			return true
		}
		k = at + 1
	}
	return false
}

// elfFile is the little of an ELF file's headers that locating Go build info needs.
type elfFile struct {
	data  []byte
	bo    binary.ByteOrder
	is64  bool
	progs []elfProg
}

type elfProg struct {
	typ                       elf.ProgType
	flags                     elf.ProgFlag
	off, vaddr, filesz, memsz uint64
}

// parseELF reads the ELF header and the program headers; false when they are not all in data.
func parseELF(data []byte) (*elfFile, bool) {
	if len(data) < 52 || !bytes.HasPrefix(data, []byte(elfMagic)) {
		return nil, false
	}
	f := &elfFile{data: data}
	switch elf.Data(data[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		f.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		f.bo = binary.BigEndian
	default:
		return nil, false
	}
	var phoff, phentsize, want uint64
	var phnum uint16
	switch elf.Class(data[elf.EI_CLASS]) {
	case elf.ELFCLASS32:
		phoff = uint64(f.bo.Uint32(data[28:]))
		phentsize, phnum, want = uint64(f.bo.Uint16(data[42:])), f.bo.Uint16(data[44:]), 32
	case elf.ELFCLASS64:
		if len(data) < 64 {
			return nil, false
		}
		f.is64 = true
		phoff = f.bo.Uint64(data[32:])
		phentsize, phnum, want = uint64(f.bo.Uint16(data[54:])), f.bo.Uint16(data[56:]), 56
	default:
		return nil, false
	}
	if phnum > 0 && phentsize < want {
		return nil, false
	}
	for i := range uint64(phnum) {
		b, ok := f.slice(phoff, i*phentsize, want)
		if !ok {
			return nil, false
		}
		p := elfProg{typ: elf.ProgType(f.bo.Uint32(b[0:]))}
		if f.is64 {
			p.flags = elf.ProgFlag(f.bo.Uint32(b[4:]))
			p.off, p.vaddr, p.filesz, p.memsz = f.bo.Uint64(b[8:]), f.bo.Uint64(b[16:]), f.bo.Uint64(b[32:]), f.bo.Uint64(b[40:])
		} else {
			p.off, p.vaddr = uint64(f.bo.Uint32(b[4:])), uint64(f.bo.Uint32(b[8:]))
			p.filesz, p.memsz, p.flags = uint64(f.bo.Uint32(b[16:])), uint64(f.bo.Uint32(b[20:])), elf.ProgFlag(f.bo.Uint32(b[24:]))
		}
		f.progs = append(f.progs, p)
	}
	return f, true
}

// slice returns n bytes of the file from base+off, or false when they are not all there.
func (f *elfFile) slice(base, off, n uint64) ([]byte, bool) {
	size := uint64(len(f.data))
	if base > size || off > size-base || n > size-base-off {
		return nil, false
	}
	return f.data[base+off : base+off+n], true
}

// dataStart is debug/buildinfo's for ELF: the address and size of the .go.buildinfo section, else of
// the first writable, non-executable PT_LOAD segment, else nothing. ok is false when the section
// headers are not ones this reads as debug/elf does.
func (f *elfFile) dataStart() (addr, size uint64, ok bool) {
	addr, size, found, ok := f.goBuildInfoSection()
	if !ok || found {
		return addr, size, ok
	}
	for _, p := range f.progs {
		if p.typ == elf.PT_LOAD && p.flags&(elf.PF_X|elf.PF_W) == elf.PF_W {
			return p.vaddr, p.memsz, true
		}
	}
	return 0, 0, true
}

// goBuildInfoSection finds the section named .go.buildinfo as debug/elf names sections.
func (f *elfFile) goBuildInfoSection() (addr, size uint64, found, ok bool) {
	d := f.data
	var shoff, shentsize, shnum, shstrndx, want uint64
	if f.is64 {
		shoff = f.bo.Uint64(d[40:])
		shentsize, shnum, shstrndx, want = uint64(f.bo.Uint16(d[58:])), uint64(f.bo.Uint16(d[60:])), uint64(f.bo.Uint16(d[62:])), 64
	} else {
		shoff = uint64(f.bo.Uint32(d[32:]))
		shentsize, shnum, shstrndx, want = uint64(f.bo.Uint16(d[46:])), uint64(f.bo.Uint16(d[48:])), uint64(f.bo.Uint16(d[50:])), 40
	}
	if shnum == 0 && shoff == 0 {
		return 0, 0, false, true // no section headers
	}
	// A count or string table index escaped into section 0 (more than 0xff00 sections) is left to
	// the whole-file search, as are headers too short to read.
	if shnum == 0 || shentsize < want || shstrndx >= shnum {
		return 0, 0, false, false
	}
	if shstrndx == 0 {
		return 0, 0, false, true // no section names
	}
	type section struct {
		name            uint32
		typ             elf.SectionType
		flags           uint64 // elf.SectionFlag, 64 bits wide in ELF64
		addr, off, size uint64
	}
	read := func(i uint64) (section, bool) {
		b, ok := f.slice(shoff, i*shentsize, want)
		if !ok {
			return section{}, false
		}
		s := section{name: f.bo.Uint32(b[0:]), typ: elf.SectionType(f.bo.Uint32(b[4:]))}
		if f.is64 {
			s.flags, s.addr, s.off, s.size = f.bo.Uint64(b[8:]), f.bo.Uint64(b[16:]), f.bo.Uint64(b[24:]), f.bo.Uint64(b[32:])
		} else {
			s.flags, s.addr = uint64(f.bo.Uint32(b[8:])), uint64(f.bo.Uint32(b[12:]))
			s.off, s.size = uint64(f.bo.Uint32(b[16:])), uint64(f.bo.Uint32(b[20:]))
		}
		return s, true
	}
	strtab, ok := read(shstrndx)
	if !ok || strtab.typ != elf.SHT_STRTAB || strtab.flags&uint64(elf.SHF_COMPRESSED) != 0 {
		return 0, 0, false, false
	}
	names, ok := f.slice(strtab.off, 0, strtab.size)
	if !ok {
		return 0, 0, false, false
	}
	const name = ".go.buildinfo\x00"
	for i := range shnum {
		s, ok := read(i)
		if !ok {
			return 0, 0, false, false
		}
		if uint64(s.name) < uint64(len(names)) && bytes.HasPrefix(names[s.name:], []byte(name)) {
			return s.addr, s.size, true, true
		}
	}
	return 0, 0, false, true
}
