package vuln

import (
	"fmt"

	"github.com/ingot-build/ingot/pkg/fault"
)

var (
	// ErrNoOrdering means ingot does not know how versions of an ecosystem are ordered.
	ErrNoOrdering = fault.New(fault.Invalid, "vuln: no version ordering for the ecosystem")
	// ErrVersion means a version does not parse in its ecosystem's syntax.
	ErrVersion = fault.New(fault.Invalid, "vuln: invalid version")
)

// CompareVersions orders two versions of package name in an OSV ecosystem ("Debian:12", "Go", "npm",
// "PyPI", "Alpine:v3.19"; any case of the base name) the way the matcher does: dpkg's ordering for
// Debian and Ubuntu (epochs, "~" before everything), apk's for Alpine, Wolfi and Chainguard, Go's
// semantic versions (Go release tags for stdlib and toolchain), semantic versions for npm and PEP 440
// for PyPI. It returns -1, 0 or +1; ErrNoOrdering for an ecosystem it cannot order and ErrVersion for
// a version that does not parse.
func CompareVersions(ecosystem, name, a, b string) (int, error) {
	parse := parserFor(canonicalEcosystem(ecosystem), rangeEcosystem, name)
	if parse == nil {
		return 0, fmt.Errorf("%w: %q", ErrNoOrdering, ecosystem)
	}
	va, err := parse(a)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %w", ErrVersion, ecosystem, a, err)
	}
	vb, err := parse(b)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q: %w", ErrVersion, ecosystem, b, err)
	}
	return va.compare(vb), nil
}

// NormalizeName spells a package name the way its ecosystem compares names: PyPI names are
// case-insensitive with runs of "-", "_" and "." equal (PEP 503); other ecosystems compare exactly.
func NormalizeName(ecosystem, name string) string {
	return normalizeName(canonicalEcosystem(ecosystem), name)
}
