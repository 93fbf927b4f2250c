package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/report"
)

// The documents of an image's evidence directory (<data>/evidence/<name>/<digest-hex>/): a rendering
// of its evidence.Set for people, other tools and fsck.
const (
	ProvenanceFile = "provenance.json"
	SPDXFile       = "sbom.spdx.json"
	CycloneDXFile  = "sbom.cdx.json"
	InventoryFile  = "inventory.json"
	VulnsFile      = "vulns.json"
	ScanFile       = "scan.json"
	SecretsFile    = "secrets.json"
	LintFile       = "lint.json"
	TestsFile      = "tests.json"
)

// ErrEvidenceDamaged means a recorded evidence directory lacks a document every evidence set has, or
// holds one that does not parse.
var ErrEvidenceDamaged = fault.New(fault.Internal, "store: recorded evidence is damaged")

// WriteEvidence renders the evidence of image name at digest d into its evidence directory,
// atomically: every document is written into a temporary directory that is renamed into place,
// replacing any earlier evidence of the same image. Reports are written as ingot renders them in
// json (findings sorted), without changing set.
func (s Store) WriteEvidence(name string, d v1.Hash, set *evidence.Set) error {
	dir := s.EvidenceDir(name, d)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := safefile.MkdirTemp(filepath.Dir(dir), "evidence")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // gone after the rename; a leftover is only clutter
	files := map[string][]byte{SPDXFile: set.SPDX, CycloneDXFile: set.CycloneDX}
	if set.Provenance != nil {
		files[ProvenanceFile] = set.Provenance
	}
	if set.Scan != nil {
		data, err := json.MarshalIndent(set.Scan, "", "  ")
		if err != nil {
			return err
		}
		files[ScanFile] = append(data, '\n')
	}
	reports := map[string]*evidence.Report{SecretsFile: &set.Secrets, LintFile: &set.Lint, VulnsFile: set.Vulns, TestsFile: set.Tests}
	for file, r := range reports {
		if r == nil {
			continue
		}
		c := *r
		c.Findings = slices.Clone(r.Findings) // report.Write sorts them
		var b bytes.Buffer
		if err := report.Write(&b, report.FormatJSON, c); err != nil {
			return err
		}
		files[file] = b.Bytes()
	}
	inv, err := json.MarshalIndent(set.Inventory, "", "  ")
	if err != nil {
		return err
	}
	files[InventoryFile] = inv
	for file, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, file), data, 0o644); err != nil { //nolint:gosec // G306: evidence is for people and tools to read, as the layouts are
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// ReadEvidence reads back the evidence recorded for an image digest, under whatever name it was
// recorded: what ingot attest uses for an image it did not build and collected evidence for before.
// ErrNoEvidence when there is none; ErrEvidenceDamaged when a document every set has (inventory,
// SBOMs, secrets, lint) is missing or any document does not parse.
func (s Store) ReadEvidence(d v1.Hash) (*evidence.Set, error) {
	dir, err := s.FindEvidence(d)
	if err != nil {
		return nil, err
	}
	read := func(file string, required bool) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, file))
		switch {
		case errors.Is(err, fs.ErrNotExist) && !required:
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrEvidenceDamaged, err)
		case !json.Valid(data):
			return nil, fmt.Errorf("%w: %s is not valid JSON", ErrEvidenceDamaged, filepath.Join(dir, file))
		}
		return data, nil
	}
	decode := func(file string, required bool, v any) (bool, error) {
		data, err := read(file, required)
		if err != nil || data == nil {
			return false, err
		}
		if err := json.Unmarshal(data, v); err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrEvidenceDamaged, filepath.Join(dir, file), err)
		}
		return true, nil
	}
	set := &evidence.Set{Inventory: &evidence.Inventory{}}
	if _, err := decode(InventoryFile, true, set.Inventory); err != nil {
		return nil, err
	}
	for _, doc := range []struct {
		file     string
		required bool
		into     *json.RawMessage
	}{{SPDXFile, true, &set.SPDX}, {CycloneDXFile, true, &set.CycloneDX}, {ProvenanceFile, false, &set.Provenance}} {
		if *doc.into, err = read(doc.file, doc.required); err != nil {
			return nil, err
		}
	}
	for _, r := range []struct {
		file string
		into *evidence.Report
	}{{SecretsFile, &set.Secrets}, {LintFile, &set.Lint}} {
		if _, err := decode(r.file, true, r.into); err != nil {
			return nil, err
		}
	}
	var vulns, tests evidence.Report
	if ok, err := decode(VulnsFile, false, &vulns); err != nil {
		return nil, err
	} else if ok {
		set.Vulns = &vulns
	}
	if ok, err := decode(TestsFile, false, &tests); err != nil {
		return nil, err
	} else if ok {
		set.Tests = &tests
	}
	var scan evidence.ScanRecord
	if ok, err := decode(ScanFile, false, &scan); err != nil {
		return nil, err
	} else if ok {
		set.Scan = &scan
	}
	return set, nil
}

// WriteForeignEvidence records the evidence of an image ingot did not build, found in the registry
// repository repo, under a name made of the repository's ("registry.example/team/app" is
// "registry.example_team_app").
func (s Store) WriteForeignEvidence(repo string, d v1.Hash, set *evidence.Set) error {
	return s.WriteEvidence(strings.NewReplacer("/", "_", ":", "_").Replace(repo), d, set)
}
