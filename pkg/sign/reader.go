package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// manifestAccept is every manifest kind a signature, attestation or image can be stored as.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
}, ",")

// reader does the reads of signing and verification: small manifests and blobs, fetched with plain
// GETs so that they can run in parallel. It asks anonymously first and authenticates (ggcr's token
// flow, with the keychain's credentials) only when a registry answers 401, so a public or loopback
// registry costs no /v2/ ping and no token round trip.
type reader struct {
	base  http.RoundTripper
	kc    authn.Keychain
	retry remote.Backoff
	cache contentCache

	mu     sync.Mutex
	authed map[string]*http.Client // by repository
}

func newReader(rt http.RoundTripper, kc authn.Keychain, retry remote.Backoff, cache contentCache) *reader {
	return &reader{base: rt, kc: kc, retry: retry, cache: cache, authed: map[string]*http.Client{}}
}

// fetched is one document read from a registry.
type fetched struct {
	Manifest  []byte
	MediaType types.MediaType
	Digest    v1.Hash
}

// get fetches /v2/<repo>/<path>; a 404 is errNotFound, other failures ErrRegistry. Throttling and
// server errors are retried with backoff before they count.
func (r *reader) get(ctx context.Context, repo name.Repository, path, accept string) (*http.Response, []byte, error) {
	url := fmt.Sprintf("%s://%s/v2/%s/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), path)
	what := "GET " + url
	client, authed := r.client(repo)
	delay := r.retry.Duration
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, nil, err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		began := time.Now()
		resp, err := client.Do(req)
		took := time.Since(began)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
		_ = resp.Body.Close() // fully read; closing returns the connection
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if len(body) > maxMetadata {
				return nil, nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, url, maxMetadata)
			}
			return resp, body, nil
		case resp.StatusCode == http.StatusNotFound:
			return resp, nil, fmt.Errorf("%s: %w", what, errNotFound)
		case (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && !authed:
			if client, err = r.authenticate(ctx, repo); err != nil {
				return nil, nil, fmt.Errorf("%w: authenticating to %s: %w", ErrRegistry, repo, err)
			}
			authed = true
			attempt--
			continue
		case (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) && attempt < r.retry.Steps:
			wait := delay + time.Duration(rand.Float64()*r.retry.Jitter*float64(delay)) //nolint:gosec // jitter for retries, not a secret
			if ra := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ra > wait {
				wait = ra
			}
			// The retry budget: a retry that could not finish before the caller's deadline is not
			// started, so the caller gets this answer in time rather than a cancelled wait.
			if left, ok := budget(ctx); ok && left < wait+took {
				return resp, nil, fmt.Errorf("%w: %s: %s (not retried: %s to the deadline, the retry needs %s)", ErrRegistry, what, resp.Status,
					left.Round(time.Millisecond), (wait + took).Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(wait):
			}
			delay = time.Duration(float64(delay) * r.retry.Factor)
			continue
		}
		return resp, nil, fmt.Errorf("%w: %s: %s", ErrRegistry, what, resp.Status)
	}
}

// budget is the time left before ctx's deadline, when it has one.
func budget(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(d), true
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date; zero when absent or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (r *reader) client(repo name.Repository) (*http.Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.authed[repo.String()]; ok {
		return c, true
	}
	return &http.Client{Transport: r.base}, false
}

// authenticate runs ggcr's registry authentication (ping, then basic or bearer token) for pulls.
func (r *reader) authenticate(ctx context.Context, repo name.Repository) (*http.Client, error) {
	auth, err := r.kc.Resolve(repo)
	if err != nil {
		return nil, err
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, r.base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: rt}
	r.mu.Lock()
	r.authed[repo.String()] = c
	r.mu.Unlock()
	return c, nil
}

// manifest fetches a manifest by tag or digest; fetched by digest, its bytes must hash to it.
func (r *reader) manifest(ctx context.Context, ref name.Reference) (*fetched, error) {
	resp, body, err := r.get(ctx, ref.Context(), "manifests/"+ref.Identifier(), manifestAccept)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	f := &fetched{Manifest: body, Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
	if dg, ok := ref.(name.Digest); ok && dg.DigestStr() != f.Digest.String() {
		return nil, fmt.Errorf("%w: the registry's manifest for %s hashes to %s", ErrDigestMismatch, ref, f.Digest)
	}
	f.MediaType = bodyMediaType(body, resp.Header.Get("Content-Type"))
	return f, nil
}

// artifact fetches a manifest by digest through the content cache: for signature material, whose
// manifests are immutable once named by digest. (An image's own manifest is always fetched: that is
// how verification learns the image is still there.)
func (r *reader) artifact(ctx context.Context, ref name.Digest) (*fetched, error) {
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, err
	}
	if data, ok := r.cache.get(h); ok {
		return &fetched{Manifest: data, Digest: h, MediaType: bodyMediaType(data, "")}, nil
	}
	f, err := r.manifest(ctx, ref)
	if err == nil {
		r.cache.put(h, f.Manifest)
	}
	return f, err
}

// blob fetches a small blob and checks that it hashes to its digest, through the content cache.
func (r *reader) blob(ctx context.Context, repo name.Repository, d v1.Hash) ([]byte, error) {
	if data, ok := r.cache.get(d); ok {
		return data, nil
	}
	_, body, err := r.get(ctx, repo, "blobs/"+d.String(), "")
	if err != nil {
		return nil, err
	}
	if !sameDigest(d, body) {
		return nil, fmt.Errorf("%w: blob %s does not hash to its digest", ErrDigestMismatch, d)
	}
	r.cache.put(d, body)
	return body, nil
}

// bodyMediaType is a manifest's own mediaType field, else the Content-Type it was served with.
func bodyMediaType(body []byte, contentType string) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if json.Unmarshal(body, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	return types.MediaType(strings.TrimSpace(strings.Split(contentType, ";")[0]))
}

// referrers lists the manifests naming d as their subject. The referrers API and its fallback tag
// are asked at once: registries without the API (Debian's docker-registry) then cost one round trip,
// not two.
func (r *reader) referrers(ctx context.Context, d name.Digest) ([]v1.Descriptor, error) {
	var api, tag struct {
		resp *http.Response
		body []byte
		err  error
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		api.resp, api.body, api.err = r.get(ctx, d.Context(), "referrers/"+d.DigestStr(), string(types.OCIImageIndex))
	})
	wg.Go(func() {
		tag.resp, tag.body, tag.err = r.get(ctx, d.Context(), "manifests/"+strings.Replace(d.DigestStr(), ":", "-", 1), string(types.OCIImageIndex))
	})
	wg.Wait()
	body := tag.body
	switch {
	case api.err == nil && strings.HasPrefix(api.resp.Header.Get("Content-Type"), string(types.OCIImageIndex)):
		body = api.body
	case api.err != nil && api.resp == nil:
		return nil, api.err // no answer at all
	case api.err != nil && api.resp.StatusCode != http.StatusNotFound && api.resp.StatusCode != http.StatusBadRequest &&
		api.resp.StatusCode != http.StatusNotAcceptable && api.resp.StatusCode != http.StatusMethodNotAllowed:
		return nil, api.err
	case errorsIsNotFound(tag.err):
		return nil, nil
	case tag.err != nil:
		return nil, tag.err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("%w: referrers of %s: %w", ErrMalformed, d, err)
	}
	return idx.Manifests, nil
}

func errorsIsNotFound(err error) bool { return errors.Is(err, errNotFound) }
