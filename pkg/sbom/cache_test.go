package sbom

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/publish"
)

func TestCache(t *testing.T) {
	img, _ := layoutImage(t, "gzip")
	c := Cache{Dir: t.TempDir()}
	first, err := c.Inventory(context.Background(), img, Options{Ref: "a"})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	second, err := c.Inventory(context.Background(), img, Options{Ref: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Image.Ref != "b" {
		t.Errorf("a cached inventory keeps the ref of the first call: %q", second.Image.Ref)
	}
	second.Image.Ref = "a"
	if !reflect.DeepEqual(first, second) {
		t.Errorf("cached inventory differs:\n%+v\n%+v", first, second)
	}
	// A damaged entry is read again, not trusted.
	if err := os.WriteFile(c.Dir+"/"+entries[0].Name(), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := c.Inventory(context.Background(), img, Options{Ref: "a"})
	if err != nil || !reflect.DeepEqual(first, third) {
		t.Errorf("after damage: %v, %+v", err, third)
	}
}

// TestCacheDoesNotHideDamage: an inventory cached under an image digest is not returned once the
// image's blobs no longer hash to their names.
func TestCacheDoesNotHideDamage(t *testing.T) {
	for _, blob := range []string{"layer", "config"} {
		t.Run(blob, func(t *testing.T) {
			img, dir := layoutImage(t, "gzip")
			c := Cache{Dir: t.TempDir()}
			if _, err := c.Inventory(context.Background(), img, Options{}); err != nil {
				t.Fatal(err)
			}
			var d v1.Hash
			if blob == "layer" {
				layers, _ := img.Layers()
				d, _ = layers[0].Digest()
			} else {
				d, _ = img.ConfigName()
			}
			path := filepath.Join(dir, "blobs", "sha256", d.Hex)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			inv, err := c.Inventory(context.Background(), img, Options{})
			if !errors.Is(err, publish.ErrIntegrity) || inv != nil {
				t.Fatalf("inventory after tampering: %v, want publish.ErrIntegrity", err)
			}
		})
	}
}

// TestCacheArchiveDamage: a docker archive's layer files are named by their digests, which the image
// digest is made from; once a layer file no longer hashes to its name, the inventory cached under
// the image digest is not returned.
func TestCacheArchiveDamage(t *testing.T) {
	ctx := context.Background()
	img, _ := layoutImage(t, "gzip")
	archive := filepath.Join(t.TempDir(), "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	open := func() *imageref.Image {
		t.Helper()
		opened, err := imageref.Open(ctx, "docker-archive:"+archive, imageref.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return opened
	}
	c := Cache{Dir: t.TempDir()}
	if _, err := c.Inventory(ctx, open(), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, hit, err := c.Cached(ctx, open(), Options{}); !hit || err != nil {
		t.Fatalf("the archive's inventory is not cached: %v, %v", hit, err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	blob := readAllOf(t, rc)
	whole, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(whole, blob)
	if at < 0 {
		t.Fatal("the layer file is not in the archive as is")
	}
	whole[at+len(blob)/2] ^= 0x01
	if err := os.WriteFile(archive, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if inv, err := c.Inventory(ctx, open(), Options{}); !errors.Is(err, publish.ErrIntegrity) || inv != nil {
		t.Fatalf("inventory after tampering: %v, want publish.ErrIntegrity", err)
	}
}

func readAllOf(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
