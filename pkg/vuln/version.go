package vuln

import (
	"strings"
)

// version is a parsed version of one ecosystem; compare is only called with a version from the same
// parser.
type version interface {
	compare(o version) int
}

// parser reads one version string of an ecosystem or range type.
type parser func(s string) (version, error)

// Range types of the OSV schema.
const (
	rangeSemver    = "SEMVER"
	rangeEcosystem = "ECOSYSTEM"
	rangeGit       = "GIT"
)

// Base ecosystems whose versions ingot can order. OSV ecosystems may carry a release after a colon
// ("Debian:12", "Alpine:v3.19").
const (
	ecoDebian     = "Debian"
	ecoUbuntu     = "Ubuntu"
	ecoAlpine     = "Alpine"
	ecoWolfi      = "Wolfi"
	ecoChainguard = "Chainguard"
	ecoGo         = "Go"
	ecoNPM        = "npm"
	ecoPyPI       = "PyPI"
)

// splitEcosystem splits "Debian:12" into "Debian" and "12".
func splitEcosystem(eco string) (base, release string) {
	base, release, _ = strings.Cut(eco, ":")
	return base, release
}

// canonicalEcosystem spells the base ecosystems ingot knows the way OSV does ("pypi" is "PyPI"), so an
// inventory written by hand or by another tool still matches.
func canonicalEcosystem(eco string) string {
	base, release, hasRelease := strings.Cut(strings.TrimSpace(eco), ":")
	for _, known := range []string{ecoDebian, ecoUbuntu, ecoAlpine, ecoWolfi, ecoChainguard, ecoGo, ecoNPM, ecoPyPI} {
		if strings.EqualFold(base, known) {
			base = known
			break
		}
	}
	if hasRelease {
		return base + ":" + release
	}
	return base
}

// parserFor returns how versions of a range of type rangeType in ecosystem eco are read for the
// package pkg (Go's standard library has its own version spelling), or nil when ingot cannot order
// them (GIT ranges, ecosystems it does not know).
func parserFor(eco, rangeType, pkg string) parser {
	base, _ := splitEcosystem(eco)
	switch rangeType {
	case rangeSemver:
		if base == ecoGo {
			return goParser(pkg)
		}
		return parseSemver
	case rangeEcosystem:
		switch base {
		case ecoDebian, ecoUbuntu:
			return parseDebian
		case ecoAlpine, ecoWolfi, ecoChainguard:
			return parseAPK
		case ecoGo:
			return goParser(pkg)
		case ecoNPM:
			return parseSemver
		case ecoPyPI:
			return parsePEP440
		}
	}
	return nil
}

// normalizeName spells a package name the way the ecosystem compares names: PyPI names are
// case-insensitive with runs of "-", "_" and "." equal (PEP 503); other ecosystems compare exactly.
func normalizeName(eco, name string) string {
	if base, _ := splitEcosystem(eco); base == ecoPyPI {
		return normalizePyPIName(name)
	}
	return name
}

func normalizePyPIName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
