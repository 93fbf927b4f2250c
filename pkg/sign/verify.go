package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// fetchParallelism bounds concurrent blob and manifest fetches during verification.
const fetchParallelism = 8

// Signature is a verified signature: which format, where it was found, and what it signed.
type Signature struct {
	Format Format
	// Source is where it lives: the .sig tag or the referrer manifest's digest.
	Source string
	// Payload is the signed payload (simple signing JSON, or the in-toto statement).
	Payload []byte
	// Key is the hint (KeyHint) of the key it verified with: with several keys, which one signed.
	Key string
}

// Attestation is a verified attestation.
type Attestation struct {
	Format    Format
	Source    string
	Statement *Statement
	// Key is the hint of the key it verified with.
	Key string
}

// candidate is one signature or attestation found for an image, before verification.
type candidate struct {
	format Format
	source string
	// claimed is the predicate type the candidate's (unsigned) annotation claims, when it has one:
	// it only says which asked-for type a failed candidate was meant to be.
	claimed string
	// check verifies it; it returns the verified payload.
	check func() (Signature, *Statement, error)
}

// Verify checks that the image ref names carries a valid signature by v's key in the chosen formats,
// and returns the signatures that verify. It fails closed; the error says why, for errors.Is:
// ErrNoSignatures, ErrWrongKey, ErrBadSignature, ErrOtherImage, ErrDigestMismatch or ErrRegistry.
func Verify(ctx context.Context, ref name.Reference, v Verifier, o Options) ([]Signature, error) {
	c, t, keys, wait, err := verifySetup(ctx, ref, v, o)
	if err != nil {
		return nil, err
	}
	cands, err := c.candidates(t, o.formats(), "sig", isSignature, keys)
	if werr := wait(); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	var out []Signature
	err = evaluate(cands, ErrNoSignatures, func(s Signature, _ *Statement) { out = append(out, s) })
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", t.Ref, err)
	}
	return out, nil
}

// VerifyAttestations checks the image's attestations of predicateType ("" for all) signed by v's key,
// and returns the statements that verify. Errors are those of Verify, with ErrNoAttestations when
// there is none of that type.
func VerifyAttestations(ctx context.Context, ref name.Reference, v Verifier, predicateType string, o Options) ([]Attestation, error) {
	c, t, keys, wait, err := verifySetup(ctx, ref, v, o)
	if err != nil {
		return nil, err
	}
	want := wantAttestation(predicateType)
	cands, err := c.candidates(t, o.formats(), "att", want, keys)
	if werr := wait(); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	var out []Attestation
	err = evaluate(cands, ErrNoAttestations, func(s Signature, st *Statement) {
		if want(st.PredicateType) {
			out = append(out, Attestation{Format: s.Format, Source: s.Source, Statement: st, Key: s.Key})
		}
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%w: no %s attestation verifies", ErrNoAttestations, predicateType)
	}
	if err != nil {
		return nil, fmt.Errorf("verifying attestations of %s: %w", t.Ref, err)
	}
	return out, nil
}

// verifySetup opens a session and resolves ref. For a digest reference the image's manifest is
// fetched (and checked against the digest) while the signatures are read: wait reports how that went.
func verifySetup(ctx context.Context, ref name.Reference, v Verifier, o Options) (c *client, t *Target, keys keyset, wait func() error, err error) {
	if c, err = newClient(ctx, o.RemoteOptions); err != nil {
		return nil, nil, keyset{}, nil, err
	}
	if keys, err = newKeyset(v); err != nil {
		return nil, nil, keyset{}, nil, err
	}
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return nil, nil, keyset{}, nil, err
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.resolve(ref)
			done <- err
		}()
		return c, &Target{Ref: d, Descriptor: v1.Descriptor{Digest: h}}, keys, func() error { return <-done }, nil
	}
	if t, err = c.resolve(ref); err != nil {
		return nil, nil, keyset{}, nil, err
	}
	return c, t, keys, func() error { return nil }, nil
}

// isSignature picks the signatures among statements: cosign v3 signs with a predicate that says
// nothing but "this digest".
func isSignature(predicateType string) bool { return predicateType == SignPredicateType }

// wantAttestation picks the attestations of predicateType ("" for every type).
func wantAttestation(predicateType string) func(string) bool {
	return func(pt string) bool {
		return pt != SignPredicateType && (predicateType == "" || pt == predicateType)
	}
}

// candidates lists the signatures (suffix "sig") or attestations ("att") of t in the chosen formats.
// The legacy tag and the referrers are read in parallel; a registry failure of either is an error,
// since a missing answer must not read as "no signatures".
func (c *client) candidates(t *Target, f Format, suffix string, want func(predicateType string) bool, keys keyset) ([]candidate, error) {
	var legacy, bundles []candidate
	var g errgroup.Group
	if f&FormatLegacy != 0 {
		g.Go(func() (err error) {
			legacy, err = c.legacyCandidates(t, suffix, want, keys)
			return err
		})
	}
	if f&FormatBundle != 0 {
		g.Go(func() (err error) {
			bundles, err = c.bundleCandidates(t, want, keys)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return append(legacy, bundles...), nil
}

func (c *client) legacyCandidates(t *Target, suffix string, want func(string) bool, keys keyset) ([]candidate, error) {
	repo := t.Ref.Context()
	tag := legacyTag(t.Descriptor.Digest, suffix)
	d, err := c.manifest(repo.Tag(tag))
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s:%s: %w", ErrMalformed, repo, tag, err)
	}
	source := repo.Tag(tag).String()
	var out []candidate
	for _, l := range m.Layers {
		switch {
		case suffix == "sig" && l.MediaType == SimpleSigningMediaType:
			out = append(out, candidate{format: FormatLegacy, source: source, check: func() (Signature, *Statement, error) {
				return c.checkSimpleSigning(repo, l, t.Descriptor.Digest, keys, source)
			}})
		case suffix == "att" && l.MediaType == DSSEMediaType:
			// The annotation is unsigned: it only skips what cannot match; the statement decides.
			if pt, ok := l.Annotations[PredicateTypeAnnotation]; ok && !want(pt) {
				continue
			}
			out = append(out, candidate{format: FormatLegacy, source: source, claimed: l.Annotations[PredicateTypeAnnotation], check: func() (Signature, *Statement, error) {
				data, err := c.blob(repo, l.Digest)
				if err != nil {
					return Signature{}, nil, err
				}
				env, err := ParseEnvelope(data)
				if err != nil {
					return Signature{}, nil, err
				}
				return checkEnvelope(env, l.Annotations[KeyHintAnnotation], t.Descriptor.Digest, keys, FormatLegacy, source)
			}})
		}
	}
	return out, nil
}

func (c *client) checkSimpleSigning(repo name.Repository, l v1.Descriptor, d v1.Hash, keys keyset, source string) (Signature, *Statement, error) {
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
	if err != nil || len(sig) == 0 {
		return Signature{}, nil, fmt.Errorf("%w: %s: the signature annotation is not base64", ErrMalformed, source)
	}
	payload, err := c.blob(repo, l.Digest)
	if err != nil {
		return Signature{}, nil, err
	}
	key, err := keys.verify(l.Annotations[KeyHintAnnotation], source, func(v Verifier) error { return v.Verify(payload, sig) })
	if err != nil {
		return Signature{}, nil, err
	}
	p, err := parseSimpleSigning(payload)
	if err != nil {
		return Signature{}, nil, err
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return Signature{}, nil, fmt.Errorf("%w: %s signs %s, not %s", ErrOtherImage, source, p.Critical.Image.DockerManifestDigest, d)
	}
	return Signature{Format: FormatLegacy, Source: source, Payload: payload, Key: key}, nil, nil
}

func checkEnvelope(env *Envelope, theirHint string, d v1.Hash, keys keyset, f Format, source string) (Signature, *Statement, error) {
	if env.PayloadType != InTotoPayloadType {
		return Signature{}, nil, fmt.Errorf("%w: %s: payload type %q", ErrMalformed, source, env.PayloadType)
	}
	key, err := keys.verify(theirHint, source, env.Verify)
	if err != nil {
		return Signature{}, nil, err
	}
	st, err := ParseStatement(env.Payload)
	if err != nil {
		return Signature{}, nil, err
	}
	if !st.Names(d) {
		return Signature{}, nil, fmt.Errorf("%w: %s is about %v, not %s", ErrOtherImage, source, st.Subject, d)
	}
	return Signature{Format: f, Source: source, Payload: env.Payload, Key: key}, st, nil
}

func (c *client) bundleCandidates(t *Target, want func(string) bool, keys keyset) ([]candidate, error) {
	refs, err := c.referrers(t.Ref)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	repo := t.Ref.Context()
	var out []candidate
	for _, r := range refs {
		if !maybeBundle(r) {
			continue
		}
		if pt, ok := r.Annotations[BundlePredicateTypeAnnotation]; ok && !want(pt) {
			continue
		}
		source := repo.Digest(r.Digest.String()).String()
		out = append(out, candidate{format: FormatBundle, source: source, claimed: r.Annotations[BundlePredicateTypeAnnotation], check: func() (Signature, *Statement, error) {
			b, err := c.fetchBundle(repo, r.Digest)
			if errors.Is(err, errNotBundle) {
				return Signature{}, nil, errSkip
			}
			if err != nil {
				return Signature{}, nil, err
			}
			s, st, err := checkEnvelope(b.Envelope, b.Hint, t.Descriptor.Digest, keys, FormatBundle, source)
			if err == nil && !want(st.PredicateType) {
				return Signature{}, nil, errSkip
			}
			return s, st, err
		}})
	}
	return out, nil
}

// errSkip marks a candidate that turned out to be of another kind (an attestation among
// signatures): neither a success nor a failure.
var errSkip = errors.New("skip")

// evaluate checks every candidate in parallel and hands the valid ones to ok, in order. With none
// valid it returns the most telling failure: a registry error first (the answer is unknown), then a
// digest mismatch, a signature for another image, an altered signature, another key, and malformed
// data; none is errNone.
func evaluate(cands []candidate, errNone error, ok func(Signature, *Statement)) error {
	return pick(checkAll(cands), errNone, func(checked) bool { return true }, ok)
}

// checked is one candidate after its check.
type checked struct {
	claimed string
	sig     Signature
	st      *Statement
	err     error
}

// checkAll checks every candidate, a few at a time, and returns the results in candidate order.
func checkAll(cands []candidate) []checked {
	results := make([]checked, len(cands))
	var g errgroup.Group
	g.SetLimit(fetchParallelism)
	for i, cd := range cands {
		g.Go(func() error {
			s, st, err := cd.check()
			results[i] = checked{claimed: cd.claimed, sig: s, st: st, err: err}
			return nil
		})
	}
	_ = g.Wait() // the checks return nil; their errors are in results
	return results
}

// pick hands the valid results that keep accepts to ok; with none, it returns the most telling failure
// among the results keep accepts (see evaluate), or errNone.
func pick(results []checked, errNone error, keep func(checked) bool, ok func(Signature, *Statement)) error {
	var errs []error
	valid := 0
	for _, r := range results {
		if !keep(r) {
			continue
		}
		switch {
		case r.err == nil:
			valid++
			ok(r.sig, r.st)
		case errors.Is(r.err, errSkip):
		default:
			errs = append(errs, r.err)
		}
	}
	if valid > 0 {
		return nil
	}
	if len(errs) == 0 {
		return errNone
	}
	for _, kind := range []error{ErrRegistry, ErrDigestMismatch, ErrOtherImage, ErrBadSignature, ErrWrongKey, ErrMalformed} {
		for _, e := range errs {
			if errors.Is(e, kind) {
				if len(errs) > 1 {
					return fmt.Errorf("%w (and %d more failures)", e, len(errs)-1)
				}
				return e
			}
		}
	}
	return errors.Join(errs...)
}
