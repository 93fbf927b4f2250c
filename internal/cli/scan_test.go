package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// debianAdvisory affects the source package foo (whose binary libfoo1 1:2.0~rc1-1 the fixture
// installs) before 1:2.0-1: the tilde version sorts below the fix.
const debianAdvisory = `{
  "id": "DEBIAN-CVE-2024-1111",
  "aliases": ["CVE-2024-1111"],
  "summary": "heap overflow in foo",
  "modified": "2024-05-01T00:00:00Z",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{
    "package": {"ecosystem": "Debian", "name": "foo"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:2.0-1"}]}]
  }]
}`

// fixedAdvisory was fixed before the installed version, and must not match.
const fixedAdvisory = `{
  "id": "DEBIAN-CVE-2023-2222",
  "modified": "2024-05-01T00:00:00Z",
  "affected": [{
    "package": {"ecosystem": "Debian", "name": "foo"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.9-1"}]}]
  }]
}`

func TestScan(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}

	// Without data, scanning says what to do.
	if _, _, err := run(t, "--data-dir", data, "scan", "fixture:1.0"); err == nil || !strings.Contains(err.Error(), "ingot db import") {
		t.Fatalf("scan without data = %v", err)
	}

	osv := t.TempDir()
	for name, body := range map[string]string{"a.json": debianAdvisory, "b.json": fixedAdvisory} {
		if err := os.WriteFile(filepath.Join(osv, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := store.Store{Root: data}.VulnDB()
	if _, err := db.Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, err := run(t, "--data-dir", data, "scan", "fixture:1.0", "-o", "json")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var r evidence.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 {
		t.Fatalf("findings = %+v, want exactly DEBIAN-CVE-2024-1111", r.Findings)
	}
	f := r.Findings[0]
	if f.ID != "DEBIAN-CVE-2024-1111" && f.ID != "CVE-2024-1111" {
		t.Errorf("finding ID = %s", f.ID)
	}
	if f.Package == nil || f.Package.Name != "libfoo1" || f.Package.Version != "1:2.0~rc1-1" || f.Package.Source != "foo" {
		t.Errorf("finding package = %+v, want libfoo1 1:2.0~rc1-1 through source foo", f.Package)
	}
	if f.FixedVersion != "1:2.0-1" || f.Severity != evidence.SeverityCritical || f.Status != evidence.StatusAffected {
		t.Errorf("finding = %+v", f)
	}

	// --fail-on: critical fails with exit code 3, and the same finding VEX'd not_affected does not.
	_, _, err = run(t, "--data-dir", data, "scan", "fixture:1.0", "--fail-on", "high")
	if ExitCode(err) != ExitFindings {
		t.Errorf("--fail-on high: err %v, exit %d; want %d", err, ExitCode(err), ExitFindings)
	}
	vexDoc := filepath.Join(t.TempDir(), "vex.json")
	vexBody := `{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "me",
	  "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": [{
	    "vulnerability": {"name": "CVE-2024-1111"}, "products": [{"@id": "` + f.Package.PURL + `"}],
	    "status": "not_affected", "justification": "vulnerable_code_not_present"}]}`
	if err := os.WriteFile(vexDoc, []byte(vexBody), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = run(t, "--data-dir", data, "scan", "fixture:1.0", "--fail-on", "high", "--vex", vexDoc)
	if err != nil {
		t.Errorf("a VEX'd finding still fails the scan: %v", err)
	}
	if !strings.Contains(stdout, "not_affected") || !strings.Contains(stdout, "vulnerable_code_not_present") {
		t.Errorf("the table does not show the VEX status and justification:\n%s", stdout)
	}

	// The cosign vuln predicate carries the report.
	stdout, _, err = run(t, "--data-dir", data, "scan", "fixture:1.0", "-o", "cosign-vuln")
	if err != nil {
		t.Fatal(err)
	}
	var pred vuln.CosignVulnPredicate
	if err := json.Unmarshal([]byte(stdout), &pred); err != nil || pred.Scanner.URI == "" {
		t.Errorf("cosign-vuln output: %v\n%s", err, stdout)
	}

	// Scanning the image's own SPDX document finds the same.
	sbomFile := filepath.Join(t.TempDir(), "sbom.spdx.json")
	stdout, _, err = run(t, "--data-dir", data, "sbom", "fixture:1.0", "-o", "spdx-json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sbomFile, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = run(t, "--data-dir", data, "scan", "--sbom", sbomFile, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fromSBOM evidence.Report
	if err := json.Unmarshal([]byte(stdout), &fromSBOM); err != nil {
		t.Fatal(err)
	}
	if len(fromSBOM.Findings) != 1 || fromSBOM.Findings[0].ID != f.ID {
		t.Errorf("scan --sbom found %+v, want %s", fromSBOM.Findings, f.ID)
	}

	if _, _, err := run(t, "--data-dir", data, "scan"); ExitCode(err) != ExitUsage {
		t.Errorf("scan with no image: exit %d, want %d", ExitCode(err), ExitUsage)
	}
}
