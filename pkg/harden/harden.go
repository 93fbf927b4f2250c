package harden

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/layers"
)

// Sentinel errors, wrapped with what they are about.
var (
	// ErrUnknownProfile reports a profile name that is neither minimal nor cis.
	ErrUnknownProfile = fault.New(fault.Invalid, "harden: unknown profile")
	// ErrUnknownRule reports a waiver for a rule ID that does not exist, most likely a typo that
	// would otherwise leave the rule enforced while its author believes it waived.
	ErrUnknownRule = fault.New(fault.Invalid, "harden: unknown rule")
	// ErrInvalidWaiver reports a waiver without a reason, or a rule waived twice.
	ErrInvalidWaiver = fault.New(fault.Invalid, "harden: invalid waiver")
)

// Waiver accepts the failure of one rule for one image; the reason is recorded in the report.
type Waiver struct{ Rule, Reason string }

// SecretsFunc runs the secrets stage on an image.
type SecretsFunc func(ctx context.Context, img v1.Image) ([]evidence.Finding, error)

// Options select the profile and waivers of a Lint.
type Options struct {
	// Profile is minimal (the default when empty) or cis.
	Profile Profile
	// Waivers turn failures of the named rules into waived findings.
	Waivers []Waiver
	// Secrets runs the secrets stage for the secrets rule; nil skips that rule (reported as skipped).
	Secrets SecretsFunc
	// Limits bound how much the image's layers may decompress to.
	Limits imageref.Limits
}

// ParseProfile reads a profile name; empty means minimal.
func ParseProfile(s string) (Profile, error) {
	return ParseName(s, Profiles(), ProfileMinimal, ErrUnknownProfile)
}

// ParseName reads one of the names all (case-insensitive, trimmed); empty means def. Another is
// unknown: an error wrapping unknown that lists the names there are. Both audits' profiles use it.
func ParseName[T ~string](s string, all []T, def T, unknown error) (T, error) {
	p := T(strings.ToLower(strings.TrimSpace(s)))
	if p == "" {
		return def, nil
	}
	if slices.Contains(all, p) {
		return p, nil
	}
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = string(p)
	}
	return "", fmt.Errorf("%w %q (want one of %s)", unknown, s, strings.Join(names, ", "))
}

// Validate checks the profile name and the waivers, without reading any image: ErrUnknownProfile,
// ErrUnknownRule or ErrInvalidWaiver, wrapped with the offending value.
func (o Options) Validate() error {
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := waivers(o.Waivers); err != nil {
		return fmt.Errorf("waivers: %w", err)
	}
	return nil
}

// waivers checks opt.Waivers against the rule IDs and returns the reasons by rule.
func waivers(ws []Waiver) (map[string]string, error) {
	known := map[string]bool{}
	for _, r := range Rules() {
		known[r.ID] = true
	}
	return WaiverReasons(ws, func(id string) bool { return known[id] })
}

// WaiverReasons checks waivers against the rules a stage knows (known) and returns the reasons by
// rule: ErrUnknownRule for a rule that does not exist (a typo would otherwise leave the failure in
// place, silently), ErrInvalidWaiver for a waiver without a reason or a rule waived twice. ingot lint
// and ingot host audit take waivers this one way.
func WaiverReasons(ws []Waiver, known func(rule string) bool) (map[string]string, error) {
	out := make(map[string]string, len(ws))
	for i, w := range ws {
		if !known(w.Rule) {
			return nil, fmt.Errorf("waiver %d: %w %q", i+1, ErrUnknownRule, w.Rule)
		}
		if strings.TrimSpace(w.Reason) == "" {
			return nil, fmt.Errorf("waiver %d (%s): %w: a reason is required", i+1, w.Rule, ErrInvalidWaiver)
		}
		if _, dup := out[w.Rule]; dup {
			return nil, fmt.Errorf("waiver %d: %w: %s is waived twice", i+1, ErrInvalidWaiver, w.Rule)
		}
		out[w.Rule] = strings.TrimSpace(w.Reason)
	}
	return out, nil
}

// Lint evaluates every rule of the profile and returns one finding per rule, in rule order: Kind rule,
// Status failed, passed, waived or skipped, the profile's severity, the CIS mapping, the offending
// files as Locations, the rule's title, and a Description with the remediation. Detail["found"]
// summarises a failure. Each layer is read once, through the layer walker, and only the account
// files' contents are kept; the secrets stage, when given, runs alongside. Visitor runs the same
// reading as one visitor of a walk shared with other stages.
func Lint(ctx context.Context, img v1.Image, opt Options) ([]evidence.Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	li, err := layers.Open(img)
	if err != nil {
		return nil, err
	}
	v, err := NewVisitor(img, li, opt)
	if err != nil {
		return nil, err
	}
	var secrets []evidence.Finding
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := layers.Walk(gctx, li, layers.Options{Limits: opt.Limits}, v); err != nil {
			return fmt.Errorf("reading image file system: %w", err)
		}
		return nil
	})
	if v.runSecrets {
		g.Go(func() (err error) {
			secrets, err = v.secrets(gctx, img)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return v.evaluate(secrets)
}

// Visitor is a Lint as a visitor of a layer walk (see pkg/layers): after the walk, Findings returns
// what Lint would have.
type Visitor struct {
	img        v1.Image
	opt        Options
	profile    Profile
	waived     map[string]string
	rules      []Rule
	runSecrets bool
	t          *target
	done       bool
}

// NewVisitor prepares a Lint of img, whose layers li names.
func NewVisitor(img v1.Image, li *layers.Image, opt Options) (*Visitor, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	v := &Visitor{img: img, opt: opt}
	v.profile, _ = ParseProfile(string(opt.Profile))
	v.waived, _ = waivers(opt.Waivers)
	for _, r := range Rules() {
		if r.In(v.profile) {
			v.rules = append(v.rules, r)
		}
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading image manifest: %w", err)
	}
	v.t = &target{config: li.Config, manifest: manifest}
	v.t.fs = &imageFS{diffIDs: make([]string, len(li.DiffIDs))}
	for i, d := range li.DiffIDs {
		v.t.fs.diffIDs[i] = d.String()
	}
	v.runSecrets = opt.Secrets != nil && ruleIn(v.rules, RuleSecrets)
	return v, nil
}

// Want keeps the account files' contents; everything's metadata comes from the merged view.
func (v *Visitor) Want(e *layers.Entry) layers.Interest {
	if e.Whiteout || e.Opaque || e.Header.Typeflag != tar.TypeReg || !keepContent(e.Path, e.Header.Size) {
		return layers.Interest{}
	}
	return layers.Interest{Visit: true, Read: true, Max: maxKept, Keep: true}
}

// Visit does nothing: the walker keeps what Want asked for.
func (v *Visitor) Visit(context.Context, *layers.Entry) error { return nil }

// Done takes the merged file system.
func (v *Visitor) Done(_ context.Context, fs *layers.FS) error {
	v.t.fs.from(fs)
	v.t.scanPaths()
	v.done = true
	return nil
}

// Findings evaluates the rules once the walk is done, running the secrets stage (Options.Secrets)
// for the secrets rule.
func (v *Visitor) Findings(ctx context.Context) ([]evidence.Finding, error) {
	if !v.done {
		return nil, errors.New("harden: the walk did not finish")
	}
	var secrets []evidence.Finding
	if v.runSecrets {
		var err error
		if secrets, err = v.secrets(ctx, v.img); err != nil {
			return nil, err
		}
	}
	return v.evaluate(secrets)
}

func (v *Visitor) secrets(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
	fs, err := v.opt.Secrets(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("secrets stage: %w", err)
	}
	return fs, nil
}

// evaluate runs every rule of the profile.
func (v *Visitor) evaluate(secrets []evidence.Finding) ([]evidence.Finding, error) {
	t := v.t
	out := make([]evidence.Finding, 0, len(v.rules))
	for _, r := range v.rules {
		var res Result
		switch r.ID {
		case RuleRootUser:
			res = checkRootUser(t)
		case RuleShell:
			res = checkShell(t)
		case RulePackageManager:
			res = checkPackageManager(t)
		case RuleSetuid:
			res = t.checkScanned(RuleSetuid, "setuid or setgid file(s)")
		case RuleWorldWritable:
			res = t.checkScanned(RuleWorldWritable, "world-writable path(s)")
		case RuleEmptyPassword:
			res = checkEmptyPassword(t)
		case RuleDuplicateID:
			res = checkDuplicateID(t)
		case RuleLeftovers:
			res = t.checkScanned(RuleLeftovers, "leftover(s)")
		case RuleAddURL:
			res = checkAddURL(t)
		case RuleBaseDigest:
			res = checkBaseDigest(t)
		case RuleSecrets:
			if !v.runSecrets {
				res = Skipped("the secrets stage was not run")
			} else {
				res = checkSecrets(secrets)
			}
		default:
			return nil, fmt.Errorf("harden: rule %s has no check", r.ID)
		}
		out = append(out, finding(r, v.profile, res, v.waived))
	}
	return out, nil
}

func ruleIn(rules []Rule, id string) bool {
	for _, r := range rules {
		if r.ID == id {
			return true
		}
	}
	return false
}

// finding renders a check's result as evidence.
func finding(r Rule, p Profile, res Result, waived map[string]string) evidence.Finding {
	f := evidence.Finding{
		Kind:        evidence.KindRule,
		ID:          r.ID,
		Severity:    r.severity(p),
		Status:      res.Status,
		Reason:      res.Reason,
		Title:       r.Title,
		Description: r.Description + " Remediation: " + r.Remediation,
		CIS:         r.CIS,
		Locations:   res.Locations,
	}
	if res.Found != "" {
		f.Detail = map[string]string{"found": res.Found}
	}
	if reason, ok := waived[r.ID]; ok && f.Status == evidence.StatusFailed {
		f.Status, f.Reason = evidence.StatusWaived, reason
	}
	return f
}
