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
	name := imageName(inv.Image.Ref)
	if inv.Image.Ref != "" {
		name = inv.Image.Ref
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: namespaceBase + imageName(inv.Image.Ref) + "-" + uuidFrom(id),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: opt.tool()}},
			Created:  opt.created(),
		},
	}

	image := &spdx.Package{
		PackageName:               name,
		PackageSPDXIdentifier:     spdxID("Image", imageName(inv.Image.Ref), inv.Image.Digest),
		PackageVersion:            inv.Image.Digest,
		PackageDownloadLocation:   noAssertion,
		PrimaryPackagePurpose:     purposeContainer,
		PackageLicenseConcluded:   noAssertion,
		PackageLicenseDeclared:    noAssertion,
		PackageCopyrightText:      noAssertion,
		IsFilesAnalyzedTagPresent: true,
		PackageExternalReferences: []*spdx.PackageExternalReference{
			{Category: refCategoryPM, RefType: refTypePURL, Locator: imagePURL(inv.Image)},
		},
	}
	if d, ok := strings.CutPrefix(inv.Image.Digest, "sha256:"); ok {
		image.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d}}
	}
	for _, e := range inv.Excluded {
		image.Annotations = append(image.Annotations, spdx.Annotation{
			Annotator:         common.Annotator{AnnotatorType: "Tool", Annotator: opt.tool()},
			AnnotationDate:    opt.created(),
			AnnotationType:    "OTHER",
			AnnotationComment: propExcluded + " " + exclusionText(e),
		})
	}
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", "DOCUMENT"),
		RefB:         common.MakeDocElementID("", string(image.PackageSPDXIdentifier)),
		Relationship: common.TypeRelationshipDescribe,
	})
	contains := func(p *spdx.Package) {
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", string(image.PackageSPDXIdentifier)),
			RefB:         common.MakeDocElementID("", string(p.PackageSPDXIdentifier)),
			Relationship: common.TypeRelationshipContains,
		})
	}

	if d := inv.Distro; d != nil {
		contains(&spdx.Package{
			PackageName:               d.ID,
			PackageSPDXIdentifier:     spdxID("OperatingSystem", d.ID, d.VersionID),
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
			PackageSPDXIdentifier:     spdxID("Package-"+p.Type, p.Name, p.PURL),
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

	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("writing SPDX JSON: %w", err)
	}
	return buf.Bytes(), nil
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
