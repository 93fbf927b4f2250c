package vuln

import (
	"context"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// ScanOptions refine a scan.
type ScanOptions struct {
	// VEX documents mark findings not_affected or fixed.
	VEX []*vex.VEX
	// OnlyFixed keeps only vulnerabilities that have a fixed version.
	OnlyFixed bool
	// UnknownAs is the level the caller's gate counts findings of unknown severity as; the report
	// records it (evidence.Report.UnknownAs) so its summary says so. The findings keep their severity.
	UnknownAs evidence.Severity
}

// Scan matches the inventory against the database, applies VEX and filters, and returns the report
// with its coverage: what data each ecosystem of the inventory was checked against.
func (db *DB) Scan(ctx context.Context, inv *evidence.Inventory, opt ScanOptions) (evidence.Report, error) {
	fs, err := db.Match(ctx, inv)
	if err != nil {
		return evidence.Report{}, err
	}
	cov, err := db.Coverage(inv)
	if err != nil {
		return evidence.Report{}, err
	}
	fs = ApplyVEX(fs, opt.VEX, inv.Image)
	if opt.OnlyFixed {
		kept := fs[:0]
		for _, f := range fs {
			if f.FixedVersion != "" {
				kept = append(kept, f)
			}
		}
		fs = kept
	}
	return evidence.Report{Image: inv.Image, Tool: "ingot scan", Findings: fs, UnknownAs: opt.UnknownAs, Coverage: cov}, nil
}
