package rebuild

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/store"
)

// postgresFixture is a fixture whose catalog and queue are a private PostgreSQL database, and a
// second data directory (another machine's) sharing them.
func postgresFixture(t *testing.T, wrap func(http.Handler) http.Handler) (*fixture, store.Store, catalog.Catalog) {
	t.Helper()
	pg := regtest.StartPostgres(t)
	if pg == nil {
		return nil, store.Store{}, nil
	}
	f := newFixture(t, pg.NewDatabase(t), wrap)
	other := store.Store{Root: t.TempDir(), CatalogDSN: f.st.CatalogDSN}
	return f, other, f.openCatalog(other)
}

// TestTwoWorkersPostgres: two workers, each with its own data directory, share one PostgreSQL
// catalog and queue. A cycle over 20 registered specs enqueues 20 rebuilds; the workers share them,
// and the catalog ends with exactly one published version of each image (none lost, none published
// twice). A second cycle publishes nothing.
func TestTwoWorkersPostgres(t *testing.T) {
	f, otherStore, otherCat := postgresFixture(t, nil)
	if f == nil {
		return
	}
	const n = 20
	for i := range n {
		f.register(f.specBody(fmt.Sprintf("img%02d", i), "hello-data", ""), nil)
	}
	a := start(t, f.config())
	b := start(t, f.configFor(otherStore, otherCat))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := a.Cycle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range out.Failed() {
		t.Errorf("job %d (%s) %s: %s", j.ID, j.Kind, j.State, j.LastError())
	}
	workers := map[string]int{}
	rebuilds := 0
	for _, j := range out.Jobs {
		if j.Kind != KindRebuild {
			continue
		}
		rebuilds++
		if j.State != StateCompleted {
			t.Errorf("rebuild job %d is %s", j.ID, j.State)
		}
		for _, w := range j.AttemptedBy {
			workers[w]++
		}
	}
	if rebuilds != n {
		t.Fatalf("the cycle enqueued %d rebuilds, want %d", rebuilds, n)
	}
	if workers[a.ID()] == 0 || workers[b.ID()] == 0 {
		t.Errorf("rebuilds per worker %v: want both workers (%s, %s) to have taken some", workers, a.ID(), b.ID())
	}
	checkOneVersionEach(t, f, n)

	out, err = b.Cycle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Report.Rebuilds) != 0 || len(out.Report.Unchanged) != n {
		t.Errorf("second cycle: rebuilds %+v, %d unchanged", out.Report.Rebuilds, len(out.Report.Unchanged))
	}
	checkOneVersionEach(t, f, n)
}

// checkOneVersionEach checks that img00..img<n-1> each have exactly one version, published, and that
// the history has one published event each.
func checkOneVersionEach(t *testing.T, f *fixture, n int) {
	t.Helper()
	for i := range n {
		image := fmt.Sprintf("img%02d", i)
		vs := f.versions(image)
		if len(vs) != 1 || vs[0].State != catalog.StatePublished || vs[0].Tag() != "1.0-r1" {
			t.Errorf("%s: %d versions %+v, want one published 1.0-r1", image, len(vs), vs)
		}
	}
	if p, err := f.cat.Pending(context.Background()); err != nil || len(p) != 0 {
		t.Errorf("pending versions left: %+v, %v", p, err)
	}
	published := 0
	for _, e := range allEvents(t, f.cat) {
		if e.Kind == catalog.EventPublished {
			published++
		}
	}
	if published != n {
		t.Errorf("%d published events, want %d", published, n)
	}
}

// TestShutdownMidBatch: a worker is stopped while its rebuilds are pushing (the registry holds its
// manifest uploads); the running jobs are cancelled and handed back to the queue, not failed, and a
// worker on another machine picks every one of them up: each image ends with exactly one published
// version, and nothing is left pending.
func TestShutdownMidBatch(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slow.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				time.Sleep(2 * time.Second)
			}
			next.ServeHTTP(w, r)
		})
	}
	f, otherStore, otherCat := postgresFixture(t, hold)
	if f == nil {
		return
	}
	const n = 6
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := f.config()
	cfg.Workers = 3
	cfg.StopTimeout = 100 * time.Millisecond
	a := start(t, cfg)
	var ids []int64
	for i := range n {
		image := fmt.Sprintf("img%02d", i)
		f.register(f.specBody(image, "hello-data", ""), nil)
		q, err := a.RequestRebuild(ctx, f.cat, image, "test batch")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, q.JobID)
	}
	// Stop the first worker once three rebuilds are running (and held at their push).
	deadline := time.Now().Add(time.Minute)
	for {
		running, err := a.Jobs(ctx, JobFilter{States: []string{StateRunning}})
		if err != nil {
			t.Fatal(err)
		}
		if len(running) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("running jobs: %+v", running)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // into the held pushes
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := OpenQueue(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close() }()
	handedBack := 0
	for _, id := range ids {
		j, err := q.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Failed() || j.State == StateCancelled {
			t.Errorf("after the stop, job %d is %s: %s", j.ID, j.State, j.LastError())
		}
		if j.Snoozes > 0 {
			handedBack++
			if j.State != StateAvailable {
				t.Errorf("job %d was handed back but is %s", j.ID, j.State)
			}
		}
	}
	if handedBack != 3 {
		t.Errorf("%d jobs handed back, want the 3 that were running", handedBack)
	}

	slow.Store(false)
	b := start(t, f.configFor(otherStore, otherCat))
	for _, id := range ids {
		j, err := b.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != StateCompleted {
			t.Errorf("job %d ended %s: %s", j.ID, j.State, j.LastError())
		}
		if j.Snoozes > 0 && !(slices.Contains(j.AttemptedBy, a.ID()) && slices.Contains(j.AttemptedBy, b.ID())) {
			t.Errorf("handed-back job %d was attempted by %v, want both workers", j.ID, j.AttemptedBy)
		}
	}
	checkOneVersionEach(t, f, n)
}
