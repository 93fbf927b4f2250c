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
)

// Inflating is most of what the evidence stages spend on a layer, and klauspost/compress inflates
// faster than the standard library that go-containerregistry's Uncompressed uses. So when a layer's
// stored (compressed) bytes can be read directly, Uncompressed decompresses them itself.
//
// go-containerregistry gives no public way to ask whether Compressed is the stored stream or a
// compression made on the fly (as for docker-archive layers saved uncompressed, where Compressed would
// gzip the whole layer only for us to inflate it again). Layers read from OCI layouts and registries
// are wrapped in partial's compressedLayerExtender, and only those take the fast path; anything else,
// including that type renamed in a later go-containerregistry (a test notices), reads Uncompressed.
const storedCompressedLayer = "*partial.compressedLayerExtender"

// Uncompressed opens a layer's tar stream, the fast way when it can.
func Uncompressed(l v1.Layer) (io.ReadCloser, error) {
	if fmt.Sprintf("%T", l) != storedCompressedLayer {
		return l.Uncompressed()
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 256<<10)
	head, _ := br.Peek(4) // a short layer is left to the tar reader's errors
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening gzip layer: %w", err), rc.Close())
		}
		return &stream{Reader: zr, close: func() error { return errors.Join(zr.Close(), rc.Close()) }}, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening zstd layer: %w", err), rc.Close())
		}
		return &stream{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	return &stream{Reader: br, close: rc.Close}, nil
}

type stream struct {
	io.Reader
	close func() error
}

func (s *stream) Close() error { return s.close() }
