package report

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// sarifSchema compiles the OASIS SARIF 2.1.0 schema (errata 01), kept in testdata: what GitHub code
// scanning and other consumers check uploads against.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSARIFValidates: every SARIF ingot writes, with suppressed (VEX'd, waived) findings, coverage
// and an index's runs, is valid SARIF 2.1.0.
func TestSARIFValidates(t *testing.T) {
	schema := sarifSchema(t)
	waived := sample()
	waived.Findings = append(waived.Findings, evidence.Finding{Kind: evidence.KindRule, ID: "INGOT-H004", Severity: evidence.SeverityMedium, Status: evidence.StatusWaived, Reason: "ping needs setuid"})
	waived.Coverage = []evidence.Coverage{{Ecosystem: "Debian:12", Packages: 3}}
	cases := map[string]func(*bytes.Buffer) error{
		"image": func(b *bytes.Buffer) error { return Write(b, FormatSARIF, waived) },
		"empty": func(b *bytes.Buffer) error { return Write(b, FormatSARIF, evidence.Report{Tool: "ingot lint"}) },
		"index": func(b *bytes.Buffer) error {
			return WriteIndex(b, FormatSARIF, Index{Ref: "app:1", Digest: "sha256:iii"}, []Platform{
				{Platform: "linux/amd64", Report: waived}, {Platform: "linux/arm64", Report: sample()},
			})
		},
	}
	for name, write := range cases {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s: not valid SARIF 2.1.0: %v", name, err)
		}
	}
}
