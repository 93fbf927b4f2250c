package imageref

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/ingot-build/ingot/internal/extproc"
)

// Stored is the capability of a layer whose Compressed stream is its blob as stored (a file of an OCI
// layout, a registry blob), checked against the layer's digest as it is read, so that reading it to
// its end proves the content is what the digest names.
//
// Inflating is most of what the evidence stages spend on a layer, and klauspost/compress inflates
// faster than the standard library that go-containerregistry's Uncompressed uses. So for such a
// layer the stages decompress the stored bytes themselves. Any other layer (a docker archive saved
// uncompressed, whose Compressed would gzip the whole layer only to be inflated again; a layer built
// in memory) is read through its own Uncompressed.
type Stored interface {
	v1.Layer
	// StoredCompressed reports whether Compressed reads the stored, digest-checked blob.
	StoredCompressed() bool
}

// layerStream is a layer's tar stream. raw, for a stored layer, is the compressed stream under it:
// reading raw to its end settles whether the blob matches its digest, even when inflating failed
// first on damaged bytes.
type layerStream struct {
	io.Reader
	raw   io.Reader
	close func() error
}

func (s *layerStream) Close() error { return s.close() }

// openLayer opens a layer's tar stream, the fast way when the layer is Stored: a large gzip layer
// through igzip when it is installed (see gzipExternalMin), anything else in this process.
func openLayer(l v1.Layer) (*layerStream, error) {
	if !IsStored(l) {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		return &layerStream{Reader: rc, close: rc.Close}, nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 256<<10)
	head, _ := br.Peek(4) // a short layer is left to the tar reader's errors
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		if size, err := l.Size(); err == nil && size >= gzipExternalMin {
			if p, ok := extproc.Igzip.Start(br); ok {
				// The tar reader reads a header at a time: buffered, that is one read of the pipe
				// per buffer rather than per header.
				return &layerStream{Reader: bufio.NewReaderSize(p, extproc.PipeSize), raw: p.Rest(), close: func() error { return errors.Join(p.Close(), rc.Close()) }}, nil
			}
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &layerStream{Reader: failReader{err}, raw: br, close: rc.Close}, nil
		}
		return &layerStream{Reader: zr, raw: br, close: func() error { return errors.Join(zr.Close(), rc.Close()) }}, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening zstd layer: %w", err), rc.Close())
		}
		return &layerStream{Reader: zr, raw: br, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	return &layerStream{Reader: br, raw: br, close: rc.Close}, nil
}

// failReader fails every read: a gzip header that does not parse is reported when the stream is
// read, so that the blob's digest is checked first.
type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, fmt.Errorf("opening gzip layer: %w", r.err) }
