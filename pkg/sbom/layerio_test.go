package sbom

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/publish"
)

// layoutImage writes one layer holding the Alpine fixture, stored as comp, to an OCI layout and
// reads the image back, as `ingot sbom oci:DIR` does.
func layoutImage(t *testing.T, comp string) (v1.Image, string) {
	t.Helper()
	raw, err := io.ReadAll(must(layerOf(t,
		file("etc/os-release", fixture(t, "os-release/alpine")),
		file("lib/apk/db/installed", fixture(t, "apk/installed")),
	).Uncompressed()))
	if err != nil {
		t.Fatal(err)
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	var l v1.Layer
	switch comp {
	case "gzip":
		l, err = tarball.LayerFromOpener(opener)
	case "zstd":
		l, err = tarball.LayerFromOpener(opener, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	case "none":
		l, err = stored(raw)
	}
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	// Read back as ingot reads layouts: every blob checked against its digest.
	desc, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	back, err := publish.Layout{Dir: dir}.Image(*desc)
	if err != nil {
		t.Fatal(err)
	}
	return back, dir
}

// stored is a layer whose stored blob is the plain tar (media type tar, no compression).
func stored(raw []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompression(compression.None), tarball.WithMediaType(types.OCIUncompressedLayer))
}

// TestLayoutLayers reads layers from an OCI layout, gzip, zstd and uncompressed, through imageref's
// direct decompression path.
func TestLayoutLayers(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			img, _ := layoutImage(t, comp)
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != 1 {
				t.Fatalf("%d layers", len(layers))
			}
			inv, err := Inventory(context.Background(), img, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Packages) != 4 || inv.Packages[0].Ecosystem != "Alpine:v3.19" {
				t.Errorf("read %d packages: %+v", len(inv.Packages), inv.Packages)
			}
		})
	}
}

// TestCorruptLayer: a layer whose stored bytes were altered fails with publish.ErrIntegrity, even
// though its tar entries could be read, because the stream is read to its end and the blob's digest.
func TestCorruptLayer(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			img, dir := layoutImage(t, comp)
			layers, _ := img.Layers()
			d, _ := layers[0].Digest()
			blob := filepath.Join(dir, "blobs", "sha256", d.Hex)
			b, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-6] ^= 0xff // gzip: inside the trailer's CRC; otherwise in the tar's padding
			if err := os.WriteFile(blob, b, 0o644); err != nil {
				t.Fatal(err)
			}
			inv, err := Inventory(context.Background(), img, Options{})
			if !errors.Is(err, publish.ErrIntegrity) || !strings.Contains(err.Error(), "layer 0") || inv != nil {
				t.Fatalf("Inventory of a corrupt layer: %v, want publish.ErrIntegrity and no inventory", err)
			}
		})
	}
}
