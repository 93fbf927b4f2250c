package sbom

import (
	"slices"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
)

// WithLock sets each Debian package's SHA256 from the lock entries (by name+version+arch) and records
// the spec's exclusions, so the SBOM of an ingot build is exact. The lock architecture used is the
// one whose packages match the inventory best (an ingot image is built from exactly one).
func WithLock(inv *evidence.Inventory, l *lock.Lock) {
	if inv == nil || l == nil {
		return
	}
	type key struct{ name, version, arch string }
	var (
		best      *lock.Contents
		bestIndex map[key]string
		bestHits  = -1
	)
	archs := make([]string, 0, len(l.Archs))
	for a := range l.Archs {
		archs = append(archs, a)
	}
	slices.Sort(archs)
	for _, a := range archs {
		c := l.Archs[a]
		if c == nil {
			continue
		}
		index := make(map[key]string, len(c.Packages))
		for _, p := range c.Packages {
			index[key{p.Name, p.Version, p.Architecture}] = p.SHA256
		}
		hits := 0
		for _, p := range inv.Packages {
			if _, ok := index[key{p.Name, p.Version, p.Arch}]; ok && p.Type == evidence.TypeDeb {
				hits++
			}
		}
		if hits > bestHits {
			best, bestIndex, bestHits = c, index, hits
		}
	}
	if best == nil {
		return
	}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		if p.Type != evidence.TypeDeb {
			continue
		}
		if sum, ok := bestIndex[key{p.Name, p.Version, p.Arch}]; ok {
			p.SHA256 = sum
		}
	}
	inv.Excluded = inv.Excluded[:0]
	for _, e := range best.Excluded {
		inv.Excluded = append(inv.Excluded, evidence.Exclusion{Name: e.Name, RequiredBy: slices.Clone(e.RequiredBy)})
	}
	if len(inv.Excluded) == 0 {
		inv.Excluded = nil
	}
}
