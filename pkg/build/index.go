package build

import (
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index returns an OCI image index of per-architecture images, each described with the platform in its
// config, sorted by platform so that the same images always give the same index.
func Index(images []v1.Image, annotations map[string]string) (v1.ImageIndex, error) {
	type entry struct {
		img      v1.Image
		platform v1.Platform
		key      string
	}
	entries := make([]entry, 0, len(images))
	seen := map[string]bool{}
	for i, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config of image %d: %w", i, err)
		}
		p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("%w: image %d has no platform in its config", ErrInvalidOptions, i)
		}
		key := p.String()
		if seen[key] {
			return nil, fmt.Errorf("%w: two images for platform %s", ErrInvalidOptions, key)
		}
		seen[key] = true
		entries = append(entries, entry{img: img, platform: p, key: key})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	adds := make([]mutate.IndexAddendum, len(entries))
	for i, e := range entries {
		adds[i] = mutate.IndexAddendum{Add: e.img, Descriptor: v1.Descriptor{Platform: &e.platform}}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if len(annotations) > 0 {
		annotated, ok := mutate.Annotations(idx, annotations).(v1.ImageIndex)
		if !ok {
			return nil, fmt.Errorf("annotating index: unexpected type")
		}
		idx = annotated
	}
	return idx, nil
}
