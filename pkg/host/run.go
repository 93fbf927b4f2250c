package host

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// RunOptions configure Run: the audit, how the target is opened, and which evidence stages run on
// the tree besides the rules.
type RunOptions struct {
	Audit Options
	Open  OpenOptions
	// NoSecrets skips the secrets stage (its rule is then reported as skipped); by default it runs
	// with the secrets stage's own defaults when Audit.Secrets is nil.
	NoSecrets bool
	// Inventory reads the tree's packages (sbom.Inventory); VulnDB implies it.
	Inventory bool
	// VulnDB, when set, scans the inventory and adds the vulnerability findings to the report.
	VulnDB   *vuln.DB
	VulnScan vuln.ScanOptions
	// Limits bound how much the evidence stages read.
	Limits imageref.Limits
}

// Result is what Run found.
type Result struct {
	// Report holds one finding per rule of the profile, then the vulnerability findings.
	Report evidence.Report
	// Inventory is the tree's packages, when asked for.
	Inventory *evidence.Inventory
	// Kind is how the target was read: directory, tarball or disk.
	Kind string
}

// Run opens a target, audits it and runs the asked-for evidence stages on the same tree. One walk
// of the target reads each file at most once: it indexes the tree, keeps the configuration the rules
// read, hashes the tree as a one-layer image (the report's digest) and hands the secrets scan the
// files it wants. The inventory (Inventory, VulnDB) streams the tree again as that image: the sbom
// stage reads Go binaries, Python and npm packages besides dpkg's database.
func Run(ctx context.Context, target string, opt RunOptions) (*Result, error) {
	if err := opt.Audit.Validate(); err != nil {
		return nil, err
	}
	aopt := opt.Audit
	oopt := opt.Open
	var scan *secrets.FileScan
	if aopt.Secrets == nil && !opt.NoSecrets {
		// The secrets rules run over the files as the one walk of Open reads them, not over the
		// tree streamed again as an image.
		s, err := secrets.NewFileScan(ctx, secrets.Options{})
		if err != nil {
			return nil, err
		}
		defer s.Close()
		scan, oopt.Secrets = s, s
	}
	// The report names the tree by its image's digest whenever a stage reads its contents; the
	// digest is taken in the same walk. A rules-only audit reads configuration files only.
	oopt.Digest = aopt.Secrets != nil || scan != nil || opt.Inventory || opt.VulnDB != nil
	if oopt.Limits == (imageref.Limits{}) {
		oopt.Limits = opt.Limits
	}
	t, err := Open(ctx, target, oopt)
	if err != nil {
		return nil, err
	}
	defer func() { _ = t.Close() }()
	if scan != nil {
		found, err := scan.Findings()
		if err != nil {
			return nil, fmt.Errorf("secrets stage: %w", err)
		}
		aopt.Secrets = func(context.Context, v1.Image) ([]evidence.Finding, error) { return found, nil }
	}
	findings, err := Audit(ctx, t, aopt)
	if err != nil {
		return nil, fmt.Errorf("auditing %s: %w", target, err)
	}
	img := t.Image()
	subject := evidence.Image{Ref: target}
	if oopt.Digest {
		if d, err := img.Digest(); err == nil {
			subject.Digest = d.String()
		}
	}
	res := &Result{Kind: t.Kind, Report: evidence.Report{Image: subject, Tool: "ingot host audit", Findings: findings}}
	if opt.Inventory || opt.VulnDB != nil {
		inv, err := sbom.Inventory(ctx, img, sbom.Options{Ref: target, Limits: opt.Limits})
		if err != nil {
			return nil, fmt.Errorf("inventory of %s: %w", target, err)
		}
		res.Inventory = inv
	}
	if opt.VulnDB != nil {
		r, err := opt.VulnDB.Scan(ctx, res.Inventory, opt.VulnScan)
		if err != nil {
			return nil, fmt.Errorf("scanning %s: %w", target, err)
		}
		res.Report.Findings = append(res.Report.Findings, r.Findings...)
		res.Report.Coverage, res.Report.UnknownAs = r.Coverage, r.UnknownAs
	}
	return res, nil
}
