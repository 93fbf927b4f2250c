package attest

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Predicate types. SLSA, SPDX and CycloneDX are the URIs cosign maps its --type names to
// (slsaprovenance1, spdxjson, cyclonedx); Vuln is cosign's vuln predicate. Lint and Tests are
// ingot's own: their predicate is the evidence report (pkg/evidence.Report) of the hardening rules
// and of the structure tests, as ingot writes it in lint.json and tests.json.
const (
	SLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	SPDX             = "https://spdx.dev/Document"
	CycloneDX        = "https://cyclonedx.org/bom"
	Vuln             = vuln.CosignVulnPredicateType
	Lint             = "https://ingot.build/attestations/lint/v1"
	Tests            = "https://ingot.build/attestations/test/v1"
)

// ErrUnknownType means a predicate type name is neither a known short name nor a URI.
var ErrUnknownType = fault.New(fault.Invalid, "attest: unknown predicate type")

// Predicate is one piece of evidence to attest: its in-toto predicate type and its JSON. It is
// pkg/sign's type, which wraps it in a signed statement.
type Predicate = sign.Predicate

// ShortTypes maps the short names cosign's --type takes (slsaprovenance1, spdxjson, spdx, cyclonedx,
// vuln) and ingot's own (lint, test) to predicate type URIs. The map is new on each call.
func ShortTypes() map[string]string {
	return map[string]string{
		"slsaprovenance1": SLSAProvenanceV1,
		"spdxjson":        SPDX,
		"spdx":            SPDX,
		"cyclonedx":       CycloneDX,
		"vuln":            Vuln,
		"lint":            Lint,
		"test":            Tests,
	}
}

// ResolveType returns the predicate type URI for a short name (see ShortTypes) or a URI. Any absolute
// URI is accepted as it is, as cosign does, so attestations of types ingot does not make can still be
// verified; anything else is an error listing the short names.
func ResolveType(s string) (string, error) {
	types := ShortTypes()
	if uri, ok := types[s]; ok {
		return uri, nil
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "") {
		return s, nil
	}
	return "", fmt.Errorf("%w %q: want a URI or one of %s", ErrUnknownType, s, strings.Join(TypeNames(), ", "))
}

// TypeNames are the short names ResolveType takes, sorted: what help and errors list.
func TypeNames() []string {
	types := ShortTypes()
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
