package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxMetadata bounds what is read for one signature manifest, envelope or bundle: these are small
// JSON documents, and a registry answering with more is refused rather than buffered.
const maxMetadata = 32 << 20

// RemoteOptions say how to reach registries. Nothing is global: the transport and the keychain come
// from the caller.
type RemoteOptions struct {
	// Transport carries every request; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Keychain finds credentials; nil means the docker config (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Retry is how throttled or failed requests are retried; zero means three quick tries.
	Retry remote.Backoff
	// CacheDir keeps signature material named by digest between calls (see contentCache); empty
	// means no cache. Tags and referrer lists are always fetched.
	CacheDir string
	// BeforeCacheWrite, when set, is called before anything is written to CacheDir, perhaps from
	// several goroutines at once; a write waits for it to return. The CLI sweeps the data directory
	// then, so that a verification served from the cache, which writes nothing, does not pay for it.
	BeforeCacheWrite func()
}

// client is one session with registries: ggcr's puller and pusher for writes, reused so that
// authentication and the /v2/ ping happen once, and a reader for the many small reads.
type client struct {
	ctx  context.Context // the call's: a client lives for one Sign, Attest, Verify or Copy
	opts []remote.Option
	r    *reader
}

func newClient(ctx context.Context, o RemoteOptions) (*client, error) {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	rt := o.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	backoff := o.Retry
	if backoff.Steps == 0 {
		backoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}
	}
	opts := []remote.Option{
		remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(rt),
		remote.WithRetryBackoff(backoff),
	}
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	return &client{ctx: ctx, opts: append(opts, remote.Reuse(puller), remote.Reuse(pusher)), r: newReader(rt, kc, backoff, contentCache{dir: o.CacheDir, beforeWrite: o.BeforeCacheWrite})}, nil
}

// errNotFound is a registry's 404: the tag, manifest or blob does not exist.
var errNotFound = errors.New("not found")

// classify turns a registry failure into errNotFound (a real 404) or ErrRegistry (anything else,
// including 429 and 5xx, which must never read as "nothing there").
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %w", what, errNotFound)
	}
	if errors.Is(err, ErrDigestMismatch) {
		return err
	}
	// ggcr checks a manifest fetched by digest, but has no sentinel for the failure, only this message
	// (pkg/v1/remote/fetcher.go).
	if strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("%w: %s: %w", ErrDigestMismatch, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
}

// manifest fetches a manifest by tag or digest, checking its bytes against a requested digest.
func (c *client) manifest(ref name.Reference) (*fetched, error) { return c.r.manifest(c.ctx, ref) }

// artifact fetches a manifest of signature material by digest (a referrer), through the cache.
func (c *client) artifact(ref name.Digest) (*fetched, error) { return c.r.artifact(c.ctx, ref) }

// blob fetches a small blob and checks that it hashes to its digest.
func (c *client) blob(repo name.Repository, d v1.Hash) ([]byte, error) {
	return c.r.blob(c.ctx, repo, d)
}

// putBlob uploads a small blob unless the registry has it.
func (c *client) putBlob(repo name.Repository, data []byte, mt types.MediaType) (v1.Descriptor, error) {
	l := static.NewLayer(data, mt)
	d, _ := l.Digest() // static layers cannot fail
	if err := remote.WriteLayer(repo, l, c.opts...); err != nil {
		return v1.Descriptor{}, classify("uploading blob "+d.String(), err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}, nil
}

// putManifest uploads a manifest under a tag, or by its digest when tag is empty. A manifest with a
// subject also updates the referrers fallback tag on registries without the referrers API (ggcr does it).
func (c *client) putManifest(repo name.Repository, raw []byte, mt types.MediaType, tag string) error {
	sum := sha256.Sum256(raw)
	var ref name.Reference = repo.Digest("sha256:" + hex.EncodeToString(sum[:]))
	if tag != "" {
		ref = repo.Tag(tag)
	}
	return classify("uploading manifest "+ref.String(), remote.Put(ref, rawManifest{raw, mt}, c.opts...))
}

// referrers lists the manifests that name d as their subject, through the referrers API or its
// fallback tag.
func (c *client) referrers(d name.Digest) ([]v1.Descriptor, error) { return c.r.referrers(c.ctx, d) }

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
