package apt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/deb"
)

// ErrInvalidPackage is wrapped by every error about a malformed binary package stanza, whether found by
// ParsePackage or later when a relation field is first parsed.
var ErrInvalidPackage = errors.New("apt: invalid package stanza")

// Package is one binary package stanza of a Packages index.
type Package struct {
	Name          string
	Version       deb.Version
	Architecture  string      // "amd64", "arm64" or "all"
	Source        string      // source package name; = Name when the stanza has no Source field
	SourceVersion deb.Version // from "Source: name (ver)", else = Version
	Priority      string
	Section       string
	MultiArch     string
	Essential     bool
	Filename      string // pool path relative to the repository base URL
	Size          int64
	SHA256        string // lowercase hex
	InstalledSize int64  // KiB
	Repository    string // set by the index loader (name of the apt.Source); "" from ParsePackage

	// rel holds the relation fields. A full index has ~63k stanzas and a resolution touches a few hundred,
	// so they are kept raw and parsed on first use. It is a pointer so that copying a Package stays cheap
	// and shares the cache, and nil when the stanza has no relation fields.
	rel *relations
}

// relationField indexes the relation fields a Package keeps.
type relationField int

const (
	fieldPreDepends relationField = iota
	fieldDepends
	fieldProvides
	fieldConflicts
	fieldBreaks
	numRelationFields
)

// String returns the deb822 field name.
func (f relationField) String() string {
	switch f {
	case fieldPreDepends:
		return "Pre-Depends"
	case fieldDepends:
		return "Depends"
	case fieldProvides:
		return "Provides"
	case fieldConflicts:
		return "Conflicts"
	case fieldBreaks:
		return "Breaks"
	}
	return fmt.Sprintf("relationField(%d)", int(f))
}

// relations is the lazily parsed relation fields of one Package. Each field has its own Once: indexing a
// universe asks every package for its Provides, and parsing its Depends too would double the cost of a
// cold lock for nothing. The Onces make the cache safe when the same Package (an "all" package, say) is
// shared by universes resolved concurrently.
type relations struct {
	raw    [numRelationFields]string
	once   [numRelationFields]sync.Once
	parsed [numRelationFields][]deb.Alternatives
	err    [numRelationFields]error
}

// ParsePackage builds a Package from one stanza of a Packages index. Package, Version, Architecture,
// Filename, Size and SHA256 are required; relation fields are only checked when first used.
func ParsePackage(p deb.Paragraph) (*Package, error) {
	name := p.Get("Package")
	if name == "" {
		return nil, fmt.Errorf("%w: missing Package field", ErrInvalidPackage)
	}
	if !validPackageName(name) {
		return nil, fmt.Errorf("%w: invalid package name %.80q", ErrInvalidPackage, name)
	}
	required := func(field string) (string, error) {
		v := p.Get(field)
		if v == "" {
			return "", fmt.Errorf("%w: package %s: missing %s field", ErrInvalidPackage, name, field)
		}
		return v, nil
	}
	pkg := &Package{
		Name:      name,
		Priority:  p.Get("Priority"),
		Section:   p.Get("Section"),
		MultiArch: p.Get("Multi-Arch"),
	}

	v, err := required("Version")
	if err != nil {
		return nil, err
	}
	if pkg.Version, err = deb.ParseVersion(v); err != nil {
		return nil, fmt.Errorf("%w: package %s: Version: %w", ErrInvalidPackage, name, err)
	}

	if pkg.Architecture, err = required("Architecture"); err != nil {
		return nil, err
	}
	if strings.ContainsAny(pkg.Architecture, " \t\n") {
		return nil, fmt.Errorf("%w: package %s: invalid Architecture %.40q", ErrInvalidPackage, name, pkg.Architecture)
	}

	if pkg.Filename, err = required("Filename"); err != nil {
		return nil, err
	}
	if err := checkPoolPath(pkg.Filename); err != nil {
		return nil, fmt.Errorf("%w: package %s: Filename %.120q: %w", ErrInvalidPackage, name, pkg.Filename, err)
	}

	s, err := required("Size")
	if err != nil {
		return nil, err
	}
	if pkg.Size, err = parseSize(s); err != nil {
		return nil, fmt.Errorf("%w: package %s: Size: %w", ErrInvalidPackage, name, err)
	}
	if s := p.Get("Installed-Size"); s != "" {
		if pkg.InstalledSize, err = parseSize(s); err != nil {
			return nil, fmt.Errorf("%w: package %s: Installed-Size: %w", ErrInvalidPackage, name, err)
		}
	}

	sum, err := required("SHA256")
	if err != nil {
		return nil, err
	}
	if pkg.SHA256, err = parseSHA256(sum); err != nil {
		return nil, fmt.Errorf("%w: package %s: SHA256: %w", ErrInvalidPackage, name, err)
	}

	switch e := p.Get("Essential"); e {
	case "", "no":
	case "yes":
		pkg.Essential = true
	default:
		return nil, fmt.Errorf("%w: package %s: Essential is %.20q, want yes or no", ErrInvalidPackage, name, e)
	}

	pkg.Source, pkg.SourceVersion = name, pkg.Version
	if src := p.Get("Source"); src != "" {
		if pkg.Source, pkg.SourceVersion, err = parseSource(src, pkg.Version); err != nil {
			return nil, fmt.Errorf("%w: package %s: Source %.120q: %w", ErrInvalidPackage, name, src, err)
		}
	}

	var rel relations
	hasAny := false
	for f := range numRelationFields {
		rel.raw[f] = p.Get(f.String())
		hasAny = hasAny || rel.raw[f] != ""
	}
	if hasAny {
		pkg.rel = &rel
	}
	return pkg, nil
}

// PreDepends returns the parsed Pre-Depends field.
func (p *Package) PreDepends() ([]deb.Alternatives, error) { return p.relation(fieldPreDepends) }

// Depends returns the parsed Depends field.
func (p *Package) Depends() ([]deb.Alternatives, error) { return p.relation(fieldDepends) }

// Provides returns the parsed Provides field. Every group holds one relation, unversioned or "=", as
// Debian policy allows; anything else is an error.
func (p *Package) Provides() ([]deb.Alternatives, error) { return p.relation(fieldProvides) }

// Conflicts returns the parsed Conflicts field.
func (p *Package) Conflicts() ([]deb.Alternatives, error) { return p.relation(fieldConflicts) }

// Breaks returns the parsed Breaks field.
func (p *Package) Breaks() ([]deb.Alternatives, error) { return p.relation(fieldBreaks) }

// String returns "name=version/arch", the form used in logs and lock files.
func (p *Package) String() string {
	return p.Name + "=" + p.Version.String() + "/" + p.Architecture
}

// hasRelation reports whether the stanza had a non-empty field f, without parsing it.
func (p *Package) hasRelation(f relationField) bool {
	return p.rel != nil && p.rel.raw[f] != ""
}

func (p *Package) relation(f relationField) ([]deb.Alternatives, error) {
	if !p.hasRelation(f) {
		return nil, nil
	}
	r := p.rel
	r.once[f].Do(func() {
		groups, err := deb.ParseRelations(r.raw[f])
		if err == nil && f == fieldProvides {
			err = checkProvides(groups)
		}
		if err != nil {
			r.err[f] = fmt.Errorf("%w: package %s=%s: %s: %w", ErrInvalidPackage, p.Name, p.Version, f, err)
			return
		}
		r.parsed[f] = groups
	})
	return r.parsed[f], r.err[f]
}

// checkProvides enforces the shape policy §7.5 gives Provides: a plain list of names, each optionally
// with "(= version)". Alternatives or other operators would make the virtual-package rules ambiguous.
func checkProvides(groups []deb.Alternatives) error {
	for _, g := range groups {
		if len(g) != 1 {
			return fmt.Errorf("alternatives %q are not allowed in Provides", g.String())
		}
		if op := g[0].Op; op != "" && op != "=" {
			return fmt.Errorf("%q: only \"=\" is allowed in Provides", g.String())
		}
	}
	return nil
}

// validPackageName follows policy §5.6.1: lowercase letters, digits, '+', '-' and '.', at least two
// characters, starting with an alphanumeric.
func validPackageName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// checkPoolPath rejects Filename values that could escape the repository when joined to its base URL or
// to a cache directory: the index is signed, but a path is still untrusted input to a file system.
func checkPoolPath(s string) error {
	if strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\\x00\n?#") {
		return errors.New("not a relative pool path")
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("empty, '.' or '..' path segment")
		}
	}
	return nil
}

func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%.40q is not a non-negative integer", s)
	}
	return n, nil
}

func parseSHA256(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("%.80q is not 64 hex digits", s)
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + 'a' - 'A'
		default:
			return "", fmt.Errorf("%.80q is not 64 hex digits", s)
		}
	}
	return string(b), nil
}

// parseSource splits "name" or "name (version)"; the binary version is the default, as dpkg does.
func parseSource(s string, def deb.Version) (string, deb.Version, error) {
	name, rest, hasVersion := strings.Cut(s, " ")
	if !validPackageName(name) {
		return "", deb.Version{}, errors.New("invalid source package name")
	}
	if !hasVersion {
		return name, def, nil
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		return "", deb.Version{}, errors.New(`want "name" or "name (version)"`)
	}
	v, err := deb.ParseVersion(rest[1 : len(rest)-1])
	if err != nil {
		return "", deb.Version{}, err
	}
	return name, v, nil
}
