package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The links of a package that thousands of platform images ship (libc6, Go's standard library)
// are most of what an exposure query reads: 100,000 of them at 100,000 versions, aggregated by the
// database into text and parsed again on every query. The cache keeps such lists.
//
// A published platform image's links never change (a published version is never removed), so the
// cache keeps, per package, the links of published platform images with ids up to a bound (upto),
// in id order, and a query reads from the database only the links above it: those of platform images
// begun since, usually none. The kept list stops before the first platform image that is not
// published (pending: it may yet be abandoned), and upto is the id of the last one kept, a published
// platform image that is never deleted: a platform image begun later always has a higher id (SQLite
// gives a new row the highest id plus one, PostgreSQL's sequences only grow, and writers are
// serialised so ids are given out in commit order), so no link is ever missed above it or below.

// Defaults of the link cache: a package's links are kept from linkCacheMin of them (below that,
// reading them costs little), and at most linkCacheMax links in all (24 bytes each; past it the
// cache starts again).
const (
	linkCacheMin = 32
	linkCacheMax = 8 << 20
)

// cachedLinks are the links of one package kept by the cache.
type cachedLinks struct {
	platforms, layers []int64           // by platform id, ascending; every one a published platform image the cache holds
	cached            []*cachedPlatform // each platform image as the cache holds it (never replaced)
	upto              int64             // every link of a platform id up to this is in the lists
}

// linkList is what a query reads of one package's links: the first prefix from the cache (with
// their cached platform images), the rest from the database, in platform id order.
type linkList struct {
	platforms, layers []int64
	cached            []*cachedPlatform
	prefix            int
}

// CacheLinksFrom sets how many platform images must ship a package for the store to keep its links
// in memory (default 32). Tests set 1, so that every exposure query goes through the cache.
func (s *Store) CacheLinksFrom(n int) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	s.cache.linkMin = max(1, n)
}

// linksOf returns the links of each package of ids (ascending), in q's snapshot: what the cache
// keeps of them, then what the database holds above it.
func (s *Store) linksOf(ctx context.Context, q querier, ids []int64) ([]linkList, error) {
	c := s.cache
	out := make([]linkList, len(ids))
	uptos := make([]int64, len(ids))
	var fresh []int64
	var known [][]any // package id and upto, of the packages the cache keeps
	c.mu.RLock()
	for i, id := range ids {
		if l := c.links[id]; l != nil {
			// Clipped: appending what the database adds copies them, never writes into the cache.
			out[i] = linkList{platforms: slices.Clip(l.platforms), layers: slices.Clip(l.layers), cached: l.cached, prefix: len(l.platforms)}
			uptos[i] = l.upto
			known = append(known, []any{id, l.upto})
		} else {
			fresh = append(fresh, id)
		}
	}
	c.mu.RUnlock()
	aggregate := "SELECT package_id, " + fmt.Sprintf(s.d.IDList, "platform_id") + ", " + fmt.Sprintf(s.d.IDList, "layer_id") +
		" FROM platform_packages WHERE "
	var platforms, layers []int64
	add := func(r *sql.Rows) error {
		var pkg int64
		var pl, ly sql.NullString
		if err := r.Scan(&pkg, &pl, &ly); err != nil {
			return err
		}
		var err error
		if platforms, err = parseIDs(platforms[:0], pl.String); err != nil {
			return err
		}
		if layers, err = parseIDs(layers[:0], ly.String); err != nil {
			return err
		}
		if len(layers) != len(platforms) {
			return fmt.Errorf("catalog (%s): package %d: %d platform images but %d layers", s.d.Name, pkg, len(platforms), len(layers))
		}
		i, ok := slices.BinarySearch(ids, pkg)
		if !ok {
			return fmt.Errorf("catalog (%s): links of package %d, which was not asked for", s.d.Name, pkg)
		}
		l := &out[i]
		for j, p := range platforms {
			if p > uptos[i] { // those up to it came from the cache
				l.platforms = append(l.platforms, p)
				l.layers = append(l.layers, layers[j])
			}
		}
		sort.Sort(byPlatform{l.platforms[l.prefix:], l.layers[l.prefix:]})
		return nil
	}
	err := s.inChunks(fresh, func(chunk []any) error {
		return q.run(ctx, aggregate+"package_id IN ("+inList(len(chunk))+") GROUP BY package_id", chunk, add,
			len(chunk) <= 32) // short lists recur: keep their statements prepared
	})
	if err != nil {
		return nil, err
	}
	// Each kept package from its own bound: an index range each, usually empty. The bounds are a
	// VALUES list joined on the links' key (an OR of ranges costs PostgreSQL milliseconds to plan).
	aggregate = "SELECT pp.package_id, " + fmt.Sprintf(s.d.IDList, "pp.platform_id") + ", " + fmt.Sprintf(s.d.IDList, "pp.layer_id") +
		" FROM (VALUES "
	for chunk := range slices.Chunk(known, 250) {
		values := strings.TrimSuffix(strings.Repeat("(CAST(? AS BIGINT), CAST(? AS BIGINT)), ", len(chunk)), ", ")
		query := aggregate + values + ") AS b JOIN platform_packages pp ON pp.package_id = b.column1 AND pp.platform_id > b.column2 GROUP BY pp.package_id"
		if err := q.run(ctx, query, slices.Concat(chunk...), add, len(chunk) <= 8); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// keepLinks keeps, for each package of ids with at least the cache's minimum of links, the links
// read up to the first platform image the cache does not hold as published.
func (c *queryCache) keepLinks(ids []int64, lists []linkList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, id := range ids {
		l := lists[i]
		if len(l.platforms) < c.linkMin {
			continue
		}
		n := l.prefix
		for n < len(l.platforms) && c.platforms[l.platforms[n]] != nil {
			n++
		}
		if n == l.prefix {
			continue // nothing new to keep
		}
		old := c.links[id]
		upto := l.platforms[n-1]
		if old != nil && old.upto >= upto {
			continue // another query kept as much or more
		}
		grow := n
		if old != nil {
			grow -= len(old.platforms)
		}
		if c.linkCount+grow > linkCacheMax {
			c.links, c.linkCount = map[int64]*cachedLinks{}, 0
			grow = n
		}
		cached := make([]*cachedPlatform, n)
		copy(cached, l.cached[:l.prefix])
		for j := l.prefix; j < n; j++ {
			cached[j] = c.platforms[l.platforms[j]]
		}
		c.links[id] = &cachedLinks{platforms: slices.Clip(l.platforms[:n]), layers: slices.Clip(l.layers[:n]), cached: cached, upto: upto}
		c.linkCount += grow
	}
}

// byPlatform sorts links by platform id.
type byPlatform struct{ platforms, layers []int64 }

func (b byPlatform) Len() int           { return len(b.platforms) }
func (b byPlatform) Less(i, j int) bool { return b.platforms[i] < b.platforms[j] }
func (b byPlatform) Swap(i, j int) {
	b.platforms[i], b.platforms[j] = b.platforms[j], b.platforms[i]
	b.layers[i], b.layers[j] = b.layers[j], b.layers[i]
}
