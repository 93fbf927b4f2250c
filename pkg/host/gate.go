package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vmimage"
)

// BuildGate is the evidence gate of ingot host build: the audit of the built root file system (its
// rules, leftovers, agents and secrets), with the tree's inventory, and its vulnerability scan when
// Options.VulnDB is set. It refuses the image when a finding that counts reaches Threshold, as the
// container evidence gate does with the spec's fail-on.
type BuildGate struct {
	Options RunOptions
	// Threshold is the level at which a failed rule or an affecting vulnerability refuses the image;
	// nil never refuses (the audit still runs and is recorded).
	Threshold *evidence.Severity
	// result is what the last Run found.
	result *Result
}

// Run audits in.Root; it is a vmimage.Gate.
func (b *BuildGate) Run(ctx context.Context, in vmimage.GateInput) (*vmimage.GateResult, error) {
	opt := b.Options
	opt.Inventory = true
	res, err := Run(ctx, in.Root, opt)
	if err != nil {
		return nil, err
	}
	b.result = res
	report, err := json.Marshal(res.Report)
	if err != nil {
		return nil, err
	}
	out := &vmimage.GateResult{Passed: true, Report: report}
	var counted []string
	if b.Threshold != nil {
		for _, f := range res.Report.AtLeast(*b.Threshold) {
			counted = append(counted, f.ID)
		}
	}
	failed := 0
	for _, f := range res.Report.Findings {
		if f.Counts() {
			failed++
		}
	}
	out.Summary = fmt.Sprintf("%d packages, %d of %d checks failed or affected", len(res.Inventory.Packages), failed, len(res.Report.Findings))
	if len(counted) > 0 {
		out.Passed = false
		out.Summary += fmt.Sprintf(", %d at or above %s: %s", len(counted), b.Threshold, strings.Join(counted, ", "))
	}
	return out, nil
}

// Evidence is what the last Run found, as the catalog records a version's evidence: the inventory,
// the rules and leftovers as the lint report, the vulnerability findings (when scanned) apart. Nil
// before Run.
func (b *BuildGate) Evidence() *evidence.Set {
	if b.result == nil {
		return nil
	}
	r := b.result.Report
	set := &evidence.Set{
		Inventory: b.result.Inventory,
		Lint:      evidence.Report{Image: r.Image, Tool: r.Tool},
		Secrets:   evidence.Report{Image: r.Image, Tool: r.Tool},
	}
	var vulns []evidence.Finding
	for _, f := range r.Findings {
		if isRule(f.ID) {
			set.Lint.Findings = append(set.Lint.Findings, f)
		} else {
			vulns = append(vulns, f)
		}
	}
	if b.Options.VulnDB != nil {
		set.Vulns = &evidence.Report{Image: r.Image, Tool: "ingot scan", Findings: vulns, UnknownAs: r.UnknownAs, Coverage: r.Coverage}
	}
	return set
}
