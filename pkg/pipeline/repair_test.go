package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestBuildRepairsDamagedBlobs: a build-cache hit is trusted only when the stored image's blobs hash
// to their names. A damaged blob (a same-size bit flip, another blob's content, a missing file) makes
// the same build run again, which rewrites it: same digest, a note naming the blob, a clean layout.
func TestBuildRepairsDamagedBlobs(t *testing.T) {
	repo := fixtureRepo(t)
	for _, tc := range []struct {
		name   string
		blob   func(v1.Image) v1.Hash
		damage func(t *testing.T, path, other string)
		why    string
	}{
		{"flipped layer", layerDigest, flipByte, "did not match its digest"},
		{"swapped layer", layerDigest, func(t *testing.T, path, other string) {
			data, err := os.ReadFile(other)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, data)
		}, "did not match its digest"},
		{"missing layer", layerDigest, func(t *testing.T, path, _ string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "was missing"},
		{"flipped config", func(img v1.Image) v1.Hash { h, _ := img.ConfigName(); return h }, flipByte, "did not match its digest"},
		{"flipped manifest", func(img v1.Image) v1.Hash { h, _ := img.Digest(); return h }, flipByte, "did not match its digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parseSpec(t, t.TempDir(), `name: repair
repositories: [{url: `+repo.URL+`, suite: stable, keyring: `+repo.Keyring+`}]
packages: [hello-data]
`)
			opt := Options{DataDir: t.TempDir()}
			ctx := context.Background()
			l, err := Lock(ctx, s, opt)
			if err != nil {
				t.Fatal(err)
			}
			first, err := Build(ctx, s, l, opt)
			if err != nil {
				t.Fatal(err)
			}
			h := tc.blob(first.Artifact.Image)
			blobs := filepath.Join(first.Layout, "blobs", "sha256")
			cfg, _ := first.Artifact.Image.ConfigName()
			tc.damage(t, filepath.Join(blobs, h.Hex), filepath.Join(blobs, cfg.Hex))

			again, err := Build(ctx, s, l, opt)
			if err != nil {
				t.Fatal(err)
			}
			if again.Cached || again.Digest != first.Digest {
				t.Errorf("after damage: cached=%v digest %s, want a rebuild giving %s", again.Cached, again.Digest, first.Digest)
			}
			var repaired []string
			for _, n := range again.Notes {
				if strings.Contains(n, "repaired") {
					repaired = append(repaired, n)
				}
			}
			if len(repaired) != 1 || !strings.Contains(repaired[0], "repaired 1 damaged blob") ||
				!strings.Contains(repaired[0], h.String()+" "+tc.why) {
				t.Errorf("notes %q, want one saying %s was repaired", again.Notes, h)
			}
			data, err := os.ReadFile(filepath.Join(blobs, h.Hex))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != h.Hex {
				t.Errorf("blob %s still does not hash to its name", h)
			}
			third, err := Build(ctx, s, l, opt)
			if err != nil || !third.Cached || len(third.Notes) != 0 {
				t.Errorf("the build after the repair: cached=%v notes %q, %v", third.Cached, third.Notes, err)
			}
		})
	}
}

func layerDigest(img v1.Image) v1.Hash {
	ls, _ := img.Layers()
	h, _ := ls[len(ls)-1].Digest()
	return h
}

func flipByte(t *testing.T, path, _ string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	writeFile(t, path, data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
