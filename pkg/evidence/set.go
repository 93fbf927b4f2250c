package evidence

import (
	"encoding/json"
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
