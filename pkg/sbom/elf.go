package sbom

import (
	"bytes"
	"debug/elf"
)

// mayHoldGoBuildInfo reports whether the ELF file data may hold Go build info: whether its magic
// sits where debug/buildinfo looks for it, at a 16-byte aligned address of the data start region
// (the .go.buildinfo section or, without one, the first writable, non-executable PT_LOAD segment),
// in the file bytes of a segment that holds that address. It reads the headers (with debug/elf, as
// debug/buildinfo does) and that region only, so the C programs and shared libraries that make up
// most of an ordinary image's executables are ruled out without searching all their bytes. It is a
// necessary condition, never more: every file debug/buildinfo.Read accepts passes it
// (FuzzGoBuildInfo).
func mayHoldGoBuildInfo(data []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false // debug/buildinfo cannot read it either
	}
	start, size := dataStart(f)
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
	for _, p := range f.Progs {
		pend := p.Vaddr + p.Filesz
		if pend < p.Vaddr {
			pend = ^uint64(0)
		}
		lo, hi := max(p.Vaddr, start), min(pend, end)
		if lo >= hi {
			continue
		}
		off := p.Off + (lo - p.Vaddr)
		if off < p.Off || off >= uint64(len(data)) {
			continue
		}
		stop := uint64(len(data))
		if n := hi - lo; n < stop-off {
			stop = off + n
		}
		if alignedIndex(data[off:stop], []byte(buildInfoMagic), lo) {
			return true
		}
	}
	return false
}

// dataStart is debug/buildinfo's for ELF: the address and size of the .go.buildinfo section, else of
// the first writable, non-executable PT_LOAD segment, else nothing.
func dataStart(f *elf.File) (addr, size uint64) {
	for _, s := range f.Sections {
		if s.Name == ".go.buildinfo" {
			return s.Addr, s.Size
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&(elf.PF_X|elf.PF_W) == elf.PF_W {
			return p.Vaddr, p.Memsz
		}
	}
	return 0, 0
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
