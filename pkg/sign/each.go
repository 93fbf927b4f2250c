package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Manifest is one manifest a verification looks at: the image or index a reference names, or a
// platform image of that index.
type Manifest struct {
	Digest name.Digest
	// Platform is what the index says a platform image is for; nil for the index itself and for a
	// single image.
	Platform *v1.Platform
	// Index is set for the index itself.
	Index bool
}

// String names the subject for messages: "linux/amd64 sha256:...", "index sha256:...", or the
// digest reference of a single image.
func (s Manifest) String() string {
	switch {
	case s.Index:
		return "index " + s.Digest.DigestStr()
	case s.Platform != nil:
		return s.Platform.String() + " " + s.Digest.DigestStr()
	}
	return s.Digest.String()
}

// Signed is what VerifyEach found for one subject.
type Signed struct {
	Manifest
	Signatures []Signature
}

// Attested is what VerifyEachAttestations found for one subject.
type Attested struct {
	Manifest
	Attestations []Attestation
}

// Resolved is what a reference names: its subject, and for an index each platform image's.
type Resolved struct {
	Manifest
	// Platforms are the index's platform images, in index order; empty for a single image.
	Platforms []Manifest
}

// Resolve fetches the manifest ref names (checked against its digest when ref has one) and lists
// the platform images of an index, with their platforms.
func Resolve(ctx context.Context, ref name.Reference, o RemoteOptions) (Resolved, error) {
	c, err := newClient(ctx, o)
	if err != nil {
		return Resolved{}, err
	}
	t, err := c.resolve(ref)
	if err != nil {
		return Resolved{}, err
	}
	return resolvedOf(t), nil
}

func resolvedOf(t *Target) Resolved {
	r := Resolved{Manifest: Manifest{Digest: t.Ref, Index: t.Descriptor.MediaType.IsIndex()}}
	for _, ch := range t.Platforms {
		s := Manifest{Digest: t.Ref.Context().Digest(ch.Digest.String())}
		if ch.Platform != nil {
			p := *ch.Platform
			s.Platform = &p
		}
		r.Platforms = append(r.Platforms, s)
	}
	return r
}

// VerifyEach verifies the image ref names, or an index and each of its platform manifests (Sign
// signs them all): each must carry a signature by v's key in the chosen formats. It returns what
// verified for each subject, the index first; when any subject fails the error names each one that
// did, and errors.Is finds the most telling of their errors (those of Verify).
func VerifyEach(ctx context.Context, ref name.Reference, v Verifier, o Options) ([]Signed, error) {
	c, keys, r, err := eachSetup(ctx, ref, v, o)
	if err != nil {
		return nil, err
	}
	manifests := append([]Manifest{r.Manifest}, r.Platforms...)
	out := make([]Signed, len(manifests))
	errs := eachSubject(manifests, func(i int, s Manifest) error {
		out[i].Manifest = s
		cands, err := c.candidates(&Target{Ref: s.Digest, Descriptor: v1.Descriptor{Digest: digestOf(s)}}, o.formats(), "sig", isSignature, keys)
		if err != nil {
			return err
		}
		return evaluate(cands, ErrNoSignatures, func(sig Signature, _ *Statement) { out[i].Signatures = append(out[i].Signatures, sig) })
	})
	if err := joinSubjects("verifying "+ref.String(), manifests, errs, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyEachAttestations verifies the attestations of predicateType ("" for all) of the image ref
// names, or of each platform image of an index: attestations are about the image they describe, so
// every platform image must carry one that verifies. An index's own attestations (attest
// --predicate on an index) are returned too when it has some, first. Errors are those of
// VerifyEach, with ErrNoAttestations for a platform image that has none of that type.
func VerifyEachAttestations(ctx context.Context, ref name.Reference, v Verifier, predicateType string, o Options) ([]Attested, error) {
	c, keys, r, err := eachSetup(ctx, ref, v, o)
	if err != nil {
		return nil, err
	}
	manifests := append([]Manifest{r.Manifest}, r.Platforms...)
	want := wantAttestation(predicateType)
	out := make([]Attested, len(manifests))
	errs := eachSubject(manifests, func(i int, s Manifest) error {
		out[i].Manifest = s
		cands, err := c.candidates(&Target{Ref: s.Digest, Descriptor: v1.Descriptor{Digest: digestOf(s)}}, o.formats(), "att", want, keys)
		if err != nil {
			return err
		}
		err = evaluate(cands, ErrNoAttestations, func(sig Signature, st *Statement) {
			if want(st.PredicateType) {
				out[i].Attestations = append(out[i].Attestations, Attestation{Format: sig.Format, Source: sig.Source, Statement: st, Key: sig.Key})
			}
		})
		if err == nil && len(out[i].Attestations) == 0 {
			err = fmt.Errorf("%w: no %s attestation verifies", ErrNoAttestations, predicateType)
		}
		return err
	})
	// The index itself need not be attested: its platform images are what the evidence describes.
	optional := func(i int) bool { return r.Index && i == 0 && errors.Is(errs[i], ErrNoAttestations) }
	if err := joinSubjects("verifying attestations of "+ref.String(), manifests, errs, optional); err != nil {
		return nil, err
	}
	var kept []Attested
	for i, a := range out {
		if !optional(i) {
			kept = append(kept, a)
		}
	}
	return kept, nil
}

func eachSetup(ctx context.Context, ref name.Reference, v Verifier, o Options) (*client, keyset, Resolved, error) {
	c, err := newClient(ctx, o.RemoteOptions)
	if err != nil {
		return nil, keyset{}, Resolved{}, err
	}
	keys, err := newKeyset(v)
	if err != nil {
		return nil, keyset{}, Resolved{}, err
	}
	t, err := c.resolve(ref)
	if err != nil {
		return nil, keyset{}, Resolved{}, err
	}
	return c, keys, resolvedOf(t), nil
}

func digestOf(s Manifest) v1.Hash {
	h, _ := v1.NewHash(s.Digest.DigestStr()) // a name.Digest holds a valid digest
	return h
}

// eachSubject runs check for every subject, a few at a time, and returns their errors.
func eachSubject(manifests []Manifest, check func(int, Manifest) error) []error {
	errs := make([]error, len(manifests))
	var g errgroup.Group
	g.SetLimit(4)
	for i, s := range manifests {
		g.Go(func() error {
			errs[i] = check(i, s)
			return nil
		})
	}
	_ = g.Wait() // the checks return nil; their errors are in errs
	return errs
}

// manifestsError is the failure of some manifests of a verification: its message names each, and it
// unwraps to the most telling of their errors, in evaluate's order (a registry error first: the
// answer is unknown), then a missing signature or attestation.
type manifestsError struct {
	msg  string
	main error
}

func (e *manifestsError) Error() string { return e.msg }
func (e *manifestsError) Unwrap() error { return e.main }

// joinSubjects is nil when every subject verified (or failed in a way skip accepts), else a
// manifestsError.
func joinSubjects(what string, manifests []Manifest, errs []error, skip func(int) bool) error {
	var parts []string
	var failed []error
	for i, err := range errs {
		if err == nil || (skip != nil && skip(i)) {
			continue
		}
		parts = append(parts, manifests[i].String()+": "+err.Error())
		failed = append(failed, err)
	}
	if len(failed) == 0 {
		return nil
	}
	if len(manifests) == 1 {
		return fmt.Errorf("%s: %w", what, failed[0])
	}
	main := failed[0]
	for _, kind := range []error{ErrRegistry, ErrDigestMismatch, ErrOtherImage, ErrBadSignature, ErrWrongKey, ErrMalformed, ErrNoSignatures, ErrNoAttestations} {
		if i := firstIs(failed, kind); i >= 0 {
			main = failed[i]
			break
		}
	}
	return &manifestsError{msg: what + ": " + strings.Join(parts, "; "), main: main}
}

func firstIs(errs []error, kind error) int {
	for i, e := range errs {
		if errors.Is(e, kind) {
			return i
		}
	}
	return -1
}

// VerifiedPredicate is a verified predicate with every format and place it was found in: the statement
// Attest attaches as a legacy .att layer and as a bundle is one predicate.
type VerifiedPredicate struct {
	Statement *Statement
	Formats   []Format
	Sources   []string
}

// MergeFormats groups attestations whose statements carry the same predicate type and predicate,
// in the order they first appear, formats in the order legacy, bundle.
func MergeFormats(atts []Attestation) []VerifiedPredicate {
	var out []VerifiedPredicate
	index := map[string]int{}
	for _, a := range atts {
		var b bytes.Buffer
		if err := json.Compact(&b, a.Statement.Predicate); err != nil {
			b.Reset()
			b.Write(a.Statement.Predicate)
		}
		key := a.Statement.PredicateType + "\x00" + b.String()
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, VerifiedPredicate{Statement: a.Statement})
		}
		p := &out[i]
		if !slices.Contains(p.Formats, a.Format) {
			p.Formats = append(p.Formats, a.Format)
			slices.Sort(p.Formats)
		}
		p.Sources = append(p.Sources, a.Source)
	}
	return out
}
