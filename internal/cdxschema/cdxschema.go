package cdxschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrInvalid is wrapped by every error about the document itself (as opposed to the schemas).
var ErrInvalid = errors.New("cdxschema: invalid CycloneDX document")

// The CycloneDX schemas' own IDs, under which $refs between them resolve.
const (
	schemaURL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	spdxURL   = "http://cyclonedx.org/schema/spdx.schema.json"
	jsfURL    = "http://cyclonedx.org/schema/jsf-0.82.schema.json"
)

// Validate checks a CycloneDX JSON document against the official 1.6 JSON schema, with formats
// (date-time, iri-reference, email) asserted. schemas must hold CycloneDX's schema files at
// schema/bom-1.6.schema.json, schema/spdx.schema.json and schema/jsf-0.82.schemax.json, as
// sbom.Schemas does. Only specVersion 1.6 is accepted.
func Validate(data []byte, schemas fs.FS) error {
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if head.BOMFormat != "CycloneDX" {
		return fmt.Errorf("%w: bomFormat is %q, not CycloneDX", ErrInvalid, head.BOMFormat)
	}
	if head.SpecVersion != "1.6" {
		return fmt.Errorf("%w: specVersion %q: only CycloneDX 1.6 is validated", ErrInvalid, head.SpecVersion)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for name, u := range map[string]string{
		"schema/bom-1.6.schema.json":   schemaURL,
		"schema/spdx.schema.json":      spdxURL,
		"schema/jsf-0.82.schemax.json": jsfURL,
	} {
		b, err := fs.ReadFile(schemas, name)
		if err != nil {
			return fmt.Errorf("reading schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("reading schema %s: %w", name, err)
		}
		if err := c.AddResource(u, doc); err != nil {
			return fmt.Errorf("loading schema %s: %w", name, err)
		}
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return fmt.Errorf("compiling the CycloneDX 1.6 schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%w: CycloneDX 1.6 schema: %w", ErrInvalid, err)
	}
	return nil
}
