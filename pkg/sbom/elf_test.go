package sbom

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// tinyGoELF is a minimal ELF file that debug/buildinfo reads as a Go binary: one writable PT_LOAD
// segment holding a build info blob (inline strings), with or without section headers naming it
// .go.buildinfo, little- or big-endian, 32- or 64-bit. pad puts the blob that many bytes into the
// segment. The headers are debug/elf's own structures, written with encoding/binary.
func tinyGoELF(is64, big, sections bool, pad int) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	data := elf.ELFDATA2LSB
	if big {
		bo, data = binary.BigEndian, elf.ELFDATA2MSB
	}
	blob := []byte(buildInfoMagic)
	blob = append(blob, 8, 0x2) // pointer size; flags: inline strings
	blob = append(blob, make([]byte, 16)...)
	str := func(s string) { blob = binary.AppendUvarint(blob, uint64(len(s))); blob = append(blob, s...) }
	str("go1.26.0")
	sentinel := string(bytes.Repeat([]byte{0x30}, 16))
	str(sentinel + "path\texample.com/tiny\nmod\texample.com/tiny\t(devel)\t\n" + sentinel)

	ehsize, phentsize, shentsize := 52, 32, 40
	class := elf.ELFCLASS32
	if is64 {
		ehsize, phentsize, shentsize, class = 64, 56, 64, elf.ELFCLASS64
	}
	const vaddr = 0x10000
	seg := append(make([]byte, pad), blob...)
	names := []byte("\x00.shstrtab\x00.go.buildinfo\x00")
	segOff := ehsize + phentsize
	namesOff := segOff + len(seg)
	shoff, shnum, shstrndx := namesOff+len(names), 3, 1
	if !sections {
		shoff, shnum, shstrndx = 0, 0, 0
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS], ident[elf.EI_DATA], ident[elf.EI_VERSION] = byte(class), byte(data), byte(elf.EV_CURRENT)
	typ, machine, version := uint16(elf.ET_EXEC), uint16(elf.EM_X86_64), uint32(elf.EV_CURRENT)
	flags := uint32(elf.PF_W | elf.PF_R)
	type section struct {
		name            uint32
		typ             elf.SectionType
		addr, off, size uint64
	}
	secs := []section{ // the null section, the names, .go.buildinfo
		{}, {1, elf.SHT_STRTAB, 0, uint64(namesOff), uint64(len(names))},
		{11, elf.SHT_PROGBITS, vaddr + uint64(pad), uint64(segOff + pad), uint64(len(blob))},
	}
	var headers []any
	if is64 {
		headers = append(headers,
			elf.Header64{Ident: ident, Type: typ, Machine: machine, Version: version, Phoff: uint64(ehsize),
				Shoff: uint64(shoff), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: 1,
				Shentsize: uint16(shentsize), Shnum: uint16(shnum), Shstrndx: uint16(shstrndx)},
			elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: flags, Off: uint64(segOff), Vaddr: vaddr, Paddr: vaddr,
				Filesz: uint64(len(seg)), Memsz: uint64(len(seg)), Align: 16})
		for _, c := range secs {
			headers = append(headers, elf.Section64{Name: c.name, Type: uint32(c.typ), Addr: c.addr, Off: c.off, Size: c.size})
		}
	} else {
		headers = append(headers,
			elf.Header32{Ident: ident, Type: typ, Machine: machine, Version: version, Phoff: uint32(ehsize),
				Shoff: uint32(shoff), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: 1,
				Shentsize: uint16(shentsize), Shnum: uint16(shnum), Shstrndx: uint16(shstrndx)},
			elf.Prog32{Type: uint32(elf.PT_LOAD), Flags: flags, Off: uint32(segOff), Vaddr: vaddr, Paddr: vaddr,
				Filesz: uint32(len(seg)), Memsz: uint32(len(seg)), Align: 16})
		for _, c := range secs {
			headers = append(headers, elf.Section32{Name: c.name, Type: uint32(c.typ), Addr: uint32(c.addr), Off: uint32(c.off), Size: uint32(c.size)})
		}
	}
	var out bytes.Buffer
	for i, h := range headers {
		if i == 2 { // the file header and the program header, then the segment and the names
			out.Write(seg)
			out.Write(names)
			if !sections {
				break
			}
		}
		if err := binary.Write(&out, bo, h); err != nil {
			panic(err)
		}
	}
	return out.Bytes()
}

func isGo(data []byte) bool {
	_, err := buildinfo.Read(bytes.NewReader(data))
	return err == nil
}

// The check agrees with debug/buildinfo on the ELF layouts it reads: sections or none, either byte
// order and class, the blob aligned or not; it never rules out a file debug/buildinfo accepts.
func TestMayHoldGoBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name                string
		is64, big, sections bool
		pad                 int
		want                bool
	}{
		{"64-bit, .go.buildinfo section", true, false, true, 0, true},
		{"64-bit, no section headers", true, false, false, 0, true},
		{"64-bit, blob deep in the segment", true, false, false, 4096, true},
		{"32-bit big-endian, section", false, true, true, 0, true},
		{"32-bit, no section headers", false, false, false, 32, true},
		{"blob not 16-byte aligned", true, false, false, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tinyGoELF(tc.is64, tc.big, tc.sections, tc.pad)
			if got := isGo(data); got != tc.want {
				t.Fatalf("debug/buildinfo reads it: %v, want %v (the fixture is wrong)", got, tc.want)
			}
			if got := mayHoldGoBuildInfo(data); got != tc.want {
				t.Errorf("mayHoldGoBuildInfo = %v, want %v", got, tc.want)
			}
		})
	}

	// A real Go binary, and the same with its section headers cut off.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if !isGo(data) || !mayHoldGoBuildInfo(data) {
		t.Errorf("this test binary: debug/buildinfo %v, mayHoldGoBuildInfo %v", isGo(data), mayHoldGoBuildInfo(data))
	}
	if len(data) > 64 && elf.Class(data[elf.EI_CLASS]) == elf.ELFCLASS64 {
		cut := bytes.Clone(data)
		clear(cut[40:48]) // e_shoff
		clear(cut[58:64]) // e_shentsize, e_shnum, e_shstrndx
		if isGo(cut) && !mayHoldGoBuildInfo(cut) {
			t.Error("this test binary without section headers: debug/buildinfo reads it, mayHoldGoBuildInfo rules it out")
		}
	}
}

// On the host's executables and libraries (C programs, and the Go programs Debian builds, such as
// runc and docker-registry when installed), every file debug/buildinfo reads passes the check, and
// most C files are ruled out by their headers.
func TestMayHoldGoBuildInfoHost(t *testing.T) {
	var goFiles, ruledOut, elfFiles int
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || elfFiles >= 2000 {
				return nil
			}
			fi, err := d.Info()
			if err != nil || fi.Size() > 256<<20 {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || !isELF(data) {
				return nil
			}
			elfFiles++
			may := mayHoldGoBuildInfo(data)
			if !may {
				ruledOut++
			}
			if isGo(data) {
				goFiles++
				if !may {
					t.Errorf("%s: debug/buildinfo reads it, mayHoldGoBuildInfo rules it out", p)
				}
			}
			return nil
		})
	}
	if elfFiles == 0 {
		t.Skip("no ELF files on this host")
	}
	t.Logf("%d ELF files, %d Go binaries, %d ruled out by their headers", elfFiles, goFiles, ruledOut)
	if ruledOut < (elfFiles-goFiles)/2 {
		t.Errorf("only %d of %d non-Go ELF files ruled out by their headers", ruledOut, elfFiles-goFiles)
	}
}

// FuzzGoBuildInfo: whatever the file, the check does not panic, and it never rules out a file that
// debug/buildinfo reads as a Go binary.
func FuzzGoBuildInfo(f *testing.F) {
	for _, is64 := range []bool{true, false} {
		for _, sections := range []bool{true, false} {
			f.Add(tinyGoELF(is64, !is64, sections, 16))
		}
	}
	f.Add([]byte(elfMagic + "\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		may := mayHoldGoBuildInfo(data)
		if isGo(data) && !may {
			t.Fatalf("debug/buildinfo reads %d bytes as a Go binary; mayHoldGoBuildInfo rules it out", len(data))
		}
	})
}
