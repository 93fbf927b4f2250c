package cloudpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Errors of Generate.
var (
	// ErrFormat: no such policy format for the provider.
	ErrFormat = fault.New(fault.Invalid, "cloudpolicy: unknown policy format")
	// ErrLimit: the allowed images do not fit the provider's limits for this kind of policy.
	ErrLimit = fault.New(fault.Invalid, "cloudpolicy: the policy exceeds the provider's limits")
	// ErrImages: an allowed image lacks what the policy selects by (an AMI name for Allowed AMIs).
	ErrImages = fault.New(fault.Invalid, "cloudpolicy: cannot express the allowed images")
)

// Policy formats.
const (
	FormatSCP         = "scp"          // AWS Organizations service control policy
	FormatAllowedAMIs = "allowed-amis" // AWS Organizations EC2 declarative policy, Allowed AMIs
	FormatAzure       = "policy"       // Azure Policy definition
	FormatOrgPolicy   = "org-policy"   // GCP Organization Policy (v2) for compute.trustedImageProjects
	FormatSelfLinks   = "self-links"   // GCP image self-links, one per line
)

// Formats lists a provider's formats, the default first.
func Formats(provider string) []string {
	switch provider {
	case catalog.ProviderAWS:
		return []string{FormatSCP, FormatAllowedAMIs}
	case catalog.ProviderAzure:
		return []string{FormatAzure}
	case catalog.ProviderGCP:
		return []string{FormatOrgPolicy, FormatSelfLinks}
	}
	return nil
}

// Options name and scope the generated policies.
type Options struct {
	// Parent is where a GCP organisation policy is set: organizations/ID, folders/ID or projects/ID.
	Parent string
	// Message is what a refused launch tells its user (Allowed AMIs' exception message, the Azure
	// definition's description).
	Message string
}

// DefaultMessage is the refusal message when Options.Message is empty.
const DefaultMessage = "Only active golden images built and catalogued by ingot may be launched."

// Generate writes the policy of the given provider and format allowing exactly the active images
// among images (others are ignored, whatever the caller passed).
func Generate(provider, format string, images []catalog.CloudImage, o Options) ([]byte, error) {
	if err := catalog.ValidProvider(provider); err != nil {
		return nil, err
	}
	if format == "" {
		format = Formats(provider)[0]
	}
	if o.Message == "" {
		o.Message = DefaultMessage
	}
	active := Active(provider, images)
	switch {
	case provider == catalog.ProviderAWS && format == FormatSCP:
		return AWSSCP(active)
	case provider == catalog.ProviderAWS && format == FormatAllowedAMIs:
		return AWSAllowedAMIs(active, o)
	case provider == catalog.ProviderAzure && format == FormatAzure:
		return AzurePolicy(active, o)
	case provider == catalog.ProviderGCP && format == FormatOrgPolicy:
		return GCPTrustedProjects(active, o)
	case provider == catalog.ProviderGCP && format == FormatSelfLinks:
		return GCPSelfLinks(active), nil
	}
	return nil, fmt.Errorf("%w: %s for %s (want %s)", ErrFormat, format, provider, strings.Join(Formats(provider), ", "))
}

// Active keeps the provider's images of active versions, sorted by region and ID.
func Active(provider string, images []catalog.CloudImage) []catalog.CloudImage {
	var out []catalog.CloudImage
	for _, im := range images {
		if im.Provider == provider && im.Status == catalog.StatusActive {
			out = append(out, im)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// scpMaxChars is the size limit of a service control policy (AWS Organizations quotas: 5,120
// characters). AWS counts the document as sent; the check is on its compact form, which is what
// `jq -c` or the console store.
const scpMaxChars = 5120

type iamStatement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    string                    `json:"Action"`
	Resource  string                    `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
	_         struct{}                  `json:"-"`
}

// AWSSCP denies ec2:RunInstances of any image but the active AMIs, region by region: in a region
// with gold AMIs, an image resource whose ec2:ImageId is not one of that region's; in every other
// region, any image (aws:RequestedRegion not among the gold regions). With no gold AMI at all, every
// launch from an image is denied.
func AWSSCP(active []catalog.CloudImage) ([]byte, error) {
	byRegion := map[string][]string{}
	var regions []string
	for _, im := range active {
		if byRegion[im.Region] == nil {
			regions = append(regions, im.Region)
		}
		byRegion[im.Region] = append(byRegion[im.Region], im.ID)
	}
	sort.Strings(regions)
	var stmts []iamStatement
	for _, r := range regions {
		ids := slices.Compact(slices.Sorted(slices.Values(byRegion[r])))
		stmts = append(stmts, iamStatement{
			Sid: "IngotGoldOnly" + sidPart(r), Effect: "Deny", Action: "ec2:RunInstances",
			Resource:  "arn:aws:ec2:" + r + "::image/*",
			Condition: map[string]map[string]any{"StringNotEquals": {"ec2:ImageId": ids}},
		})
	}
	other := iamStatement{Sid: "IngotNoGoldElsewhere", Effect: "Deny", Action: "ec2:RunInstances", Resource: "arn:aws:ec2:*::image/*"}
	if len(regions) > 0 {
		other.Condition = map[string]map[string]any{"StringNotEquals": {"aws:RequestedRegion": regions}}
	}
	stmts = append(stmts, other)
	doc := struct {
		Version   string         `json:"Version"`
		Statement []iamStatement `json:"Statement"`
	}{"2012-10-17", stmts}
	compact, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if len(compact) > scpMaxChars {
		return nil, fmt.Errorf("%w: the SCP for %d AMIs is %d characters, AWS allows %d: deregister images of old versions, or split the regions over several SCPs", ErrLimit, len(active), len(compact), scpMaxChars)
	}
	return marshal(doc)
}

// sidPart is a region as Sid characters (letters and digits only): eu-west-1 → EuWest1.
func sidPart(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Limits of Allowed AMIs (EC2 API reference, ImageCriterionRequest): 10 criteria; in each, up to
// 200 providers and 50 names of 1 to 128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _ * ?.
const (
	maxCriteria = 10
	maxNames    = 50
)

var amiNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9 ()\[\]./\-'@_*?]{1,128}$`) })

// AWSAllowedAMIs writes an EC2 declarative policy (AWS Organizations, type DECLARATIVE_POLICY_EC2)
// that enables Allowed AMIs with the active AMIs' criteria. Allowed AMIs select images by provider
// (owner account) and name, not by ID, so each owner account of gold AMIs gets criteria allowing
// its account and the names of its active AMIs (an AMI name is unique per account and region). A
// declarative policy holds in every region, so names are not scoped by region, and Allowed AMIs
// never restrict the images an account owns itself: the SCP, which selects by ID, is the exact one.
func AWSAllowedAMIs(active []catalog.CloudImage, o Options) ([]byte, error) {
	byAccount := map[string][]string{}
	var accounts []string
	for _, im := range active {
		if im.Name == "" {
			return nil, fmt.Errorf("%w: AMI %s (%s) has no name registered, and Allowed AMIs select by name: register it with --name or import it from describe-images", ErrImages, im.ID, im.Image+"@"+im.Tag)
		}
		if !amiNameRE().MatchString(im.Name) {
			return nil, fmt.Errorf("%w: AMI %s's name %q has characters Allowed AMIs do not take", ErrImages, im.ID, im.Name)
		}
		if byAccount[im.Account] == nil {
			accounts = append(accounts, im.Account)
		}
		byAccount[im.Account] = append(byAccount[im.Account], im.Name)
	}
	sort.Strings(accounts)
	criteria := map[string]any{}
	n := 0
	for _, a := range accounts {
		names := slices.Compact(slices.Sorted(slices.Values(byAccount[a])))
		for chunk := range slices.Chunk(names, maxNames) {
			n++
			criteria[fmt.Sprintf("criteria_%d", n)] = map[string]any{
				"allowed_image_providers": map[string]any{"@@assign": []string{a}},
				"image_names":             map[string]any{"@@assign": chunk},
			}
		}
	}
	if n > maxCriteria {
		return nil, fmt.Errorf("%w: %d criteria (of up to %d names per account) are needed, Allowed AMIs take %d", ErrLimit, n, maxNames, maxCriteria)
	}
	settings := map[string]any{"state": map[string]any{"@@assign": "enabled"}}
	if n > 0 {
		settings["image_criteria"] = criteria
	}
	// With no criteria, an enabled Allowed AMIs allows no image from another account.
	return marshal(map[string]any{"ec2_attributes": map[string]any{
		"allowed_images_settings": settings,
		"exception_message":       map[string]any{"@@assign": o.Message},
	}})
}

// AzurePolicy writes an Azure Policy definition (the properties a policyDefinitions resource takes)
// that denies virtual machines and scale sets whose image (the alias Microsoft.Compute/imageId, the
// storage profile's image reference ID) is not one of the active images. A VM from a marketplace
// image or an attached disk has no such ID, and is denied too.
func AzurePolicy(active []catalog.CloudImage, o Options) ([]byte, error) {
	ids := []string{}
	for _, im := range active {
		ids = append(ids, im.ID)
	}
	ids = slices.Compact(ids)
	return marshal(map[string]any{"properties": map[string]any{
		"displayName": "Only active golden images (ingot)",
		"policyType":  "Custom",
		"mode":        "All",
		"description": o.Message + " Generated by ingot catalog cloud-policy from the catalog's active versions.",
		"metadata":    map[string]any{"category": "Compute", "version": "1.0.0"},
		"policyRule": map[string]any{
			"if": map[string]any{"allOf": []any{
				map[string]any{"field": "type", "in": []string{"Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachineScaleSets"}},
				map[string]any{"not": map[string]any{"field": "Microsoft.Compute/imageId", "in": ids}},
			}},
			"then": map[string]any{"effect": "deny"},
		},
	}})
}

var gcpParentRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(organizations/[0-9]+|folders/[0-9]+|projects/[a-z][a-z0-9-]{4,28}[a-z0-9])$`)
})

// GCPTrustedProjects writes an Organization Policy (v2, as `gcloud org-policies set-policy` reads
// it) for constraints/compute.trustedImageProjects allowing the projects that hold active images.
// The constraint trusts whole projects: keep gold images in projects that hold nothing else, and
// check instances against the self-link list (ingot host fleet). With no active image, every
// project is denied.
func GCPTrustedProjects(active []catalog.CloudImage, o Options) ([]byte, error) {
	if !gcpParentRE().MatchString(o.Parent) {
		return nil, fmt.Errorf("%w: the organisation policy's parent %q (want organizations/ID, folders/ID or projects/ID)", ErrImages, o.Parent)
	}
	var projects []string
	for _, im := range active {
		projects = append(projects, "projects/"+im.Account)
	}
	projects = slices.Compact(slices.Sorted(slices.Values(projects)))
	rule := map[string]any{"denyAll": true}
	if len(projects) > 0 {
		rule = map[string]any{"values": map[string]any{"allowedValues": projects}}
	}
	return marshal(map[string]any{
		"name": o.Parent + "/policies/compute.trustedImageProjects",
		"spec": map[string]any{"rules": []any{rule}},
	})
}

// GCPSelfLinks lists the active images' self-links, one per line.
func GCPSelfLinks(active []catalog.CloudImage) []byte {
	var b bytes.Buffer
	for _, im := range active {
		b.WriteString("https://www.googleapis.com/compute/v1/" + im.ID + "\n")
	}
	return b.Bytes()
}
