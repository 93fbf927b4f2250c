package admission

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache remembers answers by key for a TTL, a shorter one for negative answers (an image that fails
// may be fixed: signed, attested, restored), and coalesces concurrent identical lookups: a rollout of a
// hundred pods of one new image verifies it once. An entry past most of its TTL is refreshed in the
// background while the old answer is still served, so a busy image never pays a cold lookup. Errors
// (a registry or database that did not answer) are never remembered: the next lookup asks again, and
// an entry still within its TTL keeps being served meanwhile, since a refresh that fails leaves it.
type cache[V any] struct {
	ttl, negativeTTL time.Duration
	maxEntries       int
	now              func() time.Time
	// lookups counts hits, misses and refreshes (metrics); nil: not counted.
	lookups func(result string)

	mu      sync.Mutex
	entries map[string]*entry[V]
	// gen counts drops: a load that began before a drop (it may have read what the drop is about,
	// say a version before its revocation) is not stored, and is not joined by lookups after it.
	gen    uint64
	flight singleflight.Group
}

type entry[V any] struct {
	v          V
	negative   bool
	stored     time.Time
	expires    time.Time
	refreshing bool
}

// refreshAfter is the part of the TTL after which a hit also starts a background refresh.
const refreshAfter = 0.8

func newCache[V any](ttl, negativeTTL time.Duration, maxEntries int, now func() time.Time) *cache[V] {
	if now == nil {
		now = time.Now
	}
	return &cache[V]{ttl: ttl, negativeTTL: negativeTTL, maxEntries: maxEntries, now: now, entries: map[string]*entry[V]{}}
}

// loader computes an answer; negative says it is a failing one (kept for the negative TTL).
type loader[V any] func(ctx context.Context) (v V, negative bool, err error)

// get returns the answer for key: remembered, or loaded (once for all concurrent callers). hit says
// whether it came from memory.
func (c *cache[V]) get(ctx context.Context, key string, load loader[V]) (V, bool, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && now.Before(e.expires) {
		refresh := !e.refreshing && now.Sub(e.stored) > time.Duration(refreshAfter*float64(e.expires.Sub(e.stored)))
		if refresh {
			e.refreshing = true
		}
		v := e.v
		c.mu.Unlock()
		c.count("hit")
		if refresh {
			c.count("refresh")
			go c.refresh(ctx, key, load)
		}
		return v, true, nil
	}
	gen := c.gen
	c.mu.Unlock()
	c.count("miss")
	v, err, _ := c.flight.Do(flightKey(key, gen), func() (any, error) {
		// A flight for key may have landed between the look above and this one starting.
		c.mu.Lock()
		if e, ok := c.entries[key]; ok && c.now().Before(e.expires) {
			c.mu.Unlock()
			return e.v, nil
		}
		c.mu.Unlock()
		return c.load(ctx, key, gen, load)
	})
	if err != nil {
		var zero V
		return zero, false, err
	}
	return v.(V), false, nil
}

func (c *cache[V]) load(ctx context.Context, key string, gen uint64, load loader[V]) (V, error) {
	v, negative, err := load(ctx)
	if err != nil {
		return v, err
	}
	c.put(key, v, negative, gen)
	return v, nil
}

func flightKey(key string, gen uint64) string { return strconv.FormatUint(gen, 36) + "\x00" + key }

// refresh loads key again in the background, within the deadline of the request that started it
// (but not cancelled with it: the request is answered by then).
func (c *cache[V]) refresh(ctx context.Context, key string, load loader[V]) {
	rctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(rctx, d)
		defer cancel()
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	_, err, _ := c.flight.Do(flightKey(key, gen), func() (any, error) { return c.load(rctx, key, gen, load) })
	if err != nil {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok {
			e.refreshing = false
		}
		c.mu.Unlock()
	}
}

func (c *cache[V]) put(key string, v V, negative bool, gen uint64) {
	ttl := c.ttl
	if negative {
		ttl = c.negativeTTL
	}
	if ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // dropped while loading: what was loaded may be what the drop was about
	}
	if len(c.entries) >= c.maxEntries {
		c.evict(now)
	}
	c.entries[key] = &entry[V]{v: v, negative: negative, stored: now, expires: now.Add(ttl)}
}

// evict drops expired entries, then, if that was not enough, any tenth of the entries: a cache full of
// live answers loses a few, which are loaded again when next asked.
func (c *cache[V]) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	drop := len(c.entries) - c.maxEntries + c.maxEntries/10 + 1
	for k := range c.entries {
		if drop <= 0 {
			break
		}
		delete(c.entries, k)
		drop--
	}
}

// drop forgets every entry for which match is true.
func (c *cache[V]) drop(match func(key string, v V, negative bool) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	n := 0
	for k, e := range c.entries {
		if match(k, e.v, e.negative) {
			delete(c.entries, k)
			n++
		}
	}
	return n
}

// len is the number of entries held.
func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *cache[V]) count(result string) {
	if c.lookups != nil {
		c.lookups(result)
	}
}
