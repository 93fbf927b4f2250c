package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// built is the fixture build: the evidence the build returned, and the data directory it recorded
// it in.
type built struct {
	set    *evidence.Set
	store  store.Store
	digest v1.Hash
}

// buildEvidence builds a small image with pipeline.Build.
func buildEvidence(t *testing.T, withVulnData, withTests bool) built {
	t.Helper()
	repo := testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "base-files", Version: "12.4", Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte("12.4\n")}}},
		{Name: "hello-data", Version: "1.0", Arch: "all", Depends: "base-files", Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hi\n")}}},
	}})
	dir := t.TempDir()
	body := "name: hello\nrepositories: [{url: \"" + repo.URL + "\", suite: stable, keyring: \"" + repo.Keyring + "\"}]\npackages: [hello-data]\n"
	if withTests {
		data, err := os.ReadFile(filepath.Join("testdata", "tests.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		body += "evidence: {tests: tests.yaml}\n"
	}
	specFile := filepath.Join(dir, "ingot.yaml")
	if err := os.WriteFile(specFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(specFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	opt := pipeline.Options{DataDir: t.TempDir(), SpecFile: specFile, LockFile: filepath.Join(dir, "ingot.lock")}
	if withVulnData {
		db := store.Store{Root: opt.DataDir}.VulnDB()
		if _, err := db.Import(ctx, filepath.Join("testdata", "osv"), vuln.ImportOptions{Name: "fixtures"}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := pipeline.Lock(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(opt.LockFile); err != nil {
		t.Fatal(err)
	}
	if l, err = lock.Read(opt.LockFile); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	return built{set: res.Evidence[0], store: opt.Store(), digest: res.Digest}
}

// TestPredicates renders the predicates of a build's evidence, in memory: the documents recorded, in
// a fixed order, each parsing with the library its field uses.
func TestPredicates(t *testing.T) {
	for _, tc := range []struct {
		name            string
		vulnData, tests bool
		want            []string
	}{
		{"everything", true, true, []string{attest.SLSAProvenanceV1, attest.SPDX, attest.CycloneDX, attest.Vuln, attest.Lint, attest.Tests}},
		{"no vulnerability data and no tests", false, false, []string{attest.SLSAProvenanceV1, attest.SPDX, attest.CycloneDX, attest.Lint}},
		{"tests only", false, true, []string{attest.SLSAProvenanceV1, attest.SPDX, attest.CycloneDX, attest.Lint, attest.Tests}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildEvidence(t, tc.vulnData, tc.tests)
			preds, err := attest.Predicates(b.set)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range preds {
				types = append(types, p.Type)
				checkPredicate(t, p)
			}
			if !slices.Equal(types, tc.want) {
				t.Errorf("predicate types = %v, want %v", types, tc.want)
			}
		})
	}
}

// checkPredicate parses a predicate with the library its field uses.
func checkPredicate(t *testing.T, p attest.Predicate) {
	t.Helper()
	switch p.Type {
	case attest.SLSAProvenanceV1:
		var prov slsa.Provenance
		if err := protojson.Unmarshal(p.JSON, &prov); err != nil {
			t.Fatalf("provenance: %v", err)
		}
		if err := prov.Validate(); err != nil {
			t.Errorf("provenance: %v", err)
		}
		names := map[string]bool{}
		for _, d := range prov.GetBuildDefinition().GetResolvedDependencies() {
			if d.GetDigest()["sha256"] != "" {
				names[d.GetName()] = true
			}
		}
		for _, n := range []string{"base-files_12.4_all", "hello-data_1.0_all"} {
			if !names[n] {
				t.Errorf("provenance lacks %s: %v", n, names)
			}
		}
	case attest.SPDX:
		doc, err := spdxjson.Read(bytes.NewReader(p.JSON))
		if err != nil || len(doc.Packages) == 0 {
			t.Errorf("SPDX: %v (%d packages)", err, len(doc.Packages))
		}
	case attest.CycloneDX:
		var bom cdx.BOM
		if err := cdx.NewBOMDecoder(bytes.NewReader(p.JSON), cdx.BOMFileFormatJSON).Decode(&bom); err != nil || bom.Components == nil {
			t.Errorf("CycloneDX: %v", err)
		}
	case attest.Vuln:
		var v vuln.CosignVulnPredicate
		if err := json.Unmarshal(p.JSON, &v); err != nil {
			t.Fatalf("vuln: %v", err)
		}
		m := v.Metadata
		if m.ScanStartedOn.IsZero() || m.ScanFinishedOn.Before(m.ScanStartedOn) || v.Scanner.DB.Version == "" || v.Scanner.DB.URI == "" || v.Scanner.Version == "" {
			t.Errorf("vuln predicate incomplete: %+v", v)
		}
		data, _ := json.Marshal(v.Scanner.Result)
		var r evidence.Report
		if err := json.Unmarshal(data, &r); err != nil || len(r.Findings) != 1 || r.Findings[0].ID != "DEBIAN-CVE-2099-0001" {
			t.Errorf("vuln result = %s (%v), want the fixture advisory", data, err)
		}
	case attest.Lint, attest.Tests:
		var r evidence.Report
		if err := json.Unmarshal(p.JSON, &r); err != nil || len(r.Findings) == 0 {
			t.Errorf("%s: %v, %d findings", p.Type, err, len(r.Findings))
		}
	default:
		t.Errorf("unexpected predicate type %s", p.Type)
	}
}

// TestPredicatesIncomplete: a scan without its record, an invalid provenance and a document that is
// not JSON are errors, never a predicate with made-up content; the set is left as it was.
func TestPredicatesIncomplete(t *testing.T) {
	b := buildEvidence(t, true, false)
	for _, tc := range []struct {
		name string
		edit func(s *evidence.Set)
	}{
		{"scan without its record", func(s *evidence.Set) { s.Scan = nil }},
		{"scan record without times", func(s *evidence.Set) { s.Scan = &evidence.ScanRecord{Scanner: "ingot"} }},
		{"invalid provenance", func(s *evidence.Set) { s.Provenance = json.RawMessage(`{"buildDefinition": {}}`) }},
		{"SBOM not JSON", func(s *evidence.Set) { s.SPDX = json.RawMessage(`{"spdxVersion": `) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := *b.set
			tc.edit(&set)
			if _, err := attest.Predicates(&set); !errors.Is(err, attest.ErrIncomplete) {
				t.Errorf("Predicates = %v, want ErrIncomplete", err)
			}
		})
	}
	if _, err := attest.Predicates(nil); !errors.Is(err, attest.ErrIncomplete) {
		t.Errorf("Predicates(nil) = %v, want ErrIncomplete", err)
	}
}
