package cloudpolicy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/cloudpolicy"
	"github.com/ingot-build/ingot/pkg/evidence"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
	sub   = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
)

func azureID(name string) string {
	return "/subscriptions/" + sub + "/resourcegroups/gold/providers/microsoft.compute/images/" + name
}

// fleetImages registers cloud images of three vm versions in a real catalog: base@1-r1 (to be
// revoked), base@1-r2 and web@1-r1, and returns the catalog and a function that lists every image
// with its current status.
func fleetImages(t *testing.T) (catalog.Catalog, func() []catalog.CloudImage) {
	t.Helper()
	ctx := t.Context()
	c, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i, name := range []string{"base", "base", "web"} {
		d := fmt.Sprintf("sha256:%064x", i+1)
		v := &catalog.Version{Image: name, Line: "1", Kind: catalog.KindVM, Digest: d,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: &evidence.Set{}}},
			Disks:     []catalog.Disk{{Format: catalog.DiskRaw, Digest: d, Size: 1 << 30}},
			Built:     time.Date(2026, 11, 1+i, 0, 0, 0, 0, time.UTC)}
		got, _, err := c.Begin(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, got.ID, catalog.Publication{At: v.Built, Grace: 90 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	reg := func(ref string, im catalog.CloudImage) {
		r, _ := catalog.ParseRef(ref)
		if _, _, err := c.RegisterCloudImage(ctx, r, im); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	reg("base@1-r1", catalog.CloudImage{Provider: "aws", Account: acctA, Region: "eu-west-1", ID: "ami-01111111111111111", Name: "base@1-r1"})
	reg("base@1-r1", catalog.CloudImage{Provider: "aws", Account: acctA, Region: "us-east-1", ID: "ami-01111111111111112", Name: "base@1-r1"})
	reg("base@1-r2", catalog.CloudImage{Provider: "aws", Account: acctA, Region: "eu-west-1", ID: "ami-02222222222222221", Name: "base@1-r2"})
	reg("base@1-r2", catalog.CloudImage{Provider: "aws", Account: acctA, Region: "us-east-1", ID: "ami-02222222222222222", Name: "base@1-r2"})
	reg("web@1-r1", catalog.CloudImage{Provider: "aws", Account: acctB, Region: "eu-west-1", ID: "ami-03333333333333331", Name: "web (1-r1)"})
	reg("base@1-r1", catalog.CloudImage{Provider: "azure", Region: "westeurope", ID: azureID("base-1-r1")})
	reg("base@1-r2", catalog.CloudImage{Provider: "azure", Region: "westeurope", ID: azureID("base-1-r2")})
	reg("base@1-r1", catalog.CloudImage{Provider: "gcp", ID: "projects/gold-old/global/images/base-1-r1"})
	reg("base@1-r2", catalog.CloudImage{Provider: "gcp", ID: "projects/gold-images/global/images/base-1-r2"})
	reg("web@1-r1", catalog.CloudImage{Provider: "gcp", ID: "projects/gold-images/global/images/web-1-r1"})
	return c, func() []catalog.CloudImage {
		all, err := c.CloudImages(ctx, catalog.CloudImageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
}

func strict(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not the documented structure: %v\n%s", err, b)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", b)
	}
}

// stringOrList is the IAM grammar's value that is one string or a list of them.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	if len(many) == 0 {
		return errors.New("an empty list")
	}
	*s = many
	return nil
}

// iamPolicy is the IAM JSON policy grammar as SCPs use it (reference_policies_grammar: policy,
// statement, effect, action_block, resource_block, condition_block; SCPs have no Principal).
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid         string                             `json:"Sid"`
	Effect      string                             `json:"Effect"`
	Action      stringOrList                       `json:"Action"`
	NotAction   stringOrList                       `json:"NotAction"`
	Resource    stringOrList                       `json:"Resource"`
	NotResource stringOrList                       `json:"NotResource"`
	Condition   map[string]map[string]stringOrList `json:"Condition"`
}

var (
	sidRE        = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	actionRE     = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9*]+$`)
	arnRE        = regexp.MustCompile(`^arn:aws:ec2:[a-z0-9*-]*:[0-9*]*:image/[A-Za-z0-9*-]+$`)
	conditionOps = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
		"ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike", "Bool", "Null"}
	// conditionKeys are the keys the SCP may use: ec2:ImageId (EC2's condition key for an image
	// resource) and aws:RequestedRegion (a global condition key).
	conditionKeys = []string{"ec2:ImageId", "aws:RequestedRegion"}
)

func checkIAM(t *testing.T, b []byte) iamPolicy {
	t.Helper()
	var p iamPolicy
	strict(t, b, &p)
	if p.Version != "2012-10-17" {
		t.Errorf("Version %q", p.Version)
	}
	if len(p.Statement) == 0 {
		t.Fatal("no statement")
	}
	sids := map[string]bool{}
	for _, s := range p.Statement {
		if !sidRE.MatchString(s.Sid) || sids[s.Sid] {
			t.Errorf("Sid %q: letters and digits, unique", s.Sid)
		}
		sids[s.Sid] = true
		if s.Effect != "Allow" && s.Effect != "Deny" {
			t.Errorf("Effect %q", s.Effect)
		}
		if (s.Action == nil) == (s.NotAction == nil) || (s.Resource == nil) == (s.NotResource == nil) {
			t.Errorf("statement %s: want exactly one of Action/NotAction and of Resource/NotResource", s.Sid)
		}
		for _, a := range append(slices.Clone(s.Action), s.NotAction...) {
			if !actionRE.MatchString(a) {
				t.Errorf("action %q", a)
			}
		}
		for _, r := range append(slices.Clone(s.Resource), s.NotResource...) {
			if !arnRE.MatchString(r) {
				t.Errorf("resource %q is not an EC2 image ARN", r)
			}
		}
		for op, kv := range s.Condition {
			if !slices.Contains(conditionOps, op) {
				t.Errorf("condition operator %q", op)
			}
			for k := range kv {
				if !slices.Contains(conditionKeys, k) {
					t.Errorf("condition key %q", k)
				}
			}
		}
	}
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, b); err != nil {
		t.Fatal(err)
	}
	if compact.Len() > 5120 {
		t.Errorf("SCP of %d characters, over the 5,120 quota", compact.Len())
	}
	return p
}

// scpAllowed reads what the SCP lets through: per region, the image IDs; and the regions where
// some image may run.
func scpAllowed(t *testing.T, p iamPolicy) (map[string][]string, []string) {
	t.Helper()
	ids := map[string][]string{}
	var elsewhere []string
	for _, s := range p.Statement {
		if s.Effect != "Deny" || !slices.Equal(s.Action, []string{"ec2:RunInstances"}) || len(s.Resource) != 1 {
			t.Fatalf("statement %+v: want a Deny of ec2:RunInstances on images", s)
		}
		region := strings.Split(s.Resource[0], ":")[3]
		if region == "*" {
			elsewhere = s.Condition["StringNotEquals"]["aws:RequestedRegion"]
			continue
		}
		ids[region] = s.Condition["StringNotEquals"]["ec2:ImageId"]
	}
	return ids, elsewhere
}

func TestSCP(t *testing.T) {
	ctx := t.Context()
	c, images := fleetImages(t)
	b, err := cloudpolicy.Generate("aws", "scp", images(), cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, elsewhere := scpAllowed(t, checkIAM(t, b))
	want := map[string][]string{
		"eu-west-1": {"ami-01111111111111111", "ami-02222222222222221", "ami-03333333333333331"},
		"us-east-1": {"ami-01111111111111112", "ami-02222222222222222"},
	}
	if !reflect.DeepEqual(ids, want) || !slices.Equal(elsewhere, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("allowed %v elsewhere %v, want %v and its regions", ids, elsewhere, want)
	}

	// Revoking base@1-r1 and deprecating web@1-r1 remove their AMIs from the next generation.
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base", Version: "1-r1"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "web", Version: "1-r1"}, catalog.StatusChange{Status: catalog.StatusDeprecated, Reason: "old"}); err != nil {
		t.Fatal(err)
	}
	b, err = cloudpolicy.Generate("aws", "scp", images(), cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ = scpAllowed(t, checkIAM(t, b))
	want = map[string][]string{"eu-west-1": {"ami-02222222222222221"}, "us-east-1": {"ami-02222222222222222"}}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("after revoking: allowed %v, want %v", ids, want)
	}

	// No gold at all: every image launch is denied.
	b, err = cloudpolicy.Generate("aws", "scp", nil, cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := checkIAM(t, b)
	if len(p.Statement) != 1 || p.Statement[0].Condition != nil || p.Statement[0].Resource[0] != "arn:aws:ec2:*::image/*" {
		t.Errorf("with no gold AMI: %s", b)
	}

	// Too many AMIs for one SCP are refused, not cut.
	var many []catalog.CloudImage
	for i := range 300 {
		many = append(many, catalog.CloudImage{Provider: "aws", Account: acctA, Region: "eu-west-1", ID: fmt.Sprintf("ami-%017x", i), Status: catalog.StatusActive})
	}
	if _, err := cloudpolicy.Generate("aws", "scp", many, cloudpolicy.Options{}); !errors.Is(err, cloudpolicy.ErrLimit) {
		t.Errorf("300 AMIs: %v, want ErrLimit", err)
	}
}

// assign is a management policy's value-setting operator (orgs_manage_policies_inheritance_mgmt).
type assign[T any] struct {
	Assign T `json:"@@assign"`
}

// allowedAMIsPolicy is the EC2 declarative policy's documented structure for Allowed Images
// Settings: ec2_attributes.allowed_images_settings with state (enabled | audit_mode) and
// image_criteria.criteria_N of allowed_image_providers, image_names, marketplace_product_codes,
// creation_date_condition and deprecation_time_condition; exception_message under ec2_attributes.
type allowedAMIsPolicy struct {
	EC2Attributes struct {
		AllowedImagesSettings struct {
			State         assign[string]                `json:"state"`
			ImageCriteria map[string]imageCriterionDecl `json:"image_criteria"`
		} `json:"allowed_images_settings"`
		ExceptionMessage *assign[string] `json:"exception_message"`
	} `json:"ec2_attributes"`
}

type imageCriterionDecl struct {
	AllowedImageProviders   *assign[[]string] `json:"allowed_image_providers"`
	ImageNames              *assign[[]string] `json:"image_names"`
	MarketplaceProductCodes *assign[[]string] `json:"marketplace_product_codes"`
	CreationDateCondition   *struct {
		MaximumDaysSinceCreated assign[int] `json:"maximum_days_since_created"`
	} `json:"creation_date_condition"`
	DeprecationTimeCondition *struct {
		MaximumDaysSinceDeprecated assign[int] `json:"maximum_days_since_deprecated"`
	} `json:"deprecation_time_condition"`
}

var (
	criteriaKeyRE = regexp.MustCompile(`^criteria_([1-9]|10)$`)
	providerRE    = regexp.MustCompile(`^([0-9]{12}|amazon|aws-marketplace|aws-backup-vault|none)$`)
	imageNameRE   = regexp.MustCompile(`^[A-Za-z0-9 ()\[\]./\-'@_*?]{1,128}$`)
)

// allowedNames reads the policy: account → allowed names.
func allowedNames(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	var p allowedAMIsPolicy
	strict(t, b, &p)
	s := p.EC2Attributes.AllowedImagesSettings
	if st := s.State.Assign; st != "enabled" && st != "audit_mode" {
		t.Errorf("state %q", st)
	}
	if len(s.ImageCriteria) > 10 {
		t.Errorf("%d criteria, over 10", len(s.ImageCriteria))
	}
	out := map[string][]string{}
	for key, c := range s.ImageCriteria {
		if !criteriaKeyRE.MatchString(key) {
			t.Errorf("criterion key %q", key)
		}
		if c.AllowedImageProviders == nil || len(c.AllowedImageProviders.Assign) == 0 || len(c.AllowedImageProviders.Assign) > 200 {
			t.Fatalf("%s: want 1 to 200 providers", key)
		}
		if c.ImageNames == nil || len(c.ImageNames.Assign) == 0 || len(c.ImageNames.Assign) > 50 {
			t.Fatalf("%s: want 1 to 50 names", key)
		}
		for _, n := range c.ImageNames.Assign {
			if !imageNameRE.MatchString(n) {
				t.Errorf("%s: image name %q", key, n)
			}
		}
		for _, pr := range c.AllowedImageProviders.Assign {
			if !providerRE.MatchString(pr) {
				t.Errorf("%s: provider %q", key, pr)
			}
			out[pr] = append(out[pr], c.ImageNames.Assign...)
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func TestAllowedAMIs(t *testing.T) {
	ctx := t.Context()
	c, images := fleetImages(t)
	b, err := cloudpolicy.Generate("aws", "allowed-amis", images(), cloudpolicy.Options{Message: "Gold only: see https://wiki.example/gold"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{acctA: {"base@1-r1", "base@1-r2"}, acctB: {"web (1-r1)"}}
	if got := allowedNames(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("allowed %v, want %v", got, want)
	}
	if !bytes.Contains(b, []byte("Gold only: see https://wiki.example/gold")) {
		t.Error("the exception message is missing")
	}
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base", Version: "1-r1"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	b, err = cloudpolicy.Generate("aws", "allowed-amis", images(), cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{acctA: {"base@1-r2"}, acctB: {"web (1-r1)"}}
	if got := allowedNames(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("after revoking: allowed %v, want %v", got, want)
	}

	// 120 names of one account make three criteria of at most 50; 11 accounts are too many.
	var many []catalog.CloudImage
	for i := range 120 {
		many = append(many, catalog.CloudImage{Provider: "aws", Account: acctA, Region: "eu-west-1", ID: fmt.Sprintf("ami-%017x", i), Name: fmt.Sprintf("img-%03d", i), Status: catalog.StatusActive})
	}
	b, err = cloudpolicy.Generate("aws", "allowed-amis", many, cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := allowedNames(t, b); len(got[acctA]) != 120 {
		t.Errorf("120 names: %d allowed", len(got[acctA]))
	}
	var accounts []catalog.CloudImage
	for i := range 11 {
		accounts = append(accounts, catalog.CloudImage{Provider: "aws", Account: fmt.Sprintf("%012d", i+1), Region: "eu-west-1", ID: fmt.Sprintf("ami-%017x", i), Name: "n", Status: catalog.StatusActive})
	}
	if _, err := cloudpolicy.Generate("aws", "allowed-amis", accounts, cloudpolicy.Options{}); !errors.Is(err, cloudpolicy.ErrLimit) {
		t.Errorf("11 accounts: %v, want ErrLimit", err)
	}
	nameless := []catalog.CloudImage{{Provider: "aws", Account: acctA, Region: "eu-west-1", ID: "ami-0aaaaaaaaaaaaaaaa", Status: catalog.StatusActive}}
	if _, err := cloudpolicy.Generate("aws", "allowed-amis", nameless, cloudpolicy.Options{}); !errors.Is(err, cloudpolicy.ErrImages) {
		t.Errorf("an AMI without a name: %v, want ErrImages", err)
	}
}

// azureDefinition is a policy definition's documented envelope (definition-structure-basics):
// display name, policy type, mode, description, metadata, parameters, policy rule.
type azureDefinition struct {
	Properties struct {
		DisplayName string          `json:"displayName"`
		PolicyType  string          `json:"policyType"`
		Mode        string          `json:"mode"`
		Description string          `json:"description"`
		Metadata    map[string]any  `json:"metadata"`
		Parameters  map[string]any  `json:"parameters"`
		PolicyRule  json.RawMessage `json:"policyRule"`
	} `json:"properties"`
}

// azureRuleSchema compiles Azure's published policy rule schema with the common definitions it
// references (both vendored under testdata/azure).
func azureRuleSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for file, url := range map[string]string{
		"policyDefinition.json": "https://schema.management.azure.com/schemas/2020-10-01/policyDefinition.json",
		"definitions.json":      "https://schema.management.azure.com/schemas/common/definitions.json",
	} {
		f, err := os.Open(filepath.Join("testdata", "azure", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	// The schema's deployIfNotExists branch references a deployment schema that the schemas
	// repository does not hold (schema.management.azure.com generates it); the rule generated here
	// never takes that branch, so an open object stands in for it.
	if err := c.AddResource("https://schema.management.azure.com/schemas/2018-05-01/Microsoft.Resources.Deployments.json",
		map[string]any{"definitions": map[string]any{"DeploymentProperties": map[string]any{"type": "object"}}}); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://schema.management.azure.com/schemas/2020-10-01/policyDefinition.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// azureAllowed checks a definition and returns the image IDs its rule allows.
func azureAllowed(t *testing.T, sch *jsonschema.Schema, b []byte) []string {
	t.Helper()
	var d azureDefinition
	strict(t, b, &d)
	p := d.Properties
	if p.DisplayName == "" || len(p.DisplayName) > 128 || p.PolicyType != "Custom" || (p.Mode != "All" && p.Mode != "Indexed") || len(p.Description) > 512 {
		t.Errorf("envelope: %+v", p)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(p.PolicyRule))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("the policy rule is not valid for Azure's schema: %v\n%s", err, p.PolicyRule)
	}
	var rule struct {
		If struct {
			AllOf []struct {
				Field string   `json:"field"`
				In    []string `json:"in"`
				Not   *struct {
					Field string   `json:"field"`
					In    []string `json:"in"`
				} `json:"not"`
			} `json:"allOf"`
		} `json:"if"`
		Then struct {
			Effect string `json:"effect"`
		} `json:"then"`
	}
	strict(t, p.PolicyRule, &rule)
	if rule.Then.Effect != "deny" || len(rule.If.AllOf) != 2 || rule.If.AllOf[0].Field != "type" ||
		!slices.Contains(rule.If.AllOf[0].In, "Microsoft.Compute/virtualMachines") || rule.If.AllOf[1].Not == nil ||
		rule.If.AllOf[1].Not.Field != "Microsoft.Compute/imageId" {
		t.Fatalf("rule: %s", p.PolicyRule)
	}
	return rule.If.AllOf[1].Not.In
}

func TestAzurePolicy(t *testing.T) {
	ctx := t.Context()
	sch := azureRuleSchema(t)
	// The schema is strict enough to refuse a broken rule.
	broken, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"if": {"field": "type", "in": ["x"]}, "then": {"effect": "block"}}`))
	if err := sch.Validate(broken); err == nil {
		t.Fatal("Azure's schema accepted the effect \"block\"")
	}
	c, images := fleetImages(t)
	b, err := cloudpolicy.Generate("azure", "", images(), cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := azureAllowed(t, sch, b), []string{azureID("base-1-r1"), azureID("base-1-r2")}; !slices.Equal(got, want) {
		t.Errorf("allowed %v, want %v", got, want)
	}
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base", Version: "1-r2"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	b, err = cloudpolicy.Generate("azure", "policy", images(), cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := azureAllowed(t, sch, b), []string{azureID("base-1-r1")}; !slices.Equal(got, want) {
		t.Errorf("after revoking: allowed %v, want %v", got, want)
	}
	// With nothing gold, the rule still validates and allows nothing.
	b, err = cloudpolicy.Generate("azure", "policy", nil, cloudpolicy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := azureAllowed(t, sch, b); len(got) != 0 {
		t.Errorf("nothing gold: allowed %v", got)
	}
}

// orgPolicy is the Organization Policy API v2 Policy resource: name, spec (etag, updateTime, rules,
// inheritFromParent, reset), dryRunSpec, etag; a rule is one of values, allowAll, denyAll, enforce,
// with an optional condition.
type orgPolicy struct {
	Name       string      `json:"name"`
	Spec       policySpec  `json:"spec"`
	DryRunSpec *policySpec `json:"dryRunSpec"`
	Etag       string      `json:"etag"`
}

type policySpec struct {
	Etag              string       `json:"etag"`
	UpdateTime        string       `json:"updateTime"`
	Rules             []policyRule `json:"rules"`
	InheritFromParent bool         `json:"inheritFromParent"`
	Reset             bool         `json:"reset"`
}

type policyRule struct {
	Values *struct {
		AllowedValues []string `json:"allowedValues"`
		DeniedValues  []string `json:"deniedValues"`
	} `json:"values"`
	AllowAll  *bool           `json:"allowAll"`
	DenyAll   *bool           `json:"denyAll"`
	Enforce   *bool           `json:"enforce"`
	Condition json.RawMessage `json:"condition"`
}

var (
	policyNameRE = regexp.MustCompile(`^(organizations/[0-9]+|folders/[0-9]+|projects/[a-z][a-z0-9-]{4,28}[a-z0-9])/policies/compute\.trustedImageProjects$`)
	projectValRE = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
)

func trustedProjects(t *testing.T, b []byte) ([]string, bool) {
	t.Helper()
	var p orgPolicy
	strict(t, b, &p)
	if !policyNameRE.MatchString(p.Name) {
		t.Errorf("name %q", p.Name)
	}
	if len(p.Spec.Rules) != 1 {
		t.Fatalf("%d rules, want 1", len(p.Spec.Rules))
	}
	r := p.Spec.Rules[0]
	set := 0
	for _, b := range []bool{r.Values != nil, r.AllowAll != nil, r.DenyAll != nil, r.Enforce != nil} {
		if b {
			set++
		}
	}
	if set != 1 || r.Enforce != nil {
		t.Fatalf("rule %+v: a list constraint's rule is one of values, allowAll, denyAll", r)
	}
	if r.DenyAll != nil {
		return nil, *r.DenyAll
	}
	for _, v := range r.Values.AllowedValues {
		if !projectValRE.MatchString(v) {
			t.Errorf("value %q: want projects/PROJECT_ID", v)
		}
	}
	return r.Values.AllowedValues, false
}

func TestGCP(t *testing.T) {
	ctx := t.Context()
	c, images := fleetImages(t)
	o := cloudpolicy.Options{Parent: "organizations/123456789012"}
	b, err := cloudpolicy.Generate("gcp", "org-policy", images(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := trustedProjects(t, b); !slices.Equal(got, []string{"projects/gold-images", "projects/gold-old"}) {
		t.Errorf("trusted %v", got)
	}
	links, err := cloudpolicy.Generate("gcp", "self-links", images(), o)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := "https://www.googleapis.com/compute/v1/projects/gold-images/global/images/base-1-r2\n" +
		"https://www.googleapis.com/compute/v1/projects/gold-images/global/images/web-1-r1\n" +
		"https://www.googleapis.com/compute/v1/projects/gold-old/global/images/base-1-r1\n"
	if string(links) != wantLinks {
		t.Errorf("self-links:\n%s\nwant\n%s", links, wantLinks)
	}
	// Revoking base@1-r1 drops the project that held only it, and its link.
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "base", Version: "1-r1"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	b, err = cloudpolicy.Generate("gcp", "org-policy", images(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := trustedProjects(t, b); !slices.Equal(got, []string{"projects/gold-images"}) {
		t.Errorf("after revoking: trusted %v", got)
	}
	if links, _ = cloudpolicy.Generate("gcp", "self-links", images(), o); strings.Contains(string(links), "gold-old") {
		t.Errorf("after revoking, self-links still list it:\n%s", links)
	}
	b, err = cloudpolicy.Generate("gcp", "org-policy", nil, cloudpolicy.Options{Parent: "folders/42"})
	if err != nil {
		t.Fatal(err)
	}
	if _, deny := trustedProjects(t, b); !deny {
		t.Errorf("nothing gold: %s, want denyAll", b)
	}
	if _, err := cloudpolicy.Generate("gcp", "org-policy", images(), cloudpolicy.Options{Parent: "org/1"}); !errors.Is(err, cloudpolicy.ErrImages) {
		t.Errorf("a bad parent: %v", err)
	}
	if _, err := cloudpolicy.Generate("gcp", "scp", images(), o); !errors.Is(err, cloudpolicy.ErrFormat) {
		t.Errorf("an SCP for GCP: %v, want ErrFormat", err)
	}
}
