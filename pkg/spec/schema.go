package spec

import (
	_ "embed"
	"encoding/json"

	"github.com/invopop/jsonschema"

	"github.com/ingot-build/ingot/internal/schemagen"
)

//go:generate go run ./internal/genschema

// SchemaID is the $id of the generated JSON schema.
const SchemaID = "https://github.com/ingot-build/ingot/schema/ingot.schema.json"

//go:embed ingot.schema.json
var schemaJSON []byte

// Schema returns the JSON schema of ingot.yaml. It is generated from the Go types and their comments
// (go generate ./pkg/spec); a test fails when the embedded copy drifts from the types.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }

// Reflect builds the schema from the types. commentsDir, relative to the module root (the working
// directory), is where the doc comments are read from; "" skips them.
func Reflect(commentsDir string) ([]byte, error) {
	return schemagen.Reflect(&Spec{}, schemagen.Doc{ID: SchemaID, Title: "ingot.yaml", Description: "A golden image as code: see https://github.com/ingot-build/ingot"}, commentsDir)
}

// JSONSchema describes Mode as YAML accepts it: an octal string or an integer.
func (Mode) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		OneOf: []*jsonschema.Schema{
			{Type: "string", Pattern: "^(0o?)?[0-7]{1,4}$"},
			{Type: "integer", Minimum: json.Number("0"), Maximum: json.Number("4095")},
		},
		Description: "permission bits, e.g. \"0755\"",
	}
}
