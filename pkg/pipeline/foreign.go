package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/store"
)

// CollectForeign runs the evidence stages on an image ingot did not build, found at ref: SBOM, scan,
// secrets and lint, with their default thresholds. There is no provenance (ingot did not build it),
// and no VEX or structure tests (there is no spec to name them). The set is recorded in the data
// directory, so that attesting the image again attests the same documents.
func CollectForeign(ctx context.Context, ref name.Digest, img v1.Image, opt Options) (*evidence.Set, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	if d.String() != ref.DigestStr() {
		return nil, fmt.Errorf("evidence for %s: the image read has digest %s", ref, d)
	}
	c, err := collect(ctx, ref.String(), nil, nil, img, false, opt)
	if err != nil {
		return nil, fmt.Errorf("evidence for %s: %w", ref, err)
	}
	if err := opt.Store().WriteForeignEvidence(ref.Context().Name(), d, c.set); err != nil {
		return nil, fmt.Errorf("recording evidence: %w", err)
	}
	return c.set, nil
}

// ImageEvidence returns the evidence of the image at ref (one platform image): what was recorded
// for that digest in the data directory, when ingot built it or collected its evidence before;
// otherwise the image is read from its registry (with opt.Remote) and CollectForeign collects and
// records it now.
func ImageEvidence(ctx context.Context, ref name.Digest, opt Options) (*evidence.Set, error) {
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, err
	}
	set, err := opt.Store().ReadEvidence(h)
	if !errors.Is(err, store.ErrNoEvidence) {
		return set, err
	}
	img, err := remote.Image(ref, append([]remote.Option{remote.WithContext(ctx)}, opt.Remote...)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return CollectForeign(ctx, ref, img, opt)
}
