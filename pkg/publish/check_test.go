package publish

import (
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
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/fault"
)

func blobFile(s Layouts, name string, h v1.Hash) string {
	return filepath.Join(s.Dir(name), "blobs", h.Algorithm, h.Hex)
}

// flip changes one byte of a file, keeping its size.
func flip(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func hashesToName(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]) == filepath.Base(path)
}

// TestWriteRepairsDamagedBlobs: writing an image again replaces blobs that are of the right size but
// no longer hash to their names, and the layout reads back clean.
func TestWriteRepairsDamagedBlobs(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	img := randomImage(t)
	if _, err := s.Write(ctx, "app", "1", Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	cfg, _ := img.ConfigName()
	md, _ := img.Digest()
	for _, h := range []v1.Hash{ld, cfg, md} {
		flip(t, blobFile(s, "app", h))
	}
	damage, err := s.Check(ctx, "app", "1", false)
	if err != nil {
		t.Fatal(err)
	}
	// The manifest does not verify, so nothing below it is looked at.
	if len(damage) != 1 || damage[0].Blob != md || !errors.Is(damage[0].Err, ErrIntegrity) {
		t.Fatalf("Check = %+v, want the manifest", damage)
	}
	if _, err := s.Write(ctx, "app", "1", Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []v1.Hash{ld, cfg, md} {
		if !hashesToName(t, blobFile(s, "app", h)) {
			t.Errorf("blob %s still damaged after writing the image again", h)
		}
	}
	if damage, err := s.Check(ctx, "app", "", false); err != nil || len(damage) != 0 {
		t.Errorf("Check after the write = %+v, %v", damage, err)
	}
}

// TestReadChecksBlobs: an artifact read from the store fails on damaged blobs with ErrIntegrity.
func TestReadChecksBlobs(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	img := randomImage(t)
	ii := testIndex(t)
	if _, err := s.Write(ctx, "app", "1", Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "app", "multi", Artifact{Index: ii}); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	flip(t, blobFile(s, "app", ld))
	a, err := s.Read("app", "1")
	if err != nil {
		t.Fatal(err)
	}
	back, _ := a.Image.Layers()
	rc, err := back[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, ErrIntegrity) || fault.Of(err) != fault.Integrity {
		t.Errorf("reading a damaged layer = %v, want ErrIntegrity", err)
	}

	im, _ := ii.IndexManifest()
	child := im.Manifests[1].Digest
	flip(t, blobFile(s, "app", child))
	a, err = s.Read("app", "multi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Index.Image(child); !errors.Is(err, ErrIntegrity) {
		t.Errorf("a damaged manifest in an index = %v, want ErrIntegrity", err)
	}
	id, _ := ii.Digest()
	flip(t, blobFile(s, "app", id))
	if _, err := s.Read("app", "multi"); !errors.Is(err, ErrIntegrity) {
		t.Errorf("a damaged index = %v, want ErrIntegrity", err)
	}
}

// TestCheckRepairsFromAnotherLayout: images share layers; a damaged or missing blob is copied from a
// layout whose copy verifies, and one that no layout holds intact is reported, not repaired.
func TestCheckRepairsFromAnotherLayout(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	img := randomImage(t)
	other := randomImage(t)
	for _, n := range []string{"a", "b"} {
		if _, err := s.Write(ctx, n, "1", Artifact{Image: img}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Write(ctx, "a", "2", Artifact{Image: other}); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	shared0, _ := layers[0].Digest()
	shared1, _ := layers[1].Digest()
	ol, _ := other.Layers()
	own, _ := ol[0].Digest()
	flip(t, blobFile(s, "a", shared0))
	if err := os.Remove(blobFile(s, "a", shared1)); err != nil {
		t.Fatal(err)
	}
	flip(t, blobFile(s, "a", own))

	damage, err := s.Check(ctx, "a", "", false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[v1.Hash]error{shared0: ErrIntegrity, shared1: os.ErrNotExist, own: ErrIntegrity}
	if len(damage) != len(want) {
		t.Fatalf("Check = %+v, want %d damaged blobs", damage, len(want))
	}
	for _, d := range damage {
		if !errors.Is(d.Err, want[d.Blob]) || d.Path != blobFile(s, "a", d.Blob) || d.RepairedFrom != "" {
			t.Errorf("damage %+v", d)
		}
	}

	damage, err = s.Check(ctx, "a", "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range damage {
		switch d.Blob {
		case shared0, shared1:
			if d.RepairedFrom != s.Dir("b") || !hashesToName(t, d.Path) {
				t.Errorf("%s: repaired from %q", d.Blob, d.RepairedFrom)
			}
		case own:
			if d.RepairedFrom != "" {
				t.Errorf("%s has no intact copy, yet was repaired from %s", d.Blob, d.RepairedFrom)
			}
		}
	}
	if damage, err := s.Check(ctx, "a", "", false); err != nil || len(damage) != 1 || damage[0].Blob != own {
		t.Errorf("after repair: %+v, %v; want only %s left", damage, err, own)
	}
	if _, err := s.Check(ctx, "a", "3", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Check of a missing tag = %v", err)
	}
}

// TestReadBackPushesAndArchives: what Read returns is a whole image or index to the writers (a cached
// build is pushed or archived from it), and a damaged blob stops them.
func TestReadBackPushesAndArchives(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	img, ii := randomImage(t), testIndex(t)
	for tag, a := range map[string]Artifact{"image": {Image: img}, "index": {Index: ii}} {
		if _, err := s.Write(ctx, "app", tag, a); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, tag := range []string{"image", "index"} {
		a, err := s.Read("app", tag)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := a.Digest()
		d, err := Push(ctx, u.Host+"/app:"+tag, a, PushOptions{})
		if err != nil || d.DigestStr() != want.String() {
			t.Errorf("push of %s read back: %v, %v; want %s", tag, d, err, want)
		}
	}
	a, err := s.Read("app", "image")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "app.tar")
	if err := WriteTarball(archive, "app:1", a); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	flip(t, blobFile(s, "app", ld))
	if a, err = s.Read("app", "image"); err != nil {
		t.Fatal(err)
	}
	// A registry that does not have the layer yet: one that has it would not be sent the blob.
	fresh := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer fresh.Close()
	fu, _ := url.Parse(fresh.URL)
	if _, err := Push(ctx, fu.Host+"/app:1", a, PushOptions{}); !errors.Is(err, ErrIntegrity) {
		t.Errorf("push of a damaged image: %v, want ErrIntegrity", err)
	}
	if err := WriteTarball(archive, "app:1", a); !errors.Is(err, ErrIntegrity) {
		t.Errorf("archive of a damaged image: %v, want ErrIntegrity", err)
	}
}
