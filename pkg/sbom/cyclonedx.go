package sbom

import (
	"bytes"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// CycloneDX renders the inventory as a CycloneDX 1.6 JSON document: metadata.component is the
// container image, every package is a library component with bom-ref and purl its package URL,
// hashes when known, licenses, and the properties ingot:layer, ingot:source and ingot:location.
// The distro is an operating-system component; exclusions are ingot:excluded properties of the
// metadata.
func CycloneDX(inv *evidence.Inventory, opt DocOptions) ([]byte, error) {
	lics, err := loadLicenseList()
	if err != nil {
		return nil, err
	}
	id, err := documentID(inv, opt)
	if err != nil {
		return nil, err
	}
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.SerialNumber = "urn:uuid:" + uuidFrom(id)
	image := cdx.Component{
		BOMRef:     imagePURL(inv.Image),
		Type:       cdx.ComponentTypeContainer,
		Name:       imageName(inv.Image.Ref),
		Version:    inv.Image.Digest,
		PackageURL: imagePURL(inv.Image),
	}
	if inv.Image.Ref != "" {
		image.Description = inv.Image.Ref
	}
	if d, ok := strings.CutPrefix(inv.Image.Digest, "sha256:"); ok {
		image.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: d}}
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: opt.created(),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type:    cdx.ComponentTypeApplication,
			Name:    toolName,
			Version: opt.ToolVersion,
		}}},
		Component: &image,
	}
	var excluded []cdx.Property
	for _, e := range inv.Excluded {
		excluded = append(excluded, cdx.Property{Name: propExcluded, Value: exclusionText(e)})
	}
	if len(excluded) > 0 {
		bom.Metadata.Properties = &excluded
	}

	components := []cdx.Component{}
	var refs []string
	if d := inv.Distro; d != nil {
		os := cdx.Component{
			BOMRef:      "os:" + distroQualifier(d),
			Type:        cdx.ComponentTypeOS,
			Name:        d.ID,
			Version:     d.VersionID,
			Description: d.Name,
		}
		if d.Codename != "" {
			os.Properties = &[]cdx.Property{{Name: "ingot:codename", Value: d.Codename}}
		}
		components = append(components, os)
		refs = append(refs, os.BOMRef)
	}
	for _, p := range inv.Packages {
		c := cdx.Component{
			BOMRef:     p.PURL,
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
			Licenses:   cdxLicenses(lics, p.Licenses),
		}
		if p.SHA256 != "" {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: p.SHA256}}
		}
		var props []cdx.Property
		if p.Layer != "" {
			props = append(props, cdx.Property{Name: propLayer, Value: p.Layer})
		}
		if s := sourceText(p); s != "" {
			props = append(props, cdx.Property{Name: propSource, Value: s})
		}
		for _, l := range p.Locations {
			props = append(props, cdx.Property{Name: propLocation, Value: l})
		}
		if len(props) > 0 {
			c.Properties = &props
		}
		components = append(components, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: image.BOMRef, Dependencies: &refs}}

	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("writing CycloneDX JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// cdxLicenses writes license IDs as license.id and anything not on the SPDX list as license.name,
// as declared. A compound expression becomes the one expression entry the schema allows (it cannot
// sit beside license entries), joined with the others by AND.
func cdxLicenses(lics licenseList, declared []string) *cdx.Licenses {
	if len(declared) == 0 {
		return nil
	}
	var out cdx.Licenses
	id := func(e string) cdx.LicenseChoice { return cdx.LicenseChoice{License: &cdx.License{ID: e}} }
	name := func(s string) cdx.LicenseChoice { return cdx.LicenseChoice{License: &cdx.License{Name: s}} }
	compound := false
	for _, s := range declared {
		if e, single, ok := lics.expression(s); ok {
			if single {
				out = append(out, id(e))
			} else {
				compound = true
			}
			continue
		}
		// Alpine and some Python metadata list IDs separated by spaces: "GPL-2.0-only MIT".
		var ids []string
		for _, f := range strings.Fields(s) {
			if e, single, ok := lics.expression(f); ok && single {
				ids = append(ids, e)
			} else {
				ids = nil
				break
			}
		}
		if ids == nil {
			out = append(out, name(s))
		}
		for _, e := range ids {
			out = append(out, id(e))
		}
	}
	if compound {
		if e, ok := lics.declared(declared); ok {
			return &cdx.Licenses{{Expression: e}}
		}
		out = out[:0]
		for _, s := range declared {
			out = append(out, name(s))
		}
	}
	return &out
}
