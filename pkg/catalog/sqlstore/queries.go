package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// statusSet is the statuses a query keeps; ErrInvalid for one that is not a status.
type statusSet []catalog.Status

// statusesOf checks the statuses a query asks for (all when none).
func statusesOf(statuses []catalog.Status) (statusSet, error) {
	for _, st := range statuses {
		if _, err := catalog.ParseStatus(string(st)); err != nil {
			return nil, err
		}
	}
	return statusSet(statuses), nil
}

// keeps reports whether a version in status st is in the set: a few string comparisons, cheaper
// than hashing the status for each of tens of thousands of rows.
func (s statusSet) keeps(st catalog.Status) bool {
	if len(s) == 0 {
		return true
	}
	for _, x := range s {
		if x == st {
			return true
		}
	}
	return false
}

// QueryPackage implements catalog.Findings: the whole answer (see QueryPackagePage).
func (s *Store) QueryPackage(ctx context.Context, pq catalog.PackageQuery) ([]catalog.Exposure, error) {
	page, err := s.QueryPackagePage(ctx, pq, catalog.Page{})
	return page.Exposures, err
}

// QueryPackagePage implements catalog.Findings. The name matches a package's name (as its
// ecosystem compares names: PyPI's are normalised) or its source package (a Debian source, as
// advisories name it); a range is compared with the version of what matched. The distinct packages
// are matched first, once each; then the links of the matching ones are read as two lists of
// numbers per package (the platform images and layers that ship it), and the versions, platforms
// and layers they name are looked up in the store's cache (see queryCache), in the same snapshot.
// Only the page's exposures are ordered in full and built: the rest are counted.
func (s *Store) QueryPackagePage(ctx context.Context, pq catalog.PackageQuery, page catalog.Page) (catalog.ExposurePage, error) {
	if err := page.Validate(); err != nil {
		return catalog.ExposurePage{}, err
	}
	name := strings.TrimSpace(pq.Name)
	if name == "" {
		return catalog.ExposurePage{}, fmt.Errorf("%w: no package name to look for", catalog.ErrInvalid)
	}
	rng, err := catalog.ParseRange(pq.Range)
	if err != nil {
		return catalog.ExposurePage{}, err
	}
	want, err := statusesOf(pq.Statuses)
	if err != nil {
		return catalog.ExposurePage{}, err
	}
	out := catalog.ExposurePage{Exposures: []catalog.Exposure{}}
	err = s.read(ctx, func(q querier) error {
		pkgs, ids, err := s.matchPackages(ctx, q, name, pq, rng)
		if err != nil || len(ids) == 0 {
			return err
		}
		seq, err := s.cache.sync(ctx, q)
		if err != nil {
			return err
		}
		lists, err := s.linksOf(ctx, q, ids)
		if err != nil {
			return err
		}
		// The platform images and layers the cache may not hold: those of links it did not keep.
		var platforms, layers []int64
		n := 0
		for _, l := range lists {
			platforms = append(platforms, l.platforms[l.prefix:]...)
			layers = append(layers, l.layers[l.prefix:]...)
			n += len(l.platforms)
		}
		w, err := s.cache.resolve(ctx, q, seq, platforms, layers)
		if err != nil {
			return err
		}
		s.cache.keepLinks(ids, lists)
		s.cache.mu.RLock()
		defer s.cache.mu.RUnlock()
		rows := make([]exposureRow, 0, n)
		for i, l := range lists {
			for j, id := range l.platforms {
				var p *cachedPlatform
				if j < l.prefix {
					p = l.cached[j] // kept with the links: no lookup
				} else {
					p = w.platform(id)
				}
				if p == nil || !want.keeps(p.v.status) {
					continue // pending, or not in the statuses asked for
				}
				rows = append(rows, exposureRow{p: p, id: id, pkg: int32(i), layer: l.layers[j]}) //nolint:gosec // G115: a few packages match one name
			}
		}
		out.Total = len(rows)
		first, last := page.Offset, len(rows)
		if page.Limit > 0 {
			last = min(last, first+page.Limit)
		}
		if first >= last {
			return nil
		}
		order := s.cache.sortExposures(rows, last)[first:last]
		out.Exposures = make([]catalog.Exposure, len(order))
		for i, k := range order {
			x := &rows[k.row]
			e := &out.Exposures[i]
			e.Image, e.Tag, e.Digest, e.Status, e.Platform = x.p.v.image, x.p.v.tag, x.p.v.digest, x.p.v.status, x.p.name
			e.Package = pkgs[x.pkg]
			e.Package.Layer = w.layer(x.layer)
		}
		return nil
	})
	return out, err
}

// exposureRow is one platform image that ships one of the matching packages.
type exposureRow struct {
	p     *cachedPlatform
	id    int64
	pkg   int32
	layer int64
}

// exposureKey is what rows are sorted by, without pointers: sorting moves these, not the rows, so
// that tens of thousands of swaps pay no write barriers while the collector runs.
type exposureKey struct {
	key uint64 // versionKey
	id  int64  // platform image
	pkg int32
	row int32 // index in rows
}

// sortExposures returns the order of the first n rows by image, newest version first, then
// platform and package: the n first of every row's keys, selected first when they are fewer than
// half, then sorted. The caller holds c.mu for reading.
func (c *queryCache) sortExposures(rows []exposureRow, n int) []exposureKey {
	rank := c.imageRanks()
	keys := make([]exposureKey, len(rows))
	for i := range rows {
		keys[i] = exposureKey{key: versionKey(rank, rows[i].p.v), id: rows[i].id, pkg: rows[i].pkg, row: int32(i)} //nolint:gosec // G115: fewer rows than that
	}
	order := func(a, b exposureKey) int {
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		if a.id != b.id {
			// Platform images of one version, by name (rare: most versions have one).
			if c := strings.Compare(rows[a.row].p.name, rows[b.row].p.name); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		}
		return cmp.Compare(a.pkg, b.pkg)
	}
	if n < len(keys)/2 {
		selectFirst(keys, n, order)
		keys = keys[:n]
	}
	slices.SortFunc(keys, order)
	return keys
}

// selectFirst moves the n smallest of keys by cmp (which orders them totally) to its front, in no
// particular order: Hoare's selection, linear on average, with a median-of-three pivot.
func selectFirst[T any](keys []T, n int, cmp func(a, b T) int) {
	if n <= 0 || n >= len(keys) {
		return
	}
	k := n - 1 // the index that must hold the n-th smallest
	lo, hi := 0, len(keys)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if cmp(keys[mid], keys[lo]) < 0 {
			keys[mid], keys[lo] = keys[lo], keys[mid]
		}
		if cmp(keys[hi], keys[lo]) < 0 {
			keys[hi], keys[lo] = keys[lo], keys[hi]
		}
		if cmp(keys[hi], keys[mid]) < 0 {
			keys[hi], keys[mid] = keys[mid], keys[hi]
		}
		pivot := keys[mid]
		i, j := lo, hi
		for i <= j {
			for cmp(keys[i], pivot) < 0 {
				i++
			}
			for cmp(keys[j], pivot) > 0 {
				j--
			}
			if i <= j {
				keys[i], keys[j] = keys[j], keys[i]
				i++
				j--
			}
		}
		// keys[lo..j] are at most the pivot, keys[i..hi] at least it, and between them equal to it.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// versionKey orders versions by image name, then newest (highest id) first.
func versionKey(rank []uint32, v *cachedVersion) uint64 {
	const idBits = 40
	return uint64(rank[v.imageIdx])<<idBits | (1<<idBits - 1 - uint64(v.id)&(1<<idBits-1)) //nolint:gosec // G115: ids are positive
}

// matchPackages returns the packages that match the query's name, ecosystem and range, and their
// ids, ascending.
func (s *Store) matchPackages(ctx context.Context, q querier, name string, pq catalog.PackageQuery, rng catalog.Range) (map[int32]evidence.Package, []int64, error) {
	type match struct {
		id int64
		p  evidence.Package
	}
	var found []match
	var rangeErr error
	compared := false
	err := q.each(ctx, `SELECT id, name, version, ecosystem, type, arch, source, source_version, purl FROM packages
		WHERE name_key IN (?, ?) OR source = ?`, []any{name, vuln.NormalizeName("PyPI", name), name}, func(r *sql.Rows) error {
		var id int64
		var p evidence.Package
		if err := r.Scan(&id, &p.Name, &p.Version, &p.Ecosystem, &p.Type, &p.Arch, &p.Source, &p.SourceVersion, &p.PURL); err != nil {
			return err
		}
		if !catalog.MatchEcosystem(pq.Ecosystem, p.Ecosystem) {
			return nil
		}
		cmpName, cmpVersion := p.Name, p.Version
		switch {
		case p.Name == name || vuln.NormalizeName(p.Ecosystem, p.Name) == vuln.NormalizeName(p.Ecosystem, name):
		case p.Source == name:
			cmpName = p.Source
			if p.SourceVersion != "" {
				cmpVersion = p.SourceVersion
			}
		default:
			return nil // another ecosystem's package whose name is this one normalised
		}
		if !rng.IsZero() {
			ok, err := rng.Contains(p.Ecosystem, cmpName, cmpVersion)
			if err != nil {
				rangeErr = firstErr(rangeErr, err)
				return nil // a version this ecosystem cannot order is not in the range
			}
			compared = true
			if !ok {
				return nil
			}
		}
		found = append(found, match{id, p})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !compared && rangeErr != nil {
		return nil, nil, fmt.Errorf("%w: version range %q: %w", catalog.ErrInvalid, pq.Range, rangeErr)
	}
	slices.SortFunc(found, func(a, b match) int { return cmp.Compare(a.id, b.id) })
	pkgs := make(map[int32]evidence.Package, len(found))
	ids := make([]int64, len(found))
	for i, m := range found {
		pkgs[int32(i)] = m.p //nolint:gosec // G115: a few packages match one name
		ids[i] = m.id
	}
	return pkgs, ids, nil
}

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// QueryFindings implements catalog.Findings: open vulnerability findings that count, of published
// versions, most severe first. The rows are numbers (platform image, detail, first seen, severity)
// read from one index; each distinct finding detail is decoded once, and the versions and platforms
// come from the cache (see queryCache). The findings of one answer share the detail they were
// decoded from: read them, do not change them.
func (s *Store) QueryFindings(ctx context.Context, fq catalog.FindingQuery) ([]catalog.VersionFinding, error) {
	want, err := statusesOf(fq.Statuses)
	if err != nil {
		return nil, err
	}
	query := `SELECT f.platform_id, f.detail_id, f.first_seen, f.severity FROM findings f
		WHERE f.open = ? AND f.severity >= ? AND f.status IN (?, ?)`
	args := []any{true, int(fq.MinSeverity), evidence.StatusAffected, evidence.StatusFailed}
	if fq.WithFix {
		query += " AND f.fixed_version <> ''"
	}
	if fq.Image != "" {
		query += " AND f.platform_id IN (SELECT id FROM platforms WHERE image = ?)"
		args = append(args, fq.Image)
	}
	type row struct {
		p                       *cachedPlatform
		platform, detail, first int64
		severity                int
		key                     uint64
		f                       *evidence.Finding
	}
	out := []catalog.VersionFinding{}
	err = s.read(ctx, func(q querier) error {
		seq, err := s.cache.sync(ctx, q)
		if err != nil {
			return err
		}
		var rows []row
		var platforms []int64
		details := map[int64]*evidence.Finding{}
		var detailIDs []int64
		err = q.each(ctx, query, args, func(r *sql.Rows) error {
			var x row
			if err := r.Scan(&x.platform, &x.detail, &x.first, &x.severity); err != nil {
				return err
			}
			rows = append(rows, x)
			platforms = append(platforms, x.platform)
			if _, ok := details[x.detail]; !ok {
				details[x.detail] = nil
				detailIDs = append(detailIDs, x.detail)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w, err := s.cache.resolve(ctx, q, seq, platforms, nil)
		if err != nil {
			return err
		}
		if err := s.inChunks(detailIDs, func(chunk []any) error {
			return q.run(ctx, "SELECT id, detail FROM finding_details WHERE id IN ("+inList(len(chunk))+")", chunk, func(r *sql.Rows) error {
				var id int64
				var detail []byte
				if err := r.Scan(&id, &detail); err != nil {
					return err
				}
				f := &evidence.Finding{}
				if err := json.Unmarshal(detail, f); err != nil {
					return fmt.Errorf("finding detail %d: %w", id, err)
				}
				details[id] = f
				return nil
			}, len(chunk) <= 4)
		}); err != nil {
			return err
		}
		s.cache.mu.RLock()
		defer s.cache.mu.RUnlock()
		rank := s.cache.imageRanks()
		kept := rows[:0]
		for _, x := range rows {
			x.p, x.f = w.platform(x.platform), details[x.detail]
			if x.p == nil || x.f == nil || !want.keeps(x.p.v.status) {
				continue
			}
			x.key = versionKey(rank, x.p.v)
			kept = append(kept, x)
		}
		// Most severe first, then by image, newest version first, platform, advisory and package.
		slices.SortFunc(kept, func(a, b row) int {
			switch {
			case a.severity != b.severity:
				return cmp.Compare(b.severity, a.severity)
			case a.key != b.key:
				return cmp.Compare(a.key, b.key)
			case a.platform != b.platform:
				return cmp.Compare(a.platform, b.platform)
			case a.f.ID != b.f.ID:
				return strings.Compare(a.f.ID, b.f.ID)
			}
			return strings.Compare(packageName(a.f), packageName(b.f))
		})
		out = make([]catalog.VersionFinding, len(kept))
		for i, x := range kept {
			vf := &out[i]
			vf.Image, vf.Tag, vf.Digest, vf.Status, vf.Platform = x.p.v.image, x.p.v.tag, x.p.v.digest, x.p.v.status, x.p.name
			vf.Finding, vf.FirstSeen = *x.f, fromMicros(x.first)
		}
		return nil
	})
	return out, err
}

func packageName(f *evidence.Finding) string {
	if f.Package == nil {
		return ""
	}
	return f.Package.Name
}
