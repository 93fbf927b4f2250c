package sbom

import (
	"context"
	"os"
	"reflect"
	"testing"
)

func TestCache(t *testing.T) {
	img, _ := layoutImage(t, "gzip")
	c := Cache{Dir: t.TempDir()}
	first, err := c.Catalog(context.Background(), img, Options{Ref: "a"})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	second, err := c.Catalog(context.Background(), img, Options{Ref: "b"})
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
	// A damaged entry is catalogued again, not trusted.
	if err := os.WriteFile(c.Dir+"/"+entries[0].Name(), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := c.Catalog(context.Background(), img, Options{Ref: "a"})
	if err != nil || !reflect.DeepEqual(first, third) {
		t.Errorf("after damage: %v, %+v", err, third)
	}
}
