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

// scanned is a scan report of a Debian image with only Go data imported: one Go finding rated
// through an alias, one nobody rated, and Debian's packages not checked at all.
func scanned() evidence.Report {
	return evidence.Report{
		Image:     evidence.Image{Ref: "app:1"},
		Tool:      "ingot scan",
		UnknownAs: evidence.SeverityHigh,
		Findings: []evidence.Finding{
			{Kind: evidence.KindVulnerability, ID: "GO-2023-1571", Severity: evidence.SeverityHigh, SeveritySource: "GHSA-vvpx-j8f3-3w6h (CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H)", Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "stdlib", Version: "go1.19.5"}},
			{Kind: evidence.KindVulnerability, ID: "GO-2099-0003", Severity: evidence.SeverityUnknown, Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "example.com/unrated", Version: "v1.0.0"}},
		},
		Coverage: []evidence.Coverage{
			{Ecosystem: "Debian:12", Packages: 96, Reason: "no data for Debian:12 or Debian"},
			{Ecosystem: "Go", Packages: 3, Sources: []evidence.CoverageSource{{Name: "Go", Ecosystem: "Go", Records: 4291}}},
		},
	}
}

// TestCoverageRendered: every rendering says what was not checked and how unknown severities were
// counted, and keeps the raw severity.
func TestCoverageRendered(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, FormatTable, scanned()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"app:1: 1 high, 1 unknown (counted as high); 96 of 99 packages not checked\n",
		"not checked: Debian:12 (96 packages, no data for Debian:12 or Debian)\n",
		"checked: Go (3 packages, against Go: 4291 Go records)\n",
		"UNKNOWN   GO-2099-0003",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}

	b.Reset()
	if err := Write(&b, FormatJSON, scanned()); err != nil {
		t.Fatal(err)
	}
	var r evidence.Report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Coverage) != 2 || r.Coverage[0].Checked() || r.UnknownAs != evidence.SeverityHigh || r.Findings[1].Severity != evidence.SeverityUnknown || r.Findings[0].SeveritySource == "" {
		t.Errorf("JSON lost coverage, unknownAs or a severity:\n%s", b.String())
	}

	b.Reset()
	if err := Write(&b, FormatSARIF, scanned()); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool `json:"executionSuccessful"`
				ToolExecutionNotifications []struct {
					Level   string `json:"level"`
					Message struct{ Text string }
				} `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Properties struct {
				Coverage  []evidence.Coverage `json:"coverage"`
				UnknownAs string              `json:"unknownAs"`
			} `json:"properties"`
			Results []struct {
				RuleID     string            `json:"ruleId"`
				Level      string            `json:"level"`
				Properties map[string]string `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Invocations) != 1 || !run.Invocations[0].ExecutionSuccessful || len(run.Invocations[0].ToolExecutionNotifications) != 1 ||
		run.Invocations[0].ToolExecutionNotifications[0].Level != "warning" ||
		!strings.Contains(run.Invocations[0].ToolExecutionNotifications[0].Message.Text, "not checked: Debian:12 (96 packages") {
		t.Errorf("SARIF invocation does not warn that Debian was not checked: %+v", run.Invocations)
	}
	if len(run.Properties.Coverage) != 2 || run.Properties.UnknownAs != "high" {
		t.Errorf("SARIF run properties = %+v", run.Properties)
	}
	for _, res := range run.Results {
		switch res.RuleID {
		case "GO-2023-1571":
			if !strings.HasPrefix(res.Properties["severitySource"], "GHSA-vvpx-j8f3-3w6h") {
				t.Errorf("SARIF result %s does not say where its severity came from: %+v", res.RuleID, res.Properties)
			}
		case "GO-2099-0003":
			if res.Level != "note" {
				t.Errorf("the raw unknown severity became level %s in SARIF", res.Level)
			}
		}
	}
}
