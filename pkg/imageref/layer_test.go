package imageref

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestUncompressedMatchesGGCR(t *testing.T) {
	for _, mt := range []types.MediaType{types.OCILayer, types.DockerUncompressedLayer} {
		l, err := random.Layer(4096, mt)
		if err != nil {
			t.Fatal(err)
		}
		want := readAll(t, l.Uncompressed)
		rc, err := Uncompressed(l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from ggcr's %d", mt, len(got), len(want))
		}
	}
}

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
