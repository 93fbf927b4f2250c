package imageref

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingot-build/ingot/pkg/publish"
)

// FuzzDockerArchive: whatever a file holds, opening it as a docker archive and reading its layers
// does not panic or hang, and a layer named by a digest it does not hash to is never read whole
// without an error (the read, or Verify, fails).
func FuzzDockerArchive(f *testing.F) {
	img := threeLayers(f)
	dir := f.TempDir()
	archive := filepath.Join(dir, "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		f.Fatal(err)
	}
	whole, err := os.ReadFile(archive)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(whole)
	f.Add(whole[:len(whole)/2])
	flipped := append([]byte(nil), whole...)
	flipped[len(flipped)*2/3] ^= 0x40
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "a.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opened, err := Open(context.Background(), "docker-archive:"+p, Options{})
		if err != nil {
			return
		}
		verr := opened.Verify(context.Background())
		layers, err := opened.Layers()
		if err != nil {
			return
		}
		anyBad := false
		for i, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				continue
			}
			_, cerr := io.ReadAll(rc)
			_ = rc.Close()
			bad := errors.Is(cerr, publish.ErrIntegrity)
			anyBad = anyBad || bad
			rerr := NewLayerReader(Limits{MaxImageBytes: 64 << 20}).Read(context.Background(), l, func(*tar.Reader) error { return nil })
			if bad && rerr == nil {
				t.Fatalf("layer %d does not hash to its digest, and reading it did not fail", i)
			}
		}
		if anyBad != errors.Is(verr, publish.ErrIntegrity) {
			t.Fatalf("a layer file that does not hash to its digest: %v; Verify: %v", anyBad, verr)
		}
	})
}
