package sign

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
)

// TestSessionSeveralKeys: one fetch of the signatures is checked against every key; the signature
// says which key verified; a signature by none of them is ErrWrongKey.
func TestSessionSeveralKeys(t *testing.T) {
	ctx := context.Background()
	var flaky regtest.Flaky
	host := regtest.Registry(t, regtest.WithHandler(flaky.Wrap))
	ref := pushImage(t, host, "app")
	signer, current := testKey(t)
	_, previous := testKey(t)
	_, stranger := testKey(t)
	if _, err := Sign(ctx, ref, signer, Options{}); err != nil {
		t.Fatal(err)
	}
	s := NewSession(Options{})

	count := func(keys ...Verifier) ([]Signature, int, error) {
		k, err := NewKeys(keys...)
		if err != nil {
			t.Fatal(err)
		}
		before := len(flaky.Requests())
		sigs, err := s.VerifySignatures(ctx, ref, k)
		return sigs, len(flaky.Requests()) - before, err
	}
	_, oneKey, err := count(current)
	if err != nil {
		t.Fatal(err)
	}
	sigs, twoKeys, err := count(previous, current)
	if err != nil {
		t.Fatalf("with the signing key second: %v", err)
	}
	if twoKeys != oneKey {
		t.Errorf("two keys cost %d requests, one key %d: the signatures should be fetched once", twoKeys, oneKey)
	}
	want, _ := KeyHint(current.PublicKey())
	if len(sigs) != 2 {
		t.Fatalf("got %d signatures, want 2 (legacy and bundle)", len(sigs))
	}
	for _, sig := range sigs {
		if sig.Key != want {
			t.Errorf("%s signature verified with %q, want the signing key %q", sig.Format, sig.Key, want)
		}
	}
	if _, _, err := count(previous, stranger); !errors.Is(err, ErrWrongKey) {
		t.Errorf("keys that did not sign: %v, want ErrWrongKey", err)
	}
}

// TestSessionResolveFollowsTheTag: a tag is read from the registry on every Resolve, so a tag moved to
// another image resolves to that image at once.
func TestSessionResolveFollowsTheTag(t *testing.T) {
	ctx := context.Background()
	host := regtest.Registry(t)
	first := pushImage(t, host, "app")
	s := NewSession(Options{})
	tag, _ := name.ParseReference(host + "/app:v1")
	r, err := s.Resolve(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if r.Digest.DigestStr() != first.DigestStr() {
		t.Fatalf("resolved %s, want %s", r.Digest, first)
	}
	second := pushImage(t, host, "app") // the same tag, another image
	r, err = s.Resolve(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if r.Digest.DigestStr() != second.DigestStr() {
		t.Errorf("after the tag moved, resolved %s, want %s", r.Digest, second)
	}
	if _, err := s.Resolve(ctx, tag.Context().Tag("missing")); !errors.Is(err, ErrRegistry) {
		t.Errorf("a missing tag: %v, want ErrRegistry", err)
	}
}

// TestSessionAttestationsPerPlatform: every platform image of an index is checked on its own; a
// platform without the attestation, or with one by another key, says so for that type only.
func TestSessionAttestationsPerPlatform(t *testing.T) {
	ctx := context.Background()
	host := regtest.Registry(t)
	idx, err := random.Index(128, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/multi:v1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	signer, v := testKey(t)
	other, _ := testKey(t)
	m, _ := idx.IndexManifest()
	vuln := Predicate{Type: "https://cosign.sigstore.dev/attestation/vuln/v1", JSON: json.RawMessage(`{"scanner":{"result":{"findings":[]}}}`)}
	platform := func(i int) name.Digest { return ref.Context().Digest(m.Manifests[i].Digest.String()) }
	// Platform 0: provenance and vuln by our key; platform 1: provenance only; platform 2: vuln by
	// another key.
	if _, err := Attest(ctx, platform(0), signer, []Predicate{provenance(), vuln}, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Attest(ctx, platform(1), signer, []Predicate{provenance()}, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Attest(ctx, platform(2), other, []Predicate{vuln}, Options{}); err != nil {
		t.Fatal(err)
	}

	s := NewSession(Options{})
	r, err := s.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Platforms) != 3 {
		t.Fatalf("resolved %d platforms, want 3", len(r.Platforms))
	}
	keys, _ := NewKeys(v)
	checks, err := s.VerifyAttestations(ctx, r, keys, vuln.Type, provenance().Type)
	if err != nil {
		t.Fatal(err)
	}
	types := func(c AttestationCheck) map[string]int {
		got := map[string]int{}
		for _, a := range c.Attestations {
			got[a.Statement.PredicateType]++
			if !a.Statement.Names(digestOf(c.Manifest)) {
				t.Errorf("%s: an attestation about %v", c.Manifest, a.Statement.Subject)
			}
		}
		return got
	}
	if got := types(checks[0]); got[vuln.Type] != 2 || got[provenance().Type] != 2 || len(checks[0].Errors) != 0 {
		t.Errorf("platform 0: %v, errors %v; want both types in both formats", got, checks[0].Errors)
	}
	if err := checks[1].Errors[vuln.Type]; !errors.Is(err, ErrNoAttestations) {
		t.Errorf("platform 1 vuln: %v, want ErrNoAttestations", err)
	}
	if _, ok := checks[1].Errors[provenance().Type]; ok {
		t.Errorf("platform 1 provenance failed: %v", checks[1].Errors)
	}
	if err := checks[2].Errors[vuln.Type]; !errors.Is(err, ErrWrongKey) {
		t.Errorf("platform 2 vuln by another key: %v, want ErrWrongKey", err)
	}
	for i, c := range checks {
		if c.Digest.DigestStr() != m.Manifests[i].Digest.String() {
			t.Errorf("check %d is about %s, want platform image %s", i, c.Manifest, m.Manifests[i].Digest)
		}
	}
}

// TestRetryBudget: a throttling registry is retried only while a retry can finish before the
// caller's deadline, so a webhook answers in time with a registry error, not a timeout.
func TestRetryBudget(t *testing.T) {
	ctx := context.Background()
	var flaky regtest.Flaky
	host := regtest.Registry(t, regtest.WithHandler(flaky.Wrap))
	ref := pushImage(t, host, "app")
	s := NewSession(Options{RemoteOptions: RemoteOptions{Retry: remote.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Steps: 10}}})

	// Retry-After asks for 5 s, the deadline is 1 s away: no retry at all.
	pushed := len(flaky.Requests())
	flaky.FailAll(regtest.Failure{Status: http.StatusTooManyRequests, RetryAfter: "5"})
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	began := time.Now()
	_, err := s.Resolve(dctx, ref)
	if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "not retried") {
		t.Fatalf("throttled with a 5 s Retry-After and 1 s left: %v, want ErrRegistry, not retried", err)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Errorf("took %s: the retry should not have been started", took)
	}
	if n := len(flaky.Requests()) - pushed; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// Without Retry-After, backoff retries fill the budget and stop before the deadline.
	flaky.FailAll(regtest.Failure{Status: http.StatusServiceUnavailable})
	dctx, cancel = context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	began = time.Now()
	_, err = s.Resolve(dctx, ref)
	if !errors.Is(err, ErrRegistry) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("503s: %v, want a registry error before the deadline", err)
	}
	if took := time.Since(began); took > 400*time.Millisecond {
		t.Errorf("took %s, past the deadline", took)
	}

	// Once the registry heals, a retry within the budget succeeds.
	flaky.FailAfter(0, regtest.Failure{})
	flaky.Heal()
	if _, err := s.Resolve(ctx, ref); err != nil {
		t.Errorf("healed: %v", err)
	}
}
