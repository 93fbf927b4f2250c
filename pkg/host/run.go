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

// Run opens a target, audits it and runs the asked-for evidence stages on the same tree. The tree
// is read once for the rules; the stages stream it again as a one-layer image.
func Run(ctx context.Context, target string, opt RunOptions) (*Result, error) {
	if err := opt.Audit.Validate(); err != nil {
		return nil, err
	}
	t, err := Open(ctx, target, opt.Open)
	if err != nil {
		return nil, err
	}
	defer func() { _ = t.Close() }()
	aopt := opt.Audit
	if aopt.Secrets == nil && !opt.NoSecrets {
		aopt.Secrets = func(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
			return secrets.Scan(ctx, img, secrets.Options{Limits: opt.Limits})
		}
	}
	findings, err := Audit(ctx, t, aopt)
	if err != nil {
		return nil, fmt.Errorf("auditing %s: %w", target, err)
	}
	img := t.Image()
	subject := evidence.Image{Ref: target}
	if aopt.Secrets != nil || opt.Inventory || opt.VulnDB != nil {
		// The stages read the tree as an image, so its digest is known; a rules-only audit does not
		// read the files' contents at all and has none.
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
