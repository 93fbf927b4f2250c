package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Decode reads an SPDX 2.3 JSON or CycloneDX JSON document — ours, syft's or trivy's — back into an
// inventory, for scanning an image through its SBOM. Packages are taken from their package URLs
// (deb, apk, golang, npm, pypi; others are left out, as nothing could match them); a Debian package's
// source comes from the purl's upstream qualifier or trivy's SrcName properties, the distro from an
// operating-system element or the purls' distro qualifier. Our own layer, location and exclusion
// records come back too.
func Decode(data []byte) (*evidence.Inventory, error) {
	var head struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDocument, err)
	}
	var (
		inv *evidence.Inventory
		err error
	)
	switch {
	case strings.HasPrefix(head.SPDXVersion, "SPDX-2."):
		inv, err = decodeSPDX(data)
	case head.BOMFormat == "CycloneDX":
		inv, err = decodeCycloneDX(data)
	default:
		return nil, fmt.Errorf("%w: neither spdxVersion SPDX-2.x nor bomFormat CycloneDX", ErrDocument)
	}
	if err != nil {
		return nil, err
	}
	finishDecoded(inv)
	return inv, nil
}

// decoded is a package read from a document, with the distro its purl names (if any).
type decoded struct {
	pkg    evidence.Package
	distro *evidence.Distro
}

func decodeSPDX(data []byte) (*evidence.Inventory, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: SPDX: %w", ErrDocument, err)
	}
	inv := &evidence.Inventory{}
	described := map[common.ElementID]bool{}
	for _, r := range doc.Relationships {
		if r != nil && r.Relationship == common.TypeRelationshipDescribe && r.RefA.ElementRefID == "DOCUMENT" {
			described[r.RefB.ElementRefID] = true
		}
	}
	var pkgs []decoded
	for _, sp := range doc.Packages {
		if sp == nil {
			continue
		}
		purl := ""
		for _, r := range sp.PackageExternalReferences {
			if r != nil && r.RefType == refTypePURL {
				purl = r.Locator
				break
			}
		}
		switch {
		case sp.PrimaryPackagePurpose == purposeContainer || strings.HasPrefix(purl, "pkg:oci/") || strings.HasPrefix(purl, "pkg:docker/") ||
			(described[sp.PackageSPDXIdentifier] && purl == ""):
			// An index's document describes the index and holds its platform images too: the
			// inventory is the described one's (or the first image's), its packages all of theirs.
			if described[sp.PackageSPDXIdentifier] || inv.Image.Digest == "" {
				decodeSPDXImage(inv, sp)
				inv.Image.Arch = imageArch(purl)
			} else {
				decodeExclusions(inv, sp)
			}
			continue
		case sp.PrimaryPackagePurpose == purposeOS:
			inv.Distro = &evidence.Distro{
				ID:        strings.ToLower(sp.PackageName),
				VersionID: sp.PackageVersion,
				Name:      sp.PackageDescription,
				Codename:  strings.TrimPrefix(sp.PackageComment, "codename "),
			}
			if !strings.HasPrefix(sp.PackageComment, "codename ") {
				inv.Distro.Codename = ""
			}
			continue
		case purl == "":
			continue
		}
		p, d, err := fromPURL(purl)
		if errors.Is(err, ErrUnsupportedType) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: SPDX package %s: %w", ErrDocument, sp.PackageName, err)
		}
		if p.Type == evidence.TypePyPI && sp.PackageName != "" {
			p.Name = sp.PackageName // the purl holds the normalised name
		}
		if p.Version == "" {
			p.Version = sp.PackageVersion
		}
		for _, l := range []string{sp.PackageLicenseDeclared, sp.PackageLicenseConcluded} {
			if l != "" && l != noAssertion && l != "NONE" {
				p.Licenses = []string{l}
				break
			}
		}
		for _, c := range sp.PackageChecksums {
			if c.Algorithm == common.SHA256 {
				p.SHA256 = strings.ToLower(c.Value)
			}
		}
		p.Layer, p.Locations = parseSourceInfo(sp.PackageSourceInfo)
		pkgs = append(pkgs, decoded{p, d})
	}
	inv.Packages = mergeDecoded(pkgs, inv)
	return inv, nil
}

func decodeSPDXImage(inv *evidence.Inventory, sp *spdx.Package) {
	if strings.HasPrefix(sp.PackageVersion, "sha256:") {
		inv.Image.Digest = sp.PackageVersion
	}
	for _, c := range sp.PackageChecksums {
		if c.Algorithm == common.SHA256 && inv.Image.Digest == "" {
			inv.Image.Digest = "sha256:" + strings.ToLower(c.Value)
		}
	}
	if sp.PackageName != inv.Image.Digest {
		inv.Image.Ref = sp.PackageName
	}
	decodeExclusions(inv, sp)
}

// decodeExclusions reads an image package's exclusion annotations; an exclusion several platform
// images share is recorded once.
func decodeExclusions(inv *evidence.Inventory, sp *spdx.Package) {
	for _, a := range sp.Annotations {
		if e, ok := strings.CutPrefix(a.AnnotationComment, propExcluded+" "); ok {
			addExclusion(inv, parseExclusion(e))
		}
	}
}

func addExclusion(inv *evidence.Inventory, e evidence.Exclusion) {
	for _, have := range inv.Excluded {
		if have.Name == e.Name && slices.Equal(have.RequiredBy, e.RequiredBy) {
			return
		}
	}
	inv.Excluded = append(inv.Excluded, e)
}

// imageArch is the arch qualifier of an image's pkg:oci or pkg:docker URL.
func imageArch(purl string) string {
	u, err := packageurl.FromString(purl)
	if err != nil {
		return ""
	}
	return u.Qualifiers.Map()[qualArch]
}

// parseSourceInfo reads back what sourceInfo wrote; other tools' text gives nothing.
func parseSourceInfo(s string) (string, []string) {
	rest, ok := strings.CutPrefix(s, "layer ")
	if !ok {
		if strings.HasPrefix(s, "/") {
			return "", strings.Split(s, ", ")
		}
		return "", nil
	}
	layer, locs, _ := strings.Cut(rest, ": ")
	if locs == "" {
		return layer, nil
	}
	return layer, strings.Split(locs, ", ")
}

func decodeCycloneDX(data []byte) (*evidence.Inventory, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%w: CycloneDX: %w", ErrDocument, err)
	}
	inv := &evidence.Inventory{}
	if md := bom.Metadata; md != nil {
		if c := md.Component; c != nil {
			inv.Image.Ref = c.Name
			if c.Description != "" {
				inv.Image.Ref = c.Description
			}
			if strings.HasPrefix(c.Version, "sha256:") {
				inv.Image.Digest = c.Version
			}
			inv.Image.Arch = imageArch(c.PackageURL)
		}
		for _, p := range deref(md.Properties) {
			if p.Name == propExcluded {
				addExclusion(inv, parseExclusion(p.Value))
			}
		}
	}
	var pkgs []decoded
	var walk func([]cdx.Component) error
	walk = func(cs []cdx.Component) error {
		for _, c := range cs {
			if err := walk(deref(c.Components)); err != nil {
				return err
			}
			if c.Type == cdx.ComponentTypeContainer {
				// A platform image of an index's document: its exclusions are its own properties.
				for _, p := range deref(c.Properties) {
					if p.Name == propExcluded {
						addExclusion(inv, parseExclusion(p.Value))
					}
				}
			}
			if c.Type == cdx.ComponentTypeOS {
				inv.Distro = &evidence.Distro{ID: strings.ToLower(c.Name), VersionID: c.Version, Name: c.Description}
				for _, p := range deref(c.Properties) {
					if p.Name == "ingot:codename" {
						inv.Distro.Codename = p.Value
					}
				}
				continue
			}
			if c.PackageURL == "" {
				continue
			}
			p, d, err := fromPURL(c.PackageURL)
			if errors.Is(err, ErrUnsupportedType) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%w: CycloneDX component %s: %w", ErrDocument, c.Name, err)
			}
			if p.Type == evidence.TypePyPI && c.Name != "" {
				p.Name = c.Name
			}
			if p.Version == "" {
				p.Version = c.Version
			}
			for _, h := range deref(c.Hashes) {
				if h.Algorithm == cdx.HashAlgoSHA256 {
					p.SHA256 = strings.ToLower(h.Value)
				}
			}
			var lics cdx.Licenses
			if c.Licenses != nil {
				lics = *c.Licenses
			}
			for _, l := range lics {
				switch {
				case l.Expression != "":
					p.Licenses = append(p.Licenses, l.Expression)
				case l.License != nil && l.License.ID != "":
					p.Licenses = append(p.Licenses, l.License.ID)
				case l.License != nil && l.License.Name != "":
					p.Licenses = append(p.Licenses, l.License.Name)
				}
			}
			cdxProperties(&p, deref(c.Properties))
			pkgs = append(pkgs, decoded{p, d})
		}
		return nil
	}
	if err := walk(deref(bom.Components)); err != nil {
		return nil, err
	}
	inv.Packages = mergeDecoded(pkgs, inv)
	return inv, nil
}

// cdxProperties reads ours (ingot:layer, ingot:location), syft's (syft:location:N:layerID and
// :path) and trivy's (aquasecurity:trivy:LayerDiffID, SrcName, SrcVersion, SrcRelease, SrcEpoch:
// trivy's purls carry no upstream qualifier, so the source package comes from here).
func cdxProperties(p *evidence.Package, props []cdx.Property) {
	const trivy = "aquasecurity:trivy:"
	var srcName, srcVersion, srcRelease, srcEpoch string
	for _, pr := range props {
		switch {
		case pr.Name == propLayer || pr.Name == trivy+"LayerDiffID" ||
			(strings.HasPrefix(pr.Name, "syft:location:") && strings.HasSuffix(pr.Name, ":layerID")):
			if p.Layer == "" {
				p.Layer = pr.Value
			}
		case pr.Name == propLocation || (strings.HasPrefix(pr.Name, "syft:location:") && strings.HasSuffix(pr.Name, ":path")):
			p.Locations = append(p.Locations, pr.Value)
		case pr.Name == trivy+"SrcName":
			srcName = pr.Value
		case pr.Name == trivy+"SrcVersion":
			srcVersion = pr.Value
		case pr.Name == trivy+"SrcRelease":
			srcRelease = pr.Value
		case pr.Name == trivy+"SrcEpoch":
			srcEpoch = pr.Value
		}
	}
	if srcName != "" && (p.Type == evidence.TypeDeb || p.Type == evidence.TypeAPK) {
		p.Source = srcName
		if srcVersion != "" {
			v := srcVersion
			if srcRelease != "" {
				v += "-" + srcRelease
			}
			if srcEpoch != "" && srcEpoch != "0" {
				v = srcEpoch + ":" + v
			}
			p.SourceVersion = v
		}
	}
}

// mergeDecoded sets each package's ecosystem from its purl's distro (else the document's), takes the
// inventory's distro from the purls when the document has no operating-system element, and merges
// packages listed twice.
func mergeDecoded(pkgs []decoded, inv *evidence.Inventory) []evidence.Package {
	if inv.Distro == nil {
		for _, d := range pkgs {
			if d.distro != nil && d.distro.VersionID != "" {
				inv.Distro = d.distro
				break
			}
		}
	}
	byPURL := map[string]int{}
	out := []evidence.Package{}
	for _, d := range pkgs {
		p := d.pkg
		dist := d.distro
		if dist == nil || dist.VersionID == "" {
			dist = inv.Distro
		}
		p.Ecosystem = ecosystem(p.Type, dist)
		if i, ok := byPURL[p.PURL]; ok {
			out[i].Locations = append(out[i].Locations, p.Locations...)
			continue
		}
		byPURL[p.PURL] = len(out)
		out = append(out, p)
	}
	return out
}

func finishDecoded(inv *evidence.Inventory) {
	for i := range inv.Packages {
		p := &inv.Packages[i]
		slices.Sort(p.Locations)
		p.Locations = slices.Compact(p.Locations)
	}
	sortPackages(inv.Packages)
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
