package catalog

import (
	"context"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// GetCurrent is Get with each platform's vulnerability findings as of its newest scan: the evidence
// keeps those of the build, FindingHistory the open ones since. Diffs compare versions this way.
func GetCurrent(ctx context.Context, c Catalog, r Ref) (*Version, error) {
	v, err := c.Get(ctx, r)
	if err != nil {
		return nil, err
	}
	tracked, err := c.FindingHistory(ctx, Ref{Image: v.Image, Version: v.Tag()})
	if err != nil {
		return nil, err
	}
	open := map[string][]evidence.Finding{}
	for _, f := range tracked {
		if f.Open {
			open[f.Platform] = append(open[f.Platform], f.Finding)
		}
	}
	for i, p := range v.Platforms {
		if p.Evidence == nil || p.Evidence.Vulns == nil {
			continue
		}
		set := *p.Evidence
		vulns := *set.Vulns
		vulns.Findings = open[p.Name()]
		set.Vulns = &vulns
		v.Platforms[i].Evidence = &set
	}
	return v, nil
}
