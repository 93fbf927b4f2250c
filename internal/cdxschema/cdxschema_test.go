package cdxschema_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/ingot-build/ingot/internal/cdxschema"
	"github.com/ingot-build/ingot/pkg/sbom"
)

func TestValidate(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.cdx.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := cdxschema.Validate(valid, sbom.Schemas()); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	component := func(m map[string]any) map[string]any { return m["components"].([]any)[0].(map[string]any) }
	for _, tt := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"not CycloneDX", func(m map[string]any) { m["bomFormat"] = "SPDX" }},
		{"spec 1.5", func(m map[string]any) { m["specVersion"] = "1.5" }},
		{"bad serial number", func(m map[string]any) { m["serialNumber"] = "not-a-uuid" }},
		{"bad timestamp (format asserted)", func(m map[string]any) { m["metadata"].(map[string]any)["timestamp"] = "2024-13-45" }},
		{"unknown field", func(m map[string]any) { m["extra"] = true }},
		{"unknown component type", func(m map[string]any) { component(m)["type"] = "gadget" }},
		{"license id not on the SPDX list", func(m map[string]any) {
			component(m)["licenses"] = []any{map[string]any{"license": map[string]any{"id": "Not-A-License"}}}
		}},
	} {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		tt.edit(m)
		broken, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := cdxschema.Validate(broken, sbom.Schemas()); !errors.Is(err, cdxschema.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
	for _, doc := range []string{"", "{", "[]", "null"} {
		if err := cdxschema.Validate([]byte(doc), sbom.Schemas()); !errors.Is(err, cdxschema.ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", doc, err)
		}
	}
}

// TestValidateMissingSchema: a schema set without the CycloneDX files is the caller's mistake, not an
// invalid document.
func TestValidateMissingSchema(t *testing.T) {
	valid, err := os.ReadFile("testdata/valid.cdx.json")
	if err != nil {
		t.Fatal(err)
	}
	err = cdxschema.Validate(valid, fstest.MapFS{})
	if err == nil || errors.Is(err, cdxschema.ErrInvalid) {
		t.Errorf("err = %v, want a schema error that is not ErrInvalid", err)
	}
}
