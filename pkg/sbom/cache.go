package sbom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/layers"
)

// Cache keeps inventories by image digest, so an image is read once per ingot binary: an image
// digest names its content exactly, and the key also holds the binary's build ID, so a new ingot
// reads it again. Trivy keeps layer analyses the same way.
//
// A digest names content only as long as the content still hashes to it. An image whose blobs are
// read from local storage that may have changed since (an OCI layout) says so by implementing
// Verify, and the cache asks it before answering from a digest; a registry serves what the digest
// names, so its images are trusted as they are.
type Cache struct {
	Dir string
	// Layers, when set, keeps what was found in each layer (by imageref.ContentID), for images not
	// in Dir that share layers with images read before (Options.Layers).
	Layers layers.Cache
	// BeforeWrite, when set, is called before an inventory is written to Dir. The CLI sweeps the
	// data directory then, so that a cache hit, which writes nothing, does not pay for it.
	BeforeWrite func()
}

// verifier is an image whose blobs can be hashed again; Verify fails when one does not match its
// digest.
type verifier interface {
	Verify(ctx context.Context) error
}

// Inventory returns the cached inventory of img, or reads it and records the result. On a hit,
// opt.Skipped is not called again for files skipped the first time.
func (c Cache) Inventory(ctx context.Context, img v1.Image, opt Options) (*evidence.Inventory, error) {
	if inv, ok, err := c.Cached(ctx, img, opt); err != nil || ok {
		return inv, err
	}
	if opt.Layers == nil && c.Layers != nil {
		opt.Layers = c.Layers
	}
	inv, err := Inventory(ctx, img, opt)
	if err != nil {
		return nil, err
	}
	c.Put(img, inv)
	return inv, nil
}

// Cached returns the cached inventory of img, if there is one, with opt.Ref as its reference. An
// image whose blobs no longer match their digests is an error.
func (c Cache) Cached(ctx context.Context, img v1.Image, opt Options) (*evidence.Inventory, bool, error) {
	path, err := c.path(img)
	if err != nil {
		return nil, false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, nil
	}
	var inv evidence.Inventory
	if json.Unmarshal(data, &inv) != nil {
		return nil, false, nil
	}
	if v, ok := img.(verifier); ok {
		if err := v.Verify(ctx); err != nil {
			return nil, false, err
		}
	}
	inv.Image.Ref = opt.Ref
	return &inv, true, nil
}

// Put records the inventory of img.
func (c Cache) Put(img v1.Image, inv *evidence.Inventory) {
	path, err := c.path(img)
	if err != nil {
		return
	}
	if c.BeforeWrite != nil {
		c.BeforeWrite()
	}
	if data, err := json.Marshal(inv); err == nil && os.MkdirAll(c.Dir, 0o755) == nil {
		_ = safefile.Write(path, data, 0o644) // a cache that cannot be written only costs time
	}
}

// ErrStaleEntry means an inventory cache entry is not under the name this ingot binary would look
// it up by (another binary wrote it, or the file was renamed): nothing will read it again.
var ErrStaleEntry = errors.New("sbom: inventory cache entry is not read by this ingot")

// CheckEntry checks one file of the cache: it must parse as an inventory of an image digest and be
// named by the key this ingot binary looks that digest up under. A malformed entry is an error
// wrapping the JSON error; a stale one wraps ErrStaleEntry. Either can be removed: the inventory is
// computed again when needed.
func (c Cache) CheckEntry(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var inv evidence.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		return fmt.Errorf("inventory cache entry %s: %w", path, err)
	}
	d, err := v1.NewHash(inv.Image.Digest)
	if err != nil {
		return fmt.Errorf("inventory cache entry %s: image digest: %w", path, err)
	}
	want, err := c.pathOf(d)
	if err != nil {
		return err
	}
	if filepath.Base(want) != filepath.Base(path) {
		return fmt.Errorf("inventory cache entry %s (for %s): %w", path, d, ErrStaleEntry)
	}
	return nil
}

func (c Cache) path(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return c.pathOf(d)
}

func (c Cache) pathOf(d v1.Hash) (string, error) {
	id, err := selfid.ID()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(id + "\n" + d.String()))
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:])+".json"), nil
}
