package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/sbom"
)

// loadStats says how loading went.
type loadStats struct {
	versions            int
	total, begin, publs time.Duration
	statuses            time.Duration
	findings, packages  int
	byStatus            map[catalog.Status]int
}

// evidenceFor completes version v's evidence as the build would record it: the scan's findings,
// the SBOM documents (when docs), the provenance and the empty reports of the other stages.
func evidenceFor(v *catalog.Version, match *matcher, docs bool) (int, error) {
	set := v.Platforms[0].Evidence
	inv := set.Inventory
	fs := match.findings(inv.Packages)
	set.Vulns = &evidence.Report{Image: evidence.Image{Digest: v.Digest}, Tool: "ingot scan", Findings: fs}
	set.Scan = &evidence.ScanRecord{Scanner: "ingot bench", DBURI: "file:///bench/vulndb", DBVersion: "bench",
		Started: v.Built.Add(-time.Minute), Finished: v.Built.Add(-30 * time.Second)}
	set.Secrets = evidence.Report{Image: inv.Image, Tool: "ingot secrets", Findings: []evidence.Finding{}}
	set.Lint = evidence.Report{Image: inv.Image, Tool: "ingot lint", Findings: []evidence.Finding{}}
	set.Provenance = provenance(v)
	if docs {
		var err error
		if set.SPDX, err = sbom.SPDX(inv, sbom.DocOptions{Created: v.Built, ToolVersion: "bench"}); err != nil {
			return 0, err
		}
		if set.CycloneDX, err = sbom.CycloneDX(inv, sbom.DocOptions{Created: v.Built, ToolVersion: "bench"}); err != nil {
			return 0, err
		}
	}
	return len(fs), nil
}

// load records the model's n versions in c: batches of versions made (on every core) while the
// previous batch is written with BeginBatch, then each version published as a build would (its
// registry location, signature and attestations, a grace period that keeps the line's previous
// versions active), then ~2% revoked, ~10% deprecated and the newest versions of a third of the
// retired release lines marked end-of-life.
func load(ctx context.Context, c catalog.Catalog, m *model, match *matcher, batch int, docs bool, progress func(done int, el time.Duration)) (loadStats, error) {
	bc, ok := c.(catalog.Batch)
	if !ok {
		return loadStats{}, errors.New("the catalog cannot record versions in batches")
	}
	st := loadStats{byStatus: map[catalog.Status]int{}}
	start := time.Now()
	type prepared struct {
		vs       []*catalog.Version
		findings int
		err      error
	}
	batches := make(chan prepared, 1)
	go func() {
		defer close(batches)
		for from := 0; from < m.n; from += batch {
			to := min(m.n, from+batch)
			p := prepared{vs: make([]*catalog.Version, to-from)}
			var pkgs []evidence.Package
			for i := from; i < to; i++ {
				p.vs[i-from] = m.version(i)
				pkgs = append(pkgs, p.vs[i-from].Platforms[0].Evidence.Inventory.Packages...)
			}
			if p.err = match.prime(ctx, pkgs); p.err == nil {
				counts := make([]int, len(p.vs))
				errs := make([]error, len(p.vs))
				var wg sync.WaitGroup
				next := make(chan int)
				for range runtime.GOMAXPROCS(0) {
					wg.Go(func() {
						for i := range next {
							counts[i], errs[i] = evidenceFor(p.vs[i], match, docs)
						}
					})
				}
				for i := range p.vs {
					next <- i
				}
				close(next)
				wg.Wait()
				p.err = errors.Join(errs...)
				for _, n := range counts {
					p.findings += n
				}
			}
			select {
			case batches <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil {
				return
			}
		}
	}()
	for p := range batches {
		if p.err != nil {
			return st, p.err
		}
		t := time.Now()
		got, _, err := bc.BeginBatch(ctx, p.vs)
		if err != nil {
			return st, err
		}
		st.begin += time.Since(t)
		t = time.Now()
		for _, v := range got {
			if _, err := c.Publish(ctx, v.ID, publication(v)); err != nil {
				return st, err
			}
		}
		st.publs += time.Since(t)
		st.versions += len(got)
		st.findings += p.findings
		for _, v := range got {
			for _, pl := range v.Platforms {
				if pl.Evidence != nil && pl.Evidence.Inventory != nil {
					st.packages += len(pl.Evidence.Inventory.Packages)
				}
			}
		}
		if progress != nil {
			progress(st.versions, time.Since(start))
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	t := time.Now()
	if err := statuses(ctx, c, m); err != nil {
		return st, err
	}
	st.statuses = time.Since(t)
	st.total = time.Since(start)
	vs, err := c.List(ctx, catalog.ListOptions{})
	if err != nil {
		return st, err
	}
	for _, v := range vs {
		st.byStatus[v.Status.Status]++
	}
	return st, nil
}

// publication is what publishing version v records: where it was pushed, what was signed.
func publication(v *catalog.Version) catalog.Publication {
	repo := "registry.bench.test/" + v.Image
	key := "bench-key-" + v.Image[len(v.Image)-1:]
	p := catalog.Publication{
		Locations: []catalog.Location{{Kind: catalog.LocationRegistry, Ref: repo + "@" + v.Digest}},
		At:        v.Built.Add(10 * time.Minute),
		// Older versions stay active through a grace period (which the bench never lets pass):
		// the catalog a re-scan covers is the whole catalog, less what statuses() retires.
		Grace: 365 * 24 * time.Hour,
		Actor: "bench",
	}
	for _, format := range []string{"legacy", "bundle"} {
		p.Artifacts = append(p.Artifacts, catalog.Artifact{Kind: catalog.ArtifactSignature, Format: format, Subject: v.Digest, KeyID: key,
			Ref: repo + ":" + format + "-sig"})
		for _, pt := range []string{"https://slsa.dev/provenance/v1", "https://spdx.dev/Document"} {
			p.Artifacts = append(p.Artifacts, catalog.Artifact{Kind: catalog.ArtifactAttestation, Format: format, Subject: v.Digest,
				KeyID: key, PredicateType: pt, Ref: repo + ":" + format + "-att"})
		}
	}
	return p
}

// statuses revokes ~2% of the versions, deprecates ~10%, and retires a third of the older release
// lines (their newest version becomes end-of-life).
func statuses(ctx context.Context, c catalog.Catalog, m *model) error {
	r := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // G404: a reproducible synthetic catalog
	vs, err := c.List(ctx, catalog.ListOptions{})
	if err != nil {
		return err
	}
	newest := map[string]*catalog.Version{} // image and line → newest version
	lines := map[string]map[string]bool{}
	for _, v := range vs {
		k := v.Image + " " + v.Line
		if o := newest[k]; o == nil || v.Serial > o.Serial {
			newest[k] = v
		}
		if lines[v.Image] == nil {
			lines[v.Image] = map[string]bool{}
		}
		lines[v.Image][v.Line] = true
	}
	change := func(v *catalog.Version, st catalog.Status, reason string) error {
		_, err := c.SetStatus(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()}, catalog.StatusChange{Status: st, Reason: reason, Actor: "bench",
			At: m.start.Add(m.span)})
		if errors.Is(err, catalog.ErrTransition) {
			return nil
		}
		return err
	}
	for _, v := range vs {
		switch r.IntN(50) {
		case 0:
			if err := change(v, catalog.StatusRevoked, "bench: revoked"); err != nil {
				return fmt.Errorf("revoking %s: %w", v.Ref(), err)
			}
		case 1, 2, 3, 4, 5:
			if err := change(v, catalog.StatusDeprecated, "bench: deprecated"); err != nil {
				return fmt.Errorf("deprecating %s: %w", v.Ref(), err)
			}
		}
	}
	for _, v := range vs {
		nv := newest[v.Image+" "+v.Line]
		if nv != v || len(lines[v.Image]) < 2 || v.Line == maxLine(lines[v.Image]) || r.IntN(3) != 0 {
			continue
		}
		if err := change(v, catalog.StatusEOL, "bench: release line retired"); err != nil {
			return fmt.Errorf("retiring %s: %w", v.Ref(), err)
		}
	}
	return nil
}

// maxLine is the newest release line of a set ("1.2" after "1.1"; lines of the model are "N.M").
func maxLine(lines map[string]bool) string {
	best := ""
	for l := range lines {
		if len(l) > len(best) || (len(l) == len(best) && l > best) {
			best = l
		}
	}
	return best
}
