package policy

import (
	_ "embed"
	"encoding/json"

	"github.com/invopop/jsonschema"
)

//go:generate go run ./internal/genschema

// SchemaID is the $id of the generated JSON schema.
const SchemaID = "https://github.com/ingot-build/ingot/schema/policy.schema.json"

//go:embed policy.schema.json
var schemaJSON []byte

// Schema returns the JSON schema of an admission policy file. It is generated from the Go types and
// their comments (go generate ./pkg/policy); a test fails when the embedded copy drifts from the types.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }

// Reflect builds the schema from the types. commentsDir, relative to the module root (the working
// directory), is where the doc comments are read from; "" skips them.
func Reflect(commentsDir string) ([]byte, error) {
	r := &jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: true}
	if commentsDir != "" {
		if err := r.AddGoComments("github.com/ingot-build/ingot", commentsDir); err != nil {
			return nil, err
		}
	}
	s := r.Reflect(&Policy{})
	s.ID = SchemaID
	s.Title = "ingot admission policy"
	s.Description = "What images must prove before they run: see ingot admission serve"
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// JSONSchema describes a Duration as YAML takes it.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "a duration such as \"24h\" or \"90m\"",
	}
}
