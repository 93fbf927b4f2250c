package policy

import (
	"context"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// VersionLister is the part of catalog.Catalog a policy reads: versions by digest, without their
// evidence (a record needs statuses, platforms and scan times; an SBOM can be megabytes).
type VersionLister interface {
	List(ctx context.Context, o catalog.ListOptions) ([]*catalog.Version, error)
}

// CatalogRecords reads records from ingot's catalog.
type CatalogRecords struct {
	Versions VersionLister
}

// Record returns the catalog's record of the version of image with the digest (the version's own or
// a platform image's).
func (c CatalogRecords) Record(ctx context.Context, image, digest string) (Record, error) {
	vs, err := c.Versions.List(ctx, catalog.ListOptions{Image: image, Digest: digest, Limit: 1})
	if err != nil {
		return Record{}, err
	}
	if len(vs) == 0 {
		return Record{Image: image}, nil
	}
	return RecordOf(vs[0]), nil
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
