package sbom

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"
)

// spdxRelationships are the relationship types SPDX 2.3 defines (clause 11.1).
const spdxRelationships = " DESCRIBES DESCRIBED_BY CONTAINS CONTAINED_BY DEPENDS_ON DEPENDENCY_OF DEPENDENCY_MANIFEST_OF " +
	"BUILD_DEPENDENCY_OF DEV_DEPENDENCY_OF OPTIONAL_DEPENDENCY_OF PROVIDED_DEPENDENCY_OF TEST_DEPENDENCY_OF " +
	"RUNTIME_DEPENDENCY_OF EXAMPLE_OF GENERATES GENERATED_FROM ANCESTOR_OF DESCENDANT_OF VARIANT_OF " +
	"DISTRIBUTION_ARTIFACT PATCH_FOR PATCH_APPLIED COPY_OF FILE_ADDED FILE_DELETED FILE_MODIFIED " +
	"EXPANDED_FROM_ARCHIVE DYNAMIC_LINK STATIC_LINK DATA_FILE_OF TEST_CASE_OF BUILD_TOOL_OF DEV_TOOL_OF " +
	"TEST_OF TEST_TOOL_OF DOCUMENTATION_OF OPTIONAL_COMPONENT_OF METAFILE_OF PACKAGE_OF AMENDS " +
	"PREREQUISITE_FOR HAS_PREREQUISITE REQUIREMENT_DESCRIPTION_FOR SPECIFICATION_FOR OTHER "

// spdxPurposes are SPDX 2.3's primary package purposes (clause 7.24).
const spdxPurposes = " APPLICATION FRAMEWORK LIBRARY CONTAINER OPERATING-SYSTEM DEVICE FIRMWARE SOURCE ARCHIVE FILE INSTALL OTHER "

// checksumLength is the hex length of an SPDX checksum algorithm's digest, 0 when not fixed here.
func checksumLength(a common.ChecksumAlgorithm) int {
	switch a {
	case common.MD5:
		return 32
	case common.SHA1:
		return 40
	case common.SHA224:
		return 56
	case common.SHA256, common.SHA3_256, common.BLAKE2b_256:
		return 64
	case common.SHA384, common.SHA3_384, common.BLAKE2b_384:
		return 96
	case common.SHA512, common.SHA3_512, common.BLAKE2b_512:
		return 128
	}
	return 0
}

// ValidateSPDX checks an SPDX 2.3 JSON document: it must parse with spdx/tools-golang and pass its
// spdxlib.ValidateDocument (every relationship names an element of the document) and
// GetDescribedPackageIDs, and the fields SPDX 2.3 makes mandatory must be present and well formed:
// version, data license, document SPDXID, name, namespace URI, creators and creation time; for every
// package its name, a unique SPDXID, download location, checksums, license expressions (against the
// SPDX license list), purpose and package URLs. All problems are reported together.
func ValidateSPDX(data []byte) error {
	var head struct {
		SPDXVersion string `json:"spdxVersion"`
		SPDXID      string `json:"SPDXID"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if head.SPDXVersion != spdx.Version {
		return fmt.Errorf("%w: spdxVersion %q, want %s", ErrInvalid, head.SPDXVersion, spdx.Version)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	lics, err := loadLicenseList()
	if err != nil {
		return err
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if slices.Contains(doc.Packages, nil) || slices.Contains(doc.Relationships, nil) || slices.Contains(doc.Files, nil) {
		// spdxlib would dereference them.
		return fmt.Errorf("%w: a package, file or relationship is null", ErrInvalid)
	}
	for _, p := range doc.Packages {
		if slices.Contains(p.PackageExternalReferences, nil) {
			return fmt.Errorf("%w: package %s: an external reference is null", ErrInvalid, p.PackageName)
		}
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		bad("%w", err)
	}
	if _, err := spdxlib.GetDescribedPackageIDs(doc); err != nil {
		bad("described packages: %w", err)
	}
	if doc.DataLicense != spdx.DataLicense {
		bad("dataLicense %q, want %s", doc.DataLicense, spdx.DataLicense)
	}
	if head.SPDXID != "SPDXRef-DOCUMENT" {
		bad("document SPDXID %q, want SPDXRef-DOCUMENT", head.SPDXID)
	}
	if doc.DocumentName == "" {
		bad("no document name")
	}
	if u, err := url.Parse(doc.DocumentNamespace); err != nil || !u.IsAbs() || strings.Contains(doc.DocumentNamespace, "#") {
		bad("documentNamespace %q is not an absolute URI without '#'", doc.DocumentNamespace)
	}
	if ci := doc.CreationInfo; ci == nil {
		bad("no creationInfo")
	} else {
		if _, err := time.Parse("2006-01-02T15:04:05Z", ci.Created); err != nil {
			bad("creationInfo.created %q is not YYYY-MM-DDThh:mm:ssZ", ci.Created)
		}
		if len(ci.Creators) == 0 {
			bad("no creators")
		}
		for _, c := range ci.Creators {
			if c.Creator == "" || (c.CreatorType != "Tool" && c.CreatorType != "Person" && c.CreatorType != "Organization") {
				bad("creator %q: want Tool:, Person: or Organization: and a name", c.CreatorType+": "+c.Creator)
			}
		}
	}
	seen := map[common.ElementID]bool{}
	for i, p := range doc.Packages {
		where := fmt.Sprintf("packages[%d] (%s)", i, p.PackageName)
		id := "SPDXRef-" + string(p.PackageSPDXIdentifier)
		if r, ok := strings.CutPrefix(id, "SPDXRef-"); !ok || !idString(r) {
			bad("%s: SPDXID %q is not SPDXRef-<letters, digits, '.', '-'>", where, id)
		}
		if seen[p.PackageSPDXIdentifier] {
			bad("%s: SPDXID %s used twice", where, id)
		}
		seen[p.PackageSPDXIdentifier] = true
		if p.PackageName == "" {
			bad("%s: no name", where)
		}
		if p.PackageDownloadLocation == "" {
			bad("%s: no downloadLocation (NOASSERTION when unknown)", where)
		}
		if p.FilesAnalyzed && p.PackageVerificationCode == nil && len(p.Files) > 0 {
			bad("%s: filesAnalyzed without packageVerificationCode", where)
		}
		if p.PrimaryPackagePurpose != "" && !strings.Contains(spdxPurposes, " "+p.PrimaryPackagePurpose+" ") {
			bad("%s: unknown primaryPackagePurpose %q", where, p.PrimaryPackagePurpose)
		}
		for _, c := range p.PackageChecksums {
			n := checksumLength(c.Algorithm)
			if _, err := hex.DecodeString(c.Value); err != nil || (n > 0 && len(c.Value) != n) {
				bad("%s: %s checksum %q is not %d hex digits", where, c.Algorithm, c.Value, n)
			}
		}
		for field, v := range map[string]string{"licenseDeclared": p.PackageLicenseDeclared, "licenseConcluded": p.PackageLicenseConcluded} {
			if v == "" || v == noAssertion || v == "NONE" {
				continue
			}
			if _, _, ok := lics.expression(v); !ok {
				bad("%s: %s %q is not a valid SPDX license expression", where, field, v)
			}
		}
		for _, r := range p.PackageExternalReferences {
			if r.RefType != refTypePURL {
				continue
			}
			if _, err := packageurl.FromString(r.Locator); err != nil {
				bad("%s: purl %q: %w", where, r.Locator, err)
			}
			if r.Category != refCategoryPM {
				bad("%s: purl reference in category %q, want %s", where, r.Category, refCategoryPM)
			}
		}
	}
	for i, r := range doc.Relationships {
		if !strings.Contains(spdxRelationships, " "+r.Relationship+" ") {
			bad("relationships[%d]: unknown type %q", i, r.Relationship)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
