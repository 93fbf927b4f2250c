package server

import (
	"context"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// A vm version (disk images, disk locations) and its cloud-image event are served as the OpenAPI
// document describes them: the validator checks every answer.
func TestVMVersion(t *testing.T) {
	c := openSQLite(t)
	ctx := context.Background()
	d := digest("vm-raw")
	v, _, err := c.Begin(ctx, &catalog.Version{Image: "base-vm", Line: "12", Kind: catalog.KindVM, Digest: d, Built: t0,
		Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: evidenceOf(d, nil)}},
		Disks: []catalog.Disk{{Format: catalog.DiskRaw, Digest: d, Size: 2 << 30},
			{Format: catalog.DiskQCOW2, Digest: digest("vm-qcow2"), Size: 600 << 20}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, v.ID, catalog.Publication{At: t0, Locations: []catalog.Location{{Kind: catalog.LocationDisk, Ref: "/srv/vm/base-vm/12-r1/disk.raw"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.RegisterCloudImage(ctx, catalog.Ref{Image: "base-vm", Version: v.Tag()},
		catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0123456789abcdef0", Registered: t0}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, c)
	var got versionDetail
	e.get("/v1/images/base-vm/versions/"+v.Tag(), &got)
	if len(got.Disks) != 2 || got.Locations[0].Kind != catalog.LocationDisk {
		t.Errorf("served %+v, want the disks and their location", got.Version)
	}
	var evs []catalog.Event
	e.get("/v1/images/base-vm/history", &evs)
	if len(evs) != 2 || evs[1].Kind != catalog.EventCloudImage {
		t.Errorf("events %+v, want published then cloud-image", evs)
	}
}
