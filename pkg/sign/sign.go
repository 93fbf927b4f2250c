package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Format is a set of signature formats.
type Format uint8

// The two formats the ecosystem reads today. Kyverno and policy-controller read the legacy tags by
// default; cosign v3 writes and reads bundles.
const (
	FormatLegacy Format = 1 << iota
	FormatBundle
	FormatBoth = FormatLegacy | FormatBundle
)

// formats are the formats a user can ask for, in the order help lists them.
func formats() []Format { return []Format{FormatLegacy, FormatBundle, FormatBoth} }

// FormatNames are the names ParseFormat takes: "legacy", "bundle", "both".
func FormatNames() []string {
	var names []string
	for _, f := range formats() {
		names = append(names, f.String())
	}
	return names
}

// ParseFormat reads "legacy", "bundle" or "both" (also ""): see FormatNames.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return FormatBoth, nil
	}
	for _, f := range formats() {
		if s == f.String() {
			return f, nil
		}
	}
	names := FormatNames()
	return 0, fmt.Errorf("unknown signature format %q: want %s or %s", s, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

func (f Format) String() string {
	switch f {
	case FormatLegacy:
		return "legacy"
	case FormatBundle:
		return "bundle"
	case FormatBoth:
		return "both"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Options configure signing and verification.
type Options struct {
	RemoteOptions
	// Formats to write or read; zero means both.
	Formats Format
	// Now stamps bundle referrers' creation annotation; nil means time.Now.
	Now func() time.Time
}

func (o Options) formats() Format {
	if o.Formats == 0 {
		return FormatBoth
	}
	return o.Formats
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Written counts what a signing call added; entries already present (a retry, a second run) are
// not written again.
type Written struct {
	Signatures, Attestations int
	// Present counts what was already there.
	Present int
	// Artifacts are every signature and attestation the call stands for, written now or found
	// already there, in the order they were handled.
	Artifacts []Artifact
}

// Artifact kinds.
const (
	KindSignature   = "signature"
	KindAttestation = "attestation"
)

// Artifact is one signature or attestation in a registry.
type Artifact struct {
	Kind   string
	Format Format
	// Subject is the digest it is about; KeyHint names the key that signed it (see KeyHint).
	Subject v1.Hash
	KeyHint string
	// PredicateType is an attestation's; empty for signatures.
	PredicateType string
	// Ref is where it lives, as verification names its source: the .sig or .att tag
	// (REPO:sha256-<hex>.sig) or the referrer manifest (REPO@sha256:...).
	Ref string
	// New is set when this call wrote it.
	New bool
}

func (w *Written) add(a Artifact) {
	w.Artifacts = append(w.Artifacts, a)
	switch {
	case !a.New:
		w.Present++
	case a.Kind == KindSignature:
		w.Signatures++
	default:
		w.Attestations++
	}
}

// Target is an image or index in a registry as signing needs it: its reference by digest, its
// descriptor (media type and size, which bundle referrers name), and for an index its platform
// images. ResolveTarget reads it from the registry; a build that has just pushed an image knows it
// already and makes it itself, so nothing is fetched again.
type Target struct {
	Ref        name.Digest
	Descriptor v1.Descriptor
	// Platforms are an index's image manifests, in index order; empty for a single image.
	Platforms []v1.Descriptor
}

// Image is the target of one platform image of an index (d one of t.Platforms), or of t itself.
func (t Target) Image(d v1.Descriptor) Target {
	return Target{Ref: t.Ref.Context().Digest(d.Digest.String()), Descriptor: d}
}

// Images are the targets whose evidence is attested: the image itself, or each platform image of an
// index.
func (t Target) Images() []Target {
	if len(t.Platforms) == 0 {
		return []Target{{Ref: t.Ref, Descriptor: t.Descriptor}}
	}
	out := make([]Target, len(t.Platforms))
	for i, p := range t.Platforms {
		out[i] = t.Image(p)
	}
	return out
}

// ResolveTarget fetches the manifest ref names (checked against its digest when ref has one).
func ResolveTarget(ctx context.Context, ref name.Reference, o RemoteOptions) (Target, error) {
	c, err := newClient(ctx, o)
	if err != nil {
		return Target{}, err
	}
	t, err := c.resolve(ref)
	if err != nil {
		return Target{}, err
	}
	return *t, nil
}

// resolve fetches ref's manifest, checking it against the digest when ref names one.
func (c *client) resolve(ref name.Reference) (*Target, error) {
	d, err := c.manifest(ref)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w: image %s does not exist", ErrRegistry, ref)
	}
	if err != nil {
		return nil, err
	}
	t := &Target{
		Ref:        ref.Context().Digest(d.Digest.String()),
		Descriptor: v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(d.Manifest))},
	}
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(d.Manifest, &idx); err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrMalformed, t.Ref, err)
		}
		for _, m := range idx.Manifests {
			if m.MediaType.IsImage() {
				t.Platforms = append(t.Platforms, m)
			}
		}
	}
	return t, nil
}

// signSetup opens a session and derives the signer's verifier (to recognise its own earlier work)
// and key hint.
func signSetup(ctx context.Context, s Signer, o Options) (*client, Verifier, string, error) {
	c, err := newClient(ctx, o.RemoteOptions)
	if err != nil {
		return nil, nil, "", err
	}
	v, err := NewVerifier(s)
	if err != nil {
		return nil, nil, "", err
	}
	hint, err := KeyHint(s.PublicKey())
	if err != nil {
		return nil, nil, "", err
	}
	return c, v, hint, nil
}

// Sign signs the image ref names, in the chosen formats; an index is signed together with each of
// its platform manifests. Signing twice with the same key adds nothing.
func Sign(ctx context.Context, ref name.Reference, s Signer, o Options) (Written, error) {
	t, err := ResolveTarget(ctx, ref, o.RemoteOptions)
	if err != nil {
		return Written{}, err
	}
	return SignTarget(ctx, t, s, o)
}

// SignTarget is Sign for a target already known: nothing is fetched to find out what to sign.
func SignTarget(ctx context.Context, t Target, s Signer, o Options) (Written, error) {
	var w Written
	c, v, hint, err := signSetup(ctx, s, o)
	if err != nil {
		return w, err
	}
	subjects := append([]v1.Descriptor{t.Descriptor}, t.Platforms...)
	for _, desc := range subjects {
		d := t.Ref.Context().Digest(desc.Digest.String())
		if o.formats()&FormatLegacy != 0 {
			a, err := c.signLegacy(ctx, d, s, v, hint)
			if err != nil {
				return w, fmt.Errorf("signing %s: %w", d, err)
			}
			w.add(a)
		}
		if o.formats()&FormatBundle != 0 {
			stmt, err := NewStatement(d.Context().Name(), desc.Digest, Predicate{Type: SignPredicateType})
			if err != nil {
				return w, err
			}
			env, err := SignEnvelope(ctx, s, InTotoPayloadType, stmt)
			if err != nil {
				return w, err
			}
			existing, err := c.referrers(d)
			if err != nil {
				return w, err
			}
			ref, added, err := c.putBundle(d, desc, env, SignPredicateType, hint, existing, v, o.now())
			if err != nil {
				return w, fmt.Errorf("signing %s: %w", d, err)
			}
			w.add(Artifact{Kind: KindSignature, Format: FormatBundle, Subject: desc.Digest, KeyHint: hint, Ref: ref.String(), New: added})
		}
	}
	return w, nil
}

// Attest signs each predicate as an in-toto statement about the image ref names and attaches it in
// the chosen formats. Attestations are per image: for an index, attest each platform manifest with
// its own evidence. A statement this key already attached is not attached again.
func Attest(ctx context.Context, ref name.Reference, s Signer, preds []Predicate, o Options) (Written, error) {
	t, err := ResolveTarget(ctx, ref, o.RemoteOptions)
	if err != nil {
		return Written{}, err
	}
	return AttestTarget(ctx, t, s, preds, o)
}

// AttestTarget is Attest for a target already known (for a platform image, t.Image(p)): nothing is
// fetched to find out what to attest.
func AttestTarget(ctx context.Context, t Target, s Signer, preds []Predicate, o Options) (Written, error) {
	var w Written
	c, v, hint, err := signSetup(ctx, s, o)
	if err != nil {
		return w, err
	}
	envs := make([]*Envelope, len(preds))
	predTypes := make([]string, len(preds))
	for i, p := range preds {
		stmt, err := NewStatement(t.Ref.Context().Name(), t.Descriptor.Digest, p)
		if err != nil {
			return w, err
		}
		if envs[i], err = SignEnvelope(ctx, s, InTotoPayloadType, stmt); err != nil {
			return w, err
		}
		predTypes[i] = p.Type
	}
	var g errgroup.Group
	var legacy, bundles []Artifact
	if o.formats()&FormatLegacy != 0 {
		g.Go(func() (err error) {
			legacy, err = c.attestLegacy(envs, predTypes, t.Ref, v, hint)
			return err
		})
	}
	if o.formats()&FormatBundle != 0 {
		g.Go(func() error {
			existing, err := c.referrers(t.Ref)
			if err != nil {
				return err
			}
			for i, env := range envs {
				ref, added, err := c.putBundle(t.Ref, t.Descriptor, env, predTypes[i], hint, existing, v, o.now())
				if err != nil {
					return err
				}
				bundles = append(bundles, Artifact{Kind: KindAttestation, Format: FormatBundle, Subject: t.Descriptor.Digest,
					KeyHint: hint, PredicateType: predTypes[i], Ref: ref.String(), New: added})
			}
			return nil
		})
	}
	err = g.Wait()
	for _, a := range append(legacy, bundles...) {
		w.add(a)
	}
	if err != nil {
		return w, fmt.Errorf("attesting %s: %w", t.Ref, err)
	}
	return w, nil
}
