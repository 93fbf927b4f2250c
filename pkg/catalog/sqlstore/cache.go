package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// The queries across versions (which versions ship a package, which have a finding) return one row
// per platform image, ten thousand of them for a package every version ships. Reading a version's
// image, tag, digest and platform from the database for each row costs far more than the query's
// own work (SQLite's driver pays per column, PostgreSQL joins every platform), so those queries read
// integer keys only and look the rest up here.
//
// What the cache holds of a published platform image never changes: a published version is never
// removed, and its image, tag, digest and platforms are fixed when it is begun. Only its status
// changes, and every change of status appends an event carrying the status after it (Event.Status;
// publishing appends one too). So the cache keeps each version's status current by applying the
// events: every query reads the newest event's number in the same snapshot as its rows, applies the
// events it has not seen, up to that number, before it reads a status, and so answers as of its own
// snapshot or newer, never older, whichever process made the change. Pending platform images are
// never cached (an abandoned one is deleted, and SQLite may give its id to another).

// cachedVersion is a published version as the cache knows it.
type cachedVersion struct {
	id                 int64
	image, tag, digest string
	imageIdx           int32 // the image's index in queryCache.images
	// status is current as of queryCache.seq.
	status catalog.Status
}

// cachedPlatform is a published platform image of a version.
type cachedPlatform struct {
	v    *cachedVersion
	name string // os/arch[/variant]
}

// queryCache is a Store's cache of published platform images, layers and their versions' statuses.
type queryCache struct {
	mu sync.RWMutex
	// seq is the event the statuses are current to.
	seq       int64
	platforms map[int64]*cachedPlatform
	versions  map[int64]*cachedVersion
	layers    map[int64]string
	// interned image and platform names: ten thousand versions have a few hundred of each.
	names map[string]string
	// images are the image names, each once; imageIdx finds one.
	images   []string
	imageIdx map[string]int32
	// ranks orders images by name (ranks[imageIdx]); nil when images changed since.
	ranks   []uint32
	ranksMu sync.Mutex
	// links are the links of the packages many platform images ship, by package id (see links.go);
	// linkCount counts them all, linkMin is how many a package needs to be kept.
	links     map[int64]*cachedLinks
	linkCount int
	linkMin   int
}

func newQueryCache() *queryCache {
	return &queryCache{platforms: map[int64]*cachedPlatform{}, versions: map[int64]*cachedVersion{},
		layers: map[int64]string{}, names: map[string]string{}, imageIdx: map[string]int32{},
		links: map[int64]*cachedLinks{}, linkMin: linkCacheMin}
}

// image interns an image name and returns its index. The caller holds c.mu for writing.
func (c *queryCache) image(name string) int32 {
	if i, ok := c.imageIdx[name]; ok {
		return i
	}
	i := int32(len(c.images)) //nolint:gosec // G115: fewer images than that
	c.images = append(c.images, name)
	c.imageIdx[name] = i
	c.ranks = nil
	return i
}

// imageRanks returns each image's rank by name. The caller holds c.mu for reading; computing the
// ranks again after images were added is safe under a read lock because only this computes them and
// it is guarded by ranksMu.
func (c *queryCache) imageRanks() []uint32 {
	c.ranksMu.Lock()
	defer c.ranksMu.Unlock()
	if len(c.ranks) == len(c.images) {
		return c.ranks
	}
	order := make([]int32, len(c.images))
	for i := range order {
		order[i] = int32(i) //nolint:gosec // G115: fewer images than that
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(c.images[a], c.images[b]) })
	ranks := make([]uint32, len(c.images))
	for r, i := range order {
		ranks[i] = uint32(r) //nolint:gosec // G115: fewer images than that
	}
	c.ranks = ranks
	return ranks
}

func (c *queryCache) intern(s string) string {
	if n, ok := c.names[s]; ok {
		return n
	}
	c.names[s] = s
	return s
}

// eventSeq is the number of the newest event in q's snapshot.
func eventSeq(ctx context.Context, q querier) (int64, error) {
	var seq int64
	err := q.scan(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events", nil, &seq)
	return seq, err
}

// sync brings the cached statuses up to the newest event of q's snapshot and returns its number. A
// cache already further along (another query's newer snapshot) is left as it is: its statuses are
// newer, not older, than the snapshot's.
func (c *queryCache) sync(ctx context.Context, q querier) (int64, error) {
	seq, err := eventSeq(ctx, q)
	if err != nil {
		return 0, err
	}
	type change struct {
		seq, version int64
		status       catalog.Status
	}
	for {
		c.mu.RLock()
		from, cached := c.seq, len(c.versions)
		c.mu.RUnlock()
		if seq <= from {
			return seq, nil
		}
		var changes []change
		if cached > 0 { // with nothing cached there is nothing to change
			err = q.each(ctx, "SELECT seq, version_id, status FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", []any{from, seq},
				func(r *sql.Rows) error {
					var ch change
					var status string
					if err := r.Scan(&ch.seq, &ch.version, &status); err != nil {
						return err
					}
					ch.status = catalog.Status(status)
					changes = append(changes, ch)
					return nil
				})
			if err != nil {
				return 0, err
			}
		}
		c.mu.Lock()
		if c.seq != from || (cached == 0 && len(c.versions) > 0) {
			// Another query moved the cache on, or cached versions whose events were not read:
			// look again.
			c.mu.Unlock()
			continue
		}
		for _, ch := range changes {
			if v := c.versions[ch.version]; v != nil && ch.status != "" {
				v.status = ch.status
			}
		}
		c.seq = seq
		c.mu.Unlock()
		return seq, nil
	}
}

// view is what one query resolved: platform images and layers, from the cache or, those it did
// not hold, read in the query's snapshot.
type view struct {
	c         *queryCache
	platforms map[int64]*cachedPlatform // read for this query only (the cache moved on meanwhile)
	layers    map[int64]string
}

// platform returns a published platform image by id, nil when the id is not one (pending, or gone).
// The caller holds c.mu for reading.
func (w *view) platform(id int64) *cachedPlatform {
	if p := w.c.platforms[id]; p != nil {
		return p
	}
	return w.platforms[id]
}

// layer returns a layer digest by id. The caller holds c.mu for reading.
func (w *view) layer(id int64) string {
	if l, ok := w.c.layers[id]; ok {
		return l
	}
	return w.layers[id]
}

// resolve reads the platform images and layers among ids that the cache does not hold, in q's
// snapshot (whose events go up to seq), and keeps them when the cache's statuses are current to the
// same event. A query that needs many platforms the cache lacks reads every published one at once.
func (c *queryCache) resolve(ctx context.Context, q querier, seq int64, platformIDs, layerIDs []int64) (*view, error) {
	w := &view{c: c}
	c.mu.RLock()
	var missing []int64
	seen := map[int64]bool{}
	for _, id := range platformIDs {
		if c.platforms[id] == nil && !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	var missingLayers []int64
	seenLayer := map[int64]bool{}
	for _, id := range layerIDs {
		if _, ok := c.layers[id]; !ok && !seenLayer[id] {
			seenLayer[id] = true
			missingLayers = append(missingLayers, id)
		}
	}
	c.mu.RUnlock()
	if len(missing) == 0 && len(missingLayers) == 0 {
		return w, nil
	}
	type platformRow struct {
		id, version                int64
		os, arch, variant          string
		image, tag, digest, status string
	}
	var rows []platformRow
	read := func(r *sql.Rows) error {
		var p platformRow
		if err := r.Scan(&p.id, &p.version, &p.os, &p.arch, &p.variant, &p.image, &p.tag, &p.digest, &p.status); err != nil {
			return err
		}
		rows = append(rows, p)
		return nil
	}
	const cols = "SELECT id, version_id, os, arch, variant, image, tag, version_digest, status FROM platforms WHERE state = ?"
	pub := string(catalog.StatePublished)
	if len(missing) > 256 {
		if err := q.each(ctx, cols, []any{pub}, read); err != nil {
			return nil, err
		}
	} else if len(missing) > 0 {
		if err := q.s.inChunks(missing, func(chunk []any) error {
			return q.run(ctx, cols+" AND id IN ("+inList(len(chunk))+")", append([]any{pub}, chunk...), read, len(chunk) <= 4)
		}); err != nil {
			return nil, err
		}
	}
	layers := map[int64]string{}
	if len(missingLayers) > 0 {
		if err := q.s.inChunks(missingLayers, func(chunk []any) error {
			return q.run(ctx, "SELECT id, digest FROM layers WHERE id IN ("+inList(len(chunk))+")", chunk, func(r *sql.Rows) error {
				var id int64
				var d string
				if err := r.Scan(&id, &d); err != nil {
					return err
				}
				layers[id] = d
				return nil
			}, len(chunk) <= 4)
		}); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, d := range layers {
		c.layers[id] = d // a layer's digest never changes
	}
	keep := c.seq == seq // the statuses read are those of the cache's event
	if !keep {
		w.platforms, w.layers = map[int64]*cachedPlatform{}, layers
	}
	for _, r := range rows {
		if keep && c.platforms[r.id] != nil {
			continue
		}
		v := c.versions[r.version]
		if v == nil || !keep {
			v = &cachedVersion{id: r.version, image: c.intern(r.image), imageIdx: c.image(r.image), tag: r.tag, digest: r.digest,
				status: catalog.Status(r.status)}
			if keep {
				c.versions[r.version] = v
			}
		}
		name := r.os + "/" + r.arch
		if r.variant != "" {
			name += "/" + r.variant
		}
		p := &cachedPlatform{v: v, name: c.intern(name)}
		if keep {
			c.platforms[r.id] = p
		} else {
			w.platforms[r.id] = p
		}
	}
	return w, nil
}

// parseIDs appends the comma-separated decimal ids of list (an aggregate of integers) to ids.
func parseIDs(ids []int64, list string) ([]int64, error) {
	var n int64
	digits := false
	for i := 0; i < len(list); i++ {
		c := list[i]
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits = true
		case c == ',':
			if !digits {
				return nil, fmt.Errorf("catalog: malformed id list at %d", i)
			}
			ids = append(ids, n)
			n, digits = 0, false
		case c == '{' || c == '}' || c == ' ':
		default:
			return nil, fmt.Errorf("catalog: malformed id list: %q", strconv.QuoteRune(rune(c)))
		}
	}
	if digits {
		ids = append(ids, n)
	}
	return ids, nil
}
