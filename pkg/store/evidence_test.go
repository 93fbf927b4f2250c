package store_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/store"
)

// sampleSet is an evidence set with every document, its findings out of the order ingot renders
// them in.
func sampleSet(d v1.Hash) *evidence.Set {
	img := evidence.Image{Ref: "app:1", Digest: d.String()}
	low := evidence.Finding{Kind: evidence.KindVulnerability, ID: "CVE-2099-2", Severity: evidence.SeverityLow, Status: evidence.StatusAffected}
	high := evidence.Finding{Kind: evidence.KindVulnerability, ID: "CVE-2099-1", Severity: evidence.SeverityHigh, Status: evidence.StatusAffected}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	return &evidence.Set{
		Inventory:  &evidence.Inventory{Image: img, Packages: []evidence.Package{{Name: "base-files", Version: "12.4", Type: "deb"}}},
		Vulns:      &evidence.Report{Image: img, Tool: "ingot scan", Findings: []evidence.Finding{low, high}},
		Scan:       &evidence.ScanRecord{Scanner: "ingot devel", DBURI: "/data", DBVersion: "2026-01-02T03:04:05Z", Started: at, Finished: at.Add(time.Second)},
		Secrets:    evidence.Report{Image: img, Tool: "ingot secrets", Findings: []evidence.Finding{}},
		Lint:       evidence.Report{Image: img, Tool: "ingot lint", Findings: []evidence.Finding{{Kind: evidence.KindRule, ID: "INGOT-H001", Status: evidence.StatusPassed}}},
		Tests:      &evidence.Report{Image: img, Tool: "ingot test", Findings: []evidence.Finding{}},
		SPDX:       json.RawMessage(`{"spdxVersion":"SPDX-2.3"}`),
		CycloneDX:  json.RawMessage(`{"bomFormat":"CycloneDX"}`),
		Provenance: json.RawMessage(`{"buildDefinition":{}}`),
	}
}

// TestEvidenceRoundTrip: what WriteEvidence renders, ReadEvidence reads back (found by digest under
// any name), with the reports' findings in the order ingot renders them; the set written is left as
// it was.
func TestEvidenceRoundTrip(t *testing.T) {
	st := store.Store{Root: t.TempDir()}
	d := v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	set := sampleSet(d)
	if _, err := st.ReadEvidence(d); !errors.Is(err, store.ErrNoEvidence) {
		t.Fatalf("ReadEvidence before anything was written = %v, want ErrNoEvidence", err)
	}
	if err := st.WriteEvidence("app", d, set); err != nil {
		t.Fatal(err)
	}
	if set.Vulns.Findings[0].ID != "CVE-2099-2" {
		t.Error("WriteEvidence reordered the findings of the set it was given")
	}
	got, err := st.ReadEvidence(d)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleSet(d)
	want.Vulns.Findings[0], want.Vulns.Findings[1] = want.Vulns.Findings[1], want.Vulns.Findings[0]
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	var g, w any
	_ = json.Unmarshal(gotJSON, &g)
	_ = json.Unmarshal(wantJSON, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("read back\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	for _, f := range []string{store.SPDXFile, store.CycloneDXFile, store.InventoryFile, store.VulnsFile, store.ScanFile, store.SecretsFile, store.LintFile, store.TestsFile, store.ProvenanceFile} {
		if _, err := os.Stat(filepath.Join(st.EvidenceDir("app", d), f)); err != nil {
			t.Errorf("%s not rendered: %v", f, err)
		}
	}
}

// TestReadEvidenceDamaged: a document every set has that is missing, or any document that does not
// parse, is an error, never a set with a hole in it.
func TestReadEvidenceDamaged(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"}
	for _, tc := range []struct {
		name string
		edit func(dir string) error
		want error
	}{
		{"no lint", func(dir string) error { return os.Remove(filepath.Join(dir, store.LintFile)) }, store.ErrEvidenceDamaged},
		{"no inventory", func(dir string) error { return os.Remove(filepath.Join(dir, store.InventoryFile)) }, store.ErrEvidenceDamaged},
		{"SBOM cut short", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, store.SPDXFile), []byte(`{"spdxVersion": `), 0o644)
		}, store.ErrEvidenceDamaged},
		{"scan record of another shape", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, store.ScanFile), []byte(`{"started": 3}`), 0o644)
		}, store.ErrEvidenceDamaged},
		{"no provenance is fine", func(dir string) error { return os.Remove(filepath.Join(dir, store.ProvenanceFile)) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.Store{Root: t.TempDir()}
			if err := st.WriteEvidence("app", d, sampleSet(d)); err != nil {
				t.Fatal(err)
			}
			if err := tc.edit(st.EvidenceDir("app", d)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.ReadEvidence(d); !errors.Is(err, tc.want) {
				t.Errorf("ReadEvidence = %v, want %v", err, tc.want)
			}
		})
	}
}
