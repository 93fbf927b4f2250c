package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Files of an image's evidence directory (<data>/evidence/<name>/<digest-hex>/) that FromEvidence
// reads; pipeline.Evidence.Write writes them.
const (
	ProvenanceFile = "provenance.json"
	SPDXFile       = "sbom.spdx.json"
	CycloneDXFile  = "sbom.cdx.json"
	VulnsFile      = "vulns.json"
	ScanFile       = "scan.json"
	LintFile       = "lint.json"
	TestsFile      = "tests.json"
)

var (
	// ErrNoEvidence means the evidence directory does not exist: the image was not built here.
	ErrNoEvidence = errors.New("attest: no evidence recorded for the image")
	// ErrIncomplete means a recorded document cannot be turned into its predicate: it is not valid, or
	// something it needs was not recorded (evidence from an older ingot; rebuild the image).
	ErrIncomplete = errors.New("attest: evidence incomplete")
)

// ScanRecord says how an image's vulnerability scan ran: what cosign's vuln predicate needs besides
// the findings. It is recorded beside vulns.json as scan.json.
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

// NewScanRecord describes a scan with the given data: the DB URI lists the sources' origins, the
// version is the newest import time (as ingot scan -o cosign-vuln says it).
func NewScanRecord(scanner string, sources []vuln.SourceStatus, vex []string, started, finished time.Time) ScanRecord {
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
	r := ScanRecord{Scanner: scanner, DBURI: strings.Join(slices.Compact(origins), " "), VEX: vex, Started: started.UTC(), Finished: finished.UTC()}
	if !newest.IsZero() {
		r.DBVersion = newest.UTC().Format(time.RFC3339)
	}
	return r
}

// FromEvidence reads an image's evidence directory and returns its predicates in a fixed order:
// provenance, SPDX, CycloneDX, vuln, lint, tests. Documents that were not recorded (no vulnerability
// data, no structure tests, evidence from before provenance was recorded) are left out; a recorded
// document that is not valid is an error.
func FromEvidence(dir string) ([]Predicate, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrNoEvidence, dir)
	}
	var out []Predicate
	add := func(typ string, data []byte) {
		out = append(out, Predicate{Type: typ, JSON: json.RawMessage(data)})
	}

	data, ok, err := readDoc(dir, ProvenanceFile)
	if err != nil {
		return nil, err
	}
	if ok {
		var p slsa.Provenance
		if err := protojson.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrIncomplete, ProvenanceFile, err)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrIncomplete, ProvenanceFile, err)
		}
		add(SLSAProvenanceV1, data)
	}

	for _, d := range []struct{ file, typ string }{{SPDXFile, SPDX}, {CycloneDXFile, CycloneDX}} {
		data, ok, err := readJSON(dir, d.file)
		if err != nil {
			return nil, err
		}
		if ok {
			add(d.typ, data)
		}
	}

	pred, ok, err := vulnPredicate(dir)
	if err != nil {
		return nil, err
	}
	if ok {
		add(Vuln, pred)
	}

	for _, d := range []struct{ file, typ string }{{LintFile, Lint}, {TestsFile, Tests}} {
		data, ok, err := readJSON(dir, d.file)
		if err != nil {
			return nil, err
		}
		if ok {
			add(d.typ, data)
		}
	}
	return out, nil
}

// vulnPredicate makes cosign's vuln predicate from vulns.json and scan.json.
func vulnPredicate(dir string) ([]byte, bool, error) {
	data, ok, err := readDoc(dir, VulnsFile)
	if err != nil || !ok {
		return nil, false, err
	}
	var r evidence.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrIncomplete, VulnsFile, err)
	}
	sdata, ok, err := readDoc(dir, ScanFile)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, fmt.Errorf("%w: %s has no %s beside it to say when and with which data the scan ran", ErrIncomplete, VulnsFile, ScanFile)
	}
	var sr ScanRecord
	if err := json.Unmarshal(sdata, &sr); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrIncomplete, ScanFile, err)
	}
	if sr.Started.IsZero() || sr.Finished.IsZero() {
		return nil, false, fmt.Errorf("%w: %s records no scan times", ErrIncomplete, ScanFile)
	}
	params := sr.VEX
	if params == nil {
		params = []string{}
	}
	pred, err := vuln.CosignPredicate(r, vuln.PredicateOptions{
		ScannerVersion: sr.Scanner, DBURI: sr.DBURI, DBVersion: sr.DBVersion,
		Started: sr.Started, Finished: sr.Finished, Parameters: params,
	})
	if err != nil {
		return nil, false, fmt.Errorf("vuln predicate: %w", err)
	}
	return pred, true, nil
}

// readJSON reads a document that must be valid JSON when present.
func readJSON(dir, name string) ([]byte, bool, error) {
	data, ok, err := readDoc(dir, name)
	if err != nil || !ok {
		return nil, false, err
	}
	if !json.Valid(data) {
		return nil, false, fmt.Errorf("%w: %s is not valid JSON", ErrIncomplete, name)
	}
	return data, true, nil
}

// readDoc reads one document; a missing one is reported as absent, not as an error.
func readDoc(dir, name string) ([]byte, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading evidence %s: %w", name, err)
	}
	return data, true, nil
}
