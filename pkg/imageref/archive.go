package imageref

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/publish"
)

// archiveImage is an image of a docker archive whose layers are stored compressed (as `crane append`
// or `crane pull --format tarball` write them; `docker save` writes them uncompressed). Such layers
// are Stored: their blob is the file in the archive, checked against the digest go-containerregistry
// computed from it when the image was opened, so the stages inflate it themselves rather than
// through go-containerregistry's slower inflating.
type archiveImage struct{ v1.Image }

func (i archiveImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = archiveLayer{l}
	}
	return out, nil
}

func (i archiveImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return archiveLayer{l}, nil
}

func (i archiveImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return archiveLayer{l}, nil
}

// archiveLayer is a compressed layer of a docker archive.
type archiveLayer struct{ v1.Layer }

func (archiveLayer) StoredCompressed() bool { return true }

// Compressed reads the layer's file in the archive; the reader fails at its end, with an error
// wrapping publish.ErrIntegrity, when the content does not match the digest.
func (l archiveLayer) Compressed() (io.ReadCloser, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &checked{rc: rc, want: d, h: sha256.New()}, nil
}

// checked hashes what it reads and compares the sum with want at the end.
type checked struct {
	rc   io.ReadCloser
	want v1.Hash
	h    hash.Hash
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		got := c.h.Sum(nil)
		if want, derr := hex.DecodeString(c.want.Hex); derr != nil || c.want.Algorithm != "sha256" || !bytes.Equal(got, want) {
			return n, fmt.Errorf("%w: %s hashes to sha256:%x", publish.ErrIntegrity, c.want, got)
		}
	}
	return n, err
}

func (c *checked) Close() error { return c.rc.Close() }
