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
	image := cdxImage(inv.Image)
	bom := newCDX(id, opt, &image)
	if excluded := cdxExcluded(inv); len(excluded) > 0 {
		bom.Metadata.Properties = &excluded
	}
	components, refs := cdxContents(inv, lics, "")
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: image.BOMRef, Dependencies: &refs}}
	return writeCDX(bom)
}

// CycloneDXIndex renders the inventories of an index's platform images as one CycloneDX 1.6
// document: metadata.component is the index (a container whose version and package URL hold the
// index digest), each platform image is a container component as CycloneDX describes a single
// image, with its distro and packages nested in it and its exclusions as its own ingot:excluded
// properties. A package's bom-ref is its image's digest and its package URL, so a package found in
// several images (an arch "all" .deb) stays one component per image; the purl is the package's own.
// The dependencies say the index holds each image and each image its packages.
func CycloneDXIndex(index evidence.Image, invs []*evidence.Inventory, opt DocOptions) ([]byte, error) {
	lics, err := loadLicenseList()
	if err != nil {
		return nil, err
	}
	id, err := indexDocumentID(index, invs, opt)
	if err != nil {
		return nil, err
	}
	ix := cdxImage(index)
	bom := newCDX(id, opt, &ix)
	images := []cdx.Component{}
	imageRefs := []string{}
	deps := []cdx.Dependency{{Ref: ix.BOMRef, Dependencies: &imageRefs}}
	for _, inv := range invs {
		image := cdxImage(inv.Image)
		if excluded := cdxExcluded(inv); len(excluded) > 0 {
			image.Properties = &excluded
		}
		components, refs := cdxContents(inv, lics, inv.Image.Digest+"/")
		image.Components = &components
		images = append(images, image)
		imageRefs = append(imageRefs, image.BOMRef)
		deps = append(deps, cdx.Dependency{Ref: image.BOMRef, Dependencies: &refs})
	}
	bom.Components = &images
	bom.Dependencies = &deps
	return writeCDX(bom)
}

func newCDX(id []byte, opt DocOptions, subject *cdx.Component) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.SerialNumber = "urn:uuid:" + uuidFrom(id)
	bom.Metadata = &cdx.Metadata{
		Timestamp: opt.created(),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type:    cdx.ComponentTypeApplication,
			Name:    toolName,
			Version: opt.ToolVersion,
		}}},
		Component: subject,
	}
	return bom
}

func writeCDX(bom *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("writing CycloneDX JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// cdxImage is an image or index as a container component.
func cdxImage(img evidence.Image) cdx.Component {
	c := cdx.Component{
		BOMRef:     imagePURL(img),
		Type:       cdx.ComponentTypeContainer,
		Name:       imageName(img.Ref),
		Version:    img.Digest,
		PackageURL: imagePURL(img),
	}
	if img.Ref != "" {
		c.Description = img.Ref
	}
	if d, ok := strings.CutPrefix(img.Digest, "sha256:"); ok {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: d}}
	}
	return c
}

func cdxExcluded(inv *evidence.Inventory) []cdx.Property {
	var excluded []cdx.Property
	for _, e := range inv.Excluded {
		excluded = append(excluded, cdx.Property{Name: propExcluded, Value: exclusionText(e)})
	}
	return excluded
}

// cdxContents is the distro and packages of inv as components, and their bom-refs, each prefixed
// with scope.
func cdxContents(inv *evidence.Inventory, lics licenseList, scope string) ([]cdx.Component, []string) {
	components := []cdx.Component{}
	var refs []string
	if d := inv.Distro; d != nil {
		os := cdx.Component{
			BOMRef:      scope + "os:" + distroQualifier(d),
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
			BOMRef:     scope + p.PURL,
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
	return components, refs
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
