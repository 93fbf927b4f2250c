package evidence

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Set is everything the evidence stages recorded for one image: its inventory, the findings of each
// stage, how the scan ran, and the documents rendered at build time (attested exactly as recorded).
type Set struct {
	Inventory *Inventory `json:"inventory"`
	// Vulns is nil when the image was not scanned (no vulnerability data).
	Vulns *Report `json:"vulns,omitempty"`
	// Scan says how the vulnerability scan ran; nil when not scanned.
	Scan    *ScanRecord `json:"scan,omitempty"`
	Secrets Report      `json:"secrets"`
	Lint    Report      `json:"lint"`
	// Tests is nil when no structure tests ran.
	Tests *Report `json:"tests,omitempty"`
	// SPDX and CycloneDX are the SBOM documents; Provenance the SLSA provenance v1 predicate (absent
	// for an image ingot did not build).
	SPDX       json.RawMessage `json:"spdx,omitempty"`
	CycloneDX  json.RawMessage `json:"cyclonedx,omitempty"`
	Provenance json.RawMessage `json:"provenance,omitempty"`
}

// ScanRecord says how a vulnerability scan ran: what cosign's vuln predicate needs besides the
// findings.
type ScanRecord struct {
	// Scanner is the version of ingot that scanned.
	Scanner string `json:"scanner"`
	// DBURI names the vulnerability data (its sources' origins); DBVersion is when it was imported.
	DBURI     string `json:"dbURI"`
	DBVersion string `json:"dbVersion"`
	// VEX are the OpenVEX documents applied, as the spec names them.
	VEX []string `json:"vex,omitempty"`
	// Started and Finished are the scan's real times, in UTC.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Summary is one line for people: packages, findings that count (with the level unknown
// severities were counted at), what was not checked for vulnerabilities, rules and tests.
func (s *Set) Summary() string {
	count := func(r *Report) int {
		if r == nil {
			return 0
		}
		n := 0
		for _, f := range r.Findings {
			if f.Counts() {
				n++
			}
		}
		return n
	}
	packages := 0
	if s.Inventory != nil {
		packages = len(s.Inventory.Packages)
	}
	parts := []string{fmt.Sprintf("%d packages", packages)}
	switch {
	case s.Vulns == nil:
		parts = append(parts, "not scanned (no vulnerability data imported)")
	case count(s.Vulns) == 0:
		parts = append(parts, "0 vulnerabilities")
	default:
		v := fmt.Sprintf("%d vulnerabilities (worst %s", count(s.Vulns), s.Vulns.Worst())
		if n := s.Vulns.UnknownCounted(); n > 0 {
			v += fmt.Sprintf("; %d of unknown severity counted as %s", n, s.Vulns.UnknownAs)
		}
		parts = append(parts, v+")")
	}
	if s.Vulns != nil {
		var un []string
		for _, c := range Unchecked(s.Vulns.Coverage) {
			un = append(un, c.String())
		}
		if len(un) > 0 {
			parts = append(parts, "not checked: "+strings.Join(un, ", "))
		}
	}
	parts = append(parts, fmt.Sprintf("%d secrets", count(&s.Secrets)))
	passed := 0
	for _, f := range s.Lint.Findings {
		if f.Status == StatusPassed {
			passed++
		}
	}
	parts = append(parts, fmt.Sprintf("%d/%d rules passed", passed, len(s.Lint.Findings)))
	if s.Tests != nil {
		parts = append(parts, fmt.Sprintf("%d/%d tests passed", len(s.Tests.Findings)-count(s.Tests), len(s.Tests.Findings)))
	}
	return strings.Join(parts, ", ")
}
