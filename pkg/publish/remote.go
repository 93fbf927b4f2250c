package publish

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrPushDigest means a push was given a reference by digest: a push names where the image goes (a
// repository, and a tag); its digest is the image's own.
var ErrPushDigest = fault.New(fault.Invalid, "publish: push to a repository or a tag, not a digest")

// PushOptions configure a registry push.
type PushOptions struct {
	// Transport carries the requests; nil uses a fresh http.Transport (never the process default).
	Transport http.RoundTripper
	// Keychain supplies credentials; nil reads the docker config (~/.docker/config.json, DOCKER_CONFIG).
	Keychain authn.Keychain
	// Insecure allows plain HTTP to registries other than loopback (loopback always may).
	Insecure bool
	// Tag is the tag a reference without one is pushed to (the spec's version); empty is "latest".
	Tag string
}

// PushReference reads where a push goes: REPOSITORY gets tag, REPOSITORY:TAG keeps its own; a
// reference by digest is ErrPushDigest, one that does not parse an error of kind fault.Invalid.
func PushReference(ref, tag string, insecure bool) (name.Tag, error) {
	nopts := []name.Option{name.WithDefaultTag(name.DefaultTag)}
	if tag != "" {
		nopts[0] = name.WithDefaultTag(tag)
	}
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return name.Tag{}, fault.Wrap(fault.Invalid, err)
	}
	t, ok := r.(name.Tag)
	if !ok {
		return name.Tag{}, fmt.Errorf("%w: %s", ErrPushDigest, ref)
	}
	return t, nil
}

// Push uploads the artifact to ref (see PushReference) and returns the pushed reference by digest.
// Blobs go first and the manifest last, so a registry never serves a manifest whose blobs are missing;
// a retry re-sends only what the registry lacks.
func Push(ctx context.Context, ref string, a Artifact, opt PushOptions) (name.Digest, error) {
	r, err := PushReference(ref, opt.Tag, opt.Insecure)
	if err != nil {
		return name.Digest{}, fmt.Errorf("parsing --push reference: %w", err)
	}
	ropts := remoteOptions(ctx, opt)
	if a.Index != nil {
		err = remote.WriteIndex(r, a.Index, ropts...)
	} else {
		err = remote.Write(r, a.Image, ropts...)
	}
	if err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", r, err)
	}
	d, err := a.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return r.Context().Digest(d.String()), nil
}

// Tag points each of tags in repo at the artifact, which must be in repo already (Push put it there):
// only its manifest is sent again, under each tag.
func Tag(ctx context.Context, repo name.Repository, a Artifact, tags []string, opt PushOptions) error {
	var t remote.Taggable = a.Image
	if a.Index != nil {
		t = a.Index
	}
	if t == nil {
		return fmt.Errorf("tagging %s: empty artifact", repo)
	}
	for _, tag := range tags {
		if err := remote.Tag(repo.Tag(tag), t, remoteOptions(ctx, opt)...); err != nil {
			return fmt.Errorf("tagging %s:%s: %w", repo, tag, err)
		}
	}
	return nil
}

func remoteOptions(ctx context.Context, opt PushOptions) []remote.Option {
	kc := opt.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := opt.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(tr)}
}

// WriteTarball writes a `docker load` archive tagged ref. An index contributes the image for the
// host's architecture (a docker archive holds one image per tag).
func WriteTarball(path, ref string, a Artifact) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("parsing tarball tag: %w", err)
	}
	img := a.Image
	if a.Index != nil {
		if img, err = platformImage(a.Index, runtime.GOARCH); err != nil {
			return err
		}
	}
	return safefile.WriteFrom(path, 0o644, func(w io.Writer) error {
		return tarball.Write(tag, img, w)
	})
}

func platformImage(ii v1.ImageIndex, arch string) (v1.Image, error) {
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			return ii.Image(d.Digest)
		}
		if d.Platform != nil {
			have = append(have, d.Platform.Architecture)
		}
	}
	return nil, fmt.Errorf("the index has no linux/%s image for a docker archive (it has %v)", arch, have)
}
