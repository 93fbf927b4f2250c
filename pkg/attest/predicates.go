package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// ErrIncomplete means a recorded document cannot be turned into its predicate: it is not valid, or
// something it needs was not recorded (evidence from an older ingot; rebuild the image).
var ErrIncomplete = errors.New("attest: evidence incomplete")

// Predicates renders the evidence of one image as its predicates, in a fixed order: provenance,
// SPDX, CycloneDX, vuln, lint, tests. What was not recorded (no vulnerability data, no structure
// tests, no provenance for an image ingot did not build) is left out; a recorded document that is
// not valid is an error, never a predicate with made-up content. The documents are attested as they
// were recorded; the reports are rendered as ingot writes them (findings sorted, an empty list for
// none), so that the predicates are the same whether the set comes from a build in memory, from the
// catalog or from the evidence directory.
func Predicates(set *evidence.Set) ([]Predicate, error) {
	if set == nil {
		return nil, fmt.Errorf("%w: no evidence", ErrIncomplete)
	}
	var out []Predicate
	add := func(typ string, data []byte) {
		out = append(out, Predicate{Type: typ, JSON: json.RawMessage(data)})
	}
	if len(set.Provenance) > 0 {
		var p slsa.Provenance
		if err := protojson.Unmarshal(set.Provenance, &p); err != nil {
			return nil, fmt.Errorf("%w: provenance: %w", ErrIncomplete, err)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%w: provenance: %w", ErrIncomplete, err)
		}
		add(SLSAProvenanceV1, set.Provenance)
	}
	for _, d := range []struct {
		typ, what string
		data      []byte
	}{{SPDX, "SPDX SBOM", set.SPDX}, {CycloneDX, "CycloneDX SBOM", set.CycloneDX}} {
		if len(d.data) == 0 {
			continue
		}
		if !json.Valid(d.data) {
			return nil, fmt.Errorf("%w: the %s is not valid JSON", ErrIncomplete, d.what)
		}
		add(d.typ, d.data)
	}
	if set.Vulns != nil {
		pred, err := vulnPredicate(*set.Vulns, set.Scan)
		if err != nil {
			return nil, err
		}
		add(Vuln, pred)
	}
	lint, err := reportJSON(set.Lint)
	if err != nil {
		return nil, err
	}
	add(Lint, lint)
	if set.Tests != nil {
		tests, err := reportJSON(*set.Tests)
		if err != nil {
			return nil, err
		}
		add(Tests, tests)
	}
	return out, nil
}

// reportJSON renders a report as ingot writes it (lint.json, tests.json): findings sorted, on a copy
// so the set is left as it was.
func reportJSON(r evidence.Report) ([]byte, error) {
	r.Findings = slices.Clone(r.Findings)
	var b bytes.Buffer
	if err := report.Write(&b, report.FormatJSON, r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// vulnPredicate makes cosign's vuln predicate from the scan's report and its record.
func vulnPredicate(r evidence.Report, sr *evidence.ScanRecord) ([]byte, error) {
	if sr == nil {
		return nil, fmt.Errorf("%w: the vulnerability report has no scan record to say when and with which data the scan ran", ErrIncomplete)
	}
	if sr.Started.IsZero() || sr.Finished.IsZero() {
		return nil, fmt.Errorf("%w: the scan record has no scan times", ErrIncomplete)
	}
	r.Findings = slices.Clone(r.Findings)
	report.Sort(r.Findings)
	params := sr.VEX
	if params == nil {
		params = []string{}
	}
	pred, err := vuln.CosignPredicate(r, vuln.PredicateOptions{
		ScannerVersion: sr.Scanner, DBURI: sr.DBURI, DBVersion: sr.DBVersion,
		Started: sr.Started, Finished: sr.Finished, Parameters: params,
	})
	if err != nil {
		return nil, fmt.Errorf("vuln predicate: %w", err)
	}
	return pred, nil
}
