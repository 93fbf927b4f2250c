package host

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image presents the tree as a one-layer image, so that the inventory, vulnerability and secrets
// stages read a host exactly as they read a container image. The layer is an uncompressed tar
// streamed from the target on every read (nothing is copied to disk); its digest is its diff ID,
// computed by one more read the first time it is asked for.
func (t *Tree) Image() v1.Image {
	cfg := &v1.ConfigFile{OS: "linux", Architecture: t.arch(), RootFS: v1.RootFS{Type: "layers"}}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err == nil {
		img, err = mutate.Append(img, mutate.Addendum{Layer: &treeLayer{t: t}, MediaType: types.OCIUncompressedLayer})
	}
	if err != nil {
		// Neither can fail with an in-memory config and a layer whose digests are computed lazily.
		panic(fmt.Sprintf("host: presenting the tree as an image: %v", err))
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

// arch is dpkg's architecture of the tree (the dpkg package's own), amd64 when it has none.
func (t *Tree) arch() string {
	pkgs, ok, err := t.readDpkg()
	if err == nil && ok {
		if p, ok := pkgs["dpkg"]; ok && p.Arch != "" && p.Arch != "all" {
			return p.Arch
		}
	}
	return "amd64"
}

// treeLayer is the tree as an uncompressed layer.
type treeLayer struct{ t *Tree }

func (l *treeLayer) Digest() (v1.Hash, error) { return l.DiffID() }

func (l *treeLayer) DiffID() (v1.Hash, error) {
	d, _, err := l.t.layerDigest()
	if err != nil {
		return v1.Hash{}, err
	}
	return v1.NewHash(d)
}

func (l *treeLayer) Size() (int64, error) {
	_, n, err := l.t.layerDigest()
	return n, err
}

func (l *treeLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
func (l *treeLayer) Compressed() (io.ReadCloser, error)  { return l.Uncompressed() }

// Uncompressed streams the tree again. Closing the reader early stops the walk.
func (l *treeLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		pw.CloseWithError(l.t.layer(ctx, pw))
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (c *cancelReader) Close() error {
	c.cancel()
	return c.PipeReader.Close()
}
