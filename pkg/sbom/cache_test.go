package sbom

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
