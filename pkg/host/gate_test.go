package host

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vmimage"
)

// TestBuildGate: the gate refuses a tree with a failed rule at or above its threshold and admits one
// without, says which rules in its summary, records the audit report, and gives the catalog the
// inventory and the rules as evidence.
func TestBuildGate(t *testing.T) {
	high, medium := evidence.SeverityHigh, evidence.SeverityMedium
	weak := goodTree().with(tree{"etc/ssh/sshd_config": reg("PermitRootLogin yes\n"+goodSSHD, 0o644)})
	for _, tc := range []struct {
		name      string
		tree      tree
		threshold *evidence.Severity
		pass      bool
	}{
		{"good tree", goodTree(), &medium, true},
		{"root login refused at high", weak, &high, false},
		{"fail-on none admits", weak, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &BuildGate{Options: RunOptions{NoSecrets: true}, Threshold: tc.threshold}
			if g.Evidence() != nil {
				t.Fatal("Evidence before Run is not nil")
			}
			res, err := g.Run(context.Background(), vmimage.GateInput{Root: tc.tree.directory(t)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != tc.pass {
				t.Fatalf("passed = %v, want %v (%s)", res.Passed, tc.pass, res.Summary)
			}
			var rep evidence.Report
			if err := json.Unmarshal(res.Report, &rep); err != nil || len(rep.Findings) != len(Rules()) {
				t.Fatalf("recorded report: %d findings, %v; want one per rule (%d)", len(rep.Findings), err, len(Rules()))
			}
			ev := g.Evidence()
			if ev == nil || ev.Inventory == nil || len(ev.Inventory.Packages) != len(goodPackages) {
				t.Fatalf("evidence inventory %+v, want the %d packages of the tree", ev, len(goodPackages))
			}
			if len(ev.Lint.Findings) != len(Rules()) || ev.Vulns != nil {
				t.Errorf("evidence: %d lint findings, vulns %v; want every rule and no scan", len(ev.Lint.Findings), ev.Vulns)
			}
			root := byID(ev.Lint.Findings)[RuleSSHRootLogin]
			if wantFailed := tc.tree["etc/ssh/sshd_config"] != goodTree()["etc/ssh/sshd_config"]; (root.Status == evidence.StatusFailed) != wantFailed {
				t.Errorf("%s is %s", RuleSSHRootLogin, root.Status)
			}
		})
	}
}
