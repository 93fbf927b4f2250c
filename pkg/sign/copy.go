package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Copied says what Copy moved besides the image.
type Copied struct {
	Digest v1.Hash
	// Tags counts the .sig and .att images merged into the destination; Referrers the referrer
	// manifests (bundles and any other artifact) copied.
	Tags, Referrers int
}

// Copy copies an image or index from src to dst together with everything attached to it: the
// legacy .sig and .att images (merged with what dst already holds) and every referrer (sigstore
// bundles, SBOMs, any artifact), for the index and each platform manifest. Copying again adds
// nothing. Signatures stay valid: they name the digest, which a copy keeps.
func Copy(ctx context.Context, src, dst name.Reference, o RemoteOptions) (Copied, error) {
	var out Copied
	c, err := newClient(ctx, o)
	if err != nil {
		return out, err
	}
	t, err := c.resolve(src)
	if err != nil {
		return out, err
	}
	out.Digest = t.Descriptor.Digest
	desc, err := remote.Get(t.Ref, c.opts...)
	if err != nil {
		return out, classify("reading "+t.Ref.String(), err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return out, err
		}
		err = remote.WriteIndex(dst, idx, c.opts...)
		if err != nil {
			return out, classify("writing "+dst.String(), err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return out, err
		}
		if err := remote.Write(dst, img, c.opts...); err != nil {
			return out, classify("writing "+dst.String(), err)
		}
	}
	for _, sub := range append([]v1.Descriptor{t.Descriptor}, t.Platforms...) {
		from := src.Context().Digest(sub.Digest.String())
		to := dst.Context().Digest(sub.Digest.String())
		for _, suffix := range []string{"sig", "att"} {
			n, err := c.copyLegacy(from, to, legacyTag(sub.Digest, suffix))
			if err != nil {
				return out, err
			}
			out.Tags += n
		}
		n, err := c.copyReferrers(from, to)
		if err != nil {
			return out, err
		}
		out.Referrers += n
	}
	return out, nil
}

// copyLegacy merges the layers of the source's signature image under tag into the destination's.
func (c *client) copyLegacy(from, to name.Digest, tag string) (int, error) {
	d, err := c.manifest(from.Context().Tag(tag))
	if errors.Is(err, errNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrMalformed, tag, err)
	}
	var entries []entry
	for _, l := range m.Layers {
		data, err := c.blob(from.Context(), l.Digest)
		if err != nil {
			return 0, err
		}
		entries = append(entries, entry{
			data: data, mediaType: l.MediaType, annotations: l.Annotations,
			present: func(have v1.Descriptor, _ func() ([]byte, error)) bool {
				return have.Digest == l.Digest && maps.Equal(have.Annotations, l.Annotations)
			},
		})
	}
	added, err := c.appendLayers(to.Context(), tag, entries)
	if err != nil || !slices.Contains(added, true) {
		return 0, err
	}
	return 1, nil
}

// copyReferrers copies each referrer manifest of from, byte for byte, with its blobs; the
// destination registry (or ggcr's fallback tag) links it to the same subject digest.
func (c *client) copyReferrers(from, to name.Digest) (int, error) {
	refs, err := c.referrers(from)
	if errors.Is(err, errNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	have, err := c.referrers(to)
	if err != nil && !errors.Is(err, errNotFound) {
		return 0, err
	}
	n := 0
	for _, r := range refs {
		if containsDigest(have, r.Digest) {
			continue
		}
		d, err := c.manifest(from.Context().Digest(r.Digest.String()))
		if err != nil {
			return n, err
		}
		var m v1.Manifest
		if err := json.Unmarshal(d.Manifest, &m); err != nil {
			return n, fmt.Errorf("%w: referrer %s: %w", ErrMalformed, r.Digest, err)
		}
		for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			l, err := remote.Layer(from.Context().Digest(b.Digest.String()), c.opts...)
			if err != nil {
				return n, classify("reading blob "+b.Digest.String(), err)
			}
			if err := remote.WriteLayer(to.Context(), l, c.opts...); err != nil {
				return n, classify("writing blob "+b.Digest.String(), err)
			}
		}
		if err := c.putManifest(to.Context(), d.Manifest, d.MediaType, ""); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func containsDigest(ds []v1.Descriptor, d v1.Hash) bool {
	for _, x := range ds {
		if x.Digest == d {
			return true
		}
	}
	return false
}
