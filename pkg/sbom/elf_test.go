package sbom

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// tinyGoELF is a minimal ELF file that debug/buildinfo reads as a Go binary: one writable PT_LOAD
// segment holding a build info blob (inline strings), with or without section headers naming it
// .go.buildinfo, little- or big-endian, 32- or 64-bit. pad puts the blob that many bytes into the
// segment.
func tinyGoELF(is64, big, sections bool, pad int) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	blob := []byte(buildInfoMagic)
	blob = append(blob, 8, 0x2) // pointer size; flags: inline strings
	blob = append(blob, make([]byte, 16)...)
	str := func(s string) { blob = binary.AppendUvarint(blob, uint64(len(s))); blob = append(blob, s...) }
	str("go1.26.0")
	sentinel := bytes.Repeat([]byte{0x30}, 16)
	str(string(sentinel) + "path\texample.com/tiny\nmod\texample.com/tiny\t(devel)\t\n" + string(sentinel))

	ehsize, phentsize, shentsize := 52, 32, 40
	if is64 {
		ehsize, phentsize, shentsize = 64, 56, 64
	}
	const vaddr = 0x10000
	segOff := ehsize + phentsize
	seg := append(make([]byte, pad), blob...)
	names := []byte("\x00.shstrtab\x00.go.buildinfo\x00")
	namesOff := segOff + len(seg)
	shoff := namesOff + len(names)
	nsec := 3
	out := make([]byte, shoff)
	copy(out, elfMagic)
	out[4], out[5], out[6] = elfClass32, elfData2LSB, 1
	if is64 {
		out[4] = elfClass64
	}
	if big {
		out[5] = elfData2MSB
	}
	word := func(b []byte, v uint64) { // a 32- or 64-bit field
		if is64 {
			bo.PutUint64(b, v)
		} else {
			bo.PutUint32(b, uint32(v))
		}
	}
	bo.PutUint16(out[16:], 2)  // ET_EXEC
	bo.PutUint16(out[18:], 62) // EM_X86_64
	bo.PutUint32(out[20:], 1)
	if is64 {
		bo.PutUint64(out[32:], uint64(ehsize)) // phoff
		if sections {
			bo.PutUint64(out[40:], uint64(shoff))
		}
		bo.PutUint16(out[52:], uint16(ehsize))
		bo.PutUint16(out[54:], uint16(phentsize))
		bo.PutUint16(out[56:], 1)
		bo.PutUint16(out[58:], uint16(shentsize))
		if sections {
			bo.PutUint16(out[60:], uint16(nsec))
			bo.PutUint16(out[62:], 1)
		}
	} else {
		bo.PutUint32(out[28:], uint32(ehsize))
		if sections {
			bo.PutUint32(out[32:], uint32(shoff))
		}
		bo.PutUint16(out[40:], uint16(ehsize))
		bo.PutUint16(out[42:], uint16(phentsize))
		bo.PutUint16(out[44:], 1)
		bo.PutUint16(out[46:], uint16(shentsize))
		if sections {
			bo.PutUint16(out[48:], uint16(nsec))
			bo.PutUint16(out[50:], 1)
		}
	}
	ph := out[ehsize:]
	bo.PutUint32(ph, ptLoad)
	if is64 {
		bo.PutUint32(ph[4:], pfW|4)
		word(ph[8:], uint64(segOff))
		word(ph[16:], vaddr)
		word(ph[24:], vaddr)
		word(ph[32:], uint64(len(seg)))
		word(ph[40:], uint64(len(seg)))
		word(ph[48:], 16)
	} else {
		word(ph[4:], uint64(segOff))
		word(ph[8:], vaddr)
		word(ph[12:], vaddr)
		word(ph[16:], uint64(len(seg)))
		word(ph[20:], uint64(len(seg)))
		bo.PutUint32(ph[24:], pfW|4)
		bo.PutUint32(ph[28:], 16)
	}
	copy(out[segOff:], seg)
	copy(out[namesOff:], names)
	if !sections {
		return out
	}
	sh := make([]byte, nsec*shentsize)
	section := func(i int, name, typ uint32, addr, off, size uint64) {
		b := sh[i*shentsize:]
		bo.PutUint32(b, name)
		bo.PutUint32(b[4:], typ)
		if is64 {
			bo.PutUint64(b[16:], addr)
			bo.PutUint64(b[24:], off)
			bo.PutUint64(b[32:], size)
		} else {
			bo.PutUint32(b[12:], uint32(addr))
			bo.PutUint32(b[16:], uint32(off))
			bo.PutUint32(b[20:], uint32(size))
		}
	}
	section(1, 1, shtStrtab, 0, uint64(namesOff), uint64(len(names)))
	section(2, 11, 1, vaddr+uint64(pad), uint64(segOff+pad), uint64(len(blob)))
	return append(out, sh...)
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
	if len(data) > 64 && data[4] == elfClass64 {
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
