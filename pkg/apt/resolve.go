package apt

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/deb"
)

// Errors returned by Resolve. Each is wrapped, so test with errors.Is.
var (
	// ErrNoSuchPackage: a requested name is neither a package nor provided by one for the architecture.
	ErrNoSuchPackage = errors.New("apt: no such package")
	// ErrUnsatisfiable: some dependency has no installable candidate; see *UnsatisfiableError.
	ErrUnsatisfiable = errors.New("apt: unsatisfiable dependency")
	// ErrConflict: the selected set violates a Conflicts or Breaks; see *ConflictError.
	ErrConflict = errors.New("apt: conflicting packages")
	// ErrInvalidRequest: the Request itself is malformed or contradicts itself.
	ErrInvalidRequest = errors.New("apt: invalid resolve request")
)

// Universe holds every candidate package for ONE architecture (that arch plus "all"), possibly from
// several repositories; earlier-added packages win ties of identical name+version. It is indexed once by
// name and by provided name, so a Resolve only touches the packages it selects. A Universe is not
// modified by Resolve and may be shared by concurrent calls.
type Universe struct {
	arch      string
	byName    map[string][]*Package  // versions of one name, highest first
	providers map[string][]provision // provided name -> providers, by name then highest version first

	// A universe over Indexes (NewIndexUniverse) fills byName and providers as names are asked for,
	// under mu, parsing the stanzas they need; nameErrs are the stanzas of a name, provErrs those
	// of the providers of a virtual name, that did not parse.
	indexes  []*Index
	mu       sync.Mutex
	nameErrs map[string]error
	provErrs map[string]error
}

// provision is one "Provides" entry of a package.
type provision struct {
	pkg       *Package
	versioned bool // "Provides: name (= version)"
	version   deb.Version
}

// satisfies applies dpkg's rule: a versioned relation on a virtual name is met only by a versioned
// Provides whose version meets it.
func (pr provision) satisfies(r deb.Relation) bool {
	if r.Op == "" {
		return true
	}
	return pr.versioned && r.SatisfiedBy(pr.version)
}

// NewUniverse indexes pkgs for arch. Packages of other architectures are ignored; of several packages
// with the same name and version, the first one added is kept. Provides fields are parsed here; a
// package whose Provides is malformed provides nothing, and Resolve reports the error if it selects it.
func NewUniverse(arch string, pkgs ...[]*Package) *Universe {
	total := 0
	for _, list := range pkgs {
		total += len(list)
	}
	u := &Universe{
		arch:      arch,
		byName:    make(map[string][]*Package, total),
		providers: make(map[string][]provision, total/8),
	}
	for _, list := range pkgs {
		for _, p := range list {
			if p == nil || !u.archIncludes(p.Architecture) {
				continue
			}
			u.byName[p.Name] = append(u.byName[p.Name], p)
		}
	}
	for name, vs := range u.byName {
		kept := keepHighest(vs)
		u.byName[name] = kept
		for _, p := range kept {
			provisionsOf(p, func(virtual string, pr provision) {
				u.providers[virtual] = append(u.providers[virtual], pr)
			})
		}
	}
	for _, prs := range u.providers {
		sortProvisions(prs)
	}
	return u
}

// NewIndexUniverse is NewUniverse over the packages of idxs, for arch, in that order: the same
// resolutions, but a stanza is only parsed when a resolution asks for its name or a name it
// provides. A stanza that does not parse is an error of every Resolve that asks for it.
func NewIndexUniverse(arch string, idxs ...*Index) *Universe {
	return &Universe{arch: arch, byName: map[string][]*Package{}, providers: map[string][]provision{}, indexes: idxs, nameErrs: map[string]error{}, provErrs: map[string]error{}}
}

// keepHighest orders the versions of one name highest first and keeps the first of each version.
func keepHighest(vs []*Package) []*Package {
	if len(vs) == 0 {
		return nil
	}
	// Stable, so that among equal versions the earliest added comes first and is kept.
	slices.SortStableFunc(vs, func(a, b *Package) int { return b.Version.Compare(a.Version) })
	kept := vs[:1]
	for _, p := range vs[1:] {
		if p.Version.Compare(kept[len(kept)-1].Version) != 0 {
			kept = append(kept, p)
		}
	}
	return kept
}

// provisionsOf calls fn for each entry of p's Provides; a malformed Provides provides nothing.
func provisionsOf(p *Package, fn func(virtual string, pr provision)) {
	if !p.hasRelation(fieldProvides) {
		return
	}
	groups, err := p.Provides()
	if err != nil {
		return
	}
	for _, g := range groups {
		r := g[0] // Provides() guarantees one relation per group.
		fn(r.Name, provision{pkg: p, versioned: r.Op != "", version: r.Version})
	}
}

// sortProvisions orders the providers of one name by name, then highest version first, versioned
// first, highest provided version first, so that provider choice does not depend on map order.
func sortProvisions(prs []provision) {
	slices.SortFunc(prs, func(a, b provision) int {
		if c := cmp.Compare(a.pkg.Name, b.pkg.Name); c != 0 {
			return c
		}
		if c := b.pkg.Version.Compare(a.pkg.Version); c != 0 {
			return c
		}
		if a.versioned != b.versioned {
			if a.versioned {
				return -1
			}
			return 1
		}
		return b.version.Compare(a.version)
	})
}

// archIncludes says whether a package of architecture a belongs in the universe.
func (u *Universe) archIncludes(a string) bool { return a == u.arch || a == "all" }

// named is the kept versions of name, highest first, and over Indexes the stanzas of name that did
// not parse.
func (u *Universe) named(name string) ([]*Package, error) {
	if u.indexes == nil {
		return u.byName[name], nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.namedLocked(name)
}

func (u *Universe) namedLocked(name string) ([]*Package, error) {
	if vs, ok := u.byName[name]; ok {
		return vs, u.nameErrs[name]
	}
	var (
		vs   []*Package
		errs []error
	)
	for _, ix := range u.indexes {
		for _, i := range ix.byName[name] {
			if !u.archIncludes(ix.stanzas[i].arch) {
				continue
			}
			p, err := ix.pkg(i)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			vs = append(vs, p)
		}
	}
	vs = keepHighest(vs)
	u.byName[name] = vs
	if err := errors.Join(errs...); err != nil {
		u.nameErrs[name] = err
	}
	return vs, u.nameErrs[name]
}

// provided is the providers of the virtual name, ordered by sortProvisions, and over Indexes the
// stanzas of its providers' names that did not parse.
func (u *Universe) provided(name string) ([]provision, error) {
	if u.indexes == nil {
		return u.providers[name], nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if prs, ok := u.providers[name]; ok {
		return prs, u.provErrs[name]
	}
	var names []string
	for _, ix := range u.indexes {
		for _, i := range ix.provides[name] {
			if s := ix.stanzas[i]; u.archIncludes(s.arch) && !slices.Contains(names, s.name) {
				names = append(names, s.name)
			}
		}
	}
	var (
		prs  []provision
		errs []error
	)
	for _, n := range names {
		vs, err := u.namedLocked(n)
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range vs {
			provisionsOf(p, func(virtual string, pr provision) {
				if virtual == name {
					prs = append(prs, pr)
				}
			})
		}
	}
	sortProvisions(prs)
	u.providers[name] = prs
	if err := errors.Join(errs...); err != nil {
		u.provErrs[name] = err
	}
	return prs, u.provErrs[name]
}

// Arch returns the architecture the universe was built for.
func (u *Universe) Arch() string { return u.arch }

// Request says what to install.
type Request struct {
	Packages []string // "name" or "name=version" (exact pin)
	Exclude  []string // package or virtual names treated as already satisfied and never installed
}

// Exclusion records a Request.Exclude entry that actually removed a dependency.
type Exclusion struct {
	Name       string
	RequiredBy []string // sorted names of selected packages whose Depends/Pre-Depends were cut by it
}

// VirtualChoice records which package was chosen to satisfy relations on a virtual name.
type VirtualChoice struct {
	Name       string   // the virtual name, e.g. "awk"
	Provider   string   // the selected package providing it, e.g. "mawk"
	RequiredBy []string // sorted names of selected packages whose relations it satisfied; empty when requested
}

// Resolution is the installable set Resolve computed.
type Resolution struct {
	Packages []*Package      // sorted by name; each name once
	Excluded []Exclusion     // sorted by name; only exclusions that actually cut something
	Virtual  []VirtualChoice // sorted by Name then Provider
}

// UnsatisfiableError says which dependency could not be met and why.
type UnsatisfiableError struct {
	Chain    []string // package names from a requested package to the one whose relation failed; empty for the request itself
	Relation string   // the relation as written, e.g. "libfoo (>= 2.0)" or "a | b"
	Reason   string   // e.g. "only libfoo 1.4-1 is available"
}

func (e *UnsatisfiableError) Error() string {
	return "cannot satisfy " + strings.Join(append(slices.Clone(e.Chain), e.Relation), " -> ") + ": " + e.Reason
}

func (e *UnsatisfiableError) Unwrap() error { return ErrUnsatisfiable }

// ConflictError says which two selected packages cannot be installed together.
type ConflictError struct {
	Package, Version    string   // the package declaring the relation
	Field               string   // "Conflicts" or "Breaks"
	Relation            string   // the relation as written, e.g. "libbaz (<< 3)"
	Other, OtherVersion string   // the selected package matching it, directly or through Provides
	Chain, OtherChain   []string // how each was pulled in, from a requested package
}

func (e *ConflictError) Error() string {
	verb := "conflicts with"
	if e.Field == "Breaks" {
		verb = "breaks"
	}
	other := e.Other + " " + e.OtherVersion
	if name, _, _ := strings.Cut(e.Relation, " "); name != e.Other {
		other += " (providing " + name + ")"
	}
	return fmt.Sprintf("%s %s %s %s, but %s is also selected (%s; %s)", e.Package, e.Version, verb, e.Relation,
		other, strings.Join(e.Chain, " -> "), strings.Join(e.OtherChain, " -> "))
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Resolve computes the set of packages to install for req: the requested packages and, transitively,
// their Pre-Depends and Depends (not Recommends or Suggests), one version per name.
//
// For each relation, an alternative already met by the selection wins, then one naming an excluded
// name, then the first alternative in written order that can be added without changing an earlier
// choice, and only then one that needs an earlier choice changed. A name gets the highest version meeting
// every constraint seen for it; when a later constraint rules the chosen version out, the constraint is
// remembered and resolution starts over, so the final set never holds leftovers of a discarded choice.
// A relation on a virtual name is met by the real package of that name if there is one, else by a
// provider: already selected, else by Priority, then by name.
//
// When adding a package, candidates (alternatives, versions, providers) that would clash with the
// Conflicts or Breaks of the selection so far are passed over if another fits; this is how apt picks
// pipewire-pulse rather than pulseaudio next to pipewire-audio. The final set is then checked, and any
// clash that could not be avoided is reported as a *ConflictError; there is no further backtracking.
func (u *Universe) Resolve(req Request) (res *Resolution, err error) {
	r := &resolver{u: u, excluded: make(map[string]bool), learned: make(map[string][]constraint)}
	defer func() {
		// Over Indexes, a stanza this resolution asked for that does not parse is the error,
		// whatever came of it.
		if perr := errors.Join(r.parseErrs...); perr != nil {
			res, err = nil, fmt.Errorf("reading the index: %w", perr)
		}
	}()
	for _, x := range req.Exclude {
		x = strings.TrimSpace(x)
		if !validRelationName(x) {
			return nil, fmt.Errorf("%w: invalid excluded name %.80q", ErrInvalidRequest, x)
		}
		r.excluded[x] = true
	}
	roots, err := r.parseRequest(req.Packages)
	if err != nil {
		return nil, err
	}
	// Every restart adds a constraint ruling out a version the previous pass chose and the learned
	// constraints allowed, so the set of allowed versions shrinks and the loop ends.
	for {
		restart, err := r.pass(roots)
		if err != nil {
			return nil, err
		}
		if !restart {
			break
		}
	}
	if err := r.checkConflicts(); err != nil {
		return nil, err
	}
	return r.resolution(), nil
}

// constraint is a relation on a real package name, with where it came from for error messages.
type constraint struct {
	rel   deb.Relation
	chain []string // the requirer's chain; nil for the request
	pin   bool     // "name=version" in the request
}

func (k constraint) String() string {
	if k.pin {
		return "the request " + k.rel.Name + "=" + k.rel.Version.String()
	}
	return strings.Join(append(slices.Clone(k.chain), k.rel.String()), " -> ")
}

// choice is a selected package and the chain of names that pulled it in, ending with its own name.
type choice struct {
	pkg   *Package
	chain []string
}

// declaredConflict is one Conflicts or Breaks relation of a selected package.
type declaredConflict struct {
	c   *choice
	rel deb.Relation
}

// selectedProvision is a Provides entry of a selected package.
type selectedProvision struct {
	c    *choice
	prov provision
}

// resolver is the state of one Resolve call. learned and excluded live across passes; the rest is reset
// by every pass.
type resolver struct {
	u         *Universe
	excluded  map[string]bool
	learned   map[string][]constraint
	parseErrs []error // stanzas asked for that did not parse, each once

	selected map[string]*choice
	selProv  map[string][]selectedProvision // provided name -> selected providers
	declared map[string][]declaredConflict  // name -> Conflicts and Breaks of the selection on it
	cuts     map[string]map[string]bool     // excluded name -> requirers
	virtuals map[[2]string]map[string]bool  // {virtual, provider} -> requirers
	queue    []*choice                      // selected packages, in selection order
}

// named is the universe's versions of name, noting the stanzas of it that did not parse.
func (r *resolver) named(name string) []*Package {
	vs, err := r.u.named(name)
	r.noteParse(err)
	return vs
}

// provided is the universe's providers of name, noting the stanzas of them that did not parse.
func (r *resolver) provided(name string) []provision {
	prs, err := r.u.provided(name)
	r.noteParse(err)
	return prs
}

func (r *resolver) noteParse(err error) {
	if err != nil && !slices.ContainsFunc(r.parseErrs, func(e error) bool { return errors.Is(e, err) }) {
		r.parseErrs = append(r.parseErrs, err)
	}
}

// parseRequest validates the request, records pins as constraints and returns one root relation per
// requested name, sorted by name so that the order of Request.Packages does not matter.
func (r *resolver) parseRequest(pkgs []string) ([]deb.Relation, error) {
	seen := make(map[string]deb.Relation, len(pkgs))
	var unknown []error
	for _, s := range pkgs {
		name, ver, pinned := strings.Cut(strings.TrimSpace(s), "=")
		if !validRelationName(name) {
			return nil, fmt.Errorf("%w: invalid package name in %.80q", ErrInvalidRequest, s)
		}
		rel := deb.Relation{Name: name}
		if pinned {
			v, err := deb.ParseVersion(ver)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidRequest, s, err)
			}
			rel.Op, rel.Version = deb.OpEqual, v
		}
		if r.excluded[name] {
			return nil, fmt.Errorf("%w: %s is both requested and excluded", ErrInvalidRequest, name)
		}
		if prev, ok := seen[name]; ok {
			if prev.Op != "" && rel.Op != "" && prev.Version.Compare(rel.Version) != 0 {
				return nil, fmt.Errorf("%w: %s is pinned to both %s and %s", ErrInvalidRequest, name, prev.Version, rel.Version)
			}
			if prev.Op != "" {
				continue
			}
		} else if len(r.named(name)) == 0 && len(r.provided(name)) == 0 {
			unknown = append(unknown, r.u.noSuchPackage(name))
		}
		seen[name] = rel
	}
	if len(unknown) > 0 {
		return nil, errors.Join(unknown...)
	}
	roots := slices.SortedFunc(maps.Values(seen), func(a, b deb.Relation) int { return cmp.Compare(a.Name, b.Name) })
	for _, rel := range roots {
		if rel.Op != "" && len(r.named(rel.Name)) > 0 {
			r.learned[rel.Name] = append(r.learned[rel.Name], constraint{rel: rel, pin: true})
		}
	}
	return roots, nil
}

// pass runs one resolution from scratch with the constraints learned so far. It reports restart when a
// choice had to change.
func (r *resolver) pass(roots []deb.Relation) (restart bool, err error) {
	r.selected = make(map[string]*choice)
	r.selProv = make(map[string][]selectedProvision)
	r.declared = make(map[string][]declaredConflict)
	r.cuts = make(map[string]map[string]bool)
	r.virtuals = make(map[[2]string]map[string]bool)
	r.queue = r.queue[:0]
	// All requested packages are selected before any dependency, so alternatives prefer them.
	for _, rel := range roots {
		if restart, err := r.satisfy(nil, deb.Alternatives{rel}); restart || err != nil {
			return restart, err
		}
	}
	for i := 0; i < len(r.queue); i++ {
		c := r.queue[i]
		for _, f := range [...]relationField{fieldPreDepends, fieldDepends} {
			groups, err := c.pkg.relation(f)
			if err != nil {
				return false, err
			}
			for _, g := range groups {
				if restart, err := r.satisfy(c, g); restart || err != nil {
					return restart, err
				}
			}
		}
	}
	return false, nil
}

// satisfy meets one relation group of from (nil for the request).
func (r *resolver) satisfy(from *choice, group deb.Alternatives) (restart bool, err error) {
	var (
		chain    []string
		requirer string
	)
	if from != nil {
		chain, requirer = from.chain, from.pkg.Name
	}
	alts := make(deb.Alternatives, 0, len(group))
	for _, a := range group {
		if r.u.archMatches(a) {
			alts = append(alts, a)
		}
	}
	if len(alts) == 0 {
		return false, nil // every alternative is for other architectures
	}

	// 1. Already met by the selection.
	for _, a := range alts {
		if !r.u.qualifierOK(a) {
			continue
		}
		if c := r.selected[a.Name]; c != nil && a.SatisfiedBy(c.pkg.Version) {
			return false, nil
		}
		for _, sp := range r.selProv[a.Name] {
			if sp.prov.satisfies(a) {
				r.noteVirtual(a.Name, sp.c.pkg.Name, requirer)
				return false, nil
			}
		}
	}
	// 2. Excluded: treated as already installed.
	for _, a := range alts {
		if r.excluded[a.Name] {
			if requirer != "" {
				noteSet(r.cuts, a.Name, requirer)
			}
			return false, nil
		}
	}
	// 3. A new package that fits every constraint so far, preferring one that does not clash with the
	// Conflicts and Breaks of the selection (nor the selection with its own). A clashing one is still
	// taken when nothing else fits, so that checkConflicts reports the clash with both chains.
	var (
		fallback        *Package
		fallbackAlt     deb.Relation
		fallbackVirtual bool
	)
	for _, a := range alts {
		if !r.u.qualifierOK(a) {
			continue
		}
		pkg, virtual, clash := r.candidate(a)
		if pkg == nil {
			continue
		}
		if clash {
			if fallback == nil {
				fallback, fallbackAlt, fallbackVirtual = pkg, a, virtual
			}
			continue
		}
		return false, r.take(pkg, a, virtual, chain, requirer)
	}
	if fallback != nil {
		return false, r.take(fallback, fallbackAlt, fallbackVirtual, chain, requirer)
	}
	// 4. Change an earlier choice: remember the constraint and start over. Only learned constraints are
	// checked, not the relations this pass met with the current choice: the next pass may meet those
	// through other alternatives (see the "upgrades through another alternative" test).
	for _, a := range alts {
		if !r.u.qualifierOK(a) || r.selected[a.Name] == nil {
			continue
		}
		for _, p := range r.named(a.Name) {
			if a.SatisfiedBy(p.Version) && r.allowed(a.Name, p.Version) {
				r.learned[a.Name] = append(r.learned[a.Name], constraint{rel: a, chain: slices.Clone(chain)})
				return true, nil
			}
		}
	}
	reasons := make([]string, 0, len(alts))
	for _, a := range alts {
		if why := r.explain(a); !slices.Contains(reasons, why) {
			reasons = append(reasons, why)
		}
	}
	return false, &UnsatisfiableError{Chain: slices.Clone(chain), Relation: group.String(), Reason: strings.Join(reasons, "; ")}
}

// take selects pkg for alternative a of a relation of the package whose chain is given.
func (r *resolver) take(pkg *Package, a deb.Relation, virtual bool, chain []string, requirer string) error {
	if err := r.add(pkg, chain); err != nil {
		return err
	}
	if virtual {
		r.noteVirtual(a.Name, pkg.Name, requirer)
	}
	return nil
}

// candidate picks a package not yet selected for relation a: the highest allowed version of the real
// package a.Name if one exists, else the best allowed provider of it. Candidates that clash with the
// selection come last; clash reports whether the one returned does.
func (r *resolver) candidate(a deb.Relation) (pkg *Package, virtual, clash bool) {
	if vs := r.named(a.Name); len(vs) > 0 {
		if r.selected[a.Name] != nil {
			return nil, false, false
		}
		var first *Package
		for _, p := range vs {
			if !a.SatisfiedBy(p.Version) || !r.allowed(a.Name, p.Version) {
				continue
			}
			if !r.clashes(p) {
				return p, false, false
			}
			if first == nil {
				first = p
			}
		}
		return first, false, first != nil
	}
	var best, bestClash *Package
	last := ""
	for _, pr := range r.provided(a.Name) {
		m := pr.pkg.Name
		if m == last || r.excluded[m] || r.selected[m] != nil || !pr.satisfies(a) || !r.allowed(m, pr.pkg.Version) {
			continue
		}
		last = m // the first acceptable entry of a name is its highest version
		// Names come sorted, so on equal priority the first name stays. Checking for clashes only when
		// a provider could win keeps virtual names with hundreds of providers cheap.
		rank := priorityRank(pr.pkg.Priority)
		if best != nil && rank >= priorityRank(best.Priority) {
			continue
		}
		if !r.clashes(pr.pkg) {
			best = pr.pkg
		} else if bestClash == nil || rank < priorityRank(bestClash.Priority) {
			bestClash = pr.pkg
		}
	}
	if best == nil {
		return bestClash, true, bestClash != nil
	}
	return best, true, false
}

// clashes reports whether adding p would violate a Conflicts or Breaks, declared by the selection
// against p or by p against the selection. A malformed field counts as no clash here; add reports it.
func (r *resolver) clashes(p *Package) bool {
	for _, d := range r.declared[p.Name] {
		if d.c.pkg.Name != p.Name && d.rel.SatisfiedBy(p.Version) {
			return true
		}
	}
	provs, _ := p.Provides()
	for _, g := range provs {
		pr := provision{pkg: p, versioned: g[0].Op != "", version: g[0].Version}
		for _, d := range r.declared[g[0].Name] {
			if d.c.pkg.Name != p.Name && pr.satisfies(d.rel) {
				return true
			}
		}
	}
	for _, f := range [...]relationField{fieldConflicts, fieldBreaks} {
		groups, _ := p.relation(f)
		for _, g := range groups {
			for _, rel := range g {
				if r.violates(p.Name, rel) != nil {
					return true
				}
			}
		}
	}
	return false
}

// violates returns the selected package, other than the declaring package self, that a Conflicts or
// Breaks relation rel matches, directly or through its Provides; nil if none. A package never conflicts
// with itself, including through a virtual name it both Provides and Conflicts with (the Debian idiom
// for "only one provider").
func (r *resolver) violates(self string, rel deb.Relation) *choice {
	if !r.u.archMatches(rel) || !r.u.qualifierOK(rel) {
		return nil
	}
	if o := r.selected[rel.Name]; o != nil && o.pkg.Name != self && rel.SatisfiedBy(o.pkg.Version) {
		return o
	}
	for _, sp := range r.selProv[rel.Name] {
		if sp.c.pkg.Name != self && sp.prov.satisfies(rel) {
			return sp.c
		}
	}
	return nil
}

// allowed reports whether version v of name meets every learned constraint on it.
func (r *resolver) allowed(name string, v deb.Version) bool {
	for _, k := range r.learned[name] {
		if !k.rel.SatisfiedBy(v) {
			return false
		}
	}
	return true
}

// add selects pkg, pulled in by the package whose chain is given.
func (r *resolver) add(pkg *Package, chain []string) error {
	c := &choice{pkg: pkg, chain: append(slices.Clip(chain), pkg.Name)}
	provs, err := pkg.Provides()
	if err != nil {
		return err
	}
	r.selected[pkg.Name] = c
	for _, g := range provs {
		p := g[0]
		r.selProv[p.Name] = append(r.selProv[p.Name], selectedProvision{c: c, prov: provision{pkg: pkg, versioned: p.Op != "", version: p.Version}})
	}
	for _, f := range [...]relationField{fieldConflicts, fieldBreaks} {
		groups, err := pkg.relation(f)
		if err != nil {
			return err
		}
		for _, g := range groups {
			for _, rel := range g {
				if r.u.archMatches(rel) && r.u.qualifierOK(rel) {
					r.declared[rel.Name] = append(r.declared[rel.Name], declaredConflict{c: c, rel: rel})
				}
			}
		}
	}
	r.queue = append(r.queue, c)
	return nil
}

func (r *resolver) noteVirtual(name, provider, requirer string) {
	key := [2]string{name, provider}
	if r.virtuals[key] == nil {
		r.virtuals[key] = make(map[string]bool)
	}
	if requirer != "" {
		r.virtuals[key][requirer] = true
	}
}

func noteSet(m map[string]map[string]bool, key, value string) {
	if m[key] == nil {
		m[key] = make(map[string]bool)
	}
	m[key][value] = true
}

// explain says why no step of satisfy could use alternative a.
func (r *resolver) explain(a deb.Relation) string {
	if !r.u.qualifierOK(a) {
		return fmt.Sprintf("%s:%s cannot be installed on %s", a.Name, a.ArchQual, r.u.arch)
	}
	if vs := r.named(a.Name); len(vs) > 0 {
		var matching []*Package
		for _, p := range vs {
			if a.SatisfiedBy(p.Version) {
				matching = append(matching, p)
			}
		}
		if len(matching) == 0 {
			if len(vs) == 1 {
				return "only " + a.Name + " " + vs[0].Version.String() + " is available"
			}
			return "only " + a.Name + " " + versionList(vs) + " are available"
		}
		// Steps 3 and 4 only fail for a real name when the learned constraints exclude every match.
		for _, k := range r.learned[a.Name] {
			if !slices.ContainsFunc(matching, func(p *Package) bool { return k.rel.SatisfiedBy(p.Version) }) {
				return "conflicts with " + k.String()
			}
		}
		all := make([]string, 0, len(r.learned[a.Name]))
		for _, k := range r.learned[a.Name] {
			all = append(all, k.String())
		}
		return "no version of " + a.Name + " also meets " + strings.Join(all, " and ")
	}
	prs := r.provided(a.Name)
	if len(prs) == 0 {
		return "no package " + a.Name + " is available for " + r.u.arch
	}
	var why []string
	for _, pr := range prs {
		if !pr.satisfies(a) {
			continue
		}
		m, v := pr.pkg.Name, pr.pkg.Version
		var s string
		switch c := r.selected[m]; {
		case r.excluded[m]:
			s = m + " is excluded"
		case c != nil:
			s = m + " " + c.pkg.Version.String() + " is selected"
		default:
			for _, k := range r.learned[m] {
				if !k.rel.SatisfiedBy(v) {
					s = m + " " + v.String() + " conflicts with " + k.String()
					break
				}
			}
		}
		if s != "" && !slices.Contains(why, s) {
			why = append(why, s)
		}
	}
	if len(why) == 0 {
		var names []string
		for _, pr := range prs {
			s := pr.pkg.Name
			if pr.versioned {
				s += " (= " + pr.version.String() + ")"
			}
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
		return "virtual package " + a.Name + " is provided by " + strings.Join(names, ", ") + ", none of which matches"
	}
	return "no provider of " + a.Name + " can be installed: " + strings.Join(why, "; ")
}

// versionList lists versions (highest first), eliding past five.
func versionList(vs []*Package) string {
	var parts []string
	for i, p := range vs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(vs)-5))
			break
		}
		parts = append(parts, p.Version.String())
	}
	return strings.Join(parts, ", ")
}

// checkConflicts applies Conflicts and Breaks to the final selection.
func (r *resolver) checkConflicts() error {
	for _, name := range slices.Sorted(maps.Keys(r.selected)) {
		c := r.selected[name]
		for _, f := range [...]relationField{fieldConflicts, fieldBreaks} {
			groups, err := c.pkg.relation(f)
			if err != nil {
				return err
			}
			for _, g := range groups {
				for _, rel := range g {
					if o := r.violates(name, rel); o != nil {
						return conflict(c, f, rel, o)
					}
				}
			}
		}
	}
	return nil
}

func conflict(c *choice, f relationField, rel deb.Relation, o *choice) error {
	return &ConflictError{
		Package:      c.pkg.Name,
		Version:      c.pkg.Version.String(),
		Field:        f.String(),
		Relation:     rel.String(),
		Other:        o.pkg.Name,
		OtherVersion: o.pkg.Version.String(),
		Chain:        slices.Clone(c.chain),
		OtherChain:   slices.Clone(o.chain),
	}
}

func (r *resolver) resolution() *Resolution {
	res := &Resolution{Packages: make([]*Package, 0, len(r.selected))}
	for _, name := range slices.Sorted(maps.Keys(r.selected)) {
		res.Packages = append(res.Packages, r.selected[name].pkg)
	}
	for _, name := range slices.Sorted(maps.Keys(r.cuts)) {
		res.Excluded = append(res.Excluded, Exclusion{Name: name, RequiredBy: slices.Sorted(maps.Keys(r.cuts[name]))})
	}
	for _, key := range slices.SortedFunc(maps.Keys(r.virtuals), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		res.Virtual = append(res.Virtual, VirtualChoice{Name: key[0], Provider: key[1], RequiredBy: slices.Sorted(maps.Keys(r.virtuals[key]))})
	}
	return res
}

// archMatches applies a "[amd64 !arm64]" restriction: a list of negations matches every architecture
// not negated, a positive list only those listed.
func (u *Universe) archMatches(r deb.Relation) bool {
	if len(r.Archs) == 0 {
		return true
	}
	negated := strings.HasPrefix(r.Archs[0], "!")
	for _, a := range r.Archs {
		pattern, neg := strings.CutPrefix(a, "!")
		if u.archIs(pattern) {
			return !neg
		}
	}
	return negated
}

// archIs matches a Debian architecture name or wildcard (any, linux-any, any-amd64) against u.arch;
// ingot only builds Linux images.
func (u *Universe) archIs(pattern string) bool {
	switch pattern {
	case u.arch, "any", "linux-any", "any-" + u.arch, "linux-" + u.arch:
		return true
	}
	return false
}

// qualifierOK reports whether a ":qualifier" can be met in a single-architecture universe.
func (u *Universe) qualifierOK(r deb.Relation) bool {
	switch r.ArchQual {
	case "", "any", "native", u.arch:
		return true
	}
	return false
}

// priorityRank orders the Priority field for choosing among providers; unknown sorts last.
func priorityRank(p string) int {
	switch p {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	case "extra":
		return 4
	}
	return 5
}

// noSuchPackage builds the ErrNoSuchPackage error for name, suggesting up to three close names.
func (u *Universe) noSuchPackage(name string) error {
	type near struct {
		name string
		d    int
	}
	limit := 1
	if len(name) >= 5 {
		limit = 2
	}
	var found []near
	consider := func(n string) {
		if abs(len(n)-len(name)) > limit {
			return
		}
		if d := editDistance(name, n); d <= limit {
			found = append(found, near{n, d})
		}
	}
	if u.indexes == nil {
		for n := range u.byName {
			consider(n)
		}
		for n := range u.providers {
			if len(u.byName[n]) == 0 {
				consider(n)
			}
		}
	} else {
		// The names of the indexes that are near, then only those a resolution would find.
		dist := map[string]int{} // near names -> their distance
		for _, ix := range u.indexes {
			for _, m := range []map[string][]int32{ix.byName, ix.provides} {
				for n := range m {
					if _, seen := dist[n]; seen || abs(len(n)-len(name)) > limit {
						continue
					}
					if d := editDistance(name, n); d <= limit {
						dist[n] = d
					}
				}
			}
		}
		for n, d := range dist {
			vs, _ := u.named(n) // suggestions only: a broken stanza is reported when it is asked for
			prs, _ := u.provided(n)
			if len(vs) > 0 || len(prs) > 0 {
				found = append(found, near{n, d})
			}
		}
	}
	slices.SortFunc(found, func(a, b near) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.name, b.name)) })
	if len(found) > 0 {
		var names []string
		for _, f := range found[:min(3, len(found))] {
			names = append(names, f.name)
		}
		return fmt.Errorf("%w: %s for %s (did you mean %s?)", ErrNoSuchPackage, name, u.arch, strings.Join(names, ", "))
	}
	return fmt.Errorf("%w: %s for %s", ErrNoSuchPackage, name, u.arch)
}

// editDistance is the Levenshtein distance between a and b, in bytes (package names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// validRelationName accepts what can appear as a name in a relation field: package names and virtual
// names share the same syntax.
func validRelationName(s string) bool { return validPackageName(s) }
