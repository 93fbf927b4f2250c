package host

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/ingot-build/ingot/pkg/fault"
)

var update = flag.Bool("update", false, "rewrite policy.schema.json from the types")

func TestPolicySchema(t *testing.T) {
	// Comments are read relative to the module root.
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		t.Fatal(err)
	}
	want, err := reflectPolicySchema("./pkg/host")
	if cerr := os.Chdir(wd); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("policy.schema.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(PolicySchema(), want) {
		t.Fatal("policy.schema.json is stale: run go test ./pkg/host -run TestPolicySchema -update")
	}
}

const examplePolicy = `# agents every VM must run, and packages no image may contain
agents:
  - name: prometheus-node-exporter
    versions: ">=1.5, <2"
    why: fleet metrics
  - name: auditd
forbidden:
  - name: telnetd
    why: clear-text logins
`

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Agents) != 2 || p.Agents[0].Versions != ">=1.5, <2" || p.Forbidden[0].Name != "telnetd" {
		t.Errorf("parsed %+v", p)
	}
	// The schema accepts what the parser accepts.
	validate(t, examplePolicy, nil)

	for _, c := range []struct{ name, doc, says string }{
		{"unknown field", "agents:\n  - name: auditd\n    version: \">=1\"\n", "version"},
		{"bad range", "agents:\n  - name: auditd\n    versions: \"~>1\"\n", "agents[0].versions"},
		{"listed twice", "agents:\n  - name: auditd\nforbidden:\n  - name: auditd\n", "forbidden[0].name"},
		{"not a package name", "forbidden:\n  - name: Telnet Server\n", "forbidden[0].name"},
		{"empty", "", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(c.doc))
			if !errors.Is(err, ErrPolicy) || !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%v, want ErrPolicy naming %s", err, c.says)
			}
		})
	}
	// The schema refuses the unknown field and the bad name too.
	validate(t, "agents:\n  - name: auditd\n    version: \">=1\"\n", errors.New("additional"))
	validate(t, "forbidden:\n  - name: Telnet Server\n", errors.New("pattern"))
}

func validate(t *testing.T, doc string, wantErr error) {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(PolicySchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(PolicySchemaID, schema); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(PolicySchemaID)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate(v)
	switch {
	case wantErr == nil && err != nil:
		t.Errorf("schema refuses %q: %v", doc, err)
	case wantErr != nil && (err == nil || !strings.Contains(err.Error(), wantErr.Error())):
		t.Errorf("schema: %v, want an error about %s", err, wantErr)
	}
}
