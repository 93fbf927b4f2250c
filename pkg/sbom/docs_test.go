package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

var update = flag.Bool("update", false, "rewrite the golden documents under testdata/golden")

// loadInventory reads an inventory fixture and fills the PURLs and ecosystems as Inventory would.
func loadInventory(t testing.TB, name string) *evidence.Inventory {
	t.Helper()
	var inv evidence.Inventory
	if err := json.Unmarshal([]byte(fixture(t, name)), &inv); err != nil {
		t.Fatal(err)
	}
	for i := range inv.Packages {
		finish(&inv.Packages[i], inv.Distro)
	}
	return &inv
}

var formats = []struct {
	name     string
	render   func(*evidence.Inventory, DocOptions) ([]byte, error)
	validate func([]byte) error
}{
	{"spdx", SPDX, ValidateSPDX},
	{"cyclonedx", CycloneDX, ValidateCycloneDX},
}

// TestDocuments renders each fixture inventory in each format, validates it with the format's
// official validation, compares it with the golden document by content, and decodes it back to the
// same inventory.
func TestDocuments(t *testing.T) {
	opt := DocOptions{Created: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), ToolVersion: "1.2.3"}
	for _, invName := range []string{"inventory.json", "inventory-alpine.json"} {
		for _, f := range formats {
			t.Run(strings.TrimSuffix(invName, ".json")+"/"+f.name, func(t *testing.T) {
				inv := loadInventory(t, invName)
				doc, err := f.render(inv, opt)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.validate(doc); err != nil {
					t.Fatalf("our document does not validate: %v", err)
				}
				golden := filepath.Join("testdata", "golden", strings.TrimSuffix(invName, ".json")+"."+f.name+".json")
				if *update {
					if err := os.WriteFile(golden, doc, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				var gotV, wantV any
				if err := json.Unmarshal(doc, &gotV); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(want, &wantV); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotV, wantV) {
					t.Errorf("document differs from %s (run go test -update and review the diff)", golden)
				}

				back, err := Decode(doc)
				if err != nil {
					t.Fatal(err)
				}
				comparePackages(t, back.Packages, inv.Packages)
				if !reflect.DeepEqual(back.Distro, inv.Distro) {
					t.Errorf("decoded distro %+v, want %+v", back.Distro, inv.Distro)
				}
				if !reflect.DeepEqual(back.Excluded, inv.Excluded) {
					t.Errorf("decoded exclusions %+v, want %+v", back.Excluded, inv.Excluded)
				}
				if back.Image.Digest != inv.Image.Digest || back.Image.Ref != inv.Image.Ref || back.Image.Arch != inv.Image.Arch {
					t.Errorf("decoded image %+v, want %+v", back.Image, inv.Image)
				}
			})
		}
	}
}

// TestDocumentsDeterministic: the same inventory gives the same bytes; a different creation time or
// image gives a different document identity.
func TestDocumentsDeterministic(t *testing.T) {
	for _, f := range formats {
		inv := loadInventory(t, "inventory.json")
		a, err := f.render(inv, DocOptions{ToolVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f.render(loadInventory(t, "inventory.json"), DocOptions{ToolVersion: "1"})
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renderings of one inventory differ", f.name)
		}
		if !bytes.Contains(a, []byte("1970-01-01T00:00:00Z")) {
			t.Errorf("%s: a zero Created did not give the Unix epoch", f.name)
		}
		inv.Image.Digest = strings.Replace(inv.Image.Digest, "0a1b", "ffff", 1)
		c, _ := f.render(inv, DocOptions{ToolVersion: "1"})
		if idOf(t, a) == idOf(t, c) {
			t.Errorf("%s: documents of two images share the identity %s", f.name, idOf(t, a))
		}
	}
}

// idOf is a document's identity: the SPDX namespace or the CycloneDX serial number.
func idOf(t *testing.T, doc []byte) string {
	var v struct {
		DocumentNamespace string `json:"documentNamespace"`
		SerialNumber      string `json:"serialNumber"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	return v.DocumentNamespace + v.SerialNumber
}

// TestValidateRejects breaks a valid document in the ways that matter and expects each to fail.
func TestValidateRejects(t *testing.T) {
	inv := loadInventory(t, "inventory.json")
	spdxDoc, err := SPDX(inv, DocOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cdxDoc, err := CycloneDX(inv, DocOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		doc      []byte
		validate func([]byte) error
		edit     func(map[string]any)
	}{
		{"spdx: no name", spdxDoc, ValidateSPDX, func(m map[string]any) { delete(m, "name") }},
		{"spdx: wrong data license", spdxDoc, ValidateSPDX, func(m map[string]any) { m["dataLicense"] = "MIT" }},
		{"spdx: relative namespace", spdxDoc, ValidateSPDX, func(m map[string]any) { m["documentNamespace"] = "app-1" }},
		{"spdx: bad created", spdxDoc, ValidateSPDX, func(m map[string]any) { m["creationInfo"].(map[string]any)["created"] = "yesterday" }},
		{"spdx: no creators", spdxDoc, ValidateSPDX, func(m map[string]any) { m["creationInfo"].(map[string]any)["creators"] = []any{} }},
		{"spdx: version 2.2", spdxDoc, ValidateSPDX, func(m map[string]any) { m["spdxVersion"] = "SPDX-2.2" }},
		{"spdx: relationship to nothing", spdxDoc, ValidateSPDX, func(m map[string]any) {
			m["relationships"].([]any)[1].(map[string]any)["relatedSpdxElement"] = "SPDXRef-nothing"
		}},
		{"spdx: duplicate SPDXID", spdxDoc, ValidateSPDX, func(m map[string]any) {
			pkgs := m["packages"].([]any)
			pkgs[2].(map[string]any)["SPDXID"] = pkgs[3].(map[string]any)["SPDXID"]
		}},
		{"spdx: bad SPDXID", spdxDoc, ValidateSPDX, func(m map[string]any) { pkg(m, "packages", 2)["SPDXID"] = "SPDXRef-a_b" }},
		{"spdx: no download location", spdxDoc, ValidateSPDX, func(m map[string]any) { delete(pkg(m, "packages", 2), "downloadLocation") }},
		{"spdx: short checksum", spdxDoc, ValidateSPDX, func(m map[string]any) {
			pkg(m, "packages", 0)["checksums"].([]any)[0].(map[string]any)["checksumValue"] = "abc"
		}},
		{"spdx: license not on the list", spdxDoc, ValidateSPDX, func(m map[string]any) { pkg(m, "packages", 2)["licenseDeclared"] = "Apache 2.0" }},
		{"spdx: dangling operator", spdxDoc, ValidateSPDX, func(m map[string]any) { pkg(m, "packages", 2)["licenseDeclared"] = "MIT OR" }},
		{"spdx: bad purl", spdxDoc, ValidateSPDX, func(m map[string]any) {
			pkg(m, "packages", 2)["externalRefs"].([]any)[0].(map[string]any)["referenceLocator"] = "libc6@2.36"
		}},
		{"spdx: unknown purpose", spdxDoc, ValidateSPDX, func(m map[string]any) { pkg(m, "packages", 2)["primaryPackagePurpose"] = "TOY" }},
		{"spdx: unknown relationship", spdxDoc, ValidateSPDX, func(m map[string]any) {
			m["relationships"].([]any)[1].(map[string]any)["relationshipType"] = "LIKES"
		}},
		{"cyclonedx: bad serial number", cdxDoc, ValidateCycloneDX, func(m map[string]any) { m["serialNumber"] = "not-a-uuid" }},
		{"cyclonedx: unknown component type", cdxDoc, ValidateCycloneDX, func(m map[string]any) { pkg(m, "components", 1)["type"] = "gadget" }},
		{"cyclonedx: unknown field", cdxDoc, ValidateCycloneDX, func(m map[string]any) { m["extra"] = true }},
		{"cyclonedx: license id not on the list", cdxDoc, ValidateCycloneDX, func(m map[string]any) {
			pkg(m, "components", 5)["licenses"] = []any{map[string]any{"license": map[string]any{"id": "Apache 2.0"}}}
		}},
		{"cyclonedx: bad timestamp", cdxDoc, ValidateCycloneDX, func(m map[string]any) { m["metadata"].(map[string]any)["timestamp"] = "2024-13-45" }},
		{"cyclonedx: spec 1.5", cdxDoc, ValidateCycloneDX, func(m map[string]any) { m["specVersion"] = "1.5" }},
		{"cyclonedx: not CycloneDX", cdxDoc, ValidateCycloneDX, func(m map[string]any) { m["bomFormat"] = "SPDX" }},
	}
	for _, tt := range tests {
		var m map[string]any
		if err := json.Unmarshal(tt.doc, &m); err != nil {
			t.Fatal(err)
		}
		tt.edit(m)
		broken, _ := json.Marshal(m)
		err := tt.validate(broken)
		if err == nil {
			t.Errorf("%s: validated", tt.name)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v does not wrap ErrInvalid", tt.name, err)
		}
	}
	if err := ValidateSPDX([]byte("{")); err == nil {
		t.Error("ValidateSPDX accepted broken JSON")
	}
	if err := ValidateCycloneDX([]byte("[]")); err == nil {
		t.Error("ValidateCycloneDX accepted an array")
	}
}

// comparePackages wants the same packages, field by field. Licenses may change form (a CycloneDX
// list of IDs comes back as separate entries, an SPDX one as an AND expression) but not meaning.
func comparePackages(t *testing.T, got, want []evidence.Package) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("decoded %d packages, want %d", len(got), len(want))
		return
	}
	lics, err := loadLicenseList()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		g, w := got[i], want[i]
		gl, _ := lics.declared(g.Licenses)
		wl, wok := lics.declared(w.Licenses)
		if wok && gl != wl {
			t.Errorf("%s: licenses %q (%s), want %q (%s)", w.PURL, g.Licenses, gl, w.Licenses, wl)
		}
		g.Licenses, w.Licenses = nil, nil
		if !reflect.DeepEqual(g, w) {
			a, _ := json.Marshal(g)
			b, _ := json.Marshal(w)
			t.Errorf("decoded package\n%s\nwant\n%s", a, b)
		}
	}
}

func pkg(m map[string]any, key string, i int) map[string]any {
	return m[key].([]any)[i].(map[string]any)
}
