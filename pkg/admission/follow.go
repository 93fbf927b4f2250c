package admission

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// EventSource is where catalog events come from: the catalog's database (catalog.Catalog has this
// method), or, later, ingot serve's API. Seq increases across the catalog; Events returns those after
// a sequence number, in order.
type EventSource interface {
	Events(ctx context.Context, after int64, limit int) ([]catalog.Event, error)
}

// Follower polls a catalog's events and hands each to Apply, so that every replica of the webhook sees
// a revocation within one poll interval, with no state of its own to lose: a restarted replica starts
// from the current end of the event sequence with empty caches.
type Follower struct {
	Source EventSource
	// Interval between polls when caught up (default 1s).
	Interval time.Duration
	// Apply is called for each event, in order.
	Apply func(catalog.Event)
	// MaxLag is how long the follower may go without a successful poll and still count as current
	// (Fresh); default 10 intervals.
	MaxLag time.Duration
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Metrics, when set, counts events and errors.
	Metrics *Metrics

	mu       sync.Mutex
	seq      int64
	started  bool
	lastPoll time.Time
	lastErr  error
}

const followPage = 1000

// Start finds the end of the event sequence (events before it changed nothing this replica has
// cached), so the follower is current before the webhook serves.
func (f *Follower) Start(ctx context.Context) error {
	seq := int64(0)
	for {
		evs, err := f.Source.Events(ctx, seq, followPage)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			seq = evs[len(evs)-1].Seq
		}
		if len(evs) < followPage {
			break
		}
	}
	f.mu.Lock()
	f.seq, f.started, f.lastPoll, f.lastErr = seq, true, f.now(), nil
	f.mu.Unlock()
	f.Metrics.setSeq(seq)
	return nil
}

// Run polls until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(f.interval())
	defer t.Stop()
	for {
		for f.Poll(ctx) == followPage {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads and applies the events after the last one seen, and returns how many there were.
func (f *Follower) Poll(ctx context.Context) int {
	f.mu.Lock()
	seq := f.seq
	f.mu.Unlock()
	evs, err := f.Source.Events(ctx, seq, followPage)
	if err != nil {
		f.mu.Lock()
		f.lastErr = err
		f.mu.Unlock()
		f.Metrics.followError()
		if f.Logger != nil && ctx.Err() == nil {
			f.Logger.Warn("following the catalog's events", "after", seq, "error", err)
		}
		return 0
	}
	for _, ev := range evs {
		if f.Apply != nil {
			f.Apply(ev)
		}
		if f.Logger != nil {
			f.Logger.Info("catalog event", "seq", ev.Seq, "kind", ev.Kind, "image", ev.Image, "tag", ev.Tag, "digest", ev.Digest, "status", ev.Status)
		}
		seq = ev.Seq
	}
	f.mu.Lock()
	f.seq, f.lastPoll, f.lastErr = seq, f.now(), nil
	f.mu.Unlock()
	f.Metrics.followed(len(evs), seq)
	return len(evs)
}

// Fresh reports whether the follower has polled successfully within MaxLag.
func (f *Follower) Fresh() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started && f.now().Sub(f.lastPoll) <= f.maxLag()
}

// Seq is the last event seen.
func (f *Follower) Seq() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq
}

// Err is the last poll's error, if it failed.
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

func (f *Follower) interval() time.Duration {
	if f.Interval <= 0 {
		return time.Second
	}
	return f.Interval
}

func (f *Follower) maxLag() time.Duration {
	if f.MaxLag <= 0 {
		return 10 * f.interval()
	}
	return f.MaxLag
}

func (f *Follower) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}
