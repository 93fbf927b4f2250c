package imageref

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
)

// compressions are the layer encodings the fast path inflates itself.
var compressions = []types.MediaType{types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer}

// threeLayers is an image with one layer of each encoding, 4 KiB of random content each.
func threeLayers(t testing.TB) v1.Image {
	t.Helper()
	img := empty.Image
	for _, mt := range compressions {
		l, err := random.Layer(4096, mt)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

// storeOf writes img to a new layout store as x:1.
func storeOf(t *testing.T, img v1.Image) publish.Layouts {
	t.Helper()
	store := publish.Layouts{Root: t.TempDir()}
	if _, err := store.Write(context.Background(), "x", "1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	return store
}

// readTar reads a layer through a LayerReader and returns its whole tar stream.
func readTar(t *testing.T, lr *LayerReader, l v1.Layer) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	err := lr.Read(context.Background(), l, func(tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return tw.Close()
			}
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	})
	return out.Bytes(), err
}

// TestStoredLayers: layers read from a layout, a registry or a docker archive that stores them
// compressed (as ingot and crane write them) take the fast path (Stored); those of an archive that
// stores them uncompressed (as docker save does) do not, nor do layers built in memory; and every
// path gives the tar stream go-containerregistry gives.
func TestStoredLayers(t *testing.T) { inflaters(t, testStoredLayers) }

func testStoredLayers(t *testing.T) {
	ctx := context.Background()
	img := threeLayers(t)
	store := storeOf(t, img)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/x:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	rl, err := random.Layer(4096, types.DockerUncompressedLayer)
	if err != nil {
		t.Fatal(err)
	}
	plain := static.NewLayer(readAll(t, rl.Uncompressed), types.DockerUncompressedLayer)
	saved := filepath.Join(t.TempDir(), "saved.tar")
	if err := tarball.WriteToFile(saved, must(name.NewTag("x:1")), must(mutate.AppendLayers(empty.Image, plain))); err != nil {
		t.Fatal(err)
	}
	mem, _ := img.Layers()
	for _, tc := range []struct {
		ref    string
		stored bool
		mem    []v1.Layer
	}{
		{"x:1", true, mem},
		{"oci:" + store.Dir("x") + ":1", true, mem},
		{ref, true, mem},
		{"docker-archive:" + archive, true, mem},
		{"docker-archive:" + saved, false, []v1.Layer{plain}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			opened, err := Open(ctx, tc.ref, Options{Layouts: store})
			if err != nil {
				t.Fatal(err)
			}
			layers, err := opened.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range layers {
				s, ok := l.(Stored)
				if got := ok && s.StoredCompressed(); got != tc.stored {
					t.Errorf("layer %d (%T): stored = %v, want %v", i, l, got, tc.stored)
				}
				want := readAll(t, tc.mem[i].Uncompressed)
				got, err := readTar(t, NewLayerReader(Limits{}), l)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("layer %d: %d bytes differ from go-containerregistry's %d", i, len(got), len(want))
				}
			}
		})
	}
	// A layer built in memory is not Stored: it is read through its own Uncompressed.
	if _, ok := mem[0].(Stored); ok {
		t.Errorf("an in-memory layer (%T) claims to be stored", mem[0])
	}
	if got, err := readTar(t, NewLayerReader(Limits{}), mem[0]); err != nil || !bytes.Equal(got, readAll(t, mem[0].Uncompressed)) {
		t.Errorf("in-memory layer: %d bytes, %v", len(got), err)
	}
}

// damage changes a file the way a disk or a person might.
type damage struct {
	name string
	do   func(t *testing.T, path string, other []byte)
}

var damages = []damage{
	{"swapped", func(t *testing.T, path string, other []byte) { write(t, path, other) }},
	{"bit flip", func(t *testing.T, path string, _ []byte) {
		b := read(t, path)
		b[len(b)/2] ^= 0x01
		write(t, path, b)
	}},
	{"bit flip at the end", func(t *testing.T, path string, _ []byte) {
		b := read(t, path)
		b[len(b)-3] ^= 0x80
		write(t, path, b)
	}},
	{"truncated", func(t *testing.T, path string, _ []byte) {
		b := read(t, path)
		write(t, path, b[:len(b)-1])
	}},
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func blobPath(store publish.Layouts, h v1.Hash) string {
	return filepath.Join(store.Dir("x"), "blobs", h.Algorithm, h.Hex)
}

// TestReadDamagedLayer: a layer blob that no longer hashes to its name fails the read with
// publish.ErrIntegrity, for every encoding, whether the reader stops early or reads everything, and
// whether the damage breaks the decompression or not.
func TestReadDamagedLayer(t *testing.T) { inflaters(t, testReadDamagedLayer) }

func testReadDamagedLayer(t *testing.T) {
	other, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	otherBlob := readAll(t, other.Compressed)
	stopEarly := func(tr *tar.Reader) error { _, err := tr.Next(); return err }
	readEverything := func(tr *tar.Reader) error {
		for {
			if _, err := tr.Next(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return err
			}
		}
	}
	for _, dmg := range damages {
		for i, mt := range compressions {
			t.Run(dmg.name+"/"+string(mt), func(t *testing.T) {
				store := storeOf(t, threeLayers(t))
				for _, ref := range []string{"x:1", "oci:" + store.Dir("x") + ":1"} {
					img, err := Open(context.Background(), ref, Options{Layouts: store})
					if err != nil {
						// Opened after the damage: a blob of the wrong size is caught before any read.
						if !errors.Is(err, publish.ErrIntegrity) || fault.Of(err) != fault.Integrity {
							t.Fatalf("%s: opening a layout with a %s layer: %v, want publish.ErrIntegrity", ref, dmg.name, err)
						}
						continue
					}
					layers, _ := img.Layers()
					d, _ := layers[i].Digest()
					if ref == "x:1" {
						dmg.do(t, blobPath(store, d), otherBlob)
					}
					for _, fn := range []func(*tar.Reader) error{stopEarly, readEverything} {
						err := NewLayerReader(Limits{}).Read(context.Background(), layers[i], fn)
						if !errors.Is(err, publish.ErrIntegrity) || fault.Of(err) != fault.Integrity {
							t.Fatalf("%s: reading a %s layer: %v, want publish.ErrIntegrity", ref, dmg.name, err)
						}
						if !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), store.Dir("x")) {
							t.Errorf("%s: the error does not name the blob and the layout: %v", ref, err)
						}
					}
					if err := img.Verify(context.Background()); !errors.Is(err, publish.ErrIntegrity) {
						t.Errorf("%s: Verify = %v, want publish.ErrIntegrity", ref, err)
					}
				}
			})
		}
	}
}

// TestOpenDamagedManifestOrConfig: the small blobs are checked when read.
func TestOpenDamagedManifestOrConfig(t *testing.T) {
	for _, dmg := range damages {
		t.Run(dmg.name, func(t *testing.T) {
			img := threeLayers(t)
			store := storeOf(t, img)
			cfg, _ := img.ConfigName()
			dmg.do(t, blobPath(store, cfg), []byte(`{"architecture":"amd64","os":"linux"}`))
			opened, err := Open(context.Background(), "x:1", Options{Layouts: store})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := opened.ConfigFile(); !errors.Is(err, publish.ErrIntegrity) || !strings.Contains(err.Error(), cfg.String()) {
				t.Errorf("damaged config: %v, want publish.ErrIntegrity naming %s", err, cfg)
			}

			d, _ := img.Digest()
			dmg.do(t, blobPath(store, d), []byte(`{"schemaVersion":2}`))
			for _, ref := range []string{"x:1", "oci:" + store.Dir("x") + ":1"} {
				if _, err := Open(context.Background(), ref, Options{Layouts: store}); !errors.Is(err, publish.ErrIntegrity) || !strings.Contains(err.Error(), d.String()) {
					t.Errorf("%s: damaged manifest: %v, want publish.ErrIntegrity naming %s", ref, err, d)
				}
			}
		})
	}
}

// TestReadBudget: the layers of one image share one decompressed budget; going over it is an error
// of kind Invalid that names the limit.
func TestReadBudget(t *testing.T) { inflaters(t, testReadBudget) }

func testReadBudget(t *testing.T) {
	store := storeOf(t, threeLayers(t))
	img, err := Open(context.Background(), "x:1", Options{Layouts: store})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	drain := func(*tar.Reader) error { return nil }
	// Each layer is a little over 4 KiB of tar: two fit in 12 KiB, the third does not.
	lr := NewLayerReader(Limits{MaxImageBytes: 12 << 10})
	var errs []error
	for _, l := range layers {
		errs = append(errs, lr.Read(context.Background(), l, drain))
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("within the budget: %v", errs)
	}
	if err := errs[2]; !errors.Is(err, ErrTooLarge) || fault.Of(err) != fault.Invalid || !strings.Contains(err.Error(), "12288 bytes") {
		t.Errorf("over the budget: %v, want ErrTooLarge naming 12288 bytes", err)
	}
	lr = NewLayerReader(Limits{})
	for _, l := range layers {
		if err := lr.Read(context.Background(), l, drain); err != nil {
			t.Errorf("default budget: %v", err)
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestArchiveLayerChecked: a docker archive's compressed layer is checked against its digest as it
// is read: content that does not hash to it fails at the end with publish.ErrIntegrity.
func TestArchiveLayerChecked(t *testing.T) {
	data := []byte("not what the digest names")
	c := checked(io.NopCloser(bytes.NewReader(data)), must(v1.NewHash("sha256:"+strings.Repeat("0", 64))))
	if _, err := io.ReadAll(c); !errors.Is(err, publish.ErrIntegrity) {
		t.Fatalf("reading content that does not match: %v", err)
	}
	sum := sha256.Sum256(data)
	c = checked(io.NopCloser(bytes.NewReader(data)), must(v1.NewHash("sha256:"+hex.EncodeToString(sum[:]))))
	if got, err := io.ReadAll(c); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading content that matches: %q, %v", got, err)
	}
}

// TestReadStopped: a stage that fails part-way through a layer gets its own error back, for every
// encoding and inflater, and the inflater is stopped (the read returns).
func TestReadStopped(t *testing.T) { inflaters(t, testReadStopped) }

func testReadStopped(t *testing.T) {
	store := storeOf(t, threeLayers(t))
	img, err := Open(context.Background(), "x:1", Options{Layouts: store})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	stop := errors.New("the stage stops")
	for i, l := range layers {
		err := NewLayerReader(Limits{}).Read(context.Background(), l, func(tr *tar.Reader) error {
			if _, err := tr.Next(); err != nil {
				return err
			}
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("layer %d (%s): %v, want the stage's error", i, compressions[i], err)
		}
	}
}
