package vuln

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// CosignVulnPredicateType is the in-toto predicate type cosign uses for vulnerability scans
// (cosign attest --type vuln; cosign verify-attestation --type vuln).
const CosignVulnPredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"

// CosignVulnPredicate is cosign's vuln predicate, field for field (pkg/cosign/attestation).
type CosignVulnPredicate struct {
	Invocation Invocation `json:"invocation"`
	Scanner    Scanner    `json:"scanner"`
	Metadata   Metadata   `json:"metadata"`
}

// Invocation says how the scan ran.
type Invocation struct {
	Parameters any    `json:"parameters"`
	URI        string `json:"uri"`
	EventID    string `json:"event_id"`
	BuilderID  string `json:"builder.id"`
}

// ScannerDB names the vulnerability data.
type ScannerDB struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// Scanner is the tool and its result.
type Scanner struct {
	URI     string    `json:"uri"`
	Version string    `json:"version"`
	DB      ScannerDB `json:"db"`
	Result  any       `json:"result"`
}

// Metadata holds the scan's times.
type Metadata struct {
	ScanStartedOn  time.Time `json:"scanStartedOn"`
	ScanFinishedOn time.Time `json:"scanFinishedOn"`
}

// PredicateOptions describe the scan for the predicate.
type PredicateOptions struct {
	ScannerVersion    string
	DBURI, DBVersion  string
	Started, Finished time.Time
	Parameters        any
}

// CosignPredicate renders a scan report as cosign's vuln predicate; the result is the report itself,
// so the findings (with VEX status, and raw severities: unknown stays unknown) and the coverage (what
// data each ecosystem was checked against, and which were not checked) travel with the attestation.
// The coverage goes in scanner.result, not beside it: cosign's own type for this predicate has only
// uri, version, db and result in scanner, and cosign attest --type vuln decodes a predicate into that
// type and encodes it again, so any other field of scanner would be dropped; result is free-form.
func CosignPredicate(r evidence.Report, opt PredicateOptions) ([]byte, error) {
	if r.Findings == nil {
		r.Findings = []evidence.Finding{}
	}
	p := CosignVulnPredicate{
		Invocation: Invocation{Parameters: opt.Parameters, URI: "https://github.com/ingot-build/ingot", BuilderID: "ingot"},
		Scanner: Scanner{
			URI:     "https://github.com/ingot-build/ingot",
			Version: opt.ScannerVersion,
			DB:      ScannerDB{URI: opt.DBURI, Version: opt.DBVersion},
			Result:  r,
		},
		Metadata: Metadata{ScanStartedOn: opt.Started.UTC(), ScanFinishedOn: opt.Finished.UTC()},
	}
	if p.Invocation.Parameters == nil {
		p.Invocation.Parameters = []string{}
	}
	return json.MarshalIndent(p, "", "  ")
}

// NewScanRecord describes a scan with the given data, for the evidence of an image: the DB URI
// lists the sources' origins, the version is the newest import time (as ingot scan -o cosign-vuln
// says it).
func NewScanRecord(scanner string, sources []SourceStatus, vex []string, started, finished time.Time) evidence.ScanRecord {
	var origins []string
	var newest time.Time
	for _, s := range sources {
		o := s.Origin
		if o == "" {
			o = s.Name
		}
		origins = append(origins, o)
		if s.Imported.After(newest) {
			newest = s.Imported
		}
	}
	slices.Sort(origins)
	r := evidence.ScanRecord{Scanner: scanner, DBURI: strings.Join(slices.Compact(origins), " "), VEX: vex, Started: started.UTC(), Finished: finished.UTC()}
	if !newest.IsZero() {
		r.DBVersion = newest.UTC().Format(time.RFC3339)
	}
	return r
}
