package policy

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite policy.schema.json")

func TestLoadExample(t *testing.T) {
	p, err := Load("testdata/gold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Enforce || p.Unmatched != Deny || len(p.Rules) != 2 || p.Rules[1].Name != "pause" {
		t.Errorf("loaded %+v", p)
	}
	if got := p.Rules[0].Attestations[0].Keys; len(got) != 1 || got[0] != "release" {
		t.Errorf("attestation keys default to the signature's: %v", got)
	}
	if p.Rules[0].Catalog.MaxScanAge.Hours() != 24 || p.Rules[0].Catalog.DeprecatedGrace.Hours() != 168 {
		t.Errorf("catalog durations: %+v", p.Rules[0].Catalog)
	}
	if !p.InScope("default") || p.InScope("kube-system") {
		t.Error("namespace scope")
	}
}

func TestParseRefuses(t *testing.T) {
	base, err := os.ReadFile("testdata/gold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	for _, tc := range []struct {
		name, from, to string
		field          string // named in the error
	}{
		{"unknown field", "mode: enforce", "mode: enforce\nexempt-labels: {skip: \"true\"}", "exempt-labels"},
		{"typo in a rule", "    signature:", "    signatures:", "signatures"},
		{"bad mode", "mode: enforce", "mode: dryrun", "mode"},
		{"bad unmatched", "unmatched: deny", "unmatched: warn", "unmatched"},
		{"bad name", "name: gold", "name: Gold Policy", "name"},
		{"unknown key", "keys: [release]", "keys: [relase]", "rules[0].signature.keys[0]"},
		{"missing key file", "file: gold.pub", "file: nope.pub", "keys[0].file"},
		{"not a key", "file: gold.pub", "file: gold.yaml", "keys[0]"},
		{"file and pem", "file: gold.pub}", "file: gold.pub, pem: x}", "keys[0]"},
		{"unknown attestation type", "type: vuln", "type: vulnerabilities", "rules[0].attestations[0].type"},
		{"condition does not compile", `predicate.runDetails.builder.id == "https://ingot.build/builder/cli/v1"`, `predicate.runDetails.builder.id ==`, "rules[0].attestations[1].condition"},
		{"condition not a bool", `predicate.runDetails.builder.id == "https://ingot.build/builder/cli/v1"`, `1 + 1`, "want bool"},
		{"pattern without registry", `"registry.example.com/gold/**"`, `"gold/**"`, "rules[0].images[0]"},
		{"pattern with digest", `"registry.k8s.io/pause:3.*"`, `"registry.k8s.io/pause@sha256:abc"`, "rules[1].images[0]"},
		{"bad duration", "maxScanAge: 24h", "maxScanAge: 1d", "duration"},
		{"no rules", "rules:", "rulez:", "rulez"},
		{"two documents", "name: gold", "name: gold\n---\nname: other", "exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(base, []byte(tc.from)) {
				t.Fatalf("the example has no %q", tc.from)
			}
			data := bytes.Replace(base, []byte(tc.from), []byte(tc.to), 1)
			_, err := Parse(data, dir)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the error does not name %q: %v", tc.field, err)
			}
		})
	}
}

func TestSchemaUpToDate(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	want, err := Reflect("./pkg/policy")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("pkg", "policy", "policy.schema.json"), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(Schema(), want) {
		t.Error("policy.schema.json is stale: run go generate ./pkg/policy (or go test ./pkg/policy -update)")
	}
}

// TestSchemaAgreesWithParse: the example validates against the schema, and what the schema refuses
// (an unknown field, a bad enum value) Parse refuses too.
func TestSchemaAgreesWithParse(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := os.ReadFile("testdata/gold.yaml")
	dir, _ := filepath.Abs("testdata")
	for _, tc := range []struct {
		from, to string
		valid    bool
	}{
		{"", "", true},
		{"mode: enforce", "mode: dryrun", false},
		{"mode: enforce", "mode: enforce\nlabels: {}", false},
		{"maxScanAge: 24h", "maxScanAge: 24 hours", false},
	} {
		data := bytes.Replace(base, []byte(tc.from), []byte(tc.to), 1)
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		serr := schema.Validate(inst)
		_, perr := Parse(data, dir)
		if (serr == nil) != tc.valid || (perr == nil) != tc.valid {
			t.Errorf("%q -> %q: schema %v, parse %v; want valid %v", tc.from, tc.to, serr, perr, tc.valid)
		}
	}
}

// TestReadmePolicy: the policy the README shows is testdata/gold.yaml, which loads (TestLoadExample).
func TestReadmePolicy(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("testdata/gold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append([]byte("```yaml\n"), example...)) {
		t.Error("the README's policy is not testdata/gold.yaml")
	}
}
