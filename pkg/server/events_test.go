package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

func testEvents(t *testing.T, e *env, fx fixture) {
	all := allEvents(t, e.cat)
	if len(all) != 4 {
		t.Fatalf("the fixture has %d events, want 4", len(all))
	}
	// Pages: after and limit, continuing after last.
	var page EventPage
	e.get("/v1/events?after=0&limit=3", &page)
	if len(page.Events) != 3 || page.Events[0].Seq != all[0].Seq || page.Last != all[2].Seq {
		t.Fatalf("first page: %+v", page)
	}
	e.get("/v1/events?after="+strconv.FormatInt(page.Last, 10), &page)
	if len(page.Events) != 1 || page.Events[0].Seq != all[3].Seq || page.Last != all[3].Seq {
		t.Fatalf("second page: %+v", page)
	}
	last := page.Last
	e.get("/v1/events?after="+strconv.FormatInt(last, 10), &page)
	if len(page.Events) != 0 || page.Last != last {
		t.Fatalf("past the end: %+v", page)
	}

	// A long poll is answered as soon as this server appends an event.
	type answer struct {
		page    EventPage
		status  int
		elapsed time.Duration
	}
	poll := func(wait string) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			start := time.Now()
			r := e.do(request{method: http.MethodGet, path: "/v1/events?after=" + strconv.FormatInt(last, 10) + "&wait=" + wait, token: e.reader})
			a := answer{status: r.status, elapsed: time.Since(start)}
			r.json(t, &a.page)
			ch <- a
		}()
		return ch
	}
	ch := poll("30s")
	time.Sleep(100 * time.Millisecond)
	r := e.do(request{method: http.MethodPost, path: "/v1/images/multi/versions/2.0-r1/status", token: e.writer, body: map[string]string{"status": "revoked", "reason": "bad base"}})
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	select {
	case a := <-ch:
		if a.status != http.StatusOK || len(a.page.Events) != 1 || a.page.Events[0].Status != catalog.StatusRevoked || a.page.Events[0].Image != "multi" {
			t.Errorf("the long poll answered %d %+v", a.status, a.page)
		}
		last = a.page.Last
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not answer the server's own change")
	}

	// One appended by another process (here, straight into the catalog) is found by polling.
	ch = poll("30s")
	time.Sleep(100 * time.Millisecond)
	if _, err := e.cat.SetStatus(context.Background(), catalog.Ref{Image: "multi", Version: "2.0-r1"},
		catalog.StatusChange{Status: catalog.StatusActive, Reason: "false alarm", Actor: "cli", At: t0}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		if len(a.page.Events) != 1 || a.page.Events[0].Actor != "cli" {
			t.Errorf("the long poll answered %+v", a.page)
		}
		last = a.page.Last
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not find another process's change")
	}

	// Nothing comes: an empty page after the wait.
	a := <-poll("300ms")
	if a.status != http.StatusOK || len(a.page.Events) != 0 || a.page.Last != last || a.elapsed < 300*time.Millisecond {
		t.Errorf("an idle long poll: %d %+v after %s", a.status, a.page, a.elapsed)
	}

	// The Go client follows over HTTP as a follower follows the database (admission's EventSource).
	c := &Client{BaseURL: e.ts.URL, Token: e.reader, HTTP: e.http}
	evs, err := c.Events(context.Background(), 0, 0)
	want := allEvents(t, e.cat)
	if err != nil || len(evs) != len(want) || evs[len(evs)-1].Seq != want[len(want)-1].Seq {
		t.Fatalf("Client.Events: %d events, %v; want %d", len(evs), err, len(want))
	}
	for i := range evs {
		if evs[i].Seq != want[i].Seq || evs[i].Kind != want[i].Kind || !evs[i].At.Equal(want[i].At) || evs[i].Reason != want[i].Reason {
			t.Errorf("event %d over HTTP: %+v, in the catalog %+v", i, evs[i], want[i])
		}
	}
	c.Wait = 200 * time.Millisecond
	if evs, err := c.Events(context.Background(), last, 10); err != nil || len(evs) != 0 {
		t.Errorf("Client.Events with a wait, nothing new: %v %v", evs, err)
	}
	bad := &Client{BaseURL: e.ts.URL, Token: e.revoked, HTTP: e.http}
	if _, err := bad.Events(context.Background(), 0, 10); !errors.Is(err, fault.Unauthenticated) {
		t.Errorf("Client.Events with a revoked token: %v", err)
	}
}
