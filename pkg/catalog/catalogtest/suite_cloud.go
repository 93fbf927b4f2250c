package catalogtest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// vmVersion is a vm version of image on line: its digest is its raw disk's, named by seed.
func vmVersion(image, line, seed string) *catalog.Version {
	v := version(image, line, seed+"/raw", basePackages())
	v.Kind = catalog.KindVM
	v.Disks = []catalog.Disk{
		{Format: catalog.DiskRaw, Digest: v.Digest, Size: 2 << 30},
		{Format: catalog.DiskQCOW2, Digest: digest(seed + "/qcow2"), Size: 612 << 20},
	}
	return v
}

// publishVM begins and publishes a vm version with its disks as locations.
func publishVM(t *testing.T, c catalog.Catalog, v *catalog.Version, at time.Time) *catalog.Version {
	t.Helper()
	got, _, err := c.Begin(t.Context(), v)
	if err != nil {
		t.Fatalf("Begin %s: %v", v.Image, err)
	}
	locs := []catalog.Location{
		{Kind: catalog.LocationDisk, Ref: "/var/lib/ingot/disks/" + got.Tag() + ".raw"},
		{Kind: catalog.LocationDisk, Ref: "/var/lib/ingot/disks/" + got.Tag() + ".qcow2"},
	}
	if _, err := c.Publish(t.Context(), got.ID, catalog.Publication{Locations: locs, At: at, Grace: 365 * 24 * time.Hour, Actor: "ci"}); err != nil {
		t.Fatalf("Publish %s: %v", got.Ref(), err)
	}
	return got
}

func testVMDisks(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	v := vmVersion("base-vm", "12.5", "vm-1")
	got := publishVM(t, c, v, t0.Add(time.Minute))
	read, err := c.Get(ctx, catalog.Ref{Image: "base-vm", Version: got.Tag()})
	if err != nil {
		t.Fatal(err)
	}
	if read.Kind != catalog.KindVM {
		t.Errorf("kind %q, want vm", read.Kind)
	}
	want := []catalog.Disk{v.Disks[1], v.Disks[0]} // by format: qcow2, raw
	if !reflect.DeepEqual(read.Disks, want) {
		t.Errorf("Get: disks\n%+v\nwant\n%+v", read.Disks, want)
	}
	if n := len(read.Locations); n != 2 || read.Locations[0].Kind != catalog.LocationDisk {
		t.Errorf("Get: locations %+v, want the two disk paths", read.Locations)
	}
	if read.Platforms[0].Evidence == nil || read.Platforms[0].Evidence.Inventory == nil {
		t.Error("Get: the vm version lost its evidence")
	}
	// The same raw disk again is the same version (its digest), disks unchanged.
	again, existed, err := c.Begin(ctx, vmVersion("base-vm", "12.5", "vm-1"))
	if err != nil || !existed || again.ID != got.ID || !reflect.DeepEqual(again.Disks, want) {
		t.Errorf("Begin of the same disk: %+v existed %v err %v, want version %d with its disks", again, existed, err, got.ID)
	}

	bad := map[string]func(v *catalog.Version){
		"vm without disks":      func(v *catalog.Version) { v.Disks = nil },
		"container with a disk": func(v *catalog.Version) { v.Kind = catalog.KindContainer },
		"two raw disks":         func(v *catalog.Version) { v.Disks[1].Format = catalog.DiskRaw },
		"unknown format":        func(v *catalog.Version) { v.Disks[1].Format = "vmdk" },
		"bad disk digest":       func(v *catalog.Version) { v.Disks[1].Digest = "sha256:abc" },
		"empty disk":            func(v *catalog.Version) { v.Disks[1].Size = 0 },
	}
	for name, mutate := range bad {
		v := vmVersion("bad-vm", "1", "bad-"+name)
		mutate(v)
		if _, _, err := c.Begin(ctx, v); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("%s: Begin: %v, want ErrInvalid", name, err)
		}
	}
	if vs, err := c.List(ctx, catalog.ListOptions{Image: "bad-vm", Pending: true}); err != nil || len(vs) != 0 {
		t.Errorf("refused versions were recorded: %v %v", vs, err)
	}
}

func testCloudImages(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	v1 := publishVM(t, c, vmVersion("base-vm", "12", "cloud-1"), t0.Add(time.Minute))
	v2 := publishVM(t, c, vmVersion("base-vm", "12", "cloud-2"), t0.Add(2*time.Minute))
	other := publishVM(t, c, vmVersion("web-vm", "1", "cloud-3"), t0.Add(3*time.Minute))
	ctr, _, err := c.Begin(ctx, version("app", "1.0", "cloud-container", basePackages()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, ctr.ID, catalog.Publication{At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ref := func(v *catalog.Version) catalog.Ref { return catalog.Ref{Image: v.Image, Version: v.Tag()} }
	const acct, sub = "123456789012", "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
	azID := "/subscriptions/0B1F6471-1BF0-4DDA-AEC3-CB9272F09590/resourceGroups/gold/providers/Microsoft.Compute/images/base-vm-12-r1"
	regs := []struct {
		v   *catalog.Version
		img catalog.CloudImage
	}{
		{v1, catalog.CloudImage{Provider: "aws", Account: acct, Region: "eu-west-1", ID: "ami-0123456789abcdef0", Name: "base-vm@12-r1"}},
		{v1, catalog.CloudImage{Provider: "aws", Account: acct, Region: "us-east-1", ID: "ami-0fedcba9876543210", Name: "base-vm@12-r1"}},
		{v2, catalog.CloudImage{Provider: "aws", Account: acct, Region: "eu-west-1", ID: "ami-00000000000000002", Name: "base-vm@12-r2"}},
		{v1, catalog.CloudImage{Provider: "azure", Region: "West Europe", ID: azID}},
		{other, catalog.CloudImage{Provider: "gcp", ID: "https://www.googleapis.com/compute/v1/projects/gold-images/global/images/web-vm-1-r1"}},
	}
	for _, r := range regs {
		got, existed, err := c.RegisterCloudImage(ctx, ref(r.v), r.img)
		if err != nil || existed {
			t.Fatalf("RegisterCloudImage %s %s: existed %v, %v", r.img.Provider, r.img.ID, existed, err)
		}
		if got.VersionID != r.v.ID || got.Tag != r.v.Tag() || got.Digest != r.v.Digest || got.Status != catalog.StatusActive {
			t.Errorf("RegisterCloudImage %s: %+v, want it against %s", r.img.ID, got, r.v.Ref())
		}
	}
	// Canonical forms: the Azure ID in lower case (Azure compares IDs without case), the location
	// without spaces; a GCP self-link as the image's path, its project the account.
	all, err := c.CloudImages(ctx, catalog.CloudImageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]catalog.CloudImage{}
	for _, ci := range all {
		byID[ci.ID] = ci
	}
	if len(all) != len(regs) {
		t.Fatalf("CloudImages: %d images, want %d: %+v", len(all), len(regs), all)
	}
	az, ok := byID["/subscriptions/"+sub+"/resourcegroups/gold/providers/microsoft.compute/images/base-vm-12-r1"]
	if !ok || az.Account != sub || az.Region != "westeurope" {
		t.Errorf("azure image stored as %+v", az)
	}
	gcp, ok := byID["projects/gold-images/global/images/web-vm-1-r1"]
	if !ok || gcp.Account != "gold-images" || gcp.Region != "global" || gcp.Name != "web-vm-1-r1" || gcp.Image != "web-vm" {
		t.Errorf("gcp image stored as %+v", gcp)
	}

	// Again: nothing changes, no event; the same ID for another version, a container, a pending
	// version and malformed IDs are refused.
	before, err := c.History(ctx, catalog.Ref{Image: "base-vm"})
	if err != nil {
		t.Fatal(err)
	}
	if _, existed, err := c.RegisterCloudImage(ctx, ref(v1), regs[0].img); err != nil || !existed {
		t.Errorf("registering again: existed %v, %v", existed, err)
	}
	after, err := c.History(ctx, catalog.Ref{Image: "base-vm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("registering again appended %d event(s)", len(after)-len(before))
	}
	cloudEvents := 0
	for _, e := range after {
		if e.Kind == catalog.EventCloudImage {
			cloudEvents++
			if e.Status != catalog.StatusActive {
				t.Errorf("cloud-image event %+v does not carry the version's status", e)
			}
		}
	}
	if cloudEvents != 4 {
		t.Errorf("history of base-vm has %d cloud-image events, want 4", cloudEvents)
	}
	if _, _, err := c.RegisterCloudImage(ctx, ref(v2), regs[0].img); !errors.Is(err, catalog.ErrTransition) {
		t.Errorf("an AMI of another version: %v, want ErrTransition", err)
	}
	moved := regs[0].img
	moved.Region = "eu-central-1"
	if _, _, err := c.RegisterCloudImage(ctx, ref(v1), moved); !errors.Is(err, catalog.ErrTransition) {
		t.Errorf("the same AMI in another region: %v, want ErrTransition", err)
	}
	if _, _, err := c.RegisterCloudImage(ctx, catalog.Ref{Image: "app", Version: ctr.Tag()}, regs[2].img); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("a container version: %v, want ErrInvalid", err)
	}
	pending, _, err := c.Begin(ctx, vmVersion("base-vm", "12", "cloud-pending"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := catalog.CloudImage{Provider: "aws", Account: acct, Region: "eu-west-1", ID: "ami-0aaaaaaaaaaaaaaa9"}
	if _, _, err := c.RegisterCloudImage(ctx, ref(pending), fresh); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a pending version: %v, want ErrNotFound", err)
	}
	for _, bad := range []catalog.CloudImage{
		{Provider: "aws", Account: "1234", Region: "eu-west-1", ID: "ami-0123456789abcdef1"},
		{Provider: "aws", Account: acct, Region: "Europe", ID: "ami-0123456789abcdef1"},
		{Provider: "aws", Account: acct, Region: "eu-west-1", ID: "ami-xyz"},
		{Provider: "azure", Account: "00000000-0000-0000-0000-000000000000", Region: "westeurope", ID: azID},
		{Provider: "gcp", ID: "projects/gold-images/zones/x/images/y"},
		{Provider: "gcp", Region: "europe-west1", ID: "projects/gold-images/global/images/y"},
		{Provider: "openstack", Account: "a", Region: "r", ID: "i"},
	} {
		if _, _, err := c.RegisterCloudImage(ctx, ref(v2), bad); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("RegisterCloudImage(%+v): %v, want ErrInvalid", bad, err)
		}
	}

	// Statuses follow the version: revoking v1 drops its images from the active ones.
	active := func() map[string]bool {
		t.Helper()
		got, err := c.CloudImages(ctx, catalog.CloudImageQuery{Statuses: []catalog.Status{catalog.StatusActive}})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, ci := range got {
			ids[ci.ID] = true
		}
		return ids
	}
	if ids := active(); len(ids) != 5 {
		t.Errorf("active images %v, want all 5", ids)
	}
	if _, err := c.SetStatus(ctx, ref(v1), catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE", Actor: "sec", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ids := active()
	want := map[string]bool{"ami-00000000000000002": true, "projects/gold-images/global/images/web-vm-1-r1": true}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("active images after revoking %s: %v, want %v", v1.Ref(), ids, want)
	}
	revoked, err := c.CloudImages(ctx, catalog.CloudImageQuery{Provider: "aws", Statuses: []catalog.Status{catalog.StatusRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 2 || revoked[0].Status != catalog.StatusRevoked || revoked[0].Region != "eu-west-1" || revoked[1].Region != "us-east-1" {
		t.Errorf("revoked aws images %+v, want v1's two, by region", revoked)
	}
	only, err := c.CloudImages(ctx, catalog.CloudImageQuery{Image: "web-vm"})
	if err != nil || len(only) != 1 || only[0].Provider != "gcp" {
		t.Errorf("CloudImages of web-vm: %+v %v", only, err)
	}

	if err := c.DeregisterCloudImage(ctx, "azure", strings.ToUpper(azID)); err != nil {
		t.Errorf("deregistering an Azure image by its ID in another case: %v", err)
	}
	if err := c.DeregisterCloudImage(ctx, "aws", "ami-00000000000000002"); err != nil {
		t.Fatal(err)
	}
	if ids := active(); ids["ami-00000000000000002"] {
		t.Error("a deregistered image is still listed")
	}
	if err := c.DeregisterCloudImage(ctx, "aws", "ami-00000000000000002"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("deregistering twice: %v, want ErrNotFound", err)
	}
	// Once deregistered, the ID may go to another version.
	if _, _, err := c.RegisterCloudImage(ctx, ref(other), catalog.CloudImage{Provider: "aws", Account: acct, Region: "eu-west-1", ID: "ami-00000000000000002"}); err != nil {
		t.Errorf("registering a deregistered ID again: %v", err)
	}
}
