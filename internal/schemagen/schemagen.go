// Package schemagen generates the JSON schema of a strictly decoded YAML file from its Go types and
// their doc comments, the one way every file format of ingot (ingot.yaml, admission policies, audit
// policies) publishes its schema.
package schemagen

import (
	"encoding/json"

	"github.com/invopop/jsonschema"
)

// Doc names a schema: its $id, title and description.
type Doc struct {
	ID          string
	Title       string
	Description string
}

// Reflect builds the schema of v's type, fields named by their yaml tags, with no $refs. commentsDir,
// relative to the module root (the working directory), is where the doc comments are read from; ""
// skips them (the embedded copy is generated with them, a drift test compares without).
func Reflect(v any, d Doc, commentsDir string) ([]byte, error) {
	r := &jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: true}
	if commentsDir != "" {
		if err := r.AddGoComments("github.com/ingot-build/ingot", commentsDir); err != nil {
			return nil, err
		}
	}
	s := r.Reflect(v)
	s.ID = jsonschema.ID(d.ID)
	s.Title = d.Title
	if d.Description != "" { // else the type's doc comment stands
		s.Description = d.Description
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
