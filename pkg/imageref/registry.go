package imageref

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// registryImage is an image read from a registry, whose layers are Stored: go-containerregistry's
// remote layers stream the blob as the registry serves it and check it against its digest when read
// to the end (a mismatch is go-containerregistry's error, not publish.ErrIntegrity).
type registryImage struct{ v1.Image }

func (i registryImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = registryLayer{l}
	}
	return out, nil
}

func (i registryImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return registryLayer{l}, nil
}

func (i registryImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return registryLayer{l}, nil
}

type registryLayer struct{ v1.Layer }

func (registryLayer) StoredCompressed() bool { return true }

// verifier is an image whose blobs are read from storage that may have changed since they were
// written: Verify hashes them again.
type verifier interface {
	Verify(ctx context.Context) error
}

// Verify hashes the image's blobs again when they come from an OCI layout (see publish.Layout) or are
// the layer files of a docker archive named by their digests, and returns an error wrapping
// publish.ErrIntegrity when one does not match its digest. Images from a registry, and the other
// archives, have no stored blobs to check: a registry serves what the digest names, go-
// containerregistry checks what it fetches, and it hashed the other archives' layers to name them.
// Caches keyed by the image digest ask this before trusting the digest.
func (i *Image) Verify(ctx context.Context) error {
	if v, ok := i.Image.(verifier); ok {
		return v.Verify(ctx)
	}
	return nil
}
