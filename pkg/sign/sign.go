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
}

// target is a resolved image: its digest reference and descriptor, and for an index the platform
// manifests in it.
type target struct {
	ref      name.Digest
	desc     v1.Descriptor
	children []v1.Descriptor
}

// resolve fetches ref's manifest, checking it against the digest when ref names one.
func (c *client) resolve(ref name.Reference) (*target, error) {
	d, err := c.manifest(ref)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w: image %s does not exist", ErrRegistry, ref)
	}
	if err != nil {
		return nil, err
	}
	t := &target{
		ref:  ref.Context().Digest(d.Digest.String()),
		desc: v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(d.Manifest))},
	}
	if d.MediaType.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(d.Manifest, &idx); err != nil {
			return nil, fmt.Errorf("%w: index %s: %w", ErrMalformed, t.ref, err)
		}
		for _, m := range idx.Manifests {
			if m.MediaType.IsImage() {
				t.children = append(t.children, m)
			}
		}
	}
	return t, nil
}

// signSetup opens a session, derives the signer's verifier (to recognise its own earlier work) and
// key hint, and resolves ref.
func signSetup(ctx context.Context, ref name.Reference, s Signer, o Options) (*client, Verifier, string, *target, error) {
	c, err := newClient(ctx, o.RemoteOptions)
	if err != nil {
		return nil, nil, "", nil, err
	}
	v, err := NewVerifier(s)
	if err != nil {
		return nil, nil, "", nil, err
	}
	hint, err := KeyHint(s.PublicKey())
	if err != nil {
		return nil, nil, "", nil, err
	}
	t, err := c.resolve(ref)
	if err != nil {
		return nil, nil, "", nil, err
	}
	return c, v, hint, t, nil
}

// Sign signs the image ref names, in the chosen formats; an index is signed together with each of
// its platform manifests. Signing twice with the same key adds nothing.
func Sign(ctx context.Context, ref name.Reference, s Signer, o Options) (Written, error) {
	var w Written
	c, v, hint, t, err := signSetup(ctx, ref, s, o)
	if err != nil {
		return w, err
	}
	subjects := append([]v1.Descriptor{t.desc}, t.children...)
	for _, desc := range subjects {
		d := t.ref.Context().Digest(desc.Digest.String())
		if o.formats()&FormatLegacy != 0 {
			n, err := c.signLegacy(ctx, d, s, v, hint)
			if err != nil {
				return w, fmt.Errorf("signing %s: %w", d, err)
			}
			w.Signatures += n
			w.Present += 1 - n
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
			added, err := c.putBundle(d, desc, env, SignPredicateType, hint, existing, v, o.now())
			if err != nil {
				return w, fmt.Errorf("signing %s: %w", d, err)
			}
			if added {
				w.Signatures++
			} else {
				w.Present++
			}
		}
	}
	return w, nil
}

// Attest signs each predicate as an in-toto statement about the image ref names and attaches it in
// the chosen formats. Attestations are per image: for an index, attest each platform manifest with
// its own evidence. A statement this key already attached is not attached again.
func Attest(ctx context.Context, ref name.Reference, s Signer, preds []Predicate, o Options) (Written, error) {
	var w Written
	c, v, hint, t, err := signSetup(ctx, ref, s, o)
	if err != nil {
		return w, err
	}
	envs := make([]*Envelope, len(preds))
	predTypes := make([]string, len(preds))
	for i, p := range preds {
		stmt, err := NewStatement(t.ref.Context().Name(), t.desc.Digest, p)
		if err != nil {
			return w, err
		}
		if envs[i], err = SignEnvelope(ctx, s, InTotoPayloadType, stmt); err != nil {
			return w, err
		}
		predTypes[i] = p.Type
	}
	var g errgroup.Group
	if o.formats()&FormatLegacy != 0 {
		g.Go(func() error {
			n, err := c.attestLegacy(envs, predTypes, t.ref, v, hint)
			w.Attestations += n
			w.Present += len(envs) - n
			return err
		})
	}
	var bundleAdded, bundlePresent int
	if o.formats()&FormatBundle != 0 {
		g.Go(func() error {
			existing, err := c.referrers(t.ref)
			if err != nil {
				return err
			}
			for i, env := range envs {
				added, err := c.putBundle(t.ref, t.desc, env, predTypes[i], hint, existing, v, o.now())
				if err != nil {
					return err
				}
				if added {
					bundleAdded++
				} else {
					bundlePresent++
				}
			}
			return nil
		})
	}
	err = g.Wait()
	w.Attestations += bundleAdded
	w.Present += bundlePresent
	if err != nil {
		return w, fmt.Errorf("attesting %s: %w", t.ref, err)
	}
	return w, nil
}

// Platforms resolves ref and returns the digests of the images that carry evidence: the image
// itself, or each platform manifest of an index.
func Platforms(ctx context.Context, ref name.Reference, o RemoteOptions) ([]v1.Hash, error) {
	c, err := newClient(ctx, o)
	if err != nil {
		return nil, err
	}
	t, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	if len(t.children) == 0 {
		return []v1.Hash{t.desc.Digest}, nil
	}
	var out []v1.Hash
	for _, ch := range t.children {
		out = append(out, ch.Digest)
	}
	return out, nil
}
