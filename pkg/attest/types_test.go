package attest

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveType(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"slsaprovenance1", SLSAProvenanceV1},
		{"spdxjson", SPDX},
		{"spdx", SPDX},
		{"cyclonedx", CycloneDX},
		{"vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"},
		{"lint", Lint},
		{"test", Tests},
		{SLSAProvenanceV1, SLSAProvenanceV1},
		{SPDX, SPDX},
		{CycloneDX, CycloneDX},
		{Vuln, Vuln},
		{Lint, Lint},
		{Tests, Tests},
		{"https://example.com/custom/v1", "https://example.com/custom/v1"},
	} {
		got, err := ResolveType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ResolveType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for name, uri := range ShortTypes() {
		if got, err := ResolveType(name); err != nil || got != uri {
			t.Errorf("ResolveType(%q) = %q, %v; want %q", name, got, err, uri)
		}
	}
	for _, bad := range []string{"", "slsaprovenance", "SPDX", "vulns", "provenance", "/dev/null", "spdx.dev/Document"} {
		_, err := ResolveType(bad)
		if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "slsaprovenance1") {
			t.Errorf("ResolveType(%q) = %v, want ErrUnknownType listing the names", bad, err)
		}
	}
}
