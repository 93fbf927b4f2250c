package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func sample() evidence.Report {
	return evidence.Report{
		Image: evidence.Image{Ref: "static:1"},
		Tool:  "ingot scan",
		Findings: []evidence.Finding{
			{Kind: evidence.KindVulnerability, ID: "CVE-2024-2", Severity: evidence.SeverityLow, Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "zlib1g", Version: "1.2"}},
			{Kind: evidence.KindVulnerability, ID: "CVE-2024-1", Severity: evidence.SeverityCritical, Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "libssl3", Version: "3.0.1"}, FixedVersion: "3.0.2", References: []string{"https://example.com/CVE-2024-1"}},
			{Kind: evidence.KindVulnerability, ID: "CVE-2024-3", Severity: evidence.SeverityHigh, Status: evidence.StatusNotAffected, Reason: "vulnerable_code_not_in_execute_path", Package: &evidence.PackageRef{Name: "libc6", Version: "2.36"}},
			{Kind: evidence.KindSecret, ID: "aws-access-key", Severity: evidence.SeverityHigh, Status: evidence.StatusAffected, Title: "AWS access key", Locations: []evidence.Location{{Path: "/app/.env", Line: 3}}},
		},
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, FormatTable, sample()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("table has %d lines:\n%s", len(lines), b.String())
	}
	// Most severe first, the VEX'd finding after those that count, then the summary.
	for i, want := range []string{"SEVERITY", "CRITICAL  CVE-2024-1", "HIGH      aws-access-key", "LOW       CVE-2024-2", "HIGH      CVE-2024-3", "static:1: 1 critical, 1 high, 1 low"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[1], "3.0.2") || !strings.Contains(lines[4], "vulnerable_code_not_in_execute_path") {
		t.Errorf("fix version or VEX reason missing:\n%s", b.String())
	}
}

func TestTableSaysWhyARuleFailed(t *testing.T) {
	r := evidence.Report{Findings: []evidence.Finding{
		{Kind: evidence.KindRule, ID: "INGOT-H002", Title: "no shell", Severity: evidence.SeverityMedium, Status: evidence.StatusFailed, Detail: map[string]string{"found": "/bin/sh, /bin/bash"}},
		{Kind: evidence.KindTest, ID: "greets", Title: "greets", Description: "stdout did not match Hello", Severity: evidence.SeverityHigh, Status: evidence.StatusFailed},
		{Kind: evidence.KindRule, ID: "INGOT-H001", Title: "not root", Severity: evidence.SeverityHigh, Status: evidence.StatusPassed},
	}}
	var b bytes.Buffer
	if err := Write(&b, FormatTable, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/bin/sh, /bin/bash", "stdout did not match Hello", "not root"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, FormatJSON, sample()); err != nil {
		t.Fatal(err)
	}
	var r evidence.Report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 4 || r.Findings[0].ID != "CVE-2024-1" || r.Findings[0].Severity != evidence.SeverityCritical {
		t.Errorf("decoded %+v", r.Findings)
	}
	b.Reset()
	if err := Write(&b, FormatJSON, evidence.Report{}); err != nil || !strings.Contains(b.String(), `"findings": []`) {
		t.Errorf("an empty report should list no findings as [], got %s", b.String())
	}
}

func TestSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, FormatSARIF, sample()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID       string `json:"ruleId"`
				Level        string `json:"level"`
				Suppressions []any  `json:"suppressions"`
				Locations    []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "ingot scan" {
		t.Fatalf("unexpected SARIF envelope: %s", b.String())
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != 4 || len(run.Results) != 4 {
		t.Errorf("rules %d, results %d; want 4 and 4", len(run.Tool.Driver.Rules), len(run.Results))
	}
	if run.Results[0].RuleID != "CVE-2024-1" || run.Results[0].Level != "error" {
		t.Errorf("first result = %+v", run.Results[0])
	}
	secret := run.Results[1]
	if secret.Locations[0].PhysicalLocation.ArtifactLocation.URI != "app/.env" || secret.Locations[0].PhysicalLocation.Region.StartLine != 3 {
		t.Errorf("secret location = %+v", secret.Locations)
	}
	if len(run.Results[3].Suppressions) != 1 {
		t.Errorf("the VEX'd finding is not suppressed: %+v", run.Results[3])
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "xml", sample()); err == nil {
		t.Error("accepted an unknown format")
	}
}
