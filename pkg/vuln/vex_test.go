package vuln

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func vexFinding(id, name, version string, aliases ...string) evidence.Finding {
	return evidence.Finding{
		Kind: evidence.KindVulnerability, ID: id, Aliases: aliases, Severity: evidence.SeverityHigh, Status: evidence.StatusAffected,
		Package: &evidence.PackageRef{Name: name, Version: version, Type: evidence.TypeDeb,
			PURL: "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-12"},
	}
}

func TestApplyVEX(t *testing.T) {
	docs, err := LoadVEX("testdata/vex/image.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	img := evidence.Image{Ref: "static:1", Digest: "sha256:" + strings.Repeat("a", 64)}
	for _, tc := range []struct {
		name       string
		f          evidence.Finding
		img        evidence.Image
		wantStatus string
		wantReason string
	}{
		{"image product with the package as subcomponent", vexFinding("CVE-2024-0001", "libssl3", "3.0.11-1"), img, evidence.StatusNotAffected, "vulnerable_code_not_in_execute_path: the image never calls the affected API"},
		{"same statement, another image", vexFinding("CVE-2024-0001", "libssl3", "3.0.11-1"), evidence.Image{Ref: "static:2", Digest: "sha256:" + strings.Repeat("b", 64)}, evidence.StatusAffected, ""},
		{"same statement, another package", vexFinding("CVE-2024-0001", "libc6", "2.36-9"), img, evidence.StatusAffected, ""},
		{"package product, fixed", vexFinding("CVE-2024-0002", "zlib1g", "1:1.2.13.dfsg-1"), img, evidence.StatusFixed, "fixed"},
		{"matched through an alias, image digest product", vexFinding("CVE-2024-0003", "libc6", "2.36-9", "GHSA-xxxx-yyyy-zzzz"), img, evidence.StatusNotAffected, "component_not_present"},
		{"under investigation keeps counting", vexFinding("CVE-2024-0004", "libc6", "2.36-9"), img, evidence.StatusAffected, "vex: under_investigation"},
		{"the latest statement wins", vexFinding("CVE-2024-0005", "libc6", "2.36-9"), img, evidence.StatusAffected, "vex: affected"},
		{"no statement", vexFinding("CVE-2024-9999", "libc6", "2.36-9"), img, evidence.StatusAffected, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ApplyVEX([]evidence.Finding{tc.f}, docs, tc.img)[0]
			if got.Status != tc.wantStatus || got.Reason != tc.wantReason {
				t.Errorf("status %q reason %q, want %q %q", got.Status, got.Reason, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestApplyVEXLeavesInputAlone(t *testing.T) {
	docs, err := LoadVEX("testdata/vex/image.openvex.json")
	if err != nil {
		t.Fatal(err)
	}
	in := []evidence.Finding{vexFinding("CVE-2024-0002", "zlib1g", "1:1.2.13.dfsg-1")}
	_ = ApplyVEX(in, docs, evidence.Image{})
	if in[0].Status != evidence.StatusAffected {
		t.Error("ApplyVEX changed its input")
	}
}

func TestLoadVEXErrors(t *testing.T) {
	if _, err := LoadVEX("testdata/vex/missing.json"); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadVEX of a missing file = %v", err)
	}
}

func TestCosignPredicate(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := evidence.Report{Image: evidence.Image{Digest: "sha256:" + strings.Repeat("a", 64)}, Findings: []evidence.Finding{vexFinding("CVE-2024-0001", "libssl3", "3.0.11-1")}}
	data, err := CosignPredicate(r, PredicateOptions{ScannerVersion: "1.0", DBURI: "osv", DBVersion: "2026-01-01", Started: start, Finished: start.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	// The field names cosign's own struct uses.
	var p struct {
		Invocation struct {
			Parameters any    `json:"parameters"`
			BuilderID  string `json:"builder.id"`
		} `json:"invocation"`
		Scanner struct {
			URI, Version string
			DB           struct{ URI, Version string } `json:"db"`
			Result       evidence.Report               `json:"result"`
		} `json:"scanner"`
		Metadata struct {
			ScanStartedOn  time.Time `json:"scanStartedOn"`
			ScanFinishedOn time.Time `json:"scanFinishedOn"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Invocation.BuilderID != "ingot" || p.Scanner.Version != "1.0" || p.Scanner.DB.Version != "2026-01-01" ||
		!p.Metadata.ScanStartedOn.Equal(start) || len(p.Scanner.Result.Findings) != 1 || p.Invocation.Parameters == nil {
		t.Errorf("predicate = %s", data)
	}
}
