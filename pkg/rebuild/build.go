package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
)

// RebuildResult is what a rebuild published.
type RebuildResult struct {
	Image string `json:"image"`
	// Version is the version the rebuild yields (image@tag) and Digest its digest; Published says
	// whether it is new: a rebuild that yields a digest already recorded publishes nothing.
	Version   string `json:"version"`
	Digest    string `json:"digest"`
	Published bool   `json:"published"`
	Reason    string `json:"reason"`
}

// rebuild builds a registered spec and publishes what it yields (pipeline.Publish: a digest already
// recorded publishes nothing), then records the lock it used with the registration, for the next
// cycle to compare against. Running it again after a failure at any point completes the same
// version: the lock is the cycle's (or the registration's), so the build gives the same digest.
func (r *Runner) rebuild(ctx context.Context, a RebuildArgs) (*RebuildResult, error) {
	cat := r.cfg.Catalog
	rs, err := cat.Spec(ctx, a.Image)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", errSpecGone, a.Image)
	}
	if err != nil {
		return nil, err
	}
	s, cleanup, err := unpack(r.cfg.Store, rs)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	log := &lineLog{log: r.cfg.log().With("image", a.Image)}
	opt := r.publishOptions(log)
	c := newChecker(r.cfg)
	opt.Remote = c.opt.Remote

	var l *lock.Lock
	reason := a.Reason
	if len(a.Lock) > 0 && a.Registration == rs.Digest {
		if l, err = lock.Parse(a.Lock); err != nil {
			return nil, fmt.Errorf("the cycle's lock: %w", err)
		}
	}
	if l == nil {
		// Asked for (or registered again since the cycle): lock afresh, and say what that changed.
		if l, err = pipeline.Lock(ctx, s, opt.Options); err != nil {
			return nil, err
		}
		baseline := registeredLock(rs, s)
		if baseline == nil {
			newest, err := cat.List(ctx, catalog.ListOptions{Image: s.Name, Line: s.Tag(), Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(newest) > 0 {
				if baseline, err = c.versionLock(ctx, newest[0]); err != nil {
					return nil, err
				}
			}
		}
		if baseline != nil {
			changes, _ := addFixes(ctx, r.cfg.Store.VulnDB(), baseline, l, diffLocks(baseline, l))
			reason = describe(reason, upstreamReason(changes))
		}
	}
	if err := l.Check(s); err != nil {
		return nil, err
	}
	if r.cfg.Publish.Repository != "" {
		opt.Push = strings.TrimSuffix(r.cfg.Publish.Repository, "/") + "/" + s.Name
	}
	opt.Reason = reason
	before, err := cat.List(ctx, catalog.ListOptions{Image: s.Name, Line: s.Tag(), Limit: 1, Pending: true})
	if err != nil {
		return nil, err
	}
	v, err := pipeline.Publish(ctx, s, l, opt)
	if err != nil {
		return nil, err
	}
	res := &RebuildResult{Image: s.Name, Version: v.Ref(), Digest: v.Digest, Reason: v.Reason,
		Published: len(before) == 0 || v.ID > before[0].ID || before[0].ID == v.ID && before[0].State == catalog.StatePending}
	if err := r.keepLock(ctx, rs, l); err != nil {
		return res, err
	}
	return res, nil
}

// keepLock records the lock a rebuild used with the registration it rebuilt, unless the spec was
// registered again meanwhile (the next cycle locks that one afresh).
func (r *Runner) keepLock(ctx context.Context, rs catalog.RegisteredSpec, l *lock.Lock) error {
	lb, err := l.Marshal()
	if err != nil {
		return err
	}
	if bytes.Equal(lb, rs.Lock) {
		return nil
	}
	cur, err := r.cfg.Catalog.Spec(ctx, rs.Name)
	if err != nil || cur.Digest != rs.Digest || !bytes.Equal(cur.Lock, rs.Lock) {
		return nil //nolint:nilerr // registered again, or removed: that registration's cycle decides
	}
	cur.Lock = lb
	_, err = r.cfg.Catalog.AddSpec(ctx, cur)
	return err
}
