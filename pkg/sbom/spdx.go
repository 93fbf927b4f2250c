package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// namespaceBase prefixes SPDX document namespaces; the document's name and content identity follow.
const namespaceBase = "https://github.com/ingot-build/ingot/spdx/"

const (
	noAssertion      = "NOASSERTION"
	purposeContainer = "CONTAINER"
	purposeOS        = "OPERATING-SYSTEM"
	refCategoryPM    = "PACKAGE-MANAGER"
	refTypePURL      = "purl"
)

// SPDX renders the inventory as an SPDX 2.3 JSON document: the image as the described package
// (purpose CONTAINER, its digest as checksum), the distro as an OPERATING-SYSTEM package, and every
// package with its PURL as a package-manager external reference, contained by the image. SPDX IDs
// derive from the PURLs, so they are stable across runs. Exclusions are annotations on the image.
func SPDX(inv *evidence.Inventory, opt DocOptions) ([]byte, error) {
	lics, err := loadLicenseList()
	if err != nil {
		return nil, err
	}
	id, err := documentID(inv, opt)
	if err != nil {
		return nil, err
	}
	doc := newSPDXDocument(inv.Image, id, opt)
	image := spdxImage(doc, inv, opt, lics, "")
	// DESCRIBES comes first, before what the image CONTAINS.
	doc.Relationships = append([]*spdx.Relationship{spdxRelation("DOCUMENT", image, common.TypeRelationshipDescribe)}, doc.Relationships...)
	return writeSPDX(doc)
}

// SPDXIndex renders the inventories of an index's platform images as one SPDX 2.3 document: the
// index as the described package (purpose CONTAINER, its digest as checksum and in its package URL),
// CONTAINS each platform image, which is described as SPDX describes a single image and CONTAINS its
// own packages. Every element's SPDX ID is scoped by its image's digest, so a package found in
// several images (an arch "all" .deb) is one element per image.
func SPDXIndex(index evidence.Image, invs []*evidence.Inventory, opt DocOptions) ([]byte, error) {
	lics, err := loadLicenseList()
	if err != nil {
		return nil, err
	}
	id, err := indexDocumentID(index, invs, opt)
	if err != nil {
		return nil, err
	}
	doc := newSPDXDocument(index, id, opt)
	ix := spdxImagePackage(index, "Index")
	doc.Packages = append(doc.Packages, ix)
	doc.Relationships = append(doc.Relationships, spdxRelation("DOCUMENT", ix.PackageSPDXIdentifier, common.TypeRelationshipDescribe))
	for _, inv := range invs {
		image := spdxImage(doc, inv, opt, lics, inv.Image.Digest)
		doc.Relationships = append(doc.Relationships, spdxRelation(ix.PackageSPDXIdentifier, image, common.TypeRelationshipContains))
	}
	return writeSPDX(doc)
}

func newSPDXDocument(img evidence.Image, id []byte, opt DocOptions) *spdx.Document {
	name := imageName(img.Ref)
	if img.Ref != "" {
		name = img.Ref
	}
	return &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: namespaceBase + imageName(img.Ref) + "-" + uuidFrom(id),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: opt.tool()}},
			Created:  opt.created(),
		},
	}
}

func writeSPDX(doc *spdx.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("writing SPDX JSON: %w", err)
	}
	return buf.Bytes(), nil
}

func spdxRelation(a, b common.ElementID, typ string) *spdx.Relationship {
	return &spdx.Relationship{
		RefA:         common.MakeDocElementID("", string(a)),
		RefB:         common.MakeDocElementID("", string(b)),
		Relationship: typ,
	}
}

// spdxImagePackage is an image or index as an SPDX package of purpose CONTAINER.
func spdxImagePackage(img evidence.Image, kind string) *spdx.Package {
	name := imageName(img.Ref)
	if img.Ref != "" {
		name = img.Ref
	}
	p := &spdx.Package{
		PackageName:               name,
		PackageSPDXIdentifier:     spdxID(kind, imageName(img.Ref), img.Digest),
		PackageVersion:            img.Digest,
		PackageDownloadLocation:   noAssertion,
		PrimaryPackagePurpose:     purposeContainer,
		PackageLicenseConcluded:   noAssertion,
		PackageLicenseDeclared:    noAssertion,
		PackageCopyrightText:      noAssertion,
		IsFilesAnalyzedTagPresent: true,
		PackageExternalReferences: []*spdx.PackageExternalReference{
			{Category: refCategoryPM, RefType: refTypePURL, Locator: imagePURL(img)},
		},
	}
	if d, ok := strings.CutPrefix(img.Digest, "sha256:"); ok {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d}}
	}
	return p
}

// spdxImage adds the image of inv, its distro and its packages to doc, the image CONTAINS each, and
// returns the image's ID. scope, when set, is folded into the IDs of the distro and packages, so
// that several images' elements stay distinct in one document.
func spdxImage(doc *spdx.Document, inv *evidence.Inventory, opt DocOptions, lics licenseList, scope string) common.ElementID {
	scoped := func(key string) string {
		if scope == "" {
			return key
		}
		return scope + " " + key
	}
	image := spdxImagePackage(inv.Image, "Image")
	for _, e := range inv.Excluded {
		image.Annotations = append(image.Annotations, spdx.Annotation{
			Annotator:         common.Annotator{AnnotatorType: "Tool", Annotator: opt.tool()},
			AnnotationDate:    opt.created(),
			AnnotationType:    "OTHER",
			AnnotationComment: propExcluded + " " + exclusionText(e),
		})
	}
	doc.Packages = append(doc.Packages, image)
	contains := func(p *spdx.Package) {
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelation(image.PackageSPDXIdentifier, p.PackageSPDXIdentifier, common.TypeRelationshipContains))
	}

	if d := inv.Distro; d != nil {
		contains(&spdx.Package{
			PackageName:               d.ID,
			PackageSPDXIdentifier:     spdxID("OperatingSystem", d.ID, scoped(d.VersionID)),
			PackageVersion:            d.VersionID,
			PackageDescription:        d.Name,
			PackageComment:            codenameComment(d.Codename),
			PackageDownloadLocation:   noAssertion,
			PrimaryPackagePurpose:     purposeOS,
			PackageLicenseConcluded:   noAssertion,
			PackageLicenseDeclared:    noAssertion,
			PackageCopyrightText:      noAssertion,
			IsFilesAnalyzedTagPresent: true,
		})
	}

	for _, p := range inv.Packages {
		sp := &spdx.Package{
			PackageName:               p.Name,
			PackageSPDXIdentifier:     spdxID("Package-"+p.Type, p.Name, scoped(p.PURL)),
			PackageVersion:            p.Version,
			PackageDownloadLocation:   noAssertion,
			PackageLicenseConcluded:   noAssertion,
			PackageLicenseDeclared:    noAssertion,
			PackageCopyrightText:      noAssertion,
			PackageSourceInfo:         sourceInfo(p),
			IsFilesAnalyzedTagPresent: true,
			PrimaryPackagePurpose:     "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{
				{Category: refCategoryPM, RefType: refTypePURL, Locator: p.PURL},
			},
		}
		if e, ok := lics.declared(p.Licenses); ok {
			sp.PackageLicenseDeclared = e
		}
		if p.SHA256 != "" {
			sp.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: p.SHA256}}
		}
		contains(sp)
	}
	return image.PackageSPDXIdentifier
}

// spdxID builds "SPDXRef-<kind>-<name>-<hash of key>": readable, stable for the same key, unique
// for different keys, and within SPDX's idstring alphabet.
func spdxID(kind, name, key string) common.ElementID {
	sum := sha256.Sum256([]byte(key))
	return common.ElementID(kind + "-" + idSafe(name) + "-" + hex.EncodeToString(sum[:8]))
}

func idSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !isIDChar(c) {
			b[i] = '-'
		}
	}
	return string(b)
}

// sourceInfo says where the package was found: "layer sha256:...: /var/lib/dpkg/status.d/x". Decode
// reads the layer back from it.
func sourceInfo(p evidence.Package) string {
	var b strings.Builder
	if p.Layer != "" {
		b.WriteString("layer " + p.Layer)
		if len(p.Locations) > 0 {
			b.WriteString(": ")
		}
	}
	b.WriteString(strings.Join(p.Locations, ", "))
	return b.String()
}

func codenameComment(c string) string {
	if c == "" {
		return ""
	}
	return "codename " + c
}
