package imageref

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
)

// DefaultMaxImageBytes is how much the layers of one image may decompress to, in total, for one
// reader: far above real images (a full distribution with a toolchain is a few GiB), it stops an
// image crafted to inflate without end.
const DefaultMaxImageBytes int64 = 8 << 30

// ErrTooLarge means an image's layers decompress to more than the reader's limit (Limits).
var ErrTooLarge = fault.New(fault.Invalid, "imageref: the image's layers decompress to more than the limit")

// Limits bound what reading the layers of one image may cost. Each stage also caps what it keeps of
// a single file.
type Limits struct {
	// MaxImageBytes is the total decompressed size of every layer read for one image; 0 means
	// DefaultMaxImageBytes.
	MaxImageBytes int64
}

// LayerReader reads the layers of one image, each through to its end, under one budget shared by
// all of them (and by every goroutine reading them). Every evidence stage reads layers through it.
type LayerReader struct {
	max  int64
	used atomic.Int64
}

// NewLayerReader returns a reader for the layers of one image.
func NewLayerReader(lim Limits) *LayerReader {
	r := &LayerReader{max: lim.MaxImageBytes}
	if r.max <= 0 {
		r.max = DefaultMaxImageBytes
	}
	return r
}

// Read opens l's tar stream and calls fn with it. Then it reads whatever fn left to the end of the
// stream (a tar reader stops at the end-of-archive marker, before the decompressor's trailer and the
// end of the blob), so that the decompressor checks its trailer and a stored blob its digest, and
// closes it. A blob of an OCI layout that does not match its digest fails Read with an error wrapping
// publish.ErrIntegrity, also when fn failed first on the damaged bytes: a stage that gets an error
// from Read reports nothing from the layer.
func (r *LayerReader) Read(ctx context.Context, l v1.Layer, fn func(*tar.Reader) error) error {
	return r.read(ctx, l, nil, fn)
}

// ReadChecked is Read, proving that what was read is what ContentID(l, diffID) names: the blob of a
// Stored layer is checked against its digest anyway, and the tar stream of any other is hashed and
// compared with diffID at its end, failing with publish.ErrIntegrity. What a cache keeps of a layer
// must be read this way, under that name: an image's config may claim any diff ID.
func (r *LayerReader) ReadChecked(ctx context.Context, l v1.Layer, diffID v1.Hash, fn func(*tar.Reader) error) error {
	return r.read(ctx, l, &diffID, fn)
}

// ContentID names what layer l (whose config gives diffID) holds, in a way that reading it with
// ReadChecked proves: a Stored layer by its blob's digest, any other by its diff ID.
func ContentID(l v1.Layer, diffID v1.Hash) (string, error) {
	if IsStored(l) {
		d, err := l.Digest()
		if err != nil {
			return "", err
		}
		return "blob " + d.String(), nil
	}
	return "diff " + diffID.String(), nil
}

// IsStored says whether l is Stored: its Compressed is its blob, checked against its digest.
func IsStored(l v1.Layer) bool {
	s, ok := l.(Stored)
	return ok && s.StoredCompressed()
}

func (r *LayerReader) read(ctx context.Context, l v1.Layer, diffID *v1.Hash, fn func(*tar.Reader) error) (err error) {
	s, err := openLayer(l)
	if err != nil {
		return err
	}
	if diffID != nil && !IsStored(l) {
		s.Reader = checked(io.NopCloser(s.Reader), *diffID)
	}
	defer func() {
		if cerr := s.Close(); err == nil {
			err = cerr
		}
	}()
	counted := &budgetReader{r: s.Reader, lr: r}
	err = fn(tar.NewReader(counted))
	if err == nil {
		_, err = io.Copy(io.Discard, counted)
	}
	if err != nil && s.raw != nil && ctx.Err() == nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, publish.ErrIntegrity) {
		// The stream failed, perhaps on damaged bytes: if the blob does not match its digest, that
		// is the reason to give. Reading the rest of the compressed blob costs no inflating.
		if _, rerr := io.Copy(io.Discard, s.raw); errors.Is(rerr, publish.ErrIntegrity) {
			return fmt.Errorf("%w (reading it failed first: %w)", rerr, err)
		}
	}
	return err
}

// budgetReader counts decompressed bytes against the image's budget.
type budgetReader struct {
	r  io.Reader
	lr *LayerReader
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.lr.used.Add(int64(n)) > b.lr.max {
		return n, fmt.Errorf("%w of %d bytes", ErrTooLarge, b.lr.max)
	}
	return n, err
}

// DiffIDs names each layer by its diff ID, from the config: asking a layer read from a registry or a
// docker archive for its diff ID makes go-containerregistry decompress and hash the whole layer, a
// second read. Only when the config does not list one per layer are the layers asked.
func DiffIDs(cf *v1.ConfigFile, layers []v1.Layer) ([]v1.Hash, error) {
	if len(cf.RootFS.DiffIDs) == len(layers) {
		return cf.RootFS.DiffIDs, nil
	}
	out := make([]v1.Hash, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("reading the diff ID of layer %d: %w", i, err)
		}
		out[i] = d
	}
	return out, nil
}
