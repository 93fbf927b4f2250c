package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrInput: the JSON is not what the provider's CLI prints.
var ErrInput = fault.New(fault.Invalid, "cloud: unreadable cloud CLI output")

// The markers that name an ingot version on a cloud image. AWS and Azure images carry them as tags;
// GCP label values cannot hold '@', ':' or 64 hex digits, so on GCP (and as a fallback anywhere) they
// are words of the image's description: "ingot:version=IMAGE@TAG" or "ingot:digest=sha256:HEX".
const (
	TagVersion = "ingot:version"
	TagDigest  = "ingot:digest"
)

var descMarker = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\bingot:(version|digest)=([^\s,;]+)`) })

// Found is a cloud image read from a provider's listing, with the version its markers name (Ref, or
// Digest: the version's digest, which is its raw disk's).
type Found struct {
	Image  catalog.CloudImage `json:"image"`
	Ref    string             `json:"ref,omitempty"`
	Digest string             `json:"digest,omitempty"`
}

// Marked reports whether the image names an ingot version.
func (f Found) Marked() bool { return f.Ref != "" || f.Digest != "" }

func mark(f *Found, tags map[string]string, description string) {
	f.Ref, f.Digest = strings.TrimSpace(tags[TagVersion]), strings.TrimSpace(tags[TagDigest])
	for _, m := range descMarker().FindAllStringSubmatch(description, -1) {
		switch {
		case m[1] == "version" && f.Ref == "":
			f.Ref = m[2]
		case m[1] == "digest" && f.Digest == "":
			f.Digest = m[2]
		}
	}
}

type awsTag struct{ Key, Value string }

func awsTags(tags []awsTag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// decode reads one JSON document strictly enough to tell a wrong file from the expected one: the
// top level must have the expected shape (unknown fields inside are the providers' many others).
func decode(data []byte, what string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInput, what, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: more than one JSON document", ErrInput, what)
	}
	return nil
}

// ParseImages reads a provider's image listing: `aws ec2 describe-images --output json` (which does
// not say its region: region is the one it ran in), `az image list -o json`, `gcloud compute images
// list --format=json`.
func ParseImages(provider string, data []byte, region string) ([]Found, error) {
	var out []Found
	switch provider {
	case catalog.ProviderAWS:
		var doc struct {
			Images *[]struct {
				ImageID     string `json:"ImageId"`
				Name        string
				Description string
				OwnerID     string `json:"OwnerId"`
				Tags        []awsTag
			}
		}
		if err := decode(data, "aws ec2 describe-images", &doc); err != nil {
			return nil, err
		}
		if doc.Images == nil {
			return nil, fmt.Errorf("%w: aws ec2 describe-images: no Images list", ErrInput)
		}
		if region == "" {
			return nil, fmt.Errorf("%w: aws ec2 describe-images does not say its region: give it", ErrInput)
		}
		for _, im := range *doc.Images {
			f := Found{Image: catalog.CloudImage{Provider: provider, Account: im.OwnerID, Region: region, ID: im.ImageID, Name: im.Name}}
			mark(&f, awsTags(im.Tags), im.Description)
			out = append(out, f)
		}
	case catalog.ProviderAzure:
		var doc []struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			Location string `json:"location"`
			Tags     map[string]string
		}
		if err := decode(data, "az image list", &doc); err != nil {
			return nil, err
		}
		for _, im := range doc {
			f := Found{Image: catalog.CloudImage{Provider: provider, Region: im.Location, ID: im.ID, Name: im.Name}}
			mark(&f, im.Tags, "")
			out = append(out, f)
		}
	case catalog.ProviderGCP:
		var doc []struct {
			Name        string            `json:"name"`
			SelfLink    string            `json:"selfLink"`
			Description string            `json:"description"`
			Labels      map[string]string `json:"labels"`
		}
		if err := decode(data, "gcloud compute images list", &doc); err != nil {
			return nil, err
		}
		for _, im := range doc {
			f := Found{Image: catalog.CloudImage{Provider: provider, ID: im.SelfLink, Name: im.Name}}
			mark(&f, im.Labels, im.Description)
			out = append(out, f)
		}
	default:
		return nil, catalog.ValidProvider(provider)
	}
	return out, nil
}

// Imported is what Import did with one found image.
type Imported struct {
	Found
	// Version is the version it was registered against; empty when skipped.
	Version string `json:"version,omitempty"`
	// Existed: it was registered already. Skipped says why it was not registered (no marker).
	Existed bool   `json:"existed,omitempty"`
	Skipped string `json:"skipped,omitempty"`
}

// Import registers every marked image against the version its marker names. Unmarked images are
// skipped (a listing holds other images too); a marker naming no version of the catalog, or a
// registration the catalog refuses, fails the import there (what was registered before stays: each
// registration is its own transaction, and importing again is idempotent).
func Import(ctx context.Context, c catalog.Catalog, found []Found, actor string) ([]Imported, error) {
	var out []Imported
	for _, f := range found {
		im := Imported{Found: f}
		if !f.Marked() {
			im.Skipped = "no " + TagVersion + " or " + TagDigest + " marker"
			out = append(out, im)
			continue
		}
		ref, err := refOf(ctx, c, f)
		if err != nil {
			return out, fmt.Errorf("%s image %s: %w", f.Image.Provider, f.Image.ID, err)
		}
		img := f.Image
		img.Actor = actor
		got, existed, err := c.RegisterCloudImage(ctx, ref, img)
		if err != nil {
			return out, fmt.Errorf("%s image %s: %w", f.Image.Provider, f.Image.ID, err)
		}
		im.Image, im.Version, im.Existed = got, got.Image+"@"+got.Tag, existed
		out = append(out, im)
	}
	return out, nil
}

// refOf resolves an image's marker to one version: by reference, or by digest (checked to agree
// when both are given).
func refOf(ctx context.Context, c catalog.Catalog, f Found) (catalog.Ref, error) {
	var byRef *catalog.Version
	if f.Ref != "" {
		r, err := catalog.ParseRef(f.Ref)
		if err != nil {
			return catalog.Ref{}, err
		}
		if r.Version == "" {
			return catalog.Ref{}, fmt.Errorf("%w: marker %q names an image, not a version", catalog.ErrInvalid, f.Ref)
		}
		if byRef, err = c.Get(ctx, r); err != nil {
			return catalog.Ref{}, err
		}
	}
	if f.Digest != "" {
		if err := catalog.ValidDigest(f.Digest); err != nil {
			return catalog.Ref{}, err
		}
		vs, err := c.List(ctx, catalog.ListOptions{Digest: f.Digest})
		if err != nil {
			return catalog.Ref{}, err
		}
		var match []*catalog.Version
		for _, v := range vs {
			if v.Digest == f.Digest && v.Kind == catalog.KindVM {
				match = append(match, v)
			}
		}
		switch {
		case len(match) == 0:
			return catalog.Ref{}, fmt.Errorf("%w: no vm version has digest %s", catalog.ErrNotFound, f.Digest)
		case len(match) > 1:
			return catalog.Ref{}, fmt.Errorf("%w: digest %s names versions of %d images: tag the image with %s too", catalog.ErrInvalid, f.Digest, len(match), TagVersion)
		case byRef != nil && byRef.ID != match[0].ID:
			return catalog.Ref{}, fmt.Errorf("%w: %s is %s, but digest %s is %s", catalog.ErrInvalid, f.Ref, byRef.Ref(), f.Digest, match[0].Ref())
		}
		return catalog.Ref{Image: match[0].Image, Version: match[0].Tag()}, nil
	}
	if byRef == nil {
		return catalog.Ref{}, errors.New("no marker")
	}
	return catalog.Ref{Image: byRef.Image, Version: byRef.Tag()}, nil
}
