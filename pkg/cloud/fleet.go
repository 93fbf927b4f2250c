package cloud

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// DefaultTTL is how long an instance may live before it should be recycled onto a current image.
const DefaultTTL = 30 * 24 * time.Hour

// Instance is one virtual machine from a provider's inventory.
type Instance struct {
	Provider string `json:"provider"`
	// Account is the AWS account, Azure subscription or GCP project that runs it, when the listing
	// says.
	Account string `json:"account,omitempty"`
	// Region is the AWS region or Azure location; for GCP the zone.
	Region string `json:"region"`
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	// Image is the image it was launched from, as the catalog keys it (see catalog.CloudImage.ID);
	// empty when the inventory does not say (a marketplace image on Azure, a GCP boot disk missing
	// from the disk listing).
	Image    string    `json:"image,omitempty"`
	Launched time.Time `json:"launched,omitzero"`
	State    string    `json:"state,omitempty"`
}

// Problems an instance can have.
const (
	ProblemNotGold    = "not-gold"    // its image is unknown to the catalog (or unknown)
	ProblemRevoked    = "revoked"     // its image's version was revoked
	ProblemDeprecated = "deprecated"  // superseded: recycle it onto the active version
	ProblemEOL        = "eol"         // its release line reached end of life
	ProblemExpired    = "ttl-expired" // older than the TTL
	ProblemNoLaunch   = "no-launch-time"
)

// Checked is an instance with what the catalog says of its image.
type Checked struct {
	Instance
	// Version is the catalog version of its image (image@tag) and Status that version's status;
	// empty when the image is not gold.
	Version  string         `json:"version,omitempty"`
	Status   catalog.Status `json:"status,omitempty"`
	Age      Duration       `json:"age"`
	Problems []string       `json:"problems,omitempty"`
}

// Duration prints as Go's duration in JSON ("720h0m0s") and as days in tables.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that a report reads back.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Days is the duration in whole days.
func (d Duration) Days() int { return int(time.Duration(d) / (24 * time.Hour)) }

// Report is the fleet's verdict.
type Report struct {
	Checked   time.Time `json:"checked"`
	TTL       Duration  `json:"ttl"`
	Instances []Checked `json:"instances"`
	// Violations counts the instances with at least one problem.
	Violations int `json:"violations"`
}

// Fleet checks instances against the catalog's cloud images (all statuses: an instance on a revoked
// image must be reported as such, not as unknown): an image the catalog does not know is not gold;
// a revoked, deprecated or end-of-life version's is a problem; so is an instance launched more than
// ttl before now.
func Fleet(instances []Instance, images []catalog.CloudImage, now time.Time, ttl time.Duration) Report {
	byKey := map[string]catalog.CloudImage{}
	for _, im := range images {
		byKey[im.Provider+" "+imageKey(im.Provider, im.ID)] = im
	}
	r := Report{Checked: now.UTC(), TTL: Duration(ttl), Instances: []Checked{}}
	for _, in := range instances {
		c := Checked{Instance: in}
		im, gold := byKey[in.Provider+" "+imageKey(in.Provider, in.Image)]
		switch {
		case !gold || in.Image == "":
			c.Problems = append(c.Problems, ProblemNotGold)
		default:
			c.Version, c.Status = im.Image+"@"+im.Tag, im.Status
			switch im.Status {
			case catalog.StatusRevoked:
				c.Problems = append(c.Problems, ProblemRevoked)
			case catalog.StatusDeprecated:
				c.Problems = append(c.Problems, ProblemDeprecated)
			case catalog.StatusEOL:
				c.Problems = append(c.Problems, ProblemEOL)
			}
		}
		if in.Launched.IsZero() {
			c.Problems = append(c.Problems, ProblemNoLaunch)
		} else {
			c.Age = Duration(now.Sub(in.Launched))
			if now.Sub(in.Launched) > ttl {
				c.Problems = append(c.Problems, ProblemExpired)
			}
		}
		if len(c.Problems) > 0 {
			r.Violations++
		}
		r.Instances = append(r.Instances, c)
	}
	sort.SliceStable(r.Instances, func(i, j int) bool {
		a, b := r.Instances[i], r.Instances[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		return a.ID < b.ID
	})
	return r
}

// imageKey is an image ID as the catalog keys it.
func imageKey(provider, id string) string { return catalog.CanonicalImageID(provider, id) }

// awsRegion is the region of an availability zone: us-east-1a, and Local Zones' us-west-2-lax-1a,
// are in us-east-1 and us-west-2.
func awsRegion(az string) string {
	parts := strings.Split(strings.TrimRight(az, "abcdefghijklmnopqrstuvwxyz"), "-")
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			return strings.Join(parts[:i+1], "-")
		}
	}
	return az
}

// ParseInstances reads a provider's instance inventory: `aws ec2 describe-instances --output json`,
// `az vm list -o json`, `gcloud compute instances list --format=json`. GCP instances do not name
// their image: gcpDisks, the output of `gcloud compute disks list --format=json`, gives each boot
// disk's source image (nil leaves GCP images unknown, which reports them as not gold).
// Terminated AWS instances are left out; stopped ones are kept (they start again as they are).
func ParseInstances(provider string, data, gcpDisks []byte) ([]Instance, error) {
	var out []Instance
	switch provider {
	case catalog.ProviderAWS:
		var doc struct {
			Reservations *[]struct {
				OwnerID   string `json:"OwnerId"`
				Instances []struct {
					InstanceID string    `json:"InstanceId"`
					ImageID    string    `json:"ImageId"`
					LaunchTime time.Time `json:"LaunchTime"`
					Placement  struct{ AvailabilityZone string }
					State      struct{ Name string }
					Tags       []awsTag
				}
			}
		}
		if err := decode(data, "aws ec2 describe-instances", &doc); err != nil {
			return nil, err
		}
		if doc.Reservations == nil {
			return nil, fmt.Errorf("%w: aws ec2 describe-instances: no Reservations list", ErrInput)
		}
		for _, res := range *doc.Reservations {
			for _, in := range res.Instances {
				if in.State.Name == "terminated" || in.State.Name == "shutting-down" {
					continue
				}
				region := awsRegion(in.Placement.AvailabilityZone)
				out = append(out, Instance{Provider: provider, Account: res.OwnerID, Region: region, ID: in.InstanceID,
					Name: awsTags(in.Tags)["Name"], Image: in.ImageID, Launched: in.LaunchTime.UTC(), State: in.State.Name})
			}
		}
	case catalog.ProviderAzure:
		var doc []struct {
			ID             string `json:"id"`
			Name           string `json:"name"`
			Location       string `json:"location"`
			TimeCreated    string `json:"timeCreated"` // absent from older API versions' answers
			StorageProfile struct {
				ImageReference *struct {
					ID string `json:"id"`
				} `json:"imageReference"`
			} `json:"storageProfile"`
		}
		if err := decode(data, "az vm list", &doc); err != nil {
			return nil, err
		}
		for _, vm := range doc {
			in := Instance{Provider: provider, Region: vm.Location, ID: vm.ID, Name: vm.Name}
			if vm.TimeCreated != "" {
				t, err := time.Parse(time.RFC3339Nano, vm.TimeCreated)
				if err != nil {
					return nil, fmt.Errorf("%w: az vm list: %s: timeCreated: %w", ErrInput, vm.Name, err)
				}
				in.Launched = t.UTC()
			}
			if parts := strings.Split(vm.ID, "/"); len(parts) > 2 && strings.EqualFold(parts[1], "subscriptions") {
				in.Account = strings.ToLower(parts[2])
			}
			if ref := vm.StorageProfile.ImageReference; ref != nil {
				in.Image = ref.ID
			}
			out = append(out, in)
		}
	case catalog.ProviderGCP:
		var doc []struct {
			ID                string `json:"id"`
			Name              string `json:"name"`
			Zone              string `json:"zone"`
			SelfLink          string `json:"selfLink"`
			CreationTimestamp string `json:"creationTimestamp"`
			Status            string `json:"status"`
			Disks             []struct {
				Boot   bool   `json:"boot"`
				Source string `json:"source"`
			} `json:"disks"`
		}
		if err := decode(data, "gcloud compute instances list", &doc); err != nil {
			return nil, err
		}
		sources := map[string]string{}
		if gcpDisks != nil {
			var disks []struct {
				SelfLink    string `json:"selfLink"`
				SourceImage string `json:"sourceImage"`
			}
			if err := decode(gcpDisks, "gcloud compute disks list", &disks); err != nil {
				return nil, err
			}
			for _, d := range disks {
				sources[d.SelfLink] = d.SourceImage
			}
		}
		for _, vm := range doc {
			in := Instance{Provider: provider, Region: path.Base(vm.Zone), ID: vm.ID, Name: vm.Name, State: vm.Status}
			if parts := strings.Split(vm.SelfLink, "/"); len(parts) > 1 {
				for i := range parts[:len(parts)-1] {
					if parts[i] == "projects" {
						in.Account = parts[i+1]
						break
					}
				}
			}
			if vm.CreationTimestamp != "" {
				t, err := time.Parse(time.RFC3339, vm.CreationTimestamp)
				if err != nil {
					return nil, fmt.Errorf("%w: gcloud compute instances list: %s: creationTimestamp: %w", ErrInput, vm.Name, err)
				}
				in.Launched = t.UTC()
			}
			for _, d := range vm.Disks {
				if d.Boot {
					in.Image = imageKey(provider, sources[d.Source])
				}
			}
			out = append(out, in)
		}
	default:
		return nil, catalog.ValidProvider(provider)
	}
	return out, nil
}
