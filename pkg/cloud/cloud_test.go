package cloud_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/cloud"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	sub     = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vmCatalog holds base-vm@12-r1 (digest1) and base-vm@12-r2 (digest2), both published and active.
func vmCatalog(t *testing.T) catalog.Catalog {
	t.Helper()
	c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i, d := range []string{digest1, digest2} {
		v := &catalog.Version{Image: "base-vm", Line: "12", Kind: catalog.KindVM, Digest: d,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: &evidence.Set{}}},
			Disks:     []catalog.Disk{{Format: catalog.DiskRaw, Digest: d, Size: 1 << 30}},
			Built:     time.Date(2026, 11, 1+7*i, 0, 0, 0, 0, time.UTC)}
		got, _, err := c.Begin(t.Context(), v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(t.Context(), got.ID, catalog.Publication{At: v.Built, Grace: 365 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestParseImages(t *testing.T) {
	aws, err := cloud.ParseImages("aws", read(t, "aws-describe-images.json"), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.Found{
		{Image: catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0a1b2c3d4e5f60718", Name: "base-vm@12-r1"}, Ref: "base-vm@12-r1"},
		{Image: catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0b1b2c3d4e5f60719", Name: "base-vm-12-r2"}, Digest: digest2},
		{Image: catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0c0c0c0c0c0c0c0c0", Name: "hand-made"}},
	}
	if !reflect.DeepEqual(aws, want) {
		t.Errorf("aws:\n%+v\nwant\n%+v", aws, want)
	}
	az, err := cloud.ParseImages("azure", read(t, "az-image-list.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(az) != 2 || az[0].Ref != "base-vm@12-r1" || az[0].Image.Region != "westeurope" || az[1].Marked() {
		t.Errorf("azure: %+v", az)
	}
	gallery, err := cloud.ParseImages("azure", []byte(`[{"id": "/subscriptions/`+sub+`/resourceGroups/gold/providers/Microsoft.Compute/galleries/gold/images/base-vm/versions/12.1.0",
		"location": "westeurope", "name": "12.1.0", "provisioningState": "Succeeded", "publishingProfile": {"replicaCount": 1},
		"tags": {"ingot:digest": "`+digest1+`"}, "type": "Microsoft.Compute/galleries/images/versions"}]`), "")
	if err != nil || len(gallery) != 1 || gallery[0].Digest != digest1 {
		t.Errorf("az sig image-version list: %+v %v", gallery, err)
	} else if _, err := gallery[0].Image.Normalize(); err != nil {
		t.Errorf("a gallery image version's ID: %v", err)
	}
	gcp, err := cloud.ParseImages("gcp", read(t, "gcloud-images-list.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gcp) != 2 || gcp[0].Ref != "base-vm@12-r1" || !strings.HasSuffix(gcp[0].Image.ID, "/projects/gold-images/global/images/base-vm-12-r1") || gcp[1].Marked() {
		t.Errorf("gcp: %+v", gcp)
	}

	for _, tc := range []struct {
		name, provider, file, region string
	}{
		{"aws without region", "aws", "aws-describe-images.json", ""},
		{"instances given as images", "aws", "aws-describe-instances.json", "eu-west-1"},
		{"aws JSON given as azure", "azure", "aws-describe-images.json", ""},
		{"not JSON", "gcp", "../doc.go", ""},
		{"unknown provider", "openstack", "az-image-list.json", ""},
	} {
		if _, err := cloud.ParseImages(tc.provider, read(t, tc.file), tc.region); fault.Of(err) != fault.Invalid {
			t.Errorf("%s: %v, want an invalid-input error", tc.name, err)
		}
	}
}

func TestImport(t *testing.T) {
	ctx := t.Context()
	c := vmCatalog(t)
	var found []cloud.Found
	for _, in := range []struct{ provider, file, region string }{
		{"aws", "aws-describe-images.json", "eu-west-1"},
		{"azure", "az-image-list.json", ""},
		{"gcp", "gcloud-images-list.json", ""},
	} {
		f, err := cloud.ParseImages(in.provider, read(t, in.file), in.region)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, f...)
	}
	got, err := cloud.Import(ctx, c, found, "importer")
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	skipped := 0
	for _, im := range got {
		if im.Skipped != "" {
			skipped++
			continue
		}
		versions[im.Image.ID] = im.Version
	}
	want := map[string]string{
		"ami-0a1b2c3d4e5f60718": "base-vm@12-r1",
		"ami-0b1b2c3d4e5f60719": "base-vm@12-r2", // by its disk digest
		"/subscriptions/" + sub + "/resourcegroups/gold/providers/microsoft.compute/images/base-vm-12-r1": "base-vm@12-r1",
		"projects/gold-images/global/images/base-vm-12-r1":                                                "base-vm@12-r1",
	}
	if !reflect.DeepEqual(versions, want) || skipped != 3 {
		t.Errorf("imported %v (skipped %d), want %v (3 unmarked skipped)", versions, skipped, want)
	}
	all, err := c.CloudImages(ctx, catalog.CloudImageQuery{})
	if err != nil || len(all) != 4 {
		t.Fatalf("catalog holds %d cloud images (%v), want 4", len(all), err)
	}
	// Importing again registers nothing new.
	again, err := cloud.Import(ctx, c, found, "importer")
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range again {
		if im.Skipped == "" && !im.Existed {
			t.Errorf("importing again registered %s anew", im.Image.ID)
		}
	}
	// A marker naming a version the catalog does not have fails the import.
	bad := []cloud.Found{{Image: catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0d0d0d0d0d0d0d0d0"}, Ref: "base-vm@12-r9"}}
	if _, err := cloud.Import(ctx, c, bad, "importer"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("an unknown version: %v, want ErrNotFound", err)
	}
	conflict := []cloud.Found{{Image: catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0d0d0d0d0d0d0d0d0"}, Ref: "base-vm@12-r1", Digest: digest2}}
	if _, err := cloud.Import(ctx, c, conflict, "importer"); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("markers naming two versions: %v, want ErrInvalid", err)
	}
}

func TestFleet(t *testing.T) {
	ctx := t.Context()
	c := vmCatalog(t)
	for _, im := range []catalog.CloudImage{
		{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0a1b2c3d4e5f60718"},
		{Provider: "azure", Region: "westeurope", ID: "/subscriptions/" + sub + "/resourceGroups/GOLD/providers/Microsoft.Compute/images/base-vm-12-r1"},
		{Provider: "gcp", ID: "projects/gold-images/global/images/base-vm-12-r1"},
	} {
		if _, _, err := c.RegisterCloudImage(ctx, catalog.Ref{Image: "base-vm", Version: "12-r1"}, im); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.RegisterCloudImage(ctx, catalog.Ref{Image: "base-vm", Version: "12-r2"},
		catalog.CloudImage{Provider: "aws", Account: "123456789012", Region: "eu-west-1", ID: "ami-0b1b2c3d4e5f60719"}); err != nil {
		t.Fatal(err)
	}
	var instances []cloud.Instance
	for _, in := range []struct {
		provider, file string
		disks          []byte
	}{
		{"aws", "aws-describe-instances.json", nil},
		{"azure", "az-vm-list.json", nil},
		{"gcp", "gcloud-instances-list.json", read(t, "gcloud-disks-list.json")},
	} {
		got, err := cloud.ParseInstances(in.provider, read(t, in.file), in.disks)
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, got...)
	}
	images, err := c.CloudImages(ctx, catalog.CloudImageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	problems := func(r cloud.Report) map[string]string {
		out := map[string]string{}
		for _, in := range r.Instances {
			out[in.ID[strings.LastIndex(in.ID, "/")+1:]] = strings.Join(in.Problems, ",")
		}
		return out
	}
	r := cloud.Fleet(instances, images, now, cloud.DefaultTTL)
	want := map[string]string{
		"i-0aaaaaaaaaaaaaaa1": "",            // gold, 8 days old
		"i-0aaaaaaaaaaaaaaa2": "ttl-expired", // gold but launched in September (stopped, still counted)
		"i-0bbbbbbbbbbbbbbb1": "not-gold",    // a hand-made AMI
		"i-0bbbbbbbbbbbbbbb2": "",            // r2, by its ID
		"app-1":               "",            // the Azure image, its ID in another case
		"market-1":            "not-gold",    // a marketplace image
		"5551234567890123456": "ttl-expired", // GCP gold through its boot disk, since October
		"5551234567890123457": "not-gold",    // a debian-cloud image
	}
	if got := problems(r); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%v\nwant\n%v", got, want)
	}
	if r.Violations != 5 {
		t.Errorf("%d violations, want 5", r.Violations)
	}
	// The terminated instance is not in the fleet.
	for _, in := range r.Instances {
		if in.ID == "i-0bbbbbbbbbbbbbbb3" {
			t.Error("a terminated instance is reported")
		}
		if in.ID == "i-0aaaaaaaaaaaaaaa1" && (in.Version != "base-vm@12-r1" || in.Region != "eu-west-1" || in.Age.Days() != 7 || in.Account != "123456789012") {
			t.Errorf("web-1: %+v", in)
		}
	}

	// Revoking r1 and deprecating r2 turn their instances into violations; a shorter TTL too.
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base-vm", Version: "12-r1"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE-2026-0001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base-vm", Version: "12-r2"}, catalog.StatusChange{Status: catalog.StatusDeprecated, Reason: "superseded"}); err != nil {
		t.Fatal(err)
	}
	if images, err = c.CloudImages(ctx, catalog.CloudImageQuery{}); err != nil {
		t.Fatal(err)
	}
	r = cloud.Fleet(instances, images, now, 24*time.Hour)
	want = map[string]string{
		"i-0aaaaaaaaaaaaaaa1": "revoked,ttl-expired",
		"i-0aaaaaaaaaaaaaaa2": "revoked,ttl-expired",
		"i-0bbbbbbbbbbbbbbb1": "not-gold,ttl-expired",
		"i-0bbbbbbbbbbbbbbb2": "deprecated,ttl-expired",
		"app-1":               "revoked,ttl-expired",
		"market-1":            "not-gold",
		"5551234567890123456": "revoked,ttl-expired",
		"5551234567890123457": "not-gold",
	}
	if got := problems(r); !reflect.DeepEqual(got, want) {
		t.Errorf("after revoking r1, deprecating r2, TTL 1 day:\n%v\nwant\n%v", got, want)
	}
}

func TestParseInstancesRefuses(t *testing.T) {
	for _, tc := range []struct{ provider, file string }{
		{"aws", "aws-describe-images.json"},
		{"azure", "aws-describe-instances.json"},
		{"gcp", "aws-describe-instances.json"},
	} {
		if _, err := cloud.ParseInstances(tc.provider, read(t, tc.file), nil); fault.Of(err) != fault.Invalid {
			t.Errorf("%s from %s: %v, want an invalid-input error", tc.provider, tc.file, err)
		}
	}
	// Regions from zones, Local Zones included; an Azure VM without timeCreated has no age.
	in, err := cloud.ParseInstances("aws", []byte(`{"Reservations": [{"Instances": [
		{"InstanceId": "i-1", "ImageId": "ami-1", "Placement": {"AvailabilityZone": "us-west-2-lax-1a"}, "State": {"Name": "running"}},
		{"InstanceId": "i-2", "ImageId": "ami-1", "Placement": {"AvailabilityZone": "ap-southeast-2c"}, "State": {"Name": "running"}}]}]}`), nil)
	if err != nil || len(in) != 2 || in[0].Region != "us-west-2" || in[1].Region != "ap-southeast-2" {
		t.Errorf("aws regions: %+v %v", in, err)
	}
	in, err = cloud.ParseInstances("azure", []byte(`[{"id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/old", "name": "old", "location": "westeurope"}]`), nil)
	if err != nil || len(in) != 1 || !in[0].Launched.IsZero() {
		t.Errorf("azure without timeCreated: %+v %v", in, err)
	}
	if r := cloud.Fleet(in, nil, time.Now(), cloud.DefaultTTL); len(r.Instances[0].Problems) != 2 || r.Instances[0].Problems[1] != cloud.ProblemNoLaunch {
		t.Errorf("a VM of unknown age: %+v", r.Instances[0])
	}

	// Without the disk list, GCP instances have no known image: not gold.
	in, err = cloud.ParseInstances("gcp", read(t, "gcloud-instances-list.json"), nil)
	if err != nil || len(in) != 2 || in[0].Image != "" || in[0].Account != "apps-prod" || in[0].Region != "europe-west1-b" {
		t.Errorf("gcp without disks: %+v %v", in, err)
	}
}
