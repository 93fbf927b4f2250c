package vuln

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Match returns the vulnerabilities affecting the inventory's packages, one finding per package and
// advisory (Kind vulnerability, Status affected), read from every imported source. It reads only the
// ecosystems and packages the inventory names, and fetches nothing; with no data imported it fails
// with ErrNoData rather than report a clean image.
//
// Packages are matched in their OSV ecosystem (Package.Ecosystem, else derived from the type and the
// distro): an advisory for "Debian:12" applies to Debian 12 packages, one for "Debian" to any Debian
// release; likewise for Alpine and Ubuntu ("Ubuntu:22.04" also reads "Ubuntu:22.04:LTS"). Distro
// advisories (Debian, Ubuntu, Alpine, Wolfi, Chainguard) name source packages, so those packages
// are looked up by Source and SourceVersion, and the finding names the binary package with
// PackageRef.Source set. Versions that the ecosystem's rules cannot read (a Go main module's
// "(devel)") match nothing.
//
// Records that alias each other (or share an alias) and affect the same package are reported as one
// finding: its ID is the CVE among the records' own IDs if there is one, else a GHSA, else the
// smallest ID, and the other IDs and aliases go to Aliases. The finding takes the highest severity of
// the group, every CVSS vector and reference, and as FixedVersion the version that fixes all of them
// (the highest of each record's lowest fix above the installed version). A finding none of whose
// records is rated takes the rating of the records related to it by aliases (see rateByAliases).
func (db *DB) Match(ctx context.Context, inv *evidence.Inventory) ([]evidence.Finding, error) {
	paths, err := db.sourcePaths()
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, ErrNoData
	}
	groups := groupPackages(inv)
	// The OSV ecosystems each group is looked up in.
	need := map[string][]*packageGroup{}
	for _, g := range groups {
		for _, eco := range lookupEcosystems(g.ecosystem) {
			need[eco] = append(need[eco], g)
		}
	}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := matchSource(ctx, p, need); err != nil {
			return nil, err
		}
	}
	var findings []evidence.Finding
	for _, g := range groups {
		findings = append(findings, g.findings()...)
	}
	if err := rateByAliases(ctx, paths, findings); err != nil {
		return nil, err
	}
	return findings, nil
}

func matchSource(ctx context.Context, path string, need map[string][]*packageGroup) error {
	x, err := openIndex(path)
	if err != nil {
		return err
	}
	defer x.Close()
	for eco, groups := range need {
		sec, err := x.section(eco)
		if err != nil {
			return err
		}
		if sec == nil {
			continue
		}
		for _, g := range groups {
			if err := ctx.Err(); err != nil {
				return err
			}
			advs, err := sec.lookup(g.queryName)
			if err != nil {
				return err
			}
			for i := range advs {
				if err := g.consider(sec, &advs[i]); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
		}
	}
	return nil
}

// lookupEcosystems lists the OSV ecosystems whose advisories apply to a package of ecosystem eco:
// itself, and its base when eco names a release ("Debian:12" also takes "Debian").
func lookupEcosystems(eco string) []string {
	base, release := splitEcosystem(eco)
	switch {
	case release == "":
		return []string{eco}
	case base == ecoUbuntu && !strings.Contains(release, ":"):
		// OSV marks Ubuntu's long-term releases: "Ubuntu:22.04:LTS".
		return []string{eco, eco + ":LTS", base}
	}
	return []string{eco, base}
}

// inventoryEcosystem is the OSV ecosystem a package is matched in.
func inventoryEcosystem(inv *evidence.Inventory, p *evidence.Package) string {
	if p.Ecosystem != "" {
		return canonicalEcosystem(p.Ecosystem)
	}
	var distroID, versionID string
	if inv.Distro != nil {
		distroID, versionID = strings.ToLower(inv.Distro.ID), inv.Distro.VersionID
	}
	switch p.Type {
	case evidence.TypeGolang:
		return ecoGo
	case evidence.TypeNPM:
		return ecoNPM
	case evidence.TypePyPI:
		return ecoPyPI
	case evidence.TypeDeb:
		if distroID == "ubuntu" && versionID != "" {
			return ecoUbuntu + ":" + versionID
		}
		if distroID != "" && distroID != "debian" {
			return "" // a derivative without OSV data of its own
		}
		if major, _, _ := strings.Cut(versionID, "."); major != "" {
			return ecoDebian + ":" + major
		}
		return ecoDebian
	case evidence.TypeAPK:
		switch distroID {
		case "wolfi":
			return ecoWolfi
		case "chainguard":
			return ecoChainguard
		case "", "alpine":
			parts := strings.Split(versionID, ".")
			if len(parts) >= 2 && parts[0] != "" && parts[1] != "" {
				return ecoAlpine + ":v" + parts[0] + "." + parts[1]
			}
			return ecoAlpine
		}
	}
	return ""
}

// packageGroup is the inventory's packages that are the same package at the same version (a Go
// module linked into several binaries), matched once and reported with every location.
type packageGroup struct {
	ecosystem    string
	pkg          evidence.Package
	queryName    string // the name advisories use: the source package for distros
	queryVersion string
	locations    []evidence.Location
	installed    map[string]version // parsed queryVersion per parser kind
	matches      map[string]*matched
	order        []string // advisory IDs in the order first matched
}

// matched is one record that affects a group's package.
type matched struct {
	adv    advisory
	fixed  string
	fixedV version
}

func groupPackages(inv *evidence.Inventory) []*packageGroup {
	byKey := map[string]*packageGroup{}
	var groups []*packageGroup
	for i := range inv.Packages {
		p := &inv.Packages[i]
		eco := inventoryEcosystem(inv, p)
		if eco == "" {
			continue
		}
		qn, qv := p.Name, p.Version
		if base, _ := splitEcosystem(eco); base == ecoDebian || base == ecoUbuntu || base == ecoAlpine || base == ecoWolfi || base == ecoChainguard {
			if src, srcVer := splitSource(p.Source); src != "" {
				qn = src
				switch {
				case p.SourceVersion != "":
					qv = p.SourceVersion
				case srcVer != "":
					qv = srcVer
				}
			}
		}
		qn = normalizeName(eco, qn)
		key := strings.Join([]string{eco, p.Type, p.Name, p.Version, qn, qv}, "\x00")
		g := byKey[key]
		if g == nil {
			g = &packageGroup{ecosystem: eco, pkg: *p, queryName: qn, queryVersion: qv, installed: map[string]version{}, matches: map[string]*matched{}}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.addLocations(p)
	}
	return groups
}

// splitSource reads dpkg's "Source: name (version)" form as well as a bare name.
func splitSource(s string) (name, ver string) {
	name, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if ok {
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
			ver = strings.TrimSpace(rest[1 : len(rest)-1])
		}
	}
	return name, ver
}

func (g *packageGroup) addLocations(p *evidence.Package) {
	add := func(l evidence.Location) {
		if !slices.Contains(g.locations, l) {
			g.locations = append(g.locations, l)
		}
	}
	for _, path := range p.Locations {
		add(evidence.Location{Layer: p.Layer, Path: path})
	}
	if len(p.Locations) == 0 && p.Layer != "" {
		add(evidence.Location{Layer: p.Layer})
	}
}

// installedAs parses the group's version with parse, once per kind of parser.
func (g *packageGroup) installedAs(kind string, parse parser) (version, bool) {
	if v, ok := g.installed[kind]; ok {
		return v, v != nil
	}
	v, err := parse(g.queryVersion)
	if err != nil {
		v = nil
	}
	g.installed[kind] = v
	return v, v != nil
}

// consider records adv against the group if it affects the installed version.
func (g *packageGroup) consider(sec *sectionReader, adv *advisory) error {
	if adv.Withdrawn {
		return nil
	}
	ok, fixed, fixedV := g.affectedBy(sec.s.Name, adv)
	if !ok {
		return nil
	}
	if err := adv.loadMeta(sec); err != nil {
		return err
	}
	m := g.matches[adv.ID]
	if m == nil {
		m = &matched{adv: *adv}
		g.matches[adv.ID] = m
		g.order = append(g.order, adv.ID)
	} else {
		// The same record again (another affected entry, or another source): keep the worse rating
		// and every vector.
		m.adv.Severity = max(m.adv.Severity, adv.Severity)
		m.adv.CVSS = mergeCVSS(m.adv.CVSS, adv.CVSS)
	}
	if fixedV != nil && (m.fixedV == nil || less(fixedV, m.fixedV)) {
		m.fixed, m.fixedV = fixed, fixedV
	}
	return nil
}

// affectedBy evaluates an advisory's ranges and versions against the installed version, as the OSV
// schema specifies, and returns the lowest fixed version above it in a range that matched.
func (g *packageGroup) affectedBy(eco string, adv *advisory) (affected bool, fixed string, fixedV version) {
	if len(adv.Ranges) == 0 && len(adv.Versions) == 0 {
		// No ranges or versions: every version is affected (as osv-scanner reads it).
		return true, "", nil
	}
	for _, r := range adv.Ranges {
		parse := parserFor(eco, r.Type, g.pkg.Name)
		if parse == nil {
			continue
		}
		iv, ok := g.installedAs(r.Type, parse)
		if !ok {
			continue
		}
		in, f, fv := inRange(iv, parse, r.Events)
		if !in {
			continue
		}
		affected = true
		if fv != nil && (fixedV == nil || less(fv, fixedV)) {
			fixed, fixedV = f, fv
		}
	}
	if affected {
		return true, fixed, fixedV
	}
	if len(adv.Versions) > 0 {
		parse := parserFor(eco, rangeEcosystem, g.pkg.Name)
		var iv version
		if parse != nil {
			iv, _ = g.installedAs(rangeEcosystem, parse)
		}
		for _, v := range adv.Versions {
			if v == g.queryVersion {
				return true, "", nil
			}
			if iv != nil {
				if pv, err := parse(v); err == nil && pv.compare(iv) == 0 {
					return true, "", nil
				}
			}
		}
	}
	return false, "", nil
}

type parsedEvent struct {
	kind byte
	raw  string
	v    version // nil for "introduced: 0"
}

// inRange reports whether v lies in the range the events describe. Events are put in version order
// ("introduced: 0" first) and replayed up to v: introduced at or below v opens the range, fixed or
// limit at or below v closes it, last_affected below v closes it. A range with an event the
// ecosystem's rules cannot read is skipped rather than guessed at.
func inRange(v version, parse parser, events []event) (bool, string, version) {
	evs := make([]parsedEvent, 0, len(events))
	for _, e := range events {
		pe := parsedEvent{kind: e.Kind, raw: e.Version}
		if e.Kind != eventIntroduced || e.Version != "0" {
			pv, err := parse(e.Version)
			if err != nil {
				return false, "", nil
			}
			pe.v = pv
		}
		evs = append(evs, pe)
	}
	slices.SortStableFunc(evs, func(a, b parsedEvent) int {
		switch {
		case a.v == nil && b.v == nil:
			return 0
		case a.v == nil:
			return -1
		case b.v == nil:
			return 1
		}
		return a.v.compare(b.v)
	})
	affected := false
	for _, e := range evs {
		switch e.kind {
		case eventIntroduced:
			if e.v == nil || v.compare(e.v) >= 0 {
				affected = true
			}
		case eventFixed, eventLimit:
			if v.compare(e.v) >= 0 {
				affected = false
			}
		case eventLastAffected:
			if v.compare(e.v) > 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, "", nil
	}
	for _, e := range evs {
		if e.kind == eventFixed && e.v.compare(v) > 0 {
			return true, e.raw, e.v
		}
	}
	return true, "", nil
}

// less orders two fixed versions. Versions read by different rules (a record's SEMVER range and
// another's ECOSYSTEM range) do not compare, and the one already chosen stays.
func less(a, b version) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && a.compare(b) < 0
}

func mergeCVSS(a, b []evidence.CVSS) []evidence.CVSS {
	for _, c := range b {
		if !slices.ContainsFunc(a, func(x evidence.CVSS) bool { return x.Vector == c.Vector }) {
			a = append(a, c)
		}
	}
	return a
}

// findings reports the group's matches, records that alias each other merged into one finding.
func (g *packageGroup) findings() []evidence.Finding {
	if len(g.order) == 0 {
		return nil
	}
	ids := slices.Clone(g.order)
	sort.Strings(ids)
	// Union records that name each other or share an alias.
	parent := make([]int, len(ids))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	union := func(i int, name string) {
		if j, ok := owner[name]; ok {
			parent[find(i)] = find(j)
		} else {
			owner[name] = i
		}
	}
	for i, id := range ids {
		union(i, id)
		for _, a := range g.matches[id].adv.Aliases {
			union(i, a)
		}
	}
	clusters := map[int][]string{}
	var roots []int
	for i, id := range ids {
		r := find(i)
		if _, ok := clusters[r]; !ok {
			roots = append(roots, r)
		}
		clusters[r] = append(clusters[r], id)
	}
	var out []evidence.Finding
	for _, r := range roots {
		out = append(out, g.finding(clusters[r]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// primaryID picks the ID a group of aliased records is reported under: a CVE, else a GHSA, else the
// smallest ID (ids are sorted).
func primaryID(ids []string) string {
	for _, prefix := range []string{"CVE-", "GHSA-"} {
		for _, id := range ids {
			if strings.HasPrefix(id, prefix) {
				return id
			}
		}
	}
	return ids[0]
}

func (g *packageGroup) finding(ids []string) evidence.Finding {
	id := primaryID(ids)
	first := g.matches[id]
	f := evidence.Finding{
		Kind:        evidence.KindVulnerability,
		ID:          id,
		Status:      evidence.StatusAffected,
		Title:       first.adv.Summary,
		Description: first.adv.Details,
		Package: &evidence.PackageRef{
			Name: g.pkg.Name, Version: g.pkg.Version, Type: g.pkg.Type, PURL: g.pkg.PURL,
		},
		Locations: slices.Clone(g.locations),
	}
	if g.queryName != normalizeName(g.ecosystem, g.pkg.Name) {
		f.Package.Source = g.queryName
	}
	var fixedV version
	var aliases []string
	order := append([]string{id}, slices.DeleteFunc(slices.Clone(ids), func(x string) bool { return x == id })...)
	for _, rid := range order {
		m := g.matches[rid]
		if rid != id && !slices.Contains(aliases, rid) {
			aliases = append(aliases, rid)
		}
		for _, a := range m.adv.Aliases {
			if a != id && !slices.Contains(aliases, a) {
				aliases = append(aliases, a)
			}
		}
		f.Severity = max(f.Severity, m.adv.Severity)
		f.CVSS = mergeCVSS(f.CVSS, m.adv.CVSS)
		for _, ref := range m.adv.References {
			if !slices.Contains(f.References, ref) {
				f.References = append(f.References, ref)
			}
		}
		if f.Title == "" {
			f.Title = m.adv.Summary
		}
		if f.Description == "" {
			f.Description = m.adv.Details
		}
		if p := m.adv.Published; !p.IsZero() && (f.Published.IsZero() || p.Before(f.Published)) {
			f.Published = p
		}
		if m.fixedV != nil && (fixedV == nil || less(fixedV, m.fixedV)) {
			f.FixedVersion, fixedV = m.fixed, m.fixedV
		}
	}
	if f.Title == "" {
		f.Title = firstLine(f.Description)
	}
	sort.Strings(aliases)
	f.Aliases = aliases
	return f
}

// firstLine shortens a description to a title when a record has no summary (Debian's).
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 120 {
		cut := strings.LastIndexByte(s[:120], ' ')
		if cut < 60 {
			cut = 117
		}
		s = s[:cut] + "..."
	}
	return s
}
