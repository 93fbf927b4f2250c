package publish

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is what a build produces: one image, or an index of per-platform images.
// Exactly one field is set.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
}

func (a Artifact) Digest() (v1.Hash, error) {
	if a.Index != nil {
		return a.Index.Digest()
	}
	if a.Image != nil {
		return a.Image.Digest()
	}
	return v1.Hash{}, fmt.Errorf("empty artifact")
}

// Descriptor describes the artifact's top-level manifest.
func (a Artifact) Descriptor() (v1.Descriptor, error) {
	var (
		raw []byte
		mt  types.MediaType
		err error
	)
	switch {
	case a.Index != nil:
		if raw, err = a.Index.RawManifest(); err == nil {
			mt, err = a.Index.MediaType()
		}
	case a.Image != nil:
		if raw, err = a.Image.RawManifest(); err == nil {
			mt, err = a.Image.MediaType()
		}
	default:
		return v1.Descriptor{}, fmt.Errorf("empty artifact")
	}
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := a.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, nil
}

// Platforms describes the artifact's platform images, in order: each manifest of the index with its
// platform, or the single image with the platform its config names.
func (a Artifact) Platforms() ([]v1.Descriptor, error) {
	if a.Index != nil {
		m, err := a.Index.IndexManifest()
		if err != nil {
			return nil, err
		}
		var out []v1.Descriptor
		for _, d := range m.Manifests {
			if d.Platform != nil && d.MediaType.IsImage() {
				out = append(out, d)
			}
		}
		return out, nil
	}
	if a.Image == nil {
		return nil, fmt.Errorf("empty artifact")
	}
	d, err := a.Descriptor()
	if err != nil {
		return nil, err
	}
	cf, err := a.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	d.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	return []v1.Descriptor{d}, nil
}
