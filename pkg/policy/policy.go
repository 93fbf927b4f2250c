package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/sign"
)

// Errors, for errors.Is.
var (
	// ErrInvalid is wrapped by every decoding and validation error of a policy file.
	ErrInvalid = fault.New(fault.Invalid, "invalid policy")
	// ErrReference: an image reference that does not parse.
	ErrReference = fault.New(fault.Invalid, "invalid image reference")
)

// Policy is one admission policy file: which namespaces it governs, which images it expects there and
// what each must prove before it runs.
type Policy struct {
	// Name names the policy in denials, warnings, logs and metrics.
	Name string `yaml:"name" json:"name" jsonschema:"pattern=^[a-z0-9]([a-z0-9.-]{0\\,61}[a-z0-9])?$"`
	// Mode is what a failed requirement does: enforce denies the request, warn admits it with a
	// warning to the client, audit admits it and records the failure in the API server's audit log.
	// Default: enforce.
	Mode Mode `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"enum=enforce,enum=warn,enum=audit"`
	// Namespaces are the namespaces the policy governs, by name; without it, every namespace.
	// Exemptions are by namespace name only: nothing a workload's author writes (labels,
	// annotations) exempts a workload.
	Namespaces *Namespaces `yaml:"namespaces,omitempty" json:"namespaces,omitempty"`
	// Registries is the allow-list of registry hosts (host[:port], globs allowed, normalised as
	// images are); an image from any other registry is refused. Empty: any registry.
	Registries []string `yaml:"registries,omitempty" json:"registries,omitempty"`
	// Unmatched is what happens to an image no rule matches: deny (the default) or allow.
	Unmatched Unmatched `yaml:"unmatched,omitempty" json:"unmatched,omitempty" jsonschema:"enum=deny,enum=allow"`
	// Keys are the public keys rules refer to by name.
	Keys []Key `yaml:"keys,omitempty" json:"keys,omitempty"`
	// Rules say what matched images must prove. Every rule whose images match an image applies, and
	// all of them must pass.
	Rules []Rule `yaml:"rules" json:"rules" jsonschema:"minItems=1"`

	// Dir is where the policy was read from: key files are relative to it.
	Dir string `yaml:"-" json:"-"`

	compiled *compiled
}

// Mode is what a policy's failures do.
type Mode string

// Modes.
const (
	Enforce Mode = "enforce"
	Warn    Mode = "warn"
	Audit   Mode = "audit"
)

// Modes lists the modes, as help and errors list them.
func Modes() []Mode { return []Mode{Enforce, Warn, Audit} }

// Unmatched is what happens to an image no rule matches.
type Unmatched string

// Unmatched choices.
const (
	Deny  Unmatched = "deny"
	Allow Unmatched = "allow"
)

// Namespaces scope a policy by namespace name, with globs ("team-*").
type Namespaces struct {
	// Include are the namespaces governed; empty means every namespace.
	Include []string `yaml:"include,omitempty" json:"include,omitempty"`
	// Exclude are exempted, even when included.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// Key is a public key in cosign's PEM format, from a file or inline.
type Key struct {
	// Name is how rules refer to the key.
	Name string `yaml:"name" json:"name"`
	// File is the key's path, relative to the policy file.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// PEM is the key itself.
	PEM string `yaml:"pem,omitempty" json:"pem,omitempty"`
}

// Rule is what images matching its patterns must prove.
type Rule struct {
	// Name names the rule in denials; default: rule N.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Images are the patterns the rule applies to: REGISTRY/REPOSITORY[:TAG], "*" within a path
	// component, "**" across components (registry.example.com/gold/**).
	Images []string `yaml:"images" json:"images" jsonschema:"minItems=1"`
	// Signature requires a signature by one of the keys, in either format.
	Signature *SignatureRequirement `yaml:"signature,omitempty" json:"signature,omitempty"`
	// Attestations are required on every platform image, each verified and meeting its condition.
	Attestations []AttestationRequirement `yaml:"attestations,omitempty" json:"attestations,omitempty"`
	// Catalog requires the image to be a current version in ingot's catalog.
	Catalog *CatalogRequirement `yaml:"catalog,omitempty" json:"catalog,omitempty"`
}

// SignatureRequirement requires a signature.
type SignatureRequirement struct {
	// Keys are names of the policy's keys; a signature by any one of them is enough.
	Keys []string `yaml:"keys" json:"keys" jsonschema:"minItems=1"`
	// Formats are the signature formats read: legacy (cosign's .sig tags), bundle (sigstore bundles
	// as OCI referrers) or both (the default).
	Formats string `yaml:"formats,omitempty" json:"formats,omitempty" jsonschema:"enum=legacy,enum=bundle,enum=both"`
}

// AttestationRequirement requires an attestation of one type on every platform image.
type AttestationRequirement struct {
	// Type is the in-toto predicate type: a URI, or a short name (slsaprovenance1, vuln, spdxjson,
	// cyclonedx, lint, test).
	Type string `yaml:"type" json:"type"`
	// Keys are the keys that may sign it; default: the signature requirement's keys.
	Keys []string `yaml:"keys,omitempty" json:"keys,omitempty"`
	// Condition is a CEL expression over the attestation that must be true: predicate (the
	// predicate's JSON), predicateType, subject ({digest, platform, image}) and now (a timestamp)
	// are defined. Empty: any verified attestation of the type.
	Condition string `yaml:"condition,omitempty" json:"condition,omitempty"`
}

// CatalogRequirement requires a current version in the catalog: known, not revoked, not at its end
// of life, and optionally not deprecated past a grace period and scanned recently.
type CatalogRequirement struct {
	// Image is the catalog's image name; default: the last component of the repository.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// DeprecatedGrace denies a deprecated version once it has been deprecated this long ("0s": at
	// once); without it deprecated versions are admitted.
	DeprecatedGrace *Duration `yaml:"deprecatedGrace,omitempty" json:"deprecatedGrace,omitempty"`
	// MaxScanAge denies a version whose last vulnerability scan (in the catalog: re-scans are not
	// re-attested) of any platform image is older than this ("24h").
	MaxScanAge *Duration `yaml:"maxScanAge,omitempty" json:"maxScanAge,omitempty"`
}

// Duration is a Go duration written as a string: "90s", "24h", "168h".
type Duration struct{ time.Duration }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: a duration is a string such as \"24h\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as \"24h\"", n.Line, s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Load reads a policy file strictly, loads its keys (relative to the file) and compiles it.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading policy: %w", err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	p, err := Parse(data, abs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse decodes one YAML document strictly (an unknown field is an error), validates it, reads its
// keys (files relative to dir) and compiles its patterns and conditions.
func Parse(data []byte, dir string) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the policy is empty", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: a policy file holds exactly one YAML document", ErrInvalid)
	}
	p.Dir = dir
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// SetDefaults fills what a policy may leave out: enforce, deny unmatched images, rule names.
func (p *Policy) SetDefaults() {
	if p.Mode == "" {
		p.Mode = Enforce
	}
	if p.Unmatched == "" {
		p.Unmatched = Deny
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule %d", i+1)
		}
		for j := range r.Attestations {
			if len(r.Attestations[j].Keys) == 0 && r.Signature != nil {
				r.Attestations[j].Keys = r.Signature.Keys
			}
		}
	}
}

// keyVerifiers loads every key of the policy.
func (p *Policy) keyVerifiers() (map[string]sign.Verifier, error) {
	out := map[string]sign.Verifier{}
	for i, k := range p.Keys {
		field := fmt.Sprintf("keys[%d]", i)
		data := []byte(k.PEM)
		if k.File != "" {
			path := k.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(p.Dir, path)
			}
			b, err := os.ReadFile(path) //nolint:gosec // G304: the policy names its key files, by design
			if err != nil {
				return nil, &FieldError{Field: field + ".file", Reason: err.Error()}
			}
			data = b
		}
		v, err := sign.LoadPublicKey(data)
		if err != nil {
			return nil, &FieldError{Field: field, Reason: fmt.Sprintf("key %q: %v", k.Name, err)}
		}
		out[k.Name] = v
	}
	return out, nil
}
