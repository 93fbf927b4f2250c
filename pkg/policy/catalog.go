package policy

import (
	"context"
	"errors"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// VersionGetter is the part of catalog.Catalog a policy reads: a version by digest.
type VersionGetter interface {
	Get(ctx context.Context, r catalog.Ref) (*catalog.Version, error)
}

// CatalogRecords reads records from ingot's catalog.
type CatalogRecords struct {
	Versions VersionGetter
}

// Record returns the catalog's record of the version of image with the digest (the version's own or
// a platform image's).
func (c CatalogRecords) Record(ctx context.Context, image, digest string) (Record, error) {
	v, err := c.Versions.Get(ctx, catalog.Ref{Image: image, Version: digest})
	if errors.Is(err, catalog.ErrNotFound) {
		return Record{Image: image}, nil
	}
	if err != nil {
		return Record{}, err
	}
	return RecordOf(v), nil
}

// RecordOf is what a policy needs of a version: its status and each platform image's last scan.
func RecordOf(v *catalog.Version) Record {
	r := Record{Found: true, Image: v.Image, Tag: v.Tag(), VersionID: v.ID, Digest: v.Digest, Status: v.Status, DeprecateAt: v.DeprecateAt}
	for _, p := range v.Platforms {
		rp := RecordPlatform{Digest: p.Digest, Name: p.Name(), LastScan: p.Scanned}
		if rp.LastScan.IsZero() && p.Evidence != nil && p.Evidence.Scan != nil {
			rp.LastScan = p.Evidence.Scan.Finished
		}
		r.Platforms = append(r.Platforms, rp)
	}
	return r
}
