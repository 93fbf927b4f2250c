package catalog

import (
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// VersionDiff is what changed from one version to another, platform by platform (matched by
// os/arch/variant).
type VersionDiff struct {
	From      string         `json:"from"`
	To        string         `json:"to"`
	Platforms []PlatformDiff `json:"platforms"`
}

// Differs reports whether anything differs.
func (d VersionDiff) Differs() bool {
	for _, p := range d.Platforms {
		if p.Differs() {
			return true
		}
	}
	return false
}

// PlatformDiff is what changed in one platform image.
type PlatformDiff struct {
	Platform string `json:"platform"`
	// Only is "from" or "to" when the platform is in one version only (everything it ships is then
	// removed or added).
	Only    string             `json:"only,omitempty"`
	Added   []evidence.Package `json:"added,omitempty"`
	Removed []evidence.Package `json:"removed,omitempty"`
	Changed []PackageChange    `json:"changed,omitempty"`
	// Introduced and Fixed are the vulnerability findings that count in one version and not in the
	// other; a finding is the advisory and the package it affects, whatever that package's version.
	Introduced []evidence.Finding `json:"introduced,omitempty"`
	Fixed      []evidence.Finding `json:"fixed,omitempty"`
}

// Differs reports whether the platform differs.
func (p PlatformDiff) Differs() bool {
	return p.Only != "" || len(p.Added)+len(p.Removed)+len(p.Changed)+len(p.Introduced)+len(p.Fixed) > 0
}

// PackageChange is a package both versions ship, in other versions.
type PackageChange struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Ecosystem string `json:"ecosystem,omitempty"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// Diff compares two versions' evidence: the packages of each platform's inventory (by type, name and
// architecture; a name shipped at several versions, as a Go module in two binaries, compares as the
// set of them) and the vulnerability findings that count. Either version's evidence may be missing.
func Diff(a, b *Version) VersionDiff {
	d := VersionDiff{From: a.Ref(), To: b.Ref(), Platforms: []PlatformDiff{}}
	from, to := platformsByName(a), platformsByName(b)
	var names []string
	for n := range from {
		names = append(names, n)
	}
	for n := range to {
		if _, ok := from[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		pa, inA := from[n]
		pb, inB := to[n]
		pd := diffPlatform(pa, pb)
		pd.Platform = n
		switch {
		case !inA:
			pd.Only = "to"
		case !inB:
			pd.Only = "from"
		}
		d.Platforms = append(d.Platforms, pd)
	}
	return d
}

func platformsByName(v *Version) map[string]*evidence.Set {
	out := map[string]*evidence.Set{}
	for _, p := range v.Platforms {
		out[p.Name()] = p.Evidence
	}
	return out
}

// pkgID is a package's identity across versions.
type pkgID struct{ typ, name, arch string }

// shipped is what a platform ships of one package: one entry per distinct version.
type shipped struct {
	pkgs     []evidence.Package
	versions []string
}

func inventoryOf(set *evidence.Set) map[pkgID]*shipped {
	out := map[pkgID]*shipped{}
	if set == nil || set.Inventory == nil {
		return out
	}
	for _, p := range set.Inventory.Packages {
		id := pkgID{p.Type, p.Name, p.Arch}
		s := out[id]
		if s == nil {
			s = &shipped{}
			out[id] = s
		}
		if !contains(s.versions, p.Version) {
			s.versions = append(s.versions, p.Version)
			s.pkgs = append(s.pkgs, p)
		}
	}
	for _, s := range out {
		sort.Strings(s.versions)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// findingID names a vulnerability finding across versions: the advisory and the package's name.
type findingID struct{ id, pkg string }

func countingFindings(set *evidence.Set) map[findingID]evidence.Finding {
	out := map[findingID]evidence.Finding{}
	if set == nil || set.Vulns == nil {
		return out
	}
	for _, f := range set.Vulns.Findings {
		if !f.Counts() {
			continue
		}
		id := findingID{id: f.ID}
		if f.Package != nil {
			id.pkg = f.Package.Name
		}
		if _, ok := out[id]; !ok {
			out[id] = f
		}
	}
	return out
}

func diffPlatform(a, b *evidence.Set) PlatformDiff {
	var pd PlatformDiff
	ia, ib := inventoryOf(a), inventoryOf(b)
	for id, sa := range ia {
		sb, ok := ib[id]
		switch {
		case !ok:
			pd.Removed = append(pd.Removed, sa.pkgs...)
		case strings.Join(sa.versions, ", ") != strings.Join(sb.versions, ", "):
			pd.Changed = append(pd.Changed, PackageChange{Name: id.name, Type: id.typ, Ecosystem: sb.pkgs[0].Ecosystem,
				From: strings.Join(sa.versions, ", "), To: strings.Join(sb.versions, ", ")})
		}
	}
	for id, sb := range ib {
		if _, ok := ia[id]; !ok {
			pd.Added = append(pd.Added, sb.pkgs...)
		}
	}
	fa, fb := countingFindings(a), countingFindings(b)
	for id, f := range fa {
		if _, ok := fb[id]; !ok {
			pd.Fixed = append(pd.Fixed, f)
		}
	}
	for id, f := range fb {
		if _, ok := fa[id]; !ok {
			pd.Introduced = append(pd.Introduced, f)
		}
	}
	byPkg := func(ps []evidence.Package) {
		sort.Slice(ps, func(i, j int) bool {
			return ps[i].Type+" "+ps[i].Name+" "+ps[i].Version < ps[j].Type+" "+ps[j].Name+" "+ps[j].Version
		})
	}
	byFinding := func(fs []evidence.Finding) {
		sort.Slice(fs, func(i, j int) bool { return findingKey(fs[i]) < findingKey(fs[j]) })
	}
	byPkg(pd.Added)
	byPkg(pd.Removed)
	sort.Slice(pd.Changed, func(i, j int) bool {
		return pd.Changed[i].Type+" "+pd.Changed[i].Name < pd.Changed[j].Type+" "+pd.Changed[j].Name
	})
	byFinding(pd.Introduced)
	byFinding(pd.Fixed)
	return pd
}

func findingKey(f evidence.Finding) string {
	if f.Package != nil {
		return f.ID + " " + f.Package.Name
	}
	return f.ID
}
