package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/openvex/go-vex/pkg/vex"

	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/stages"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// ErrEvidence means the image failed its evidence checks: a hardening rule or structure test failed,
// or a vulnerability or secret reached the spec's fail-on severity.
var ErrEvidence = errors.New("the image failed its evidence checks")

// Collect runs the evidence stages on one built image: SBOM (made exact by the lock), vulnerability
// scan with the spec's VEX, secrets, hardening rules with the spec's waivers, and, when runTests is
// set (the image is for this host's platform), structure tests. SBOM, secrets and lint run in parallel.
// The set has no provenance: Build adds it, once it knows when the build finished.
func Collect(ctx context.Context, s *spec.Spec, l *lock.Lock, img v1.Image, runTests bool, opt Options) (*evidence.Set, error) {
	c, err := collect(ctx, s.Name+":"+s.Tag(), s, l, img, runTests, opt)
	if err != nil {
		return nil, err
	}
	return c.set, nil
}

// collected is an image's evidence and what the provenance needs to know of how it was collected.
type collected struct {
	set *evidence.Set
	// vulnData is the state of the vulnerability data the scan used; nil when not scanned.
	vulnData []vuln.SourceStatus
}

// collect is Collect for the image named ref; with no spec (an image ingot did not build), the
// stages run with their defaults, and neither VEX nor structure tests apply.
func collect(ctx context.Context, ref string, s *spec.Spec, l *lock.Lock, img v1.Image, runTests bool, opt Options) (*collected, error) {
	cfg := &spec.Evidence{}
	if s != nil && s.Evidence != nil {
		cfg = s.Evidence
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	image := evidence.Image{Ref: ref, Digest: d.String()}
	var allow []secrets.Allow
	for _, a := range cfg.Allow {
		allow = append(allow, secrets.Allow{Rule: a.Rule, Path: a.Path, Reason: a.Reason})
	}
	profile, err := harden.ParseProfile(cfg.Profile)
	if err != nil {
		return nil, err
	}
	gate, err := gateOf(s)
	if err != nil {
		return nil, err
	}
	var waivers []harden.Waiver
	secretsWaived := false
	for _, w := range cfg.Waivers {
		waivers = append(waivers, harden.Waiver{Rule: w.Rule, Reason: w.Reason})
		secretsWaived = secretsWaived || w.Rule == harden.RuleSecrets
	}
	if gate.failOn == nil && !secretsWaived {
		// fail-on: none means secrets do not fail the image. The hardening rule that fails on any
		// secret would fail it anyway, so it is waived, on the record: lint.json (and its
		// attestation) shows the rule waived with this reason rather than failed on an image that
		// passed, and the secrets themselves stay in secrets.json.
		waivers = append(waivers, harden.Waiver{Rule: harden.RuleSecrets, Reason: FailOnNoneReason})
	}

	var suite *imagetest.Suite
	if s != nil && cfg.Tests != "" && runTests {
		if suite, err = loadTests(s, opt); err != nil {
			return nil, err
		}
	}

	e := &evidence.Set{}
	c := &collected{set: e}
	// One walk of the layers for every stage that reads the image's files: each layer is read and
	// inflated once for the whole gate.
	cache := opt.Store().Inventories()
	res, err := stages.Run(ctx, img, stages.Options{
		SBOM:    &sbom.Options{Ref: image.Ref, Limits: opt.Limits},
		Cache:   &cache,
		Secrets: &secrets.Options{Allow: allow, Limits: opt.Limits},
		// Lint takes the secrets this walk finds for its secrets rule instead of scanning again.
		Lint:        &harden.Options{Profile: profile, Waivers: waivers, Limits: opt.Limits},
		Tests:       suite,
		TestOptions: imagetest.Options{Limits: opt.Limits},
		Limits:      opt.Limits,
	})
	if err != nil {
		return nil, err
	}
	e.Inventory = res.Inventory
	sbom.WithLock(e.Inventory, l)
	secretFindings, lintFindings := res.Secrets, res.Lint
	e.Secrets = evidence.Report{Image: image, Tool: "ingot secrets", Findings: secretFindings}
	e.Lint = evidence.Report{Image: image, Tool: "ingot lint", Findings: lintFindings}

	created := time.Unix(0, 0).UTC()
	if cf, err := img.ConfigFile(); err == nil {
		created = cf.Created.UTC()
	}
	docOpt := sbom.DocOptions{Created: created, ToolVersion: selfid.Version()}
	if e.SPDX, err = sbom.SPDX(e.Inventory, docOpt); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	if e.CycloneDX, err = sbom.CycloneDX(e.Inventory, docOpt); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}

	db := opt.Store().VulnDB()
	st, err := db.Status()
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	if len(st.Sources) > 0 {
		var docs []*vex.VEX
		if s != nil {
			if docs, err = loadVEX(s, opt); err != nil {
				return nil, err
			}
		}
		started := time.Now()
		r, err := db.Scan(ctx, e.Inventory, vuln.ScanOptions{VEX: docs, UnknownAs: gate.unknownAs})
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		rec := vuln.NewScanRecord(selfid.Version(), st.Sources, cfg.VEX, started, time.Now())
		e.Vulns, e.Scan, c.vulnData = &r, &rec, st.Sources
	}

	if suite != nil {
		e.Tests = &evidence.Report{Image: image, Tool: "ingot test", Findings: res.Tests}
	}
	canonical(e)
	return c, nil
}

// canonical puts the reports of a set in the order ingot renders them (findings sorted, an empty
// list for none), so that the set a build holds in memory is the one the catalog and the evidence
// directory give back.
func canonical(e *evidence.Set) {
	for _, r := range []*evidence.Report{e.Vulns, &e.Secrets, &e.Lint, e.Tests} {
		if r == nil {
			continue
		}
		if r.Findings == nil {
			r.Findings = []evidence.Finding{}
		}
		report.Sort(r.Findings)
	}
}

// loadTests reads the spec's structure tests from inside the directories it may read.
func loadTests(s *spec.Spec, opt Options) (*imagetest.Suite, error) {
	local, err := s.Local(opt.AllowFilesFrom...)
	if err != nil {
		return nil, err
	}
	return readTests(*local.Tests)
}

// loadVEX reads the spec's VEX documents from inside the directories it may read.
func loadVEX(s *spec.Spec, opt Options) ([]*vex.VEX, error) {
	local, err := s.Local(opt.AllowFilesFrom...)
	if err != nil {
		return nil, err
	}
	docs := make([]*vex.VEX, len(local.VEX))
	for i, f := range local.VEX {
		if docs[i], err = readVEX(f); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// FailOnNoneReason is the reason the secrets hardening rule is waived with when the spec's
// evidence.fail-on is none.
const FailOnNoneReason = "evidence.fail-on: none (secrets are reported, not gating)"

// evidenceGate is the spec's evidence thresholds, with their defaults.
type evidenceGate struct {
	// failOn is nil for fail-on: none.
	failOn      *evidence.Severity
	unknownAs   evidence.Severity
	requireData bool
}

// gateOf reads the spec's evidence thresholds: fail-on (default critical), unknown-as (default
// high), require-data. No spec has the defaults.
func gateOf(s *spec.Spec) (evidenceGate, error) {
	crit := evidence.SeverityCritical
	g := evidenceGate{failOn: &crit, unknownAs: evidence.DefaultUnknownAs}
	if s == nil || s.Evidence == nil {
		return g, nil
	}
	e := s.Evidence
	g.requireData = e.RequireData
	if e.FailOn != "" {
		v, err := evidence.ParseFailOn(e.FailOn)
		if err != nil {
			return g, &spec.FieldError{Field: "evidence.fail-on", Reason: err.Error()}
		}
		g.failOn = v
	}
	if e.UnknownAs != "" {
		v, err := evidence.ParseLevel(e.UnknownAs)
		if err != nil {
			return g, &spec.FieldError{Field: "evidence.unknown-as", Reason: err.Error()}
		}
		g.unknownAs = v
	}
	return g, nil
}

// Gate applies the spec's thresholds to an image's evidence: any failed hardening rule or structure
// test fails; so does a vulnerability or secret at or above fail-on (default critical; a
// vulnerability of unknown severity counting at unknown-as, default high), unless fail-on is none;
// and, with require-data, an ecosystem of the image that no vulnerability data covers, or no data at
// all. The error wraps ErrEvidence and lists what failed.
func Gate(s *spec.Spec, e *evidence.Set) error {
	gate, err := gateOf(s)
	if err != nil {
		return err
	}
	var problems []string
	for _, f := range e.Lint.Findings {
		if f.Status == evidence.StatusFailed {
			problems = append(problems, fmt.Sprintf("rule %s (%s) failed", f.ID, f.Title))
		}
	}
	if e.Tests != nil {
		for _, f := range e.Tests.Findings {
			if f.Status == evidence.StatusFailed {
				problems = append(problems, fmt.Sprintf("test %q failed: %s", f.ID, f.Title))
			}
		}
	}
	if gate.failOn != nil {
		for _, r := range []*evidence.Report{e.Vulns, &e.Secrets} {
			if r == nil {
				continue
			}
			r := *r
			r.UnknownAs = gate.unknownAs // the spec's, whatever the report was made with
			for _, f := range r.AtLeast(*gate.failOn) {
				what := f.ID
				if f.Package != nil {
					what += " in " + f.Package.Name + " " + f.Package.Version
				} else if len(f.Locations) > 0 {
					what += " at " + f.Locations[0].Path
				}
				level := f.Severity.String()
				if f.Severity == evidence.SeverityUnknown && r.UnknownAs != evidence.SeverityUnknown {
					level += ", counted as " + r.UnknownAs.String()
				}
				problems = append(problems, fmt.Sprintf("%s %s (%s)", f.Kind, what, level))
			}
		}
	}
	if gate.requireData {
		if e.Vulns == nil {
			problems = append(problems, "no vulnerability data imported, and evidence.require-data asks for it")
		} else {
			for _, c := range evidence.Unchecked(e.Vulns.Coverage) {
				problems = append(problems, "not checked for vulnerabilities (evidence.require-data): "+c.String())
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrEvidence, strings.Join(problems, "; "))
	}
	return nil
}
