package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// TestVersionNamesIngotEverywhere: the string ingot version prints is the one every document names
// ingot with: both SBOM formats (recorded by the build and written by ingot sbom), the vuln predicate
// (recorded by the build and printed by ingot scan -o cosign-vuln) and the provenance's builder.
func TestVersionNamesIngotEverywhere(t *testing.T) {
	want := selfid.Version() // TestVersionOfThisBinary (selfid) ties it to the build info
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out, "\n"); first != "ingot "+want {
		t.Errorf("ingot version prints %q, want %q", first, "ingot "+want)
	}
	if !strings.Contains(out, "go: go1.") {
		t.Errorf("ingot version does not name the toolchain:\n%s", out)
	}
	if flag, _, err := run(t, "--version"); err != nil || flag != out {
		t.Errorf("ingot --version = %q, %v; want what ingot version prints, %q", flag, err, out)
	}

	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate+"evidence: {fail-on: none}\n")
	data := t.TempDir()
	osv := t.TempDir()
	if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(debianAdvisory), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (store.Store{Root: data}).VulnDB().Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	h, err := v1.NewHash(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := store.Store{Root: data}.FindEvidence(h)
	if err != nil {
		t.Fatal(err)
	}

	checkSBOMs := func(where string, spdx, cdx []byte) {
		t.Helper()
		var s struct {
			CreationInfo struct{ Creators []string } `json:"creationInfo"`
		}
		if err := json.Unmarshal(spdx, &s); err != nil {
			t.Fatalf("%s SPDX: %v", where, err)
		}
		if !strings.Contains(strings.Join(s.CreationInfo.Creators, "\n"), "Tool: ingot-"+want) {
			t.Errorf("%s SPDX creators %q, want Tool: ingot-%s", where, s.CreationInfo.Creators, want)
		}
		var c struct {
			Metadata struct {
				Tools struct {
					Components []struct{ Name, Version string }
				}
			}
		}
		if err := json.Unmarshal(cdx, &c); err != nil {
			t.Fatalf("%s CycloneDX: %v", where, err)
		}
		if tc := c.Metadata.Tools.Components; len(tc) != 1 || tc[0].Name != "ingot" || tc[0].Version != want {
			t.Errorf("%s CycloneDX tools %+v, want ingot %s", where, tc, want)
		}
	}
	readEv := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(ev, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	checkSBOMs("recorded", readEv(store.SPDXFile), readEv(store.CycloneDXFile))
	image := "fixture:1.0"
	spdx, _, err := run(t, "--data-dir", data, "sbom", "-o", "spdx-json", image)
	if err != nil {
		t.Fatal(err)
	}
	cdx, _, err := run(t, "--data-dir", data, "sbom", "-o", "cyclonedx-json", image)
	if err != nil {
		t.Fatal(err)
	}
	checkSBOMs("ingot sbom", []byte(spdx), []byte(cdx))

	var prov struct {
		RunDetails struct {
			Builder struct{ Version map[string]string }
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(readEv(store.ProvenanceFile), &prov); err != nil {
		t.Fatal(err)
	}
	if v := prov.RunDetails.Builder.Version; v["ingot"] != want || !strings.HasPrefix(v["buildID"], "go:") {
		t.Errorf("provenance builder version %v, want ingot %s and the Go build ID apart", v, want)
	}

	scannerOf := func(where string, pred []byte) {
		t.Helper()
		var p vuln.CosignVulnPredicate
		if err := json.Unmarshal(pred, &p); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if p.Scanner.Version != want {
			t.Errorf("%s scanner version %q, want %q", where, p.Scanner.Version, want)
		}
	}
	set, err := store.Store{Root: data}.ReadEvidence(h)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := attest.Predicates(set)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range preds {
		if p.Type == attest.Vuln {
			found = true
			scannerOf("the build's vuln predicate", p.JSON)
		}
	}
	if !found {
		t.Error("the build recorded no scan")
	}
	pred, _, err := run(t, "--data-dir", data, "scan", "-o", "cosign-vuln", image)
	if err != nil && ExitCode(err) != ExitFindings {
		t.Fatal(err)
	}
	scannerOf("ingot scan -o cosign-vuln", []byte(pred))
}
