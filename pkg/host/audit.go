package host

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/harden"
)

// Sentinel errors of the options, wrapped with the offending value.
var (
	// ErrUnknownProfile reports a profile name that is not minimal, cis-l1 or cis-l2.
	ErrUnknownProfile = fault.New(fault.Invalid, "host: unknown profile")
	// ErrUnknownRule reports a waiver for a rule ID that does not exist: a typo would otherwise leave
	// the rule enforced while its author believes it waived.
	ErrUnknownRule = harden.ErrUnknownRule
	// ErrInvalidWaiver reports a waiver without a reason, or a rule waived twice.
	ErrInvalidWaiver = harden.ErrInvalidWaiver
)

// SecretsFunc runs the secrets stage on the tree presented as an image.
type SecretsFunc func(ctx context.Context, img v1.Image) ([]evidence.Finding, error)

// Options select the profile, waivers and policy of an Audit.
type Options struct {
	// Profile is minimal (the default when empty), cis-l1 or cis-l2.
	Profile Profile
	// Waivers turn failures of the named rules into waived findings, as ingot lint's do.
	Waivers []harden.Waiver
	// Policy lists required agents and forbidden packages; nil skips those rules.
	Policy *Policy
	// Secrets runs the secrets stage for the secrets rule; nil skips that rule (reported as skipped).
	Secrets SecretsFunc
}

// ParseProfile reads a profile name; empty means minimal.
func ParseProfile(s string) (Profile, error) {
	return harden.ParseName(s, Profiles(), ProfileMinimal, ErrUnknownProfile)
}

// Validate checks the profile, the waivers and the policy without reading any target.
func (o Options) Validate() error {
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := waivers(o.Waivers); err != nil {
		return fmt.Errorf("waivers: %w", err)
	}
	if o.Policy != nil {
		return o.Policy.Validate()
	}
	return nil
}

func waivers(ws []harden.Waiver) (map[string]string, error) {
	return harden.WaiverReasons(ws, isRule)
}

// Audit evaluates every rule of the profile on a tree and returns one finding per rule, in rule
// order: Kind rule, Status failed, passed, waived or skipped, the rule's severity, its CIS Debian 12
// references, the offending files as Locations and Detail["found"] summarising a failure. A symbolic
// link loop or escape met on the way fails the audit (ErrSymlinkLoop, ErrSymlinkEscape): the audit
// would otherwise read something other than what the machine will.
func Audit(ctx context.Context, t *Tree, opt Options) ([]evidence.Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	profile, _ := ParseProfile(string(opt.Profile))
	waived, _ := waivers(opt.Waivers)
	a := &auditor{t: t, policy: opt.Policy}
	if err := a.load(); err != nil {
		return nil, err
	}
	var out []evidence.Finding
	all := checks()
	for _, r := range Rules() {
		if !r.In(profile) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var res harden.Result
		var err error
		if r.ID == RuleSecrets {
			res, err = a.secrets(ctx, opt.Secrets)
		} else {
			check, ok := all[r.ID]
			if !ok {
				return nil, fmt.Errorf("host: rule %s has no check", r.ID)
			}
			res, err = check(a)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.ID, err)
		}
		out = append(out, finding(r, res, waived))
	}
	return out, nil
}

func finding(r Rule, res harden.Result, waived map[string]string) evidence.Finding {
	f := evidence.Finding{
		Kind: evidence.KindRule, ID: r.ID, Severity: r.Severity, Status: res.Status, Reason: res.Reason,
		Title: r.Title, Description: r.Description + " Remediation: " + r.Remediation, CIS: r.cisRef(),
		Locations: res.Locations,
	}
	if res.Found != "" {
		f.Detail = map[string]string{"found": res.Found}
	}
	if reason, ok := waived[r.ID]; ok && f.Status == evidence.StatusFailed {
		f.Status, f.Reason = evidence.StatusWaived, reason
	}
	return f
}

func (a *auditor) secrets(ctx context.Context, fn SecretsFunc) (harden.Result, error) {
	if fn == nil {
		return harden.Skipped("the secrets stage was not run"), nil
	}
	fs, err := fn(ctx, a.t.Image())
	if err != nil {
		return harden.Result{}, fmt.Errorf("secrets stage: %w", err)
	}
	var items []string
	var locs []evidence.Location
	for _, f := range fs {
		if !f.Counts() {
			continue
		}
		for _, l := range f.Locations {
			locs = append(locs, evidence.Location{Path: l.Path, Line: l.Line})
			items = append(items, f.ID+" in "+l.Path)
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed(fmt.Sprintf("%d secret(s)", len(items)), items, locs), nil
}
