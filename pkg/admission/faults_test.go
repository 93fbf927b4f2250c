package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/goldtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/postgres"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/policy"
	"github.com/ingot-build/ingot/pkg/sign"
)

// clock is a settable clock for TTLs.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func allowed(s *Service, r *Review) bool {
	return s.Webhook.Validate(context.Background(), r.Request).Allowed()
}

// TestRegistryOutage: with the registry down or throttling, images whose verdict is cached keep being
// admitted within the TTL; anything that needs the registry (an image not seen yet, a tag, a verdict
// past its TTL) is denied, and the denial says the registry could not be checked.
func TestRegistryOutage(t *testing.T) {
	w := newWorld(t)
	clk := newClock()
	s := w.service(t, Options{Now: clk.Now, Cache: CacheOptions{TTL: time.Minute, NegativeTTL: 10 * time.Second, CatalogTTL: time.Minute, Now: clk.Now},
		Remote: sign.RemoteOptions{Retry: fastRetry}})
	byDigest := func(name string) *Review { return fixture(t, "Pod-create.json", w.digests[name].String()) }
	// What the mutating webhook writes: the tag and the digest it pointed to.
	pinned := func() *Review {
		return fixture(t, "Pod-create.json", w.refs["signed"]+"@"+w.digests["signed"].DigestStr())
	}
	if !allowed(s, byDigest("signed")) || !allowed(s, pinned()) {
		t.Fatal("the signed image is denied with the registry up")
	}
	for _, f := range []regtest.Failure{failure503, {Status: http.StatusTooManyRequests, RetryAfter: "1"}, {Status: 0}} {
		w.flaky.FailAll(f)
		if !allowed(s, byDigest("signed")) || !allowed(s, pinned()) {
			t.Errorf("registry failing with %d: the cached verdict is not served", f.Status)
		}
		for _, r := range []*Review{fixture(t, "Pod-create.json", w.refs["signed"]), byDigest("wrongkey")} {
			out := s.Webhook.Validate(context.Background(), r.Request)
			msg := ""
			if st := out.Review.Response.Status; st != nil {
				msg = st.Message
			}
			if out.Allowed() || !strings.Contains(msg, "unavailable") || !strings.Contains(msg, "registry") || !strings.Contains(msg, "denied") {
				t.Errorf("registry failing with %d, an image that needs it: %q", f.Status, msg)
			}
		}
	}
	clk.Add(61 * time.Second)
	if allowed(s, byDigest("signed")) {
		t.Error("past the TTL, with the registry down, the image is still admitted")
	}
	w.flaky.Heal()
	if !allowed(s, byDigest("signed")) {
		t.Error("healed: the signed image is denied")
	}
}

// fastRetry keeps the tests' retries short.
var fastRetry = remoteBackoff(10*time.Millisecond, 2)

// TestNegativeTTL: a refusal is remembered for the shorter negative TTL only, so an image signed after
// it was refused is admitted once that has passed.
func TestNegativeTTL(t *testing.T) {
	w := newWorld(t)
	clk := newClock()
	s := w.service(t, Options{Now: clk.Now, Cache: CacheOptions{TTL: time.Hour, NegativeTTL: 10 * time.Second, CatalogTTL: time.Hour, Now: clk.Now}})
	r := fixture(t, "Pod-create.json", w.digests["unsigned"].String())
	if allowed(s, r) {
		t.Fatal("the unsigned image is admitted")
	}
	if _, err := sign.Sign(context.Background(), w.digests["unsigned"], w.gold.Signer, sign.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Attest(context.Background(), w.digests["unsigned"], w.gold.Signer, goldtest.Gold(), sign.Options{}); err != nil {
		t.Fatal(err)
	}
	if allowed(s, r) {
		t.Error("admitted within the negative TTL: the refusal should still be cached")
	}
	clk.Add(11 * time.Second)
	if !allowed(s, r) {
		t.Error("past the negative TTL, the image signed since is still denied")
	}
}

// TestConcurrentLookupsCoalesce: a rollout of many pods of one image not seen before verifies it once.
func TestConcurrentLookupsCoalesce(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{})
	fresh := goldtest.MustPush(t, w.host, goldtest.Image{Repo: "gold/fresh", Signer: w.gold.Signer, Attest: goldtest.Gold()})
	goldtest.MustCatalog(t, w.cat, "fresh", fresh, time.Now())
	before := len(w.flaky.Requests())
	var wg sync.WaitGroup
	var denied atomic.Int32
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			if !allowed(s, fixture(t, "Pod-create.json", fresh.String())) {
				denied.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if denied.Load() > 0 {
		t.Fatalf("%d of 50 reviews denied", denied.Load())
	}
	sigs := 0
	for _, r := range w.flaky.Requests()[before:] {
		if strings.HasSuffix(r.Path, ".sig") {
			sigs++
		}
	}
	if sigs != 1 {
		t.Errorf("50 concurrent reviews fetched the signatures %d times, want 1", sigs)
	}
}

// TestRevocationReachesEveryReplica: two running webhooks (replicas, over HTTPS, each with its own
// connection to the catalog) admit a version and cache it; revoking it in the catalog from a third
// connection (as ingot catalog revoke does, from another process) makes the next review on both deny
// within seconds, and restoring it admits it again. With the SQLite file and with PostgreSQL (several
// machines sharing one catalog).
func TestRevocationReachesEveryReplica(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { revocationReachesEveryReplica(t, newWorld(t)) })
	t.Run("postgres", func(t *testing.T) {
		pg := regtest.StartPostgres(t)
		dsn := pg.NewDatabase(t)
		w := newWorldWith(t, t.TempDir(), func(t testing.TB) *sqlstore.Store {
			t.Helper()
			cat, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cat.Close() })
			return cat
		})
		revocationReachesEveryReplica(t, w)
	})
}

func revocationReachesEveryReplica(t *testing.T, w *world) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type replica struct {
		s   *Service
		url string
	}
	var reps []replica
	var caPool = x509.NewCertPool()
	for range 2 {
		cat := w.open(t)
		s := w.service(t, Options{PollInterval: 100 * time.Millisecond, Catalog: policy.CatalogRecords{Versions: cat}, Events: cat})
		go s.Run(ctx)
		url, ca := tlsServer(t, (&Server{Webhook: s.Webhook}).Handler())
		caPool.AppendCertsFromPEM(ca)
		reps = append(reps, replica{s, url})
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}}}
	ref := w.digests["signed"].String()
	review := func(url string) (bool, string) {
		body, _ := json.Marshal(fixture(t, "Pod-create.json", ref))
		resp, err := client.Post(url+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out Review
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if out.Response.Allowed {
			return true, ""
		}
		return false, out.Response.Status.Message
	}
	for _, r := range reps {
		if ok, msg := review(r.url); !ok {
			t.Fatalf("before the revocation: %s", msg)
		}
		if r.s.Catalog.records.len() == 0 {
			t.Fatal("the record is not cached: the test would not show that events reach the cache")
		}
	}
	other := w.open(t)
	at := time.Now()
	if _, err := other.SetStatus(ctx, catalog.Ref{Image: "app", Version: w.digests["signed"].DigestStr()},
		catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE-2026-9999", Actor: "security"}); err != nil {
		t.Fatal(err)
	}
	for i, r := range reps {
		for {
			ok, msg := review(r.url)
			if !ok {
				if !strings.Contains(msg, "revoked") || !strings.Contains(msg, "CVE-2026-9999") {
					t.Errorf("replica %d denies, but not for the revocation: %s", i, msg)
				}
				t.Logf("replica %d denies %s after the revocation", i, time.Since(at).Round(time.Millisecond))
				break
			}
			if time.Since(at) > 5*time.Second {
				t.Fatalf("replica %d still admits the revoked version after 5s", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, err := other.SetStatus(ctx, catalog.Ref{Image: "app", Version: w.digests["signed"].DigestStr()},
		catalog.StatusChange{Status: catalog.StatusActive, Reason: "false positive", Actor: "security"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, r := range reps {
		for ok, _ := review(r.url); !ok; ok, _ = review(r.url) {
			if time.Now().After(deadline) {
				t.Fatal("the restored version is still denied after 5s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestCatalogUnavailable: with the catalog's events not followed (the database gone), cached records
// are not served, the webhook is not ready, and images that need the catalog are denied saying so.
func TestCatalogUnavailable(t *testing.T) {
	w := newWorld(t)
	clk := newClock()
	s := w.service(t, Options{Now: clk.Now, PollInterval: time.Second, Cache: CacheOptions{Now: clk.Now, TTL: time.Hour, CatalogTTL: time.Hour}})
	r := fixture(t, "Pod-create.json", w.digests["signed"].String())
	if !allowed(s, r) || s.Ready() != nil {
		t.Fatalf("with the catalog up: ready %v", s.Ready())
	}
	if err := w.cat.Close(); err != nil {
		t.Fatal(err)
	}
	s.Follower.Poll(context.Background())
	clk.Add(11 * time.Second) // past the follower's MaxLag of 10 intervals
	if err := s.Ready(); err == nil {
		t.Error("ready, with the catalog's events not followed")
	}
	out := s.Webhook.Validate(context.Background(), r.Request)
	if out.Allowed() || !strings.Contains(out.Review.Response.Status.Message, "catalog could not be read") {
		t.Errorf("catalog down: %+v", out.Review.Response)
	}
}
