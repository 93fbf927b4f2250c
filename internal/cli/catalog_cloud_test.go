package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/cloud"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/store"
)

// The cloud CLIs' JSON fixtures are pkg/cloud's.
func cloudFixture(name string) string {
	return filepath.Join("..", "..", "pkg", "cloud", "testdata", name)
}

// vmFixture is a data directory whose catalog holds two published vm versions, base-vm@12-r1 and
// @12-r2 (its digest the one aws-describe-images.json's second image names), and a container.
func vmFixture(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	ctx := context.Background()
	c, err := store.Store{Root: data}.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // the fixture is written
	for i, d := range []string{fakeDigest("vm-r1"), "sha256:" + strings.Repeat("22", 32), fakeDigest("app")} {
		kind := catalog.KindVM
		var disks []catalog.Disk
		image := "base-vm"
		if i == 2 {
			kind, image = catalog.KindContainer, "app"
		} else {
			disks = []catalog.Disk{{Format: catalog.DiskRaw, Digest: d, Size: 1 << 30}}
		}
		at := time.Date(2026, 11, 1+i, 0, 0, 0, 0, time.UTC)
		v, _, err := c.Begin(ctx, &catalog.Version{Image: image, Line: "12", Kind: kind, Digest: d, Disks: disks, Built: at,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: &evidence.Set{}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, v.ID, catalog.Publication{At: at, Grace: 365 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func TestCatalogCloudVerbs(t *testing.T) {
	data := vmFixture(t)
	cat := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(t, append([]string{"--data-dir", data, "catalog"}, args...)...)
		return out, err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cat(args...)
		if err != nil {
			t.Fatalf("ingot catalog %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	exit := func(code int, args ...string) string {
		t.Helper()
		out, err := cat(args...)
		if got := ExitCode(err); got != code {
			t.Errorf("ingot catalog %s: exit %d (%v), want %d", strings.Join(args, " "), got, err, code)
		}
		if err != nil {
			return err.Error()
		}
		return out
	}
	contains := func(what, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in\n%s", what, w, out)
			}
		}
	}

	// Importing the three listings registers the marked images and lists the others as skipped.
	out := must("import-cloud-images", "--provider", "aws", "--region", "eu-west-1", cloudFixture("aws-describe-images.json"))
	contains("import aws", out, "ami-0a1b2c3d4e5f60718", "base-vm@12-r1", "registered", "ami-0b1b2c3d4e5f60719", "base-vm@12-r2",
		"ami-0c0c0c0c0c0c0c0c0", "skipped: no ingot:version or ingot:digest marker")
	must("import-cloud-images", "--provider", "azure", cloudFixture("az-image-list.json"))
	must("import-cloud-images", "--provider", "gcp", cloudFixture("gcloud-images-list.json"))
	contains("import again", must("import-cloud-images", "--provider", "aws", "--region", "eu-west-1", cloudFixture("aws-describe-images.json")), "already registered")
	exit(ExitUsage, "import-cloud-images", "--provider", "aws", cloudFixture("aws-describe-images.json")) // no region
	exit(ExitUsage, "import-cloud-images", "--provider", "aws", "--region", "eu-west-1", cloudFixture("az-vm-list.json"))
	exit(ExitUsage, "import-cloud-images", "--provider", "ibm", cloudFixture("az-image-list.json"))

	out = must("register-cloud-image", "base-vm@12-r1", "--provider", "aws", "--account", "123456789012", "--region", "us-east-1",
		"--id", "ami-0d1b2c3d4e5f60718", "--name", "base-vm@12-r1")
	contains("register", out, "base-vm@12-r1: registered aws ami-0d1b2c3d4e5f60718 in 123456789012/us-east-1")
	exit(ExitUsage, "register-cloud-image", "base-vm@12-r1", "--provider", "aws", "--account", "123", "--region", "us-east-1", "--id", "ami-0e1b2c3d4e5f60718")
	exit(ExitUsage, "register-cloud-image", "app@12-r1", "--provider", "aws", "--account", "123456789012", "--region", "us-east-1", "--id", "ami-0e1b2c3d4e5f60718")
	contains("an AMI of another version", exit(ExitFailure, "register-cloud-image", "base-vm@12-r2", "--provider", "aws", "--account", "123456789012",
		"--region", "us-east-1", "--id", "ami-0d1b2c3d4e5f60718"), "deregister it first")
	exit(ExitUsage, "register-cloud-image", "base-vm", "--provider", "aws", "--id", "ami-0e1b2c3d4e5f60718")

	var listed []catalog.CloudImage
	if err := json.Unmarshal([]byte(must("cloud-images", "-o", "json")), &listed); err != nil || len(listed) != 5 {
		t.Fatalf("cloud-images -o json: %d images (%v), want 5", len(listed), err)
	}
	contains("cloud-images", must("cloud-images", "--provider", "gcp"), "projects/gold-images/global/images/base-vm-12-r1", "base-vm@12-r1", "active")

	scp := must("cloud-policy", "--provider", "aws")
	contains("scp", scp, `"ec2:RunInstances"`, "ami-0a1b2c3d4e5f60718", "ami-0b1b2c3d4e5f60719", "ami-0d1b2c3d4e5f60718", "arn:aws:ec2:us-east-1::image/*")
	contains("allowed-amis", must("cloud-policy", "--provider", "aws", "--format", "allowed-amis"), "allowed_images_settings", `"base-vm@12-r1"`, `"base-vm-12-r2"`, "123456789012")
	contains("azure", must("cloud-policy", "--provider", "azure"), "Microsoft.Compute/imageId", "/images/base-vm-12-r1", `"deny"`)
	contains("gcp", must("cloud-policy", "--provider", "gcp", "--parent", "organizations/1234"), "organizations/1234/policies/compute.trustedImageProjects", "projects/gold-images")
	exit(ExitUsage, "cloud-policy", "--provider", "gcp", "--format", "scp")
	exit(ExitUsage, "cloud-policy", "--provider", "gcp") // no parent

	// Revoking r1 takes its AMIs out of the next policy; --out writes it to a file.
	must("revoke", "base-vm@12-r1", "--reason", "CVE-2026-1234")
	file := filepath.Join(t.TempDir(), "scp.json")
	must("cloud-policy", "--provider", "aws", "--out", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "ami-0a1b2c3d4e5f60718") || strings.Contains(s, "ami-0d1b2c3d4e5f60718") || !strings.Contains(s, "ami-0b1b2c3d4e5f60719") {
		t.Errorf("the SCP after revoking base-vm@12-r1:\n%s", s)
	}
	contains("history", must("history", "base-vm@12-r1"), "cloud-image", "aws image ami-0d1b2c3d4e5f60718 in us-east-1")
	contains("show", must("show", "base-vm@12-r1"), "kind:", "vm", "disks:", "raw", fakeDigest("vm-r1"), "1073741824 bytes")

	must("deregister-cloud-image", "--provider", "gcp", "--id", "https://www.googleapis.com/compute/v1/projects/gold-images/global/images/base-vm-12-r1")
	contains("deregistered", must("cloud-images", "--provider", "gcp"), "no cloud images")
	exit(ExitFailure, "deregister-cloud-image", "--provider", "gcp", "--id", "projects/gold-images/global/images/base-vm-12-r1")
}

func TestHostFleet(t *testing.T) {
	data := vmFixture(t)
	for _, args := range [][]string{
		{"import-cloud-images", "--provider", "aws", "--region", "eu-west-1", cloudFixture("aws-describe-images.json")},
		{"import-cloud-images", "--provider", "azure", cloudFixture("az-image-list.json")},
		{"import-cloud-images", "--provider", "gcp", cloudFixture("gcloud-images-list.json")},
	} {
		if _, _, err := run(t, append([]string{"--data-dir", data, "catalog"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	fleet := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(t, append([]string{"--data-dir", data, "host", "fleet", "--at", "2026-12-06T00:00:00Z"}, args...)...)
		return out, err
	}
	all := []string{"--aws", cloudFixture("aws-describe-instances.json"), "--azure", cloudFixture("az-vm-list.json"),
		"--gcp", cloudFixture("gcloud-instances-list.json"), "--gcp-disks", cloudFixture("gcloud-disks-list.json")}
	out, err := fleet(all...)
	if ExitCode(err) != ExitFindings {
		t.Fatalf("fleet: exit %d (%v), want 3", ExitCode(err), err)
	}
	for _, want := range []string{"i-0aaaaaaaaaaaaaaa1", "web-1", "base-vm@12-r1 (active)", "ok", "i-0aaaaaaaaaaaaaaa2", "ttl-expired",
		"i-0bbbbbbbbbbbbbbb1", "not-gold", "app-1", "market-1", "batch-1", "8 instance(s), 5 violating (TTL 30d)"} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet table: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "i-0bbbbbbbbbbbbbbb3") {
		t.Errorf("a terminated instance is listed:\n%s", out)
	}
	out, err = fleet(append(all, "-o", "json", "--ttl", "365d")...)
	if ExitCode(err) != ExitFindings {
		t.Fatalf("fleet -o json: exit %d (%v)", ExitCode(err), err)
	}
	var r cloud.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Instances) != 8 || r.Violations != 3 {
		t.Fatalf("fleet -o json --ttl 365d: %d instances, %d violations (%v), want 8 and the 3 not gold", len(r.Instances), r.Violations, err)
	}

	// Only gold, young instances: exit 0. Revoking their version makes them violations.
	gold := filepath.Join(t.TempDir(), "gold.json")
	if err := os.WriteFile(gold, []byte(`{"Reservations": [{"OwnerId": "123456789012", "Instances": [
		{"InstanceId": "i-0ccccccccccccccc1", "ImageId": "ami-0b1b2c3d4e5f60719", "LaunchTime": "2026-12-01T00:00:00+00:00",
		 "Placement": {"AvailabilityZone": "eu-west-1a"}, "State": {"Code": 16, "Name": "running"}}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := fleet("--aws", gold); err != nil {
		t.Fatalf("a gold fleet: %v\n%s", err, out)
	}
	if _, _, err := run(t, "--data-dir", data, "catalog", "revoke", "base-vm@12-r2", "--reason", "CVE-2026-1234"); err != nil {
		t.Fatal(err)
	}
	out, err = fleet("--aws", gold)
	if ExitCode(err) != ExitFindings || !strings.Contains(out, "revoked") {
		t.Errorf("after revoking: exit %d (%v)\n%s", ExitCode(err), err, out)
	}

	for _, bad := range [][]string{
		{},                               // no inventory
		{"--aws", gold, "--ttl", "soon"}, // bad TTL
		{"--aws", gold, "--ttl", "0d"},   // no TTL
		{"--gcp-disks", cloudFixture("gcloud-disks-list.json")},
		{"--azure", cloudFixture("aws-describe-instances.json")},
		{"--aws", gold, "-o", "yaml"},
	} {
		if _, err := fleet(bad...); ExitCode(err) != ExitUsage {
			t.Errorf("host fleet %s: exit %d (%v), want 2", strings.Join(bad, " "), ExitCode(err), err)
		}
	}
}
