package sbom

import (
	"bytes"
	"debug/buildinfo"
	"runtime/debug"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Go binaries are recognised by content, not by name: an ELF file whose data holds the build info
// blob the Go linker writes.
const (
	elfMagic       = "\x7fELF"
	buildInfoMagic = "\xff Go buildinf:"
)

// maxGoBinary caps the size of a file read whole to look for Go build info.
const maxGoBinary = 512 << 20

// isELF reports whether head, the first bytes of a file, start an ELF image.
func isELF(head []byte) bool { return bytes.HasPrefix(head, []byte(elfMagic)) }

// parseGoBinary returns the main module, its dependencies (replacements honoured) and the toolchain as
// "stdlib", or nothing for an ELF file that is not a Go binary. data is the whole file; the walk
// hands over only ELF files that mayHoldGoBuildInfo let through.
func parseGoBinary(data []byte) []evidence.Package {
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	return goPackages(bi)
}

func goPackages(bi *debug.BuildInfo) []evidence.Package {
	var pkgs []evidence.Package
	mod := func(m debug.Module) {
		if m.Replace != nil && m.Replace.Version != "" {
			// A module replaced by another version (or fork) is what got compiled in. A replacement by
			// a local directory has no version; the original path stays, version unknown.
			m = *m.Replace
		} else if m.Replace != nil {
			m.Version = ""
		}
		if m.Path == "" {
			return
		}
		v := m.Version
		if v == "(devel)" {
			v = ""
		}
		pkgs = append(pkgs, evidence.Package{Name: m.Path, Version: v, Type: evidence.TypeGolang})
	}
	if bi.Main.Path != "" {
		mod(bi.Main)
	}
	for _, d := range bi.Deps {
		if d != nil {
			mod(*d)
		}
	}
	if v, ok := strings.CutPrefix(bi.GoVersion, "go"); ok && v != "" {
		// "go1.22.1 X:boringcrypto" and the like: the version is the first word.
		v, _, _ = strings.Cut(v, " ")
		// The standard library's license is Go's own, as syft records it too.
		pkgs = append(pkgs, evidence.Package{Name: "stdlib", Version: v, Type: evidence.TypeGolang, Licenses: []string{"BSD-3-Clause"}})
	}
	return pkgs
}
