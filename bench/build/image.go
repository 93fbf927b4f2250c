package main

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// imageInfo sums what a registry would store for the images of an OCI layout.
type imageInfo struct {
	layers int
	size   int64 // compressed layer bytes
	seen   map[v1.Hash]bool
}

// imageSize reads every image in the OCI layout at dir, following nested indexes. An image under
// several tags (ingot tags each build <line>-r<n>, <line> and latest) counts once.
func imageSize(dir string) (imageInfo, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return imageInfo{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return imageInfo{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	info := imageInfo{seen: map[v1.Hash]bool{}}
	if err := addIndex(&info, idx); err != nil {
		return imageInfo{}, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	if info.layers == 0 {
		return imageInfo{}, fmt.Errorf("OCI layout %s holds no image layers", dir)
	}
	return info, nil
}

func addIndex(info *imageInfo, idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		if info.seen[d.Digest] {
			continue
		}
		info.seen[d.Digest] = true
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			for _, l := range m.Layers {
				info.layers++
				info.size += l.Size
			}
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := addIndex(info, child); err != nil {
				return err
			}
		}
	}
	return nil
}
