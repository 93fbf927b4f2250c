package regtest

import (
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// noRetry makes ggcr report the first failure instead of backing off and retrying.
func noRetry() []remote.Option {
	return []remote.Option{remote.WithRetryStatusCodes(), remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
}

func TestFlakyFailAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure Failure
	}{
		{"throttled", Failure{Status: http.StatusTooManyRequests, RetryAfter: "7"}},
		{"internal error", Failure{Status: http.StatusInternalServerError}},
		{"unavailable", Failure{Status: http.StatusServiceUnavailable}},
		{"connection dropped", Failure{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Flaky
			host := Registry(t, WithHandler(f.Wrap))
			if got := status(t, http.MethodGet, host, "/v2/"); got != http.StatusOK {
				t.Fatalf("before FailAll: GET /v2/ = %d", got)
			}
			f.FailAll(tc.failure)
			resp, err := http.Get("http://" + host + "/v2/x/manifests/latest")
			if tc.failure.Status == 0 {
				if err == nil {
					_ = resp.Body.Close()
					t.Fatalf("got status %d, want the connection dropped", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != tc.failure.Status {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.failure.Status)
				}
				if got := resp.Header.Get("Retry-After"); got != tc.failure.RetryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.failure.RetryAfter)
				}
			}
			if _, err := push(t, host, "x", noRetry()...); err == nil {
				t.Error("a push to a failing registry succeeded")
			}
			if f.Count(http.MethodPut, KindManifest) != 0 {
				t.Error("a manifest PUT was counted while failing")
			}
			f.Heal()
			if _, err := push(t, host, "x"); err != nil {
				t.Fatalf("push after Heal: %v", err)
			}
			if n := f.Count(http.MethodPut, KindManifest); n != 1 {
				t.Errorf("Count(PUT, manifest) = %d, want 1", n)
			}
			if f.Failed() < 2 {
				t.Errorf("Failed() = %d, want the GET and at least one push request", f.Failed())
			}
		})
	}
}

func TestFlakyFailAfter(t *testing.T) {
	var f Flaky
	host := Registry(t, WithHandler(f.Wrap))
	f.FailAfter(2, Failure{Status: http.StatusServiceUnavailable})
	want := []int{http.StatusOK, http.StatusOK, http.StatusServiceUnavailable, http.StatusServiceUnavailable}
	for i, w := range want {
		if got := status(t, http.MethodGet, host, "/v2/"); got != w {
			t.Errorf("request %d: %d, want %d", i+1, got, w)
		}
	}
	f.Heal()
	if got := status(t, http.MethodGet, host, "/v2/"); got != http.StatusOK {
		t.Errorf("after Heal: %d", got)
	}
	reqs := f.Requests()
	if len(reqs) != 5 || reqs[2].Status != http.StatusServiceUnavailable || !reqs[2].Failed || reqs[4].Failed {
		t.Errorf("recorded %+v", reqs)
	}
}

// A registry that dies after the first manifest lands: the next push fails, and after Heal a retry
// succeeds; the counters show exactly the PUTs the registry accepted.
func TestFlakyDiesAfterManifestPut(t *testing.T) {
	for _, fl := range []Failure{{Status: http.StatusServiceUnavailable}, {}} {
		var f Flaky
		host := Front(t, DockerRegistry(t), f.Wrap)
		f.FailAfterManifestPut(fl)
		if _, err := push(t, host, "a", noRetry()...); err != nil {
			t.Fatalf("the first push, whose manifest PUT is let through: %v", err)
		}
		_, err := push(t, host, "b", noRetry()...)
		if err == nil {
			t.Fatalf("failure %+v: the push after the registry died succeeded", fl)
		}
		f.Heal()
		if _, err := push(t, host, "b", noRetry()...); err != nil {
			t.Fatalf("retry after Heal: %v", err)
		}
		if n := f.Count(http.MethodPut, KindManifest); n != 2 {
			t.Errorf("failure %+v: %d manifest PUTs accepted, want 2", fl, n)
		}
	}
}

func TestFlakyConcurrent(t *testing.T) {
	var f Flaky
	host := Registry(t, WithHandler(f.Wrap))
	f.FailAfter(10, Failure{Status: http.StatusInternalServerError})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 40 {
		wg.Go(func() {
			c := status(t, http.MethodGet, host, "/v2/")
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 10 || codes[http.StatusInternalServerError] != 30 {
		t.Errorf("status counts %v, want 10 OK and 30 failures", codes)
	}
	if f.Count(http.MethodGet, KindPing) != 10 || f.Failed() != 30 {
		t.Errorf("Count(GET, ping) = %d, Failed() = %d", f.Count(http.MethodGet, KindPing), f.Failed())
	}
}

func TestKindOf(t *testing.T) {
	for path, want := range map[string]Kind{
		"/v2/":                                   KindPing,
		"/v2":                                    KindPing,
		"/v2/_catalog":                           KindCatalog,
		"/v2/a/b/manifests/latest":               KindManifest,
		"/v2/a/manifests/sha256:00":              KindManifest,
		"/v2/a/blobs/sha256:00":                  KindBlob,
		"/v2/a/blobs/uploads/":                   KindUpload,
		"/v2/a/blobs/uploads/1234":               KindUpload,
		"/v2/a/tags/list":                        KindTags,
		"/v2/a/referrers/sha256:00":              KindReferrers,
		"/v2/manifests/x":                        KindOther,
		"/healthz":                               KindOther,
		"/v2/library/manifests/manifests/latest": KindManifest,
	} {
		if got := KindOf(path); got != want {
			t.Errorf("KindOf(%q) = %s, want %s", path, got, want)
		}
	}
}
