package sbom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Cache keeps inventories by image digest, so an image is catalogued once per ingot binary: an image
// digest names its content exactly, and the key also holds the binary's build ID, so a new ingot
// catalogues again. Trivy keeps layer analyses the same way.
type Cache struct {
	Dir string
	// BeforeWrite, when set, is called before an inventory is written to Dir. The CLI sweeps the
	// data directory then, so that a cache hit, which writes nothing, does not pay for it.
	BeforeWrite func()
}

// Catalog returns the cached inventory of img, or catalogues it and records the result. On a hit,
// opt.Skipped is not called again for files skipped the first time.
func (c Cache) Catalog(ctx context.Context, img v1.Image, opt Options) (*evidence.Inventory, error) {
	path, err := c.path(img)
	if err != nil {
		return Catalog(ctx, img, opt)
	}
	if data, err := os.ReadFile(path); err == nil {
		var inv evidence.Inventory
		if json.Unmarshal(data, &inv) == nil {
			inv.Image.Ref = opt.Ref
			return &inv, nil
		}
	}
	inv, err := Catalog(ctx, img, opt)
	if err != nil {
		return nil, err
	}
	if c.BeforeWrite != nil {
		c.BeforeWrite()
	}
	if data, err := json.Marshal(inv); err == nil && os.MkdirAll(c.Dir, 0o755) == nil {
		_ = safefile.Write(path, data, 0o644) // a cache that cannot be written only costs time
	}
	return inv, nil
}

func (c Cache) path(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	id, err := selfid.ID()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(id + "\n" + d.String()))
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:])+".json"), nil
}
