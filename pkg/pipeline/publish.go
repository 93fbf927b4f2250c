package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/spec"
)

var (
	// ErrSignNeedsPush means a signer was given without a registry: signatures and attestations live
	// in a registry, beside the image.
	ErrSignNeedsPush = fault.New(fault.Invalid, "pipeline: signing needs a registry to push to")
	// ErrNotVerified means a signature or attestation just written does not verify with the
	// signer's key: the version stays pending.
	ErrNotVerified = fault.New(fault.Integrity, "pipeline: what was signed does not verify")
)

// DefaultReason is why a version was built when PublishOptions say nothing.
const DefaultReason = "ingot build"

// PublishOptions configure Publish and CompletePending.
type PublishOptions struct {
	Options
	// Catalog records every version; required.
	Catalog catalog.Catalog
	// Push is the registry repository the version goes to, REPOSITORY or REPOSITORY:TAG (the tag is
	// then one more moving tag); empty keeps the version in the data directory's layout only.
	Push string
	// Registry says how pushes reach the registry (transport, credentials, plain HTTP).
	Registry publish.PushOptions
	// Signer signs the pushed version and attests each platform image's evidence; nil signs
	// nothing. It needs Push.
	Signer sign.Signer
	// Sign are the formats to write and how signing, attesting and verifying reach the registry.
	Sign sign.Options
	// Reason says why the version was built (DefaultReason when empty); Actor who published it.
	Reason, Actor string
	// Grace is how long older active versions of the release line stay active once this one is
	// published (see catalog.Publication).
	Grace time.Duration
	// Log receives a line for each thing done (notes, platforms, stored, pushed, signed, attested,
	// recorded); nil is quiet.
	Log io.Writer
	// Settle is how old a pending version must be before CompletePending touches it. The lock that
	// keeps a completer away from a version being published is this machine's; on a catalog that
	// several machines share, another one may still be publishing a younger version. Zero completes
	// (or abandons) every pending version at once.
	Settle time.Duration
}

func (o PublishOptions) logf(format string, args ...any) {
	if o.Log != nil {
		_, _ = fmt.Fprintf(o.Log, format+"\n", args...) // progress lines: a failed write loses nothing
	}
}

func (o PublishOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Publish builds the spec and records the result as a catalog version, the one way ingot publishes
// an image: Build (from the cache when nothing changed; an image that fails its evidence gate is
// neither stored nor recorded), then Catalog.Begin, which records it pending (or, for a digest
// already recorded, returns that version: a rebuild that yields the same digest publishes nothing).
// The version is then stored in the layout under its immutable tag (<line>-r<serial>), pushed under
// the same tag when opt.Push is given, signed and attested from its evidence in memory when
// opt.Signer is given, and what was signed is verified with the signer's key; then the moving tags
// (the release line and "latest", in the layout and the registry) are pointed at it when it is the
// newest active version, and Catalog.Publish marks it published with its locations and artifacts.
//
// A failure after Begin leaves the version pending, never published without its artifacts; running
// Publish again (or CompletePending) completes it, writing nothing twice. The version returned is
// the catalog's record, with its evidence.
func Publish(ctx context.Context, s *spec.Spec, l *lock.Lock, opt PublishOptions) (*catalog.Version, error) {
	if opt.Catalog == nil {
		return nil, errors.New("pipeline: Publish needs a catalog")
	}
	var repo *name.Tag
	if opt.Push != "" {
		r, err := publish.PushReference(opt.Push, s.Tag(), opt.Registry.Insecure)
		if err != nil {
			return nil, fmt.Errorf("push reference %q: %w", opt.Push, err)
		}
		repo = &r
	}
	if opt.Signer != nil && repo == nil {
		return nil, ErrSignNeedsPush
	}
	res, err := Build(ctx, s, l, opt.Options)
	if err != nil {
		return nil, err
	}
	if err := opt.logBuild(res); err != nil {
		return nil, err
	}
	rec, err := newVersion(s, l, res, repo, opt)
	if err != nil {
		return nil, err
	}
	v, existed, err := opt.Catalog.Begin(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", s.Name, err)
	}
	unlock, err := opt.Store().LockVersion(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if existed {
		// Another process may have completed it while this one waited for the lock.
		if v, _, err = opt.Catalog.Begin(ctx, rec); err != nil {
			return nil, fmt.Errorf("recording %s: %w", s.Name, err)
		}
	}
	var extraTags []string
	if repo != nil && repo.TagStr() != v.Line && repo.TagStr() != latestTag {
		extraTags = append(extraTags, repo.TagStr())
	}
	if existed && v.State == catalog.StatePublished && !opt.adds(ctx, v, repo) {
		// Build pointed the layout's release-line tag at this digest; put the moving tags back on
		// the newest active versions.
		if err := moveLayoutTags(ctx, opt, v); err != nil {
			return nil, err
		}
		opt.logf("%s is %s (%s): unchanged, nothing published", v.Digest, v.Ref(), v.State)
		return v, nil
	}
	w := work{v: v, art: res.Artifact, inLayout: true, extraTags: extraTags}
	if repo != nil {
		r := repo.Context()
		w.repo = &r
	}
	return w.complete(ctx, opt)
}

// latestTag is the moving tag of an image's newest active version.
const latestTag = "latest"

// logBuild reports what Build did: its notes, and a line per platform image with its digest and
// evidence summary.
func (o PublishOptions) logBuild(res *Result) error {
	if o.Log == nil {
		return nil
	}
	for _, n := range res.Notes {
		o.logf("note: %s", n)
	}
	platforms, err := res.Artifact.Platforms()
	if err != nil {
		return err
	}
	for i, p := range platforms {
		s := res.Evidence[i].Summary()
		if res.Cached {
			s = "cached (" + s + ")"
		}
		o.logf("%s %s: %s", p.Platform, p.Digest, s)
	}
	return nil
}

// newVersion is the record Begin takes: the build's digests, platforms and evidence, the spec and
// lock it came from, and where it will be pushed (known before the push, so that a run that dies
// half way leaves a pending version saying where its image may already be).
func newVersion(s *spec.Spec, l *lock.Lock, res *Result, repo *name.Tag, opt PublishOptions) (*catalog.Version, error) {
	lb, err := l.Marshal()
	if err != nil {
		return nil, err
	}
	v := &catalog.Version{
		Image: s.Name, Line: s.Tag(), Kind: catalog.KindContainer, Digest: res.Digest.String(),
		Spec: s.Canonical(), Lock: lb, Reason: opt.Reason, Built: opt.now().UTC(),
	}
	if v.Reason == "" {
		v.Reason = DefaultReason
	}
	platforms, err := res.Artifact.Platforms()
	if err != nil {
		return nil, err
	}
	if len(platforms) != len(res.Evidence) {
		return nil, fmt.Errorf("%s: %d platform images but evidence for %d", s.Name, len(platforms), len(res.Evidence))
	}
	for i, p := range platforms {
		v.Platforms = append(v.Platforms, catalog.Platform{
			OS: p.Platform.OS, Arch: p.Platform.Architecture, Variant: p.Platform.Variant,
			Digest: p.Digest.String(), Evidence: res.Evidence[i],
		})
	}
	if repo != nil {
		v.Locations = []catalog.Location{{Kind: catalog.LocationRegistry, Ref: repo.Context().Digest(v.Digest).String()}}
	}
	return v, nil
}

// adds reports whether publishing v again with these options would add to its record or repair it:
// a registry it is not in yet (or no longer: a registry that lost it gets it again), or signatures
// by a key that has signed nothing for it.
func (o PublishOptions) adds(ctx context.Context, v *catalog.Version, repo *name.Tag) bool {
	if repo == nil {
		return false
	}
	at := repo.Context().Digest(v.Digest)
	if !slices.Contains(v.Locations, catalog.Location{Kind: catalog.LocationRegistry, Ref: at.String()}) {
		return true
	}
	if _, err := remote.Head(at, o.remoteOptions(ctx)...); err != nil {
		return true // gone, or the registry failed: publishing again says which
	}
	if o.Signer == nil {
		return false
	}
	hint, err := sign.KeyHint(o.Signer.PublicKey())
	if err != nil {
		return true
	}
	return !slices.ContainsFunc(v.Artifacts, func(a catalog.Artifact) bool {
		return a.KeyID == hint && a.Kind == catalog.ArtifactSignature && a.Subject == v.Digest
	})
}

// work is a version being published: its record, its image, and where it goes.
type work struct {
	v   *catalog.Version
	art publish.Artifact
	// inLayout is set when the image is in this data directory's layout store (under some tag).
	inLayout bool
	// repo is the registry repository it is pushed to; nil keeps it local.
	repo *name.Repository
	// extraTags are moving tags the user asked for besides the release line and latest.
	extraTags []string
}

// complete does everything after Begin, each step idempotent, and marks the version published.
func (w work) complete(ctx context.Context, opt PublishOptions) (*catalog.Version, error) {
	v, layouts := w.v, opt.Store().Layouts()
	tag := v.Tag()
	d, err := v1.NewHash(v.Digest)
	if err != nil {
		return nil, err
	}
	var pub catalog.Publication
	if w.inLayout {
		// The image is in the layout already (Build stored it, or it was read from there): only
		// index.json gains the version's tag.
		if err := layouts.Tag(v.Image, d, tag); err != nil {
			return nil, err
		}
		pub.Locations = append(pub.Locations, catalog.Location{Kind: catalog.LocationLayout, Ref: layouts.Dir(v.Image) + ":" + tag})
		opt.logf("%s:%s stored in %s", v.Image, tag, layouts.Dir(v.Image))
	}
	var pushed name.Digest
	if w.repo != nil {
		if pushed, err = publish.Push(ctx, w.repo.Tag(tag).String(), w.art, opt.Registry); err != nil {
			return nil, err
		}
		pub.Locations = append(pub.Locations, catalog.Location{Kind: catalog.LocationRegistry, Ref: pushed.String()})
		opt.logf("pushed %s", pushed)
		if opt.Signer != nil {
			if pub.Artifacts, err = signAndAttest(ctx, pushed, w.art, v, opt); err != nil {
				return nil, err
			}
		}
	}
	if err := w.moveTags(ctx, opt, d); err != nil {
		return nil, err
	}
	pub.At, pub.Grace, pub.Actor = opt.now().UTC(), opt.Grace, opt.Actor
	if _, err := opt.Catalog.Publish(ctx, v.ID, pub); err != nil {
		return nil, fmt.Errorf("recording %s as published: %w", v.Ref(), err)
	}
	got, err := opt.Catalog.Get(ctx, catalog.Ref{Image: v.Image, Version: tag})
	if err != nil {
		return nil, err
	}
	opt.logf("recorded %s (%s): %d location(s), %d signature(s) and attestation(s)", got.Ref(), got.Digest, len(got.Locations), len(got.Artifacts))
	return got, nil
}

// signAndAttest signs the pushed version (and each platform manifest of an index), attests each
// platform image's evidence, and verifies all of it with the signer's key. It returns the artifacts,
// each as the catalog records it.
func signAndAttest(ctx context.Context, pushed name.Digest, art publish.Artifact, v *catalog.Version, opt PublishOptions) ([]catalog.Artifact, error) {
	target, err := targetOf(pushed, art)
	if err != nil {
		return nil, err
	}
	w, err := sign.SignTarget(ctx, target, opt.Signer, opt.Sign)
	if err != nil {
		return nil, err
	}
	opt.logf("signed %s: %d new, %d already there", pushed, w.Signatures, w.Present)
	written := w.Artifacts
	for _, img := range target.Images() {
		set, err := evidenceOf(v, img.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		preds, err := attest.Predicates(set)
		if err != nil {
			return nil, fmt.Errorf("attesting %s: %w", img.Ref, err)
		}
		aw, err := sign.AttestTarget(ctx, img, opt.Signer, preds, opt.Sign)
		if err != nil {
			return nil, err
		}
		opt.logf("attested %s: %d new, %d already there", img.Ref, aw.Attestations, aw.Present)
		written = append(written, aw.Artifacts...)
	}
	if err := verifyWritten(ctx, pushed, written, opt); err != nil {
		return nil, err
	}
	out := make([]catalog.Artifact, len(written))
	for i, a := range written {
		kind := catalog.ArtifactSignature
		if a.Kind == sign.KindAttestation {
			kind = catalog.ArtifactAttestation
		}
		out[i] = catalog.Artifact{Kind: kind, Format: a.Format.String(), Subject: a.Subject.String(), KeyID: a.KeyHint, PredicateType: a.PredicateType, Ref: a.Ref}
	}
	return out, nil
}

// targetOf describes a pushed artifact for signing, from the artifact itself: nothing is fetched.
func targetOf(pushed name.Digest, art publish.Artifact) (sign.Target, error) {
	desc, err := art.Descriptor()
	if err != nil {
		return sign.Target{}, err
	}
	t := sign.Target{Ref: pushed, Descriptor: desc}
	if art.Index != nil {
		if t.Platforms, err = art.Platforms(); err != nil {
			return sign.Target{}, err
		}
	}
	return t, nil
}

// evidenceOf is the evidence of a version's platform image.
func evidenceOf(v *catalog.Version, d v1.Hash) (*evidence.Set, error) {
	for _, p := range v.Platforms {
		if p.Digest == d.String() {
			if p.Evidence == nil {
				break
			}
			return p.Evidence, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no evidence recorded for its platform image %s", attest.ErrIncomplete, v.Ref(), d)
}

// verifyWritten verifies the pushed version's signatures and attestations with the signer's key, and
// checks that every one just written (or found already there) is among those that verify.
func verifyWritten(ctx context.Context, pushed name.Digest, written []sign.Artifact, opt PublishOptions) error {
	verifier, err := sign.NewVerifier(opt.Signer)
	if err != nil {
		return err
	}
	type key struct {
		kind, format, subject, ref, predicateType string
	}
	verified := map[key]bool{}
	signed, err := sign.VerifyEach(ctx, pushed, verifier, opt.Sign)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotVerified, err)
	}
	for _, m := range signed {
		for _, s := range m.Signatures {
			verified[key{sign.KindSignature, s.Format.String(), m.Digest.DigestStr(), s.Source, ""}] = true
		}
	}
	attested, err := sign.VerifyEachAttestations(ctx, pushed, verifier, "", opt.Sign)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotVerified, err)
	}
	for _, m := range attested {
		for _, a := range m.Attestations {
			verified[key{sign.KindAttestation, a.Format.String(), m.Digest.DigestStr(), a.Source, a.Statement.PredicateType}] = true
		}
	}
	for _, a := range written {
		if !verified[key{a.Kind, a.Format.String(), a.Subject.String(), a.Ref, a.PredicateType}] {
			what := a.Kind
			if a.PredicateType != "" {
				what += " " + a.PredicateType
			}
			return fmt.Errorf("%w: the %s %s of %s (%s)", ErrNotVerified, a.Format, what, a.Subject, a.Ref)
		}
	}
	opt.logf("verified %s: %d signature(s) and attestation(s)", pushed, len(written))
	return nil
}

// moveTags points the moving tags at the version when it is the newest active one: the release line
// (and the tags the user asked for) when no published active version of the line is newer, latest
// when none of the image is. In the layout, where Build has pointed the release line's tag at what
// it built, the tags are then put on the newest active versions, whichever they are.
func (w work) moveTags(ctx context.Context, opt PublishOptions, d v1.Hash) error {
	lineNewest, latestNewest, err := newest(ctx, opt.Catalog, w.v)
	if err != nil {
		return err
	}
	if w.repo != nil {
		var tags []string
		if lineNewest {
			if w.v.Line != latestTag { // a spec without a version: its line is latest
				tags = append(tags, w.v.Line)
			}
			tags = append(tags, w.extraTags...)
		}
		if latestNewest {
			tags = append(tags, latestTag)
		}
		if len(tags) > 0 {
			if err := publish.Tag(ctx, *w.repo, w.art, tags, opt.Registry); err != nil {
				return err
			}
			opt.logf("tagged %s as %v", w.repo.Digest(d.String()), tags)
		}
	}
	return moveLayoutTags(ctx, opt, w.v)
}

// newest reports whether v (published, or about to be) is the newest active version of its release
// line, and of its image.
func newest(ctx context.Context, cat catalog.Catalog, v *catalog.Version) (line, image bool, err error) {
	if v.Status.Status != catalog.StatusActive {
		return false, false, nil
	}
	active := []catalog.Status{catalog.StatusActive}
	inLine, err := cat.List(ctx, catalog.ListOptions{Image: v.Image, Line: v.Line, Statuses: active, Limit: 1})
	if err != nil {
		return false, false, err
	}
	all, err := cat.List(ctx, catalog.ListOptions{Image: v.Image, Statuses: active, Limit: 1})
	if err != nil {
		return false, false, err
	}
	line = len(inLine) == 0 || inLine[0].Serial <= v.Serial
	image = len(all) == 0 || all[0].ID <= v.ID
	return line, image, nil
}

// moveLayoutTags points the layout's moving tags of v's image (v's release line, and latest) at the
// newest active versions: v when it is the newest (published or about to be), else the newest
// published one, when the layout holds it.
func moveLayoutTags(ctx context.Context, opt PublishOptions, v *catalog.Version) error {
	layouts := opt.Store().Layouts()
	active := []catalog.Status{catalog.StatusActive}
	moving := []struct {
		tag     string
		options catalog.ListOptions
	}{{latestTag, catalog.ListOptions{Image: v.Image, Statuses: active, Limit: 1}}}
	if v.Line != latestTag { // a spec without a version: its line is latest, the image's newest
		moving = append(moving, struct {
			tag     string
			options catalog.ListOptions
		}{v.Line, catalog.ListOptions{Image: v.Image, Line: v.Line, Statuses: active, Limit: 1}})
	}
	for _, m := range moving {
		target := ""
		if v.Status.Status == catalog.StatusActive {
			target = v.Digest
		}
		got, err := opt.Catalog.List(ctx, m.options)
		if err != nil {
			return err
		}
		if len(got) > 0 && (target == "" || got[0].ID > v.ID) {
			target = got[0].Digest
		}
		if target == "" {
			continue
		}
		d, err := v1.NewHash(target)
		if err != nil {
			return err
		}
		if err := layouts.Tag(v.Image, d, m.tag); errors.Is(err, publish.ErrNotFound) {
			continue // built elsewhere: this layout does not hold it
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Completed is a pending version CompletePending dealt with.
type Completed struct {
	Version *catalog.Version
	// Abandoned is set when the version was removed: its image is neither in this data directory
	// nor in the registry it was to be pushed to.
	Abandoned bool
}

// CompletePending completes the versions that runs which died or failed after Begin left pending:
// each is stored in the layout, pushed, signed, attested and verified as Publish would have done,
// from the image in this data directory's layout (or in the registry, when it got there), and then
// published. Every step is idempotent, so what the failed run wrote is not written twice. A version
// whose image is nowhere any more is abandoned (removed from the catalog). A version another process
// of this machine is working on is left alone, as is one younger than opt.Settle, and one that was to
// be pushed when no signer is given (it may need signatures: a Publish of it with the options it was
// started with completes it).
// Moving tags and the signature formats follow opt; opt.Push is not used: each version goes where its
// record says. It is cheap when nothing is pending. Errors of single versions are joined; the others
// are still completed.
func CompletePending(ctx context.Context, opt PublishOptions) ([]Completed, error) {
	if opt.Catalog == nil {
		return nil, errors.New("pipeline: CompletePending needs a catalog")
	}
	pending, err := opt.Catalog.Pending(ctx)
	if err != nil {
		return nil, err
	}
	var out []Completed
	var errs []error
	for _, p := range pending {
		c, ok, err := completeOne(ctx, p, opt)
		if err != nil {
			errs = append(errs, fmt.Errorf("completing %s: %w", p.Ref(), err))
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, errors.Join(errs...)
}

func completeOne(ctx context.Context, p *catalog.Version, opt PublishOptions) (Completed, bool, error) {
	if opt.now().Sub(p.Built) < opt.Settle {
		return Completed{}, false, nil
	}
	var repo *name.Repository
	for _, l := range p.Locations {
		if l.Kind != catalog.LocationRegistry {
			continue
		}
		r, err := name.NewDigest(l.Ref, name.StrictValidation)
		if err != nil {
			return Completed{}, false, fmt.Errorf("%w: its registry location %q: %w", catalog.ErrInvalid, l.Ref, err)
		}
		c := r.Context()
		repo = &c
	}
	if repo != nil && opt.Signer == nil {
		return Completed{}, false, nil
	}
	unlock, ok, err := opt.Store().TryLockVersion(p.ID)
	if err != nil || !ok {
		return Completed{}, false, err
	}
	defer unlock()
	// Still pending? Begin returns the version as it is now.
	v, _, err := opt.Catalog.Begin(ctx, p)
	if err != nil {
		return Completed{}, false, err
	}
	if v.State != catalog.StatePending {
		return Completed{}, false, nil
	}
	d, err := v1.NewHash(v.Digest)
	if err != nil {
		return Completed{}, false, err
	}
	w := work{v: v, repo: repo}
	if w.art, err = opt.Store().Layouts().ReadDigest(v.Image, d); err == nil {
		w.inLayout = true
	} else if !errors.Is(err, publish.ErrNotFound) {
		return Completed{}, false, err
	} else if repo != nil {
		if w.art, err = fromRegistry(ctx, repo.Digest(v.Digest), opt); err != nil && !errors.Is(err, errNotInRegistry) {
			return Completed{}, false, err
		}
	}
	if w.art.Image == nil && w.art.Index == nil {
		if err := opt.Catalog.Abandon(ctx, v.ID); err != nil {
			return Completed{}, false, err
		}
		opt.logf("abandoned %s (%s): left pending, and its image is neither in %s nor in a registry", v.Ref(), v.Digest, opt.Store().Layouts().Dir(v.Image))
		return Completed{Version: v, Abandoned: true}, true, nil
	}
	got, err := w.complete(ctx, opt)
	if err != nil {
		return Completed{}, false, err
	}
	opt.logf("completed %s, left pending by an interrupted run", got.Ref())
	return Completed{Version: got}, true, nil
}

// remoteOptions reach the registry a version is pushed to, as the push does.
func (o PublishOptions) remoteOptions(ctx context.Context) []remote.Option {
	ropts := append([]remote.Option{remote.WithContext(ctx)}, o.Remote...)
	if o.Registry.Transport != nil {
		ropts = append(ropts, remote.WithTransport(o.Registry.Transport))
	}
	if o.Registry.Keychain != nil {
		ropts = append(ropts, remote.WithAuthFromKeychain(o.Registry.Keychain))
	} else {
		ropts = append(ropts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	return ropts
}

// errNotInRegistry means a registry answered that it does not have the image.
var errNotInRegistry = errors.New("not in the registry")

// fromRegistry reads a pushed image or index back (its manifests; its layers are already there).
func fromRegistry(ctx context.Context, ref name.Digest, opt PublishOptions) (publish.Artifact, error) {
	desc, err := remote.Get(ref, opt.remoteOptions(ctx)...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return publish.Artifact{}, errNotInRegistry
	}
	if err != nil {
		return publish.Artifact{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		ii, err := desc.ImageIndex()
		return publish.Artifact{Index: ii}, err
	}
	img, err := desc.Image()
	return publish.Artifact{Image: img}, err
}
