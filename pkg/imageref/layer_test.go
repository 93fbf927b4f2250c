package imageref

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/publish"
)

// TestUncompressedMatchesGGCR reads layers from a layout (the fast path) and in memory (ggcr's path)
// and compares the tar streams with ggcr's own.
func TestUncompressedMatchesGGCR(t *testing.T) {
	img := empty.Image
	for _, mt := range []types.MediaType{types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer} {
		l, err := random.Layer(4096, mt)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	store := publish.Layouts{Root: t.TempDir()}
	if _, err := store.Write(context.Background(), "x", "1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	fromLayout, err := Open(context.Background(), "x:1", Options{Layouts: store})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := fromLayout.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%T", stored[0]); got != storedCompressedLayer {
		t.Fatalf("layout layers are %s: go-containerregistry changed, update storedCompressedLayer", got)
	}
	mem, _ := img.Layers()
	for i := range mem {
		want := readAll(t, mem[i].Uncompressed)
		for _, l := range []v1.Layer{stored[i], mem[i]} {
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
				t.Errorf("layer %d (%T): %d bytes differ from ggcr's %d", i, l, len(got), len(want))
			}
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
