package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/sbom"
)

// TestEvidenceGate builds images that fail a hardening rule or a structure test: the build fails,
// naming what failed, and stores nothing. A waiver lets the image through with the waiver on record.
func TestEvidenceGate(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "base-files", Version: "12.4", Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte("12.4\n")}}},
		{Name: "ping", Version: "1.0", Arch: "all", Files: []debtest.File{{Path: "usr/bin/ping", Mode: 0o4755, Body: []byte("ELF?")}}},
	}})
	head := `name: gate
repositories: [{url: ` + repo.URL + `, suite: stable, keyring: ` + repo.Keyring + `}]
packages: [base-files, ping]
`
	for _, tc := range []struct {
		name, evidence, tests, want string
	}{
		{name: "setuid file fails rule H004", want: harden.RuleSetuid},
		{name: "failing structure test", evidence: "evidence: {tests: tests.yaml, waivers: [{rule: " + harden.RuleSetuid + ", reason: ping needs raw sockets}]}\n",
			tests: "fileExistenceTests:\n  - {name: has a shell, path: /bin/sh, shouldExist: true}\n", want: `test "has a shell" failed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.tests != "" {
				if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), []byte(tc.tests), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := parseSpec(t, dir, head+tc.evidence)
			opt := Options{DataDir: t.TempDir()}
			l, err := Lock(context.Background(), s, opt)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Build(context.Background(), s, l, opt)
			if !errors.Is(err, ErrEvidence) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want ErrEvidence naming %s", err, tc.want)
			}
			if _, err := os.Stat(opt.Store().Layouts().Dir("gate")); !errors.Is(err, os.ErrNotExist) {
				t.Error("an image that failed its checks was stored")
			}
		})
	}

	t.Run("waived", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tests.yaml"), []byte("fileExistenceTests:\n  - {name: no shell, path: /bin/sh, shouldExist: false}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := parseSpec(t, dir, head+"evidence: {tests: tests.yaml, waivers: [{rule: "+harden.RuleSetuid+", reason: ping needs raw sockets}]}\n")
		opt := Options{DataDir: t.TempDir()}
		l, err := Lock(context.Background(), s, opt)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Build(context.Background(), s, l, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "not scanned") && !strings.Contains(res.Notes[0], "no vulnerability data") {
			t.Errorf("notes = %v, want one saying the image was not scanned", res.Notes)
		}
		evDir := opt.Store().EvidenceDir("gate", res.Digest)
		for _, name := range []string{"sbom.spdx.json", "sbom.cdx.json", "inventory.json", "secrets.json", "lint.json", "tests.json", "provenance.json"} {
			if _, err := os.Stat(filepath.Join(evDir, name)); err != nil {
				t.Errorf("evidence %s missing: %v", name, err)
			}
		}
		spdx, _ := os.ReadFile(filepath.Join(evDir, "sbom.spdx.json"))
		if err := sbom.ValidateSPDX(spdx); err != nil {
			t.Errorf("recorded SPDX does not validate: %v", err)
		}
		var lint evidence.Report
		data, _ := os.ReadFile(filepath.Join(evDir, "lint.json"))
		if err := json.Unmarshal(data, &lint); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range lint.Findings {
			if f.ID == harden.RuleSetuid {
				found = f.Status == evidence.StatusWaived && f.Reason == "ping needs raw sockets"
			}
		}
		if !found {
			t.Errorf("lint.json does not record the waiver: %s", data)
		}
		// The SBOM of an ingot build carries each .deb's sha256 from the lock.
		var inv evidence.Inventory
		data, _ = os.ReadFile(filepath.Join(evDir, "inventory.json"))
		if err := json.Unmarshal(data, &inv); err != nil {
			t.Fatal(err)
		}
		for _, p := range inv.Packages {
			if p.SHA256 == "" {
				t.Errorf("package %s has no sha256 in the SBOM", p.Name)
			}
		}
	})
}

// TestPasswdPackageIsNoSecret builds an image holding Debian's passwd package: the history that
// records it (name, version, sha256) must not read as a password to the secrets stage.
func TestPasswdPackageIsNoSecret(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "passwd", Version: "1:4.13+dfsg1-1+b1", Arch: "all", Files: []debtest.File{{Path: "usr/share/doc/passwd/copyright", Body: []byte("GPL\n")}}},
	}})
	dir := t.TempDir()
	s := parseSpec(t, dir, `name: pw
repositories: [{url: `+repo.URL+`, suite: stable, keyring: `+repo.Keyring+`}]
packages: [passwd]
`)
	opt := Options{DataDir: t.TempDir()}
	l, err := Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Evidence[0].Secrets.Findings {
		t.Errorf("secret finding in a clean image: %s at %+v (%s)", f.ID, f.Locations, f.Detail["match"])
	}
}

// TestGateUnknownAndCoverage: the build's gate counts unknown severities at evidence.unknown-as
// (default high), fails on unchecked ecosystems under evidence.require-data, and its summary says both.
func TestGateUnknownAndCoverage(t *testing.T) {
	unrated := evidence.Finding{Kind: evidence.KindVulnerability, ID: "GO-2099-0003", Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "example.com/unrated", Version: "v1.0.0"}}
	ev := func(unknownAs evidence.Severity) *evidence.Set {
		return &evidence.Set{
			Inventory: &evidence.Inventory{Packages: make([]evidence.Package, 99)},
			Vulns: &evidence.Report{UnknownAs: unknownAs, Findings: []evidence.Finding{unrated, unrated}, Coverage: []evidence.Coverage{
				{Ecosystem: "Debian:12", Packages: 96, Reason: "no data for Debian:12 or Debian"},
				{Ecosystem: "Go", Packages: 3, Sources: []evidence.CoverageSource{{Name: "Go", Ecosystem: "Go", Records: 13}}},
			}},
		}
	}
	sum := ev(evidence.SeverityHigh).Summary()
	for _, want := range []string{"2 vulnerabilities (worst high; 2 of unknown severity counted as high)", "not checked: Debian:12 (96 packages, no data for Debian:12 or Debian)"} {
		if !strings.Contains(sum, want) {
			t.Errorf("Summary = %q, want it to say %q", sum, want)
		}
	}
	for _, tc := range []struct {
		evidence  string
		unknownAs evidence.Severity
		want      string // "" passes
	}{
		{"{fail-on: high}", evidence.SeverityHigh, "vulnerability GO-2099-0003 in example.com/unrated v1.0.0 (unknown, counted as high)"},
		{"{fail-on: high, unknown-as: low}", evidence.SeverityHigh, ""}, // the spec's level, not the report's
		{"{fail-on: unknown, unknown-as: unknown}", evidence.SeverityUnknown, "GO-2099-0003"},
		{"{}", evidence.SeverityHigh, ""},
		{"{require-data: true}", evidence.SeverityHigh, "not checked for vulnerabilities (evidence.require-data): Debian:12 (96 packages"},
		{"{fail-on: none, require-data: true}", evidence.SeverityHigh, "Debian:12"},
	} {
		s := parseSpec(t, t.TempDir(), "name: x\nfiles: [{source: a, path: /a}]\nevidence: "+tc.evidence+"\n")
		err := Gate(s, ev(tc.unknownAs))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("evidence %s: Gate = %v, want %q", tc.evidence, err, tc.want)
		}
	}
	// No data at all fails require-data too.
	noData := &evidence.Set{Inventory: &evidence.Inventory{}}
	if err := Gate(parseSpec(t, t.TempDir(), "name: x\nfiles: [{source: a, path: /a}]\nevidence: {require-data: true}\n"), noData); err == nil || !strings.Contains(err.Error(), "no vulnerability data imported") {
		t.Errorf("require-data without data: %v", err)
	}
}
