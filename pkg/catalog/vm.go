package catalog

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Disk formats of a VM version's disk images.
const (
	DiskRaw   = "raw"
	DiskQCOW2 = "qcow2"
)

// LocationDisk is the location kind of a VM version's disk image: Ref is the file's absolute path.
const LocationDisk = "disk"

// Disk is one disk image of a VM version: the same disk in one format. The raw disk's digest is the
// version's digest (see Version.Digest), since raw is the format that is reproducible; a qcow2 is a
// container around the same blocks whose bytes depend on how it was written.
type Disk struct {
	Format string `json:"format"`
	// Digest is sha256 of the file's bytes, "sha256:<hex>".
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Validate checks a disk's format, digest and size.
func (d Disk) Validate() error {
	if d.Format != DiskRaw && d.Format != DiskQCOW2 {
		return fmt.Errorf("%w: disk format %q (want %s or %s)", ErrInvalid, d.Format, DiskRaw, DiskQCOW2)
	}
	if err := ValidDigest(d.Digest); err != nil {
		return fmt.Errorf("%s disk: %w", d.Format, err)
	}
	if d.Size <= 0 {
		return fmt.Errorf("%w: %s disk %s: size %d", ErrInvalid, d.Format, d.Digest, d.Size)
	}
	return nil
}

// validateDisks checks that a VM version has its disks (one per format) and a container none.
func (v *Version) validateDisks() error {
	if v.Kind != KindVM {
		if len(v.Disks) > 0 {
			return fmt.Errorf("%w: a %s version has no disk images", ErrInvalid, v.kindOrDefault())
		}
		return nil
	}
	if len(v.Disks) == 0 {
		return fmt.Errorf("%w: a vm version needs its disk images", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, d := range v.Disks {
		if err := d.Validate(); err != nil {
			return err
		}
		if seen[d.Format] {
			return fmt.Errorf("%w: two %s disks", ErrInvalid, d.Format)
		}
		seen[d.Format] = true
	}
	return nil
}

func (v *Version) kindOrDefault() Kind {
	if v.Kind == "" {
		return KindContainer
	}
	return v.Kind
}

// Cloud providers a VM version's images are registered with.
const (
	ProviderAWS   = "aws"
	ProviderAzure = "azure"
	ProviderGCP   = "gcp"
)

// Providers lists the cloud providers.
func Providers() []string { return []string{ProviderAWS, ProviderAzure, ProviderGCP} }

// EventCloudImage is the event of a cloud image registered for a version.
const EventCloudImage = "cloud-image"

// Clouds records where VM versions were imported into clouds: the image IDs per provider, account and
// region, which the cloud policies allow and the fleet report looks instances up by.
type Clouds interface {
	// RegisterCloudImage records a cloud image of a published vm version and appends a "cloud-image"
	// event. Registering the same image for the same version again changes nothing (existed is
	// true); an image ID registered for another version is refused (ErrTransition: deregister it
	// first), as is a container version (ErrInvalid).
	RegisterCloudImage(ctx context.Context, r Ref, img CloudImage) (got CloudImage, existed bool, err error)
	// DeregisterCloudImage forgets a cloud image (deleted in the cloud); ErrNotFound when unknown.
	DeregisterCloudImage(ctx context.Context, provider, id string) error
	// CloudImages lists registered cloud images with their versions' current status, by provider,
	// region and ID.
	CloudImages(ctx context.Context, q CloudImageQuery) ([]CloudImage, error)
}

// CloudImage is a VM version imported into a cloud.
type CloudImage struct {
	Provider string `json:"provider"`
	// Account owns the image: an AWS account ID, an Azure subscription ID, a GCP project ID.
	Account string `json:"account"`
	// Region is the AWS region or Azure location the image is in; GCP images are global ("global").
	Region string `json:"region"`
	// ID is the provider's image ID: an AMI ID (ami-…), an Azure image or gallery image version
	// resource ID (/subscriptions/…), a GCP image's path (projects/P/global/images/NAME).
	ID string `json:"id"`
	// Name is the image's name in the cloud, when known (AWS Allowed AMIs select by name).
	Name string `json:"name,omitempty"`

	// The version, filled in by the catalog.
	VersionID int64  `json:"versionID"`
	Image     string `json:"image"`
	Tag       string `json:"tag"`
	Digest    string `json:"digest"`
	Status    Status `json:"status"`

	Registered time.Time `json:"registered"`
	Actor      string    `json:"actor,omitempty"`
}

// CloudImageQuery filters CloudImages.
type CloudImageQuery struct {
	// Provider restricts to one provider; Image to the versions of one image.
	Provider, Image string
	// Statuses restricts to versions in these statuses (all when empty).
	Statuses []Status
}

var (
	awsAccountRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{12}$`) })
	awsRegionRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })
	amiRE        = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`) })
	azureIDRE    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^/subscriptions/([0-9a-f-]{36})/resourcegroups/[^/]+/providers/microsoft\.compute/(images/[^/]+|galleries/[^/]+/images/[^/]+/versions/[^/]+)$`)
	})
	gcpProjectRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`) })
	gcpImageRE   = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^projects/([a-z][a-z0-9-]{4,28}[a-z0-9])/global/images/([a-z]([-a-z0-9]{0,61}[a-z0-9])?)$`)
	})
	azureRegion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9]{1,40}$`) })
)

// CanonicalImageID is an image ID as the catalog keys it: an Azure resource ID in lower case (Azure
// compares resource IDs without case, and its CLIs print the same ID in different cases), a GCP
// self-link reduced to projects/P/global/images/NAME, an AMI ID as it is.
func CanonicalImageID(provider, id string) string {
	id = strings.TrimSpace(id)
	switch provider {
	case ProviderAzure:
		return strings.ToLower(id)
	case ProviderGCP:
		for _, prefix := range []string{"https://www.googleapis.com/compute/v1/", "https://compute.googleapis.com/compute/v1/"} {
			id = strings.TrimPrefix(id, prefix)
		}
	}
	return id
}

// Normalize checks a cloud image's provider, account, region and ID against the provider's formats,
// and returns it in the catalog's canonical form (see CanonicalImageID).
func (c CloudImage) Normalize() (CloudImage, error) {
	c.Provider = strings.ToLower(strings.TrimSpace(c.Provider))
	c.Account, c.Region, c.ID = strings.TrimSpace(c.Account), strings.TrimSpace(c.Region), CanonicalImageID(c.Provider, c.ID)
	bad := func(what, v, want string) error {
		return fmt.Errorf("%w: %s %s %q (want %s)", ErrInvalid, c.Provider, what, v, want)
	}
	switch c.Provider {
	case ProviderAWS:
		if !awsAccountRE().MatchString(c.Account) {
			return c, bad("account", c.Account, "a 12-digit account ID")
		}
		if !awsRegionRE().MatchString(c.Region) {
			return c, bad("region", c.Region, "a region such as eu-west-1")
		}
		if !amiRE().MatchString(c.ID) {
			return c, bad("image ID", c.ID, "ami- and 8 or 17 hex digits")
		}
	case ProviderAzure:
		m := azureIDRE().FindStringSubmatch(c.ID)
		if m == nil {
			return c, bad("image ID", c.ID, "/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/images/NAME or a gallery image version ID")
		}
		if c.Account == "" {
			c.Account = strings.ToLower(m[1])
		}
		if !strings.EqualFold(c.Account, m[1]) {
			return c, bad("account", c.Account, "the subscription of the image ID, "+m[1])
		}
		c.Account = strings.ToLower(c.Account)
		c.Region = strings.ToLower(strings.ReplaceAll(c.Region, " ", ""))
		if !azureRegion().MatchString(c.Region) {
			return c, bad("region", c.Region, "a location such as westeurope")
		}
	case ProviderGCP:
		m := gcpImageRE().FindStringSubmatch(c.ID)
		if m == nil {
			return c, bad("image", c.ID, "projects/PROJECT/global/images/NAME or its self-link")
		}
		if c.Account == "" {
			c.Account = m[1]
		}
		if c.Account != m[1] || !gcpProjectRE().MatchString(c.Account) {
			return c, bad("project", c.Account, "the project of the image, "+m[1])
		}
		if c.Name == "" {
			c.Name = m[2]
		}
		if c.Region == "" {
			c.Region = "global"
		}
		if c.Region != "global" {
			return c, bad("region", c.Region, "global: GCP images are global resources")
		}
	default:
		return c, fmt.Errorf("%w: provider %q (want %s)", ErrInvalid, c.Provider, strings.Join(Providers(), ", "))
	}
	if len(c.Name) > 255 || strings.ContainsAny(c.Name, "\n\r\t") {
		return c, bad("name", c.Name, "a name of up to 255 characters on one line")
	}
	return c, nil
}

// ValidProvider checks a provider name.
func ValidProvider(p string) error {
	if !slices.Contains(Providers(), p) {
		return fmt.Errorf("%w: provider %q (want %s)", ErrInvalid, p, strings.Join(Providers(), ", "))
	}
	return nil
}
