package admission

import (
	"context"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/policy"
)

// CacheOptions say how long answers are kept.
type CacheOptions struct {
	// TTL keeps a passing registry verdict; NegativeTTL a failing one (shorter: an image may be signed
	// or attested after it was refused). Zero means the default. During a registry outage, verdicts within their TTL keep
	// being served; past it, images are denied.
	TTL, NegativeTTL time.Duration
	// CatalogTTL keeps a catalog record. Status changes do not wait for it: the webhook follows the
	// catalog's events and drops what they change at once. It bounds what events do not carry (a
	// re-scan that found nothing new, and so appended no event, still moves the last scan time).
	CatalogTTL time.Duration
	// MaxEntries bounds each cache.
	MaxEntries int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Defaults for CacheOptions.
const (
	DefaultTTL         = 10 * time.Minute
	DefaultNegativeTTL = 30 * time.Second
	DefaultCatalogTTL  = time.Minute
	DefaultMaxEntries  = 100_000
)

// withDefaults fills zero fields with the defaults.
func (o CacheOptions) withDefaults() CacheOptions {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.CatalogTTL <= 0 {
		o.CatalogTTL = DefaultCatalogTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	return o
}

// CachedRegistry remembers registry verdicts by rule and image digest. Tags are resolved on every
// call, never remembered: a tag moved to another image after signing must be judged by what it names
// now (the mutating webhook pins the digest, so that the kubelet pulls what was checked).
type CachedRegistry struct {
	next     policy.Registry
	verdicts *cache[policy.Verdict]
	// tags remembers which digest a tag pointed to, for tag@digest references only (Confirm): what a
	// pinned reference names (the mutating webhook writes them) is then checked with no registry
	// request.
	tags *cache[string]
}

// NewCachedRegistry puts a verdict cache in front of next.
func NewCachedRegistry(next policy.Registry, o CacheOptions, m *Metrics) *CachedRegistry {
	o = o.withDefaults()
	c := newCache[policy.Verdict](o.TTL, o.NegativeTTL, o.MaxEntries, o.Now)
	c.lookups = m.cacheLookup("registry")
	tags := newCache[string](o.TTL, 0, o.MaxEntries, o.Now) // a disagreement is not kept
	tags.lookups = m.cacheLookup("tags")
	return &CachedRegistry{next: next, verdicts: c, tags: tags}
}

// Confirm answers from memory when the tag pointed to digest within the TTL; otherwise it resolves the
// tag and remembers what it points to.
func (c *CachedRegistry) Confirm(ctx context.Context, t name.Tag, digest string) (string, error) {
	got, _, err := c.tags.get(ctx, t.String()+"@"+digest, func(ctx context.Context) (string, bool, error) {
		d, err := c.next.Resolve(ctx, t)
		// Only agreement is remembered: a tag that points elsewhere is asked again next time.
		return d, d != digest, err
	})
	return got, err
}

// Resolve asks the registry, every time.
func (c *CachedRegistry) Resolve(ctx context.Context, t name.Tag) (string, error) {
	return c.next.Resolve(ctx, t)
}

// Check returns the remembered verdict of the rule on the image, or checks it.
func (c *CachedRegistry) Check(ctx context.Context, d name.Digest, r policy.RuleRef) (policy.Verdict, error) {
	v, _, err := c.verdicts.get(ctx, r.ID()+"\x00"+d.String(), func(ctx context.Context) (policy.Verdict, bool, error) {
		v, err := c.next.Check(ctx, d, r)
		return v, len(v.Failures) > 0, err
	})
	return v, err
}

// Len is how many verdicts are held.
func (c *CachedRegistry) Len() int { return c.verdicts.len() }

// CachedCatalog remembers catalog records by image and digest, and forgets those a catalog event
// changes (Apply). While the event follower is behind (fresh reports false), nothing is served from
// memory: a revocation it has not seen yet must not be hidden by a remembered "active".
type CachedCatalog struct {
	next    policy.Catalog
	records *cache[policy.Record]
	fresh   func() bool
}

// NewCachedCatalog puts a record cache in front of next; fresh says whether events are being followed
// (nil: always).
func NewCachedCatalog(next policy.Catalog, o CacheOptions, fresh func() bool, m *Metrics) *CachedCatalog {
	o = o.withDefaults()
	c := newCache[policy.Record](o.CatalogTTL, min(o.CatalogTTL, o.NegativeTTL), o.MaxEntries, o.Now)
	c.lookups = m.cacheLookup("catalog")
	if fresh == nil {
		fresh = func() bool { return true }
	}
	return &CachedCatalog{next: next, records: c, fresh: fresh}
}

// Record returns the remembered record, or reads it.
func (c *CachedCatalog) Record(ctx context.Context, image, digest string) (policy.Record, error) {
	if !c.fresh() {
		c.records.count("bypass")
		return c.next.Record(ctx, image, digest)
	}
	r, _, err := c.records.get(ctx, image+"@"+digest, func(ctx context.Context) (policy.Record, bool, error) {
		r, err := c.next.Record(ctx, image, digest)
		return r, !r.Found, err
	})
	return r, err
}

// Apply forgets what an event changes: every record of the event's version (by id and digest, and the
// digests of its platform images), and, when a version was published, every "not in the catalog".
func (c *CachedCatalog) Apply(ev catalog.Event) int {
	return c.records.drop(func(key string, r policy.Record, negative bool) bool {
		switch {
		case negative:
			return ev.Kind == catalog.EventPublished || hasSuffix(key, "@"+ev.Digest)
		case ev.VersionID != 0 && r.VersionID == ev.VersionID:
			return true
		}
		return ev.Digest != "" && slices.Contains(r.Digests(), ev.Digest)
	})
}

// Flush forgets every record (the follower lost its place: anything may have changed).
func (c *CachedCatalog) Flush() int {
	return c.records.drop(func(string, policy.Record, bool) bool { return true })
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
