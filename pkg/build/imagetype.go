package build

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// image is an assembled image: manifest and config are encoded once, our layers are in memory and the
// base image's layers are read through the base image with their media types made OCI.
type image struct {
	rawConfig, rawManifest []byte
	config                 *v1.ConfigFile
	manifest               *v1.Manifest
	digest                 v1.Hash
	layers                 map[v1.Hash]v1.Layer
	base                   v1.Image
	baseTypes              map[v1.Hash]types.MediaType
}

var _ v1.Image = (*image)(nil)

func (i *image) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *image) Size() (int64, error)                { return int64(len(i.rawManifest)), nil }
func (i *image) Digest() (v1.Hash, error)            { return i.digest, nil }
func (i *image) RawManifest() ([]byte, error)        { return i.rawManifest, nil }
func (i *image) RawConfigFile() ([]byte, error)      { return i.rawConfig, nil }
func (i *image) ConfigName() (v1.Hash, error)        { return i.manifest.Config.Digest, nil }

// ConfigFile returns a copy, so callers cannot change the image.
func (i *image) ConfigFile() (*v1.ConfigFile, error) { return i.config.DeepCopy(), nil }

// Manifest returns a copy, so callers cannot change the image.
func (i *image) Manifest() (*v1.Manifest, error) { return i.manifest.DeepCopy(), nil }

func (i *image) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, 0, len(i.manifest.Layers))
	for _, d := range i.manifest.Layers {
		l, err := i.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if l, ok := i.layers[h]; ok {
		return l, nil
	}
	if mt, ok := i.baseTypes[h]; ok {
		l, err := i.base.LayerByDigest(h)
		if err != nil {
			return nil, fmt.Errorf("reading base image layer %s: %w", h, err)
		}
		return retyped{Layer: l, mediaType: mt}, nil
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for n, d := range i.config.RootFS.DiffIDs {
		if d == h && n < len(i.manifest.Layers) {
			return i.LayerByDigest(i.manifest.Layers[n].Digest)
		}
	}
	return nil, fmt.Errorf("layer with diff ID %s is not in the image", h)
}

// retyped is a base image layer under the OCI media type our manifest gives it.
type retyped struct {
	v1.Layer
	mediaType types.MediaType
}

func (r retyped) MediaType() (types.MediaType, error) { return r.mediaType, nil }
