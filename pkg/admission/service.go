package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/policy"
	"github.com/ingot-build/ingot/pkg/sign"
)

// Options assemble a webhook.
type Options struct {
	Policies []*policy.Policy
	// Remote says how to reach registries.
	Remote sign.RemoteOptions
	// Catalog is read when a rule requires it; nil when no rule does.
	Catalog policy.Catalog
	// Events, when set, are followed: catalog records are then cached, and forgotten as events change
	// them. Without it records are read for every review (the offline tools).
	Events EventSource
	// PollInterval is how often events are polled (default 1s).
	PollInterval time.Duration
	// Cache sets the TTLs; NoCache turns every cache off, and with it the event follower (the offline
	// tools, and the cold benchmark: every review verifies and reads the catalog).
	Cache   CacheOptions
	NoCache bool
	Logger  *slog.Logger
	Metrics *Metrics
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Service is an assembled webhook: evaluator, caches and the catalog follower.
type Service struct {
	Webhook  *Webhook
	Follower *Follower
	Registry *CachedRegistry
	Catalog  *CachedCatalog
}

// New assembles a webhook. With Events it first finds the end of the catalog's event sequence, so it
// is current before it serves.
func New(ctx context.Context, o Options) (*Service, error) {
	s := &Service{}
	var reg policy.Registry = timedRegistry{next: policy.NewSessionRegistry(sign.NewSession(sign.Options{RemoteOptions: o.Remote})), m: o.Metrics}
	if !o.NoCache {
		s.Registry = NewCachedRegistry(reg, o.Cache, o.Metrics)
		reg = s.Registry
	}
	var cat policy.Catalog
	if o.Catalog != nil {
		cat = timedCatalog{next: o.Catalog, m: o.Metrics}
		if o.Events != nil && !o.NoCache {
			s.Follower = &Follower{Source: o.Events, Interval: o.PollInterval, Logger: o.Logger, Metrics: o.Metrics, Now: o.Now}
			s.Catalog = NewCachedCatalog(cat, o.Cache, s.Follower.Fresh, o.Metrics)
			s.Follower.Apply = func(ev catalog.Event) { s.Catalog.Apply(ev) }
			if err := s.Follower.Start(ctx); err != nil {
				return nil, fmt.Errorf("reading the catalog's events: %w", err)
			}
			cat = s.Catalog
		}
	}
	ev, err := policy.NewEvaluator(o.Policies, reg, cat, o.Now)
	if err != nil {
		return nil, err
	}
	s.Webhook = &Webhook{Evaluator: ev, Logger: o.Logger, Metrics: o.Metrics, Now: o.Now}
	return s, nil
}

// Run follows the catalog's events until ctx ends (returns at once without a follower).
func (s *Service) Run(ctx context.Context) {
	if s.Follower != nil {
		s.Follower.Run(ctx)
	}
}

// Ready is nil when the webhook can decide: with a follower, when it is current.
func (s *Service) Ready() error {
	if s.Follower == nil || s.Follower.Fresh() {
		return nil
	}
	if err := s.Follower.Err(); err != nil {
		return fmt.Errorf("the catalog's events are not being followed: %w", err)
	}
	return errors.New("the catalog's events are not being followed")
}

// timedRegistry times uncached checks for the metrics.
type timedRegistry struct {
	next policy.Registry
	m    *Metrics
}

func (t timedRegistry) Resolve(ctx context.Context, tag name.Tag) (string, error) {
	return t.next.Resolve(ctx, tag)
}

func (t timedRegistry) Confirm(ctx context.Context, tag name.Tag, digest string) (string, error) {
	return t.next.Confirm(ctx, tag, digest)
}

func (t timedRegistry) Check(ctx context.Context, d name.Digest, r policy.RuleRef) (policy.Verdict, error) {
	began := time.Now()
	v, err := t.next.Check(ctx, d, r)
	t.m.check("registry", time.Since(began), err != nil)
	return v, err
}

type timedCatalog struct {
	next policy.Catalog
	m    *Metrics
}

func (t timedCatalog) Record(ctx context.Context, image, digest string) (policy.Record, error) {
	began := time.Now()
	r, err := t.next.Record(ctx, image, digest)
	t.m.check("catalog", time.Since(began), err != nil)
	return r, err
}
