package host

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ingot-build/ingot/internal/schemagen"

	"go.yaml.in/yaml/v3"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrPolicy reports an audit policy that does not parse or validate.
var ErrPolicy = fault.New(fault.Invalid, "host: invalid audit policy")

// Policy is an audit policy file: the agents every machine must run, at approved versions, and the
// packages no image may contain.
type Policy struct {
	// Agents are the Debian packages that must be installed, each at a version inside its range.
	Agents []Agent `yaml:"agents,omitempty" json:"agents,omitempty"`
	// Forbidden are the Debian packages that must not be installed.
	Forbidden []Forbidden `yaml:"forbidden,omitempty" json:"forbidden,omitempty"`
}

// Agent is a required package.
type Agent struct {
	// Name is the Debian package name.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9][a-z0-9+.-]+$"`
	// Versions is the approved range in dpkg's ordering: comparisons separated by commas
	// (">=1.2.0, <2"); empty approves every version.
	Versions string `yaml:"versions,omitempty" json:"versions,omitempty"`
	// Why says what the agent is for; it is shown when it is missing.
	Why string `yaml:"why,omitempty" json:"why,omitempty"`
}

// Forbidden is a package no image may contain.
type Forbidden struct {
	// Name is the Debian package name.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9][a-z0-9+.-]+$"`
	// Why says why it is forbidden; it is shown when it is found.
	Why string `yaml:"why,omitempty" json:"why,omitempty"`
}

// LoadPolicy reads and validates an audit policy file.
func LoadPolicy(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// ParsePolicy decodes a policy strictly (an unknown field is an error, so a typo cannot drop a
// requirement) and validates it.
func ParsePolicy(data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the policy is empty", ErrPolicy)
		}
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks names and ranges; it names the offending field.
func (p *Policy) Validate() error {
	seen := map[string]string{}
	check := func(field, name string) error {
		if name == "" || strings.ContainsAny(name, " \t/_") || strings.ToLower(name) != name {
			return fmt.Errorf("%w: %s: %q is not a Debian package name", ErrPolicy, field, name)
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("%w: %s: %s is already listed as %s", ErrPolicy, field, name, prev)
		}
		seen[name] = field
		return nil
	}
	for i, a := range p.Agents {
		field := fmt.Sprintf("agents[%d].name", i)
		if err := check(field, a.Name); err != nil {
			return err
		}
		if _, err := catalog.ParseRange(a.Versions); err != nil {
			return fmt.Errorf("%w: agents[%d].versions: %w", ErrPolicy, i, err)
		}
	}
	for i, f := range p.Forbidden {
		if err := check(fmt.Sprintf("forbidden[%d].name", i), f.Name); err != nil {
			return err
		}
	}
	return nil
}

// PolicySchemaID is the $id of the policy's JSON schema.
const PolicySchemaID = "https://github.com/ingot-build/ingot/schema/host-policy.schema.json"

//go:embed policy.schema.json
var policySchema []byte

// PolicySchema returns the JSON schema of the audit policy, generated from the types (go test
// ./pkg/host -run TestPolicySchema -update); a test fails when the embedded copy drifts.
func PolicySchema() []byte { return append([]byte(nil), policySchema...) }

// reflectPolicySchema builds the schema from the types, with their comments when commentsDir (the
// package directory, relative to the module root) is given.
func reflectPolicySchema(commentsDir string) ([]byte, error) {
	return schemagen.Reflect(&Policy{}, schemagen.Doc{ID: PolicySchemaID, Title: "ingot host audit policy"}, commentsDir)
}
