package sbom

import (
	"fmt"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Package URL qualifiers, as syft writes them; grype matches distro packages through "upstream".
const (
	qualArch     = "arch"
	qualDistro   = "distro"
	qualUpstream = "upstream"
	qualEpoch    = "epoch"
)

// finish fills the fields that depend on the distro, known only once every layer has been read: the
// package URL and the OSV ecosystem.
func finish(p *evidence.Package, d *evidence.Distro) {
	p.PURL = packageURL(p, d)
	p.Ecosystem = ecosystem(p.Type, d)
}

// packageURL follows syft's conventions (syft/pkg/cataloger/*/package.go), so grype, trivy and
// osv-scanner read our documents as they read syft's: qualifiers sorted by key, the distro as
// "<ID>-<VERSION_ID>", a Debian binary package's source as upstream=src or src@srcver when the
// source version differs, an Alpine package's origin as upstream when it is not the package itself.
func packageURL(p *evidence.Package, d *evidence.Distro) string {
	var ns, name, version = "", p.Name, p.Version
	var q packageurl.Qualifiers
	add := func(k, v string) {
		if v != "" {
			q = append(q, packageurl.Qualifier{Key: k, Value: v})
		}
	}
	switch p.Type {
	case evidence.TypeDeb:
		ns = distroNamespace(d, "debian")
		add(qualArch, p.Arch)
		add(qualDistro, distroQualifier(d))
		if p.Source != "" && (p.Source != p.Name || (p.SourceVersion != "" && p.SourceVersion != p.Version)) {
			up := p.Source
			if p.SourceVersion != "" && p.SourceVersion != p.Version {
				up += "@" + p.SourceVersion
			}
			add(qualUpstream, up)
		}
	case evidence.TypeAPK:
		ns = distroNamespace(d, "alpine")
		add(qualArch, p.Arch)
		add(qualDistro, distroQualifier(d))
		if p.Source != "" && p.Source != p.Name {
			add(qualUpstream, p.Source)
		}
	case evidence.TypeGolang:
		if i := strings.LastIndexByte(name, '/'); i > 0 {
			ns, name = name[:i], name[i+1:]
		}
	case evidence.TypeNPM:
		if strings.HasPrefix(name, "@") {
			if i := strings.IndexByte(name, '/'); i > 0 {
				ns, name = name[:i], name[i+1:]
			}
		}
	case evidence.TypePyPI:
		name = normalizePyPI(name)
	}
	return packageurl.NewPackageURL(p.Type, ns, name, version, q, "").ToString()
}

func distroNamespace(d *evidence.Distro, fallback string) string {
	if d == nil || d.ID == "" {
		return fallback
	}
	return strings.ToLower(d.ID)
}

// distroQualifier is syft's "<ID>-<VERSION_ID>", or the ID alone for a release without a version
// (Debian testing and sid).
func distroQualifier(d *evidence.Distro) string {
	if d == nil || d.ID == "" {
		return ""
	}
	if d.VersionID == "" {
		return d.ID
	}
	return d.ID + "-" + d.VersionID
}

// ecosystem is the OSV ecosystem a package is matched in.
func ecosystem(typ string, d *evidence.Distro) string {
	switch typ {
	case evidence.TypeDeb:
		if d != nil && d.ID == "ubuntu" && d.VersionID != "" {
			return "Ubuntu:" + d.VersionID
		}
		if d != nil && d.ID == "debian" && d.VersionID != "" {
			// OSV names Debian releases by major version: "Debian:12", even for 12.5.
			major, _, _ := strings.Cut(d.VersionID, ".")
			return "Debian:" + major
		}
		if d != nil && d.ID == "ubuntu" {
			return "Ubuntu"
		}
		return "Debian"
	case evidence.TypeAPK:
		if d != nil && d.VersionID != "" {
			// OSV's Alpine releases are "Alpine:v3.19" for 3.19.1 (and for the edge 3.20.0_alpha...).
			parts := strings.SplitN(d.VersionID, ".", 3)
			if len(parts) >= 2 {
				return "Alpine:v" + parts[0] + "." + parts[1]
			}
		}
		return "Alpine"
	case evidence.TypeGolang:
		return "Go"
	case evidence.TypeNPM:
		return "npm"
	case evidence.TypePyPI:
		return "PyPI"
	}
	return ""
}

// normalizePyPI is PEP 503's normalised project name: lower case, runs of "-", "_" and "." as "-".
func normalizePyPI(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// fromPURL reads a package back from its package URL, for documents made by us, syft or trivy. The
// distro qualifier, when present, is returned too.
func fromPURL(s string) (evidence.Package, *evidence.Distro, error) {
	u, err := packageurl.FromString(s)
	if err != nil {
		return evidence.Package{}, nil, fmt.Errorf("package URL %q: %w", s, err)
	}
	q := u.Qualifiers.Map()
	p := evidence.Package{Type: u.Type, Name: u.Name, Version: u.Version, PURL: s, Arch: q[qualArch]}
	var d *evidence.Distro
	switch u.Type {
	case evidence.TypeDeb, evidence.TypeAPK:
		if e := q[qualEpoch]; e != "" && !strings.Contains(p.Version, ":") {
			p.Version = e + ":" + p.Version
		}
		d = parseDistroQualifier(u.Namespace, q[qualDistro])
		p.Source, p.SourceVersion = p.Name, p.Version
		if up := q[qualUpstream]; up != "" {
			if name, ver, ok := strings.Cut(up, "@"); ok {
				p.Source, p.SourceVersion = name, ver
			} else {
				p.Source = up
			}
		}
	case evidence.TypeGolang, evidence.TypeNPM:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case evidence.TypePyPI:
	default:
		return evidence.Package{}, nil, fmt.Errorf("package URL %q: %w", s, ErrUnsupportedType)
	}
	if p.Name == "" {
		return evidence.Package{}, nil, fmt.Errorf("package URL %q: no name", s)
	}
	return p, d, nil
}

// parseDistroQualifier splits "debian-12" or "alpine-3.19.1" (or trivy's "debian-12.5"); namespace is
// the purl namespace, which names the distro when the qualifier is missing.
func parseDistroQualifier(namespace, q string) *evidence.Distro {
	if q == "" {
		if namespace == "" {
			return nil
		}
		return &evidence.Distro{ID: strings.ToLower(namespace)}
	}
	// The version starts at the first "-" followed by a digit: IDs may hold dashes ("opensuse-leap").
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '-' && q[i+1] >= '0' && q[i+1] <= '9' {
			return &evidence.Distro{ID: strings.ToLower(q[:i]), VersionID: q[i+1:]}
		}
	}
	return &evidence.Distro{ID: strings.ToLower(q)}
}
