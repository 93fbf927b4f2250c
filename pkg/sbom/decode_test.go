package sbom

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestDecodeForeign reads documents shaped as syft's SPDX and trivy's CycloneDX output: packages from
// their purls (the Maven one left out), the source package from syft's upstream qualifier or trivy's
// Src* properties (trivy's purls carry none), epochs from trivy's qualifier, the distro and the image.
func TestDecodeForeign(t *testing.T) {
	tests := []struct {
		file, ref, digest, distro string
		want                      []string
	}{
		{
			file: "foreign/syft.spdx.json", ref: "debian", distro: "debian-12",
			digest: "sha256:7c4e6e3b2a1f0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c",
			want: []string{
				"deb libc6 2.36-9+deb12u4 arch=amd64 src=glibc@2.36-9+deb12u4 lic=GPL-2.0-only AND LGPL-2.1-only eco=Debian:12 layer=",
				"golang stdlib 1.22.1 arch= src=@ lic=BSD-3-Clause eco=Go layer=",
			},
		},
		{
			file: "foreign/trivy.cdx.json", ref: "debian:12", distro: "debian-12.5",
			want: []string{
				"deb libc6 2.36-9+deb12u4 arch=amd64 src=glibc@2.36-9+deb12u4 lic=LGPL-2.1|GPL-2.0 eco=Debian:12 layer=sha256:2222222222222222222222222222222222222222222222222222222222222222",
				"deb login 1:4.13+dfsg1-1 arch=amd64 src=shadow@1:4.13+dfsg1-1 lic= eco=Debian:12 layer=sha256:2222222222222222222222222222222222222222222222222222222222222222",
				"golang golang.org/x/net v0.17.0 arch= src=@ lic= eco=Go layer=",
			},
		},
	}
	for _, tt := range tests {
		inv, err := Decode([]byte(fixture(t, tt.file)))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		var got []string
		for _, p := range inv.Packages {
			got = append(got, fmt.Sprintf("%s eco=%s layer=%s", summary(p), p.Ecosystem, p.Layer))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.file, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
		if inv.Image.Ref != tt.ref || inv.Image.Digest != tt.digest {
			t.Errorf("%s: image %+v, want ref %q digest %q", tt.file, inv.Image, tt.ref, tt.digest)
		}
		if d := distroQualifier(inv.Distro); d != tt.distro {
			t.Errorf("%s: distro %q, want %q", tt.file, d, tt.distro)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, doc := range []string{
		``,
		`[]`,
		`{"name": "neither"}`,
		`{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library", "name": "x", "purl": "pkg:"}]}`,
		`{"spdxVersion": "SPDX-9.9"}`,
		`{"bomFormat": "CycloneDX", "components": "not a list"}`,
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("Decode(%q) succeeded", doc)
		} else if !errors.Is(err, ErrDocument) {
			t.Errorf("Decode(%q): %v does not wrap ErrDocument", doc, err)
		}
	}
}
