package sbom

import (
	"fmt"
	"io"
	"strings"

	"github.com/ingot-build/ingot/pkg/deb"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Where dpkg records installed packages: one status file, or (distroless, and ingot's own images) one
// control file per package under status.d, next to its md5sums.
const (
	dpkgStatus  = "var/lib/dpkg/status"
	dpkgStatusD = "var/lib/dpkg/status.d/"
	dpkgInfo    = "var/lib/dpkg/info/"
	md5sumsExt  = ".md5sums"
)

// debianReader reads the dpkg database.
type debianReader struct{}

func (debianReader) wants(p string) bool {
	if p == dpkgStatus {
		return true
	}
	name, ok := strings.CutPrefix(p, dpkgStatusD)
	return ok && name != "" && name[0] != '.' && !strings.Contains(name, "/") &&
		!strings.HasSuffix(name, md5sumsExt) && !strings.HasSuffix(name, ".conffiles") && !strings.HasSuffix(name, ".list")
}

func (debianReader) parse(_ string, r io.Reader) ([]evidence.Package, error) {
	var pkgs []evidence.Package
	err := deb.ReadParagraphs(r, func(para deb.Paragraph) error {
		name := para.Get("Package")
		if name == "" {
			return nil // dpkg keeps no nameless stanzas; a stray comment-only block is not a package
		}
		if status, ok := para.Lookup("Status"); ok && !installed(status) {
			return nil
		}
		version := para.Get("Version")
		if version == "" {
			return fmt.Errorf("package %s: %w: no Version", name, ErrEvidence)
		}
		p := evidence.Package{
			Name:          name,
			Version:       version,
			Type:          evidence.TypeDeb,
			Arch:          para.Get("Architecture"),
			Source:        name,
			SourceVersion: version,
		}
		if src := para.Get("Source"); src != "" {
			p.Source, p.SourceVersion = parseSource(src, version)
		}
		pkgs = append(pkgs, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pkgs, nil
}

// installed reads dpkg's "want flag status" triple: what counts is the third word. "hold ok installed"
// and "deinstall ok installed" are still on disk; "deinstall ok config-files" is not.
func installed(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && f[2] == "installed"
}

// parseSource splits dpkg's "Source: name (version)"; without a version the source version is the
// binary package's own.
func parseSource(src, version string) (string, string) {
	name, rest, ok := strings.Cut(strings.TrimSpace(src), " ")
	if !ok {
		return name, version
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		if v := strings.TrimSpace(rest[1 : len(rest)-1]); v != "" {
			return name, v
		}
	}
	return name, version
}

// md5sumsOwner reports whether p is a package's md5sums file, and whose: status.d/<name>.md5sums or
// info/<name>[:<arch>].md5sums. These are only listed as locations of the package, never read.
func md5sumsOwner(p string) (name, arch string, ok bool) {
	if !strings.HasSuffix(p, md5sumsExt) {
		return "", "", false
	}
	base, found := strings.CutPrefix(p, dpkgStatusD)
	if !found {
		if base, found = strings.CutPrefix(p, dpkgInfo); !found {
			return "", "", false
		}
	}
	base = strings.TrimSuffix(base, md5sumsExt)
	if base == "" || strings.Contains(base, "/") {
		return "", "", false
	}
	name, arch, _ = strings.Cut(base, ":")
	return name, arch, true
}
