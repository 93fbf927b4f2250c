package policy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// Requirements a failure can name.
const (
	ReqReference   = "reference"   // the image reference does not parse, or its tag and digest disagree
	ReqRegistry    = "registry"    // the registry is not on the allow-list
	ReqUnmatched   = "unmatched"   // no rule matches the image
	ReqSignature   = "signature"   // no signature by the rule's keys
	ReqAttestation = "attestation" // a required attestation is missing, unverified or fails its condition
	ReqCatalog     = "catalog"     // not a current version in the catalog
	ReqScan        = "scan"        // the catalog's last scan is too old
	ReqUnavailable = "unavailable" // a registry or the catalog could not answer: nothing is known
)

// Failure is one requirement an image does not meet.
type Failure struct {
	// Rule is the rule's name; empty for the policy's own requirements (registry, unmatched).
	Rule        string `json:"rule,omitempty"`
	Requirement string `json:"requirement"`
	Message     string `json:"message"`
}

func (f Failure) String() string {
	if f.Rule != "" {
		return fmt.Sprintf("%s (%s): %s", f.Requirement, f.Rule, f.Message)
	}
	return f.Requirement + ": " + f.Message
}

// Decision is what one policy decided about one image.
type Decision struct {
	Policy string `json:"policy"`
	Mode   Mode   `json:"mode"`
	// Rules are the rules that matched.
	Rules []string `json:"rules,omitempty"`
	// Unmatched is set when no rule matched.
	Unmatched bool      `json:"unmatched,omitempty"`
	Failures  []Failure `json:"failures,omitempty"`
}

// Passed reports whether the image met every requirement of the policy.
func (d Decision) Passed() bool { return len(d.Failures) == 0 }

// Result is what every policy in scope decided about one image.
type Result struct {
	Image Image `json:"image"`
	// Digest is the digest the image was checked at (resolved from its tag when it has no digest).
	Digest    string     `json:"digest,omitempty"`
	Decisions []Decision `json:"decisions"`
}

// Registry is what evaluation asks of registries. Resolve is asked on every evaluation of a tag alone
// (a tag can move, and the runtime pulls what it names later); Confirm and Check may be answered from
// memory.
type Registry interface {
	// Resolve reads the digest a tag points to now.
	Resolve(ctx context.Context, t name.Tag) (string, error)
	// Confirm checks a reference that gives both a tag and a digest: it returns the digest the tag
	// points to, or digest when the tag is known to have pointed to it lately. The runtime runs the
	// digest, which is what is verified, so a tag that moved away from it since changes nothing that
	// runs; a tag that never pointed to it is refused.
	Confirm(ctx context.Context, t name.Tag, digest string) (string, error)
	// Check verifies what a rule requires of the image at d in the registry: a Verdict, or an error
	// when the registry did not answer (nothing is known: the caller fails closed).
	Check(ctx context.Context, d name.Digest, r RuleRef) (Verdict, error)
}

// Verdict is what a registry check found: the failures (none when the image passes).
type Verdict struct {
	Failures []Failure `json:"failures,omitempty"`
}

// Catalog is what evaluation asks of the catalog.
type Catalog interface {
	// Record returns what the catalog says about the version of image that has the digest (its own
	// or a platform image's); Found is false when there is none. An error means the catalog did not
	// answer.
	Record(ctx context.Context, image, digest string) (Record, error)
}

// Record is the catalog's word on one version.
type Record struct {
	Found     bool   `json:"found"`
	Image     string `json:"image,omitempty"`
	Tag       string `json:"tag,omitempty"`
	VersionID int64  `json:"versionID,omitempty"`
	// Digest is the version's digest (an index's, for several platforms).
	Digest      string               `json:"digest,omitempty"`
	Status      catalog.StatusChange `json:"status"`
	DeprecateAt time.Time            `json:"deprecateAt,omitzero"`
	Platforms   []RecordPlatform     `json:"platforms,omitempty"`
}

// RecordPlatform is one platform image of a catalog version.
type RecordPlatform struct {
	Digest string `json:"digest"`
	Name   string `json:"name"`
	// LastScan is when its vulnerabilities were last scanned; zero when never.
	LastScan time.Time `json:"lastScan,omitzero"`
}

// Digests are the version's digest and its platform images'.
func (r Record) Digests() []string {
	out := []string{r.Digest}
	for _, p := range r.Platforms {
		if p.Digest != r.Digest {
			out = append(out, p.Digest)
		}
	}
	return out
}

// RuleRef names a compiled rule to a Registry: its ID is stable for the life of the policy.
type RuleRef struct{ r *compiledRule }

// ID is "policy/index".
func (r RuleRef) ID() string { return r.r.id }

// Name is the rule's name.
func (r RuleRef) Name() string { return r.r.rule.Name }

// Evaluator decides about images under a set of policies. It is what the webhook, ingot policy test
// and ingot admission review all run.
type Evaluator struct {
	policies []*Policy
	registry Registry
	catalog  Catalog
	now      func() time.Time
	parsed   memo
}

// memo keeps parsed references: a webhook sees the same few hundred references all day, and parsing
// (the grammar's regular expressions, ggcr's name parsing) is a tenth of a warm review. It is bounded:
// past memoMax entries it starts over, so references a client makes up cannot grow it.
type memo struct {
	mu      sync.Mutex
	images  map[string]parsedImage
	digests map[string]name.Digest
}

type parsedImage struct {
	img Image
	err error
}

const memoMax = 10_000

func (m *memo) image(s string) (Image, error) {
	m.mu.Lock()
	p, ok := m.images[s]
	m.mu.Unlock()
	if ok {
		return p.img, p.err
	}
	img, err := ParseImage(s)
	m.mu.Lock()
	if m.images == nil || len(m.images) >= memoMax {
		m.images = map[string]parsedImage{}
	}
	m.images[s] = parsedImage{img, err}
	m.mu.Unlock()
	return img, err
}

func (m *memo) digest(img Image, d string) (name.Digest, error) {
	key := img.Name() + "@" + d
	m.mu.Lock()
	ref, ok := m.digests[key]
	m.mu.Unlock()
	if ok {
		return ref, nil
	}
	ref, err := img.DigestRef(d)
	if err != nil {
		return ref, err
	}
	m.mu.Lock()
	if m.digests == nil || len(m.digests) >= memoMax {
		m.digests = map[string]name.Digest{}
	}
	m.digests[key] = ref
	m.mu.Unlock()
	return ref, nil
}

// ErrNeedsCatalog: a rule requires the catalog and none was given.
var ErrNeedsCatalog = errors.New("policy: a rule requires the catalog, and none is configured")

// NewEvaluator checks that the policies can be evaluated with what is given: names unique, and a
// catalog when a rule requires one. now is the clock (nil: time.Now).
func NewEvaluator(policies []*Policy, reg Registry, cat Catalog, now func() time.Time) (*Evaluator, error) {
	seen := map[string]bool{}
	for _, p := range policies {
		if p.compiled == nil {
			if err := p.Validate(); err != nil {
				return nil, err
			}
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: two policies are named %q", ErrInvalid, p.Name)
		}
		seen[p.Name] = true
		if cat == nil && p.NeedsCatalog() {
			return nil, fmt.Errorf("%w: policy %s", ErrNeedsCatalog, p.Name)
		}
	}
	if reg == nil {
		return nil, errors.New("policy: no registry client")
	}
	if now == nil {
		now = time.Now
	}
	return &Evaluator{policies: policies, registry: reg, catalog: cat, now: now}, nil
}

// NeedsCatalog reports whether a rule requires the catalog.
func (p *Policy) NeedsCatalog() bool {
	return slices.ContainsFunc(p.Rules, func(r Rule) bool { return r.Catalog != nil })
}

// InScope reports whether the policy governs a namespace.
func (p *Policy) InScope(namespace string) bool {
	c := p.compiled
	if len(c.include) > 0 && !slices.ContainsFunc(c.include, func(g Glob) bool { return g.Match(namespace) }) {
		return false
	}
	return !slices.ContainsFunc(c.exclude, func(g Glob) bool { return g.Match(namespace) })
}

func (p *Policy) registryAllowed(img Image) bool {
	return len(p.compiled.registries) == 0 ||
		slices.ContainsFunc(p.compiled.registries, func(g Glob) bool { return g.Match(img.Registry) })
}

func (p *Policy) matching(img Image) []*compiledRule {
	var out []*compiledRule
	for _, r := range p.compiled.rules {
		if slices.ContainsFunc(r.patterns, func(ip ImagePattern) bool { return ip.Match(img) }) {
			out = append(out, r)
		}
	}
	return out
}

// Governed reports whether any policy governs the namespace: outside every policy's scope, images
// are not looked at.
func (e *Evaluator) Governed(namespace string) bool {
	return slices.ContainsFunc(e.policies, func(p *Policy) bool { return p.InScope(namespace) })
}

// Evaluate decides about one image in one namespace under every policy that governs the namespace.
func (e *Evaluator) Evaluate(ctx context.Context, namespace, image string) Result {
	res := Result{Image: Image{Written: image}, Decisions: []Decision{}}
	var scope []*Policy
	for _, p := range e.policies {
		if p.InScope(namespace) {
			scope = append(scope, p)
		}
	}
	if len(scope) == 0 {
		return res
	}
	img, err := e.parsed.image(image)
	if err != nil {
		for _, p := range scope {
			res.Decisions = append(res.Decisions, Decision{Policy: p.Name, Mode: p.Mode,
				Failures: []Failure{{Requirement: ReqReference, Message: err.Error()}}})
		}
		return res
	}
	res.Image = img
	digest := sync.OnceValues(func() (string, *Failure) { return e.digest(ctx, img) })
	for _, p := range scope {
		d := Decision{Policy: p.Name, Mode: p.Mode}
		res.Decisions = append(res.Decisions, e.decide(ctx, p, img, digest, &d, &res))
	}
	return res
}

func (e *Evaluator) decide(ctx context.Context, p *Policy, img Image, digest func() (string, *Failure), d *Decision, res *Result) Decision {
	if !p.registryAllowed(img) {
		d.Failures = append(d.Failures, Failure{Requirement: ReqRegistry,
			Message: fmt.Sprintf("%s is from %s, which is not an allowed registry (%s)", img.Written, img.Registry, strings.Join(p.Registries, ", "))})
		return *d
	}
	rules := p.matching(img)
	if len(rules) == 0 {
		d.Unmatched = true
		if p.Unmatched == Deny {
			d.Failures = append(d.Failures, Failure{Requirement: ReqUnmatched,
				Message: fmt.Sprintf("no rule of policy %s matches %s (unmatched images are denied)", p.Name, img)})
		}
		return *d
	}
	for _, r := range rules {
		d.Rules = append(d.Rules, r.rule.Name)
	}
	dg, f := digest()
	if f != nil {
		d.Failures = append(d.Failures, *f)
		return *d
	}
	res.Digest = dg
	ref, err := e.parsed.digest(img, dg)
	if err != nil {
		d.Failures = append(d.Failures, Failure{Requirement: ReqReference, Message: err.Error()})
		return *d
	}
	for _, r := range rules {
		if r.sigKeys != nil || len(r.atts) > 0 {
			v, err := e.registry.Check(ctx, ref, RuleRef{r})
			if err != nil {
				d.Failures = append(d.Failures, Failure{Rule: r.rule.Name, Requirement: ReqUnavailable,
					Message: fmt.Sprintf("the registry could not be checked, so %s is denied: %v", img.Written, err)})
				continue
			}
			d.Failures = append(d.Failures, v.Failures...)
		}
		if r.rule.Catalog != nil {
			d.Failures = append(d.Failures, e.checkCatalog(ctx, r, img, dg)...)
		}
	}
	return *d
}

// digest is the digest the image is checked at: the one written, or the one its tag points to now.
// With both, the tag must point to that digest: a reference whose tag and digest disagree names two
// images, and which one runs depends on the runtime.
func (e *Evaluator) digest(ctx context.Context, img Image) (string, *Failure) {
	t, hasTag, err := img.TagRef()
	if err != nil {
		return "", &Failure{Requirement: ReqReference, Message: err.Error()}
	}
	if !hasTag {
		return img.Digest, nil
	}
	var got string
	if img.Digest != "" {
		got, err = e.registry.Confirm(ctx, t, img.Digest)
	} else {
		got, err = e.registry.Resolve(ctx, t)
	}
	if err != nil {
		return "", &Failure{Requirement: ReqUnavailable,
			Message: fmt.Sprintf("resolving the tag %s failed, so %s is denied: %v", t, img.Written, err)}
	}
	if img.Digest != "" && got != img.Digest {
		return "", &Failure{Requirement: ReqReference,
			Message: fmt.Sprintf("%s: the tag %s points to %s, not to the digest the reference gives", img.Written, img.Tag, got)}
	}
	return got, nil
}

// Pin returns the image reference with the digest its tag points to now appended, for the mutating
// webhook: only for an image with a tag and no digest that a rule of a policy governing the namespace
// matches (the registries policies name are the ones to ask). ok is false when there is nothing to pin.
func (e *Evaluator) Pin(ctx context.Context, namespace, image string) (pinned string, ok bool, err error) {
	img, err := e.parsed.image(image)
	if err != nil || img.Digest != "" {
		return "", false, nil //nolint:nilerr // a bad reference is denied by validation, not here
	}
	matched := false
	for _, p := range e.policies {
		if p.InScope(namespace) && p.registryAllowed(img) && len(p.matching(img)) > 0 {
			matched = true
			break
		}
	}
	if !matched {
		return "", false, nil
	}
	t, _, err := img.TagRef()
	if err != nil {
		return "", false, nil //nolint:nilerr // as above
	}
	d, err := e.registry.Resolve(ctx, t)
	if err != nil {
		return "", false, err
	}
	return image + "@" + d, true, nil
}

// catalogImage is the catalog's name for the rule's images.
func catalogImage(r *compiledRule, img Image) string {
	if r.rule.Catalog.Image != "" {
		return r.rule.Catalog.Image
	}
	return path.Base(img.Repository)
}

func (e *Evaluator) checkCatalog(ctx context.Context, r *compiledRule, img Image, digest string) []Failure {
	name := catalogImage(r, img)
	rec, err := e.catalog.Record(ctx, name, digest)
	if err != nil {
		return []Failure{{Rule: r.rule.Name, Requirement: ReqUnavailable,
			Message: fmt.Sprintf("the catalog could not be read, so %s is denied: %v", img.Written, err)}}
	}
	return CheckRecord(r.rule.Name, r.rule.Catalog, rec, name, digest, e.now())
}

// CheckRecord applies a catalog requirement to the catalog's record of a version at time now.
func CheckRecord(rule string, req *CatalogRequirement, rec Record, image, digest string, now time.Time) []Failure {
	fail := func(reqName, format string, args ...any) []Failure {
		return []Failure{{Rule: rule, Requirement: reqName, Message: fmt.Sprintf(format, args...)}}
	}
	if !rec.Found {
		return fail(ReqCatalog, "%s is not a version of %s in the catalog", digest, image)
	}
	ver := rec.Image + "@" + rec.Tag
	st := rec.Status
	why := func() string {
		s := fmt.Sprintf(" since %s", st.At.UTC().Format(time.RFC3339))
		if st.Actor != "" {
			s += " by " + st.Actor
		}
		if st.Reason != "" {
			s += ": " + st.Reason
		}
		return s
	}
	switch st.Status {
	case catalog.StatusRevoked:
		return fail(ReqCatalog, "%s (%s) is revoked%s", ver, digest, why())
	case catalog.StatusEOL:
		return fail(ReqCatalog, "%s (%s) is at its end of life%s", ver, digest, why())
	case catalog.StatusDeprecated:
		if g := req.DeprecatedGrace; g != nil && now.Sub(st.At) > g.Duration {
			return fail(ReqCatalog, "%s (%s) is deprecated%s, past the grace period of %s", ver, digest, why(), g.Duration)
		}
	case catalog.StatusActive:
		// Superseded and due for deprecation, which the catalog records when its clock next runs.
		if g := req.DeprecatedGrace; g != nil && !rec.DeprecateAt.IsZero() && now.Sub(rec.DeprecateAt) > g.Duration {
			return fail(ReqCatalog, "%s (%s) is superseded and deprecated since %s, past the grace period of %s", ver, digest,
				rec.DeprecateAt.UTC().Format(time.RFC3339), g.Duration)
		}
	default:
		return fail(ReqCatalog, "%s (%s) has the unknown status %q", ver, digest, st.Status)
	}
	if req.MaxScanAge != nil {
		var out []Failure
		for _, p := range rec.Platforms {
			if digest != rec.Digest && p.Digest != digest {
				continue // the pod names one platform image: only its scan matters
			}
			what := p.Name + " " + p.Digest
			switch age := now.Sub(p.LastScan); {
			case p.LastScan.IsZero():
				out = append(out, fail(ReqScan, "%s of %s was never scanned", what, ver)...)
			case age > req.MaxScanAge.Duration:
				out = append(out, fail(ReqScan, "%s of %s was last scanned %s ago (%s), more than %s", what, ver,
					age.Round(time.Minute), p.LastScan.UTC().Format(time.RFC3339), req.MaxScanAge.Duration)...)
			}
		}
		return out
	}
	return nil
}
