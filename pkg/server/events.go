package server

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// Event pages.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// EventPage is an answer of GET /v1/events.
type EventPage struct {
	Events []catalog.Event `json:"events"`
	// Last is the sequence number to ask after next: the last event's, or the one asked after when
	// there were none.
	Last int64 `json:"last"`
}

// listEvents returns the events after a sequence number, in order: what followers (the admission
// webhook) poll. With wait, an empty answer is held until an event comes, the wait passes or the
// server shuts down: a long poll, so a follower hears of a revocation at once without polling hard.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := queryOf(r, "after", "limit", "wait")
	if err != nil {
		return err
	}
	after, err := q.int("after", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	limit, err := q.int("limit", DefaultEventLimit, 1, MaxEventLimit)
	if err != nil {
		return err
	}
	wait, err := q.duration("wait", s.cfg.Limits.MaxWait)
	if err != nil {
		return err
	}
	ctx := r.Context()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	var tick *time.Ticker
	for {
		// Take the wake-up channel before asking, so that an event appended between the answer and
		// the wait still wakes this poll.
		woken := s.events.wait()
		evs, err := s.cat.Events(ctx, after, int(limit))
		if err != nil {
			return err
		}
		if len(evs) > 0 || wait == 0 {
			page := EventPage{Events: nonNil(evs), Last: after}
			if len(evs) > 0 {
				page.Last = evs[len(evs)-1].Seq
			}
			writeJSON(w, http.StatusOK, page)
			return nil
		}
		if tick == nil {
			tick = time.NewTicker(s.cfg.Limits.EventPoll)
			defer tick.Stop()
		}
		select {
		case <-woken:
		case <-tick.C:
		case <-deadline.C:
			wait = 0 // one last look, then answer
		case <-s.stopping:
			wait = 0
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifier wakes the long polls waiting for events when this server appends one.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
