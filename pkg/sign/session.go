package sign

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Keys are the public keys a verification accepts: a signature or attestation by any one of them
// verifies. Each signature fetched is checked against all of them, so trusting a second key (the
// previous one, during a rotation) costs no second fetch.
type Keys struct{ set keyset }

// NewKeys holds one or more keys.
func NewKeys(vs ...Verifier) (*Keys, error) {
	k, err := newKeyset(vs...)
	if err != nil {
		return nil, err
	}
	return &Keys{set: k}, nil
}

// Hints are the keys' hints (KeyHint), in the order given: what Signature.Key and Attestation.Key
// name.
func (k *Keys) Hints() []string { return slices.Clone(k.set.hints) }

// Session verifies for a long-lived process such as the admission webhook: it keeps one registry
// session (connections and registry tokens) across calls, resolves tags to digests, checks one fetch
// of signatures against several keys and attestations on every platform image of an index, and
// retries only as long as the caller's deadline allows. It holds no verdicts: what to remember, and
// for how long, is the caller's choice. Safe for concurrent use.
type Session struct {
	r       *reader
	formats Format
}

// NewSession opens a session with the registries o describes. Nothing is written to disk:
// RemoteOptions.CacheDir is ignored, a server keeps what it needs in memory.
func NewSession(o Options) *Session {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	backoff := o.Retry
	if backoff.Steps == 0 {
		backoff = remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}
	}
	rt := o.Transport
	if rt == nil {
		rt = defaultTransport()
	}
	return &Session{r: newReader(rt, kc, backoff, contentCache{}), formats: o.formats()}
}

// WithFormats is the same session reading only the given signature formats (zero: both).
func (s *Session) WithFormats(f Format) *Session {
	if f == 0 {
		f = FormatBoth
	}
	return &Session{r: s.r, formats: f}
}

func (s *Session) client(ctx context.Context) *client { return &client{ctx: ctx, r: s.r} }

// Resolve fetches the manifest ref names now (a tag is read from the registry on every call; a
// digest's manifest is checked against it) and lists an index's platform images. An image that does
// not exist is ErrRegistry, as for every other verification: nothing can be said about it.
func (s *Session) Resolve(ctx context.Context, ref name.Reference) (Resolved, error) {
	t, err := s.client(ctx).resolve(ref)
	if err != nil {
		return Resolved{}, err
	}
	return resolvedOf(t), nil
}

// VerifySignatures checks the signatures of one manifest, named by digest, in the session's formats,
// against keys, and returns those that verify (each names its key). Errors are Verify's.
func (s *Session) VerifySignatures(ctx context.Context, d name.Digest, keys *Keys) ([]Signature, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	c := s.client(ctx)
	cands, err := c.candidates(&Target{Ref: d, Descriptor: v1.Descriptor{Digest: h}}, s.formats, "sig", isSignature, keys.set)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", d, err)
	}
	var out []Signature
	if err := evaluate(cands, ErrNoSignatures, func(sig Signature, _ *Statement) { out = append(out, sig) }); err != nil {
		return nil, fmt.Errorf("verifying %s: %w", d, err)
	}
	return out, nil
}

// AttestationCheck is what VerifyAttestations found on one image.
type AttestationCheck struct {
	Manifest
	// Attestations are those that verify, of the asked types.
	Attestations []Attestation
	// Errors says, for each asked type with no attestation that verifies, why: ErrNoAttestations
	// when there is none of that type, else the most telling failure (ErrRegistry first: a registry
	// failure leaves the answer unknown; then ErrWrongKey, ErrBadSignature...).
	Errors map[string]error
}

// VerifyAttestations checks the attestations of the given predicate types on each image r names:
// the image itself, or every platform image of an index (attestations describe an image, so each
// platform image needs its own). One listing per image serves every type, only attestations of
// those types are fetched, and each is checked against all keys. The error is for failures that
// leave nothing known about an image (its listing failed); a type that does not verify is in that
// image's Errors.
func (s *Session) VerifyAttestations(ctx context.Context, r Resolved, keys *Keys, predicateTypes ...string) ([]AttestationCheck, error) {
	images := r.Platforms
	if len(images) == 0 {
		images = []Manifest{r.Manifest}
	}
	want := func(pt string) bool { return pt != SignPredicateType && slices.Contains(predicateTypes, pt) }
	c := s.client(ctx)
	out := make([]AttestationCheck, len(images))
	errs := eachSubject(images, func(i int, m Manifest) error {
		out[i] = AttestationCheck{Manifest: m, Errors: map[string]error{}}
		cands, err := c.candidates(&Target{Ref: m.Digest, Descriptor: v1.Descriptor{Digest: digestOf(m)}}, s.formats, "att", want, keys.set)
		if err != nil {
			return err
		}
		results := checkAll(cands)
		for _, pt := range predicateTypes {
			// A verified statement counts for its own type; a failed candidate for the type its
			// annotation claims, or for every type when it claims none.
			keep := func(r checked) bool {
				if r.err == nil {
					return r.st.PredicateType == pt
				}
				return r.claimed == "" || r.claimed == pt
			}
			err := pick(results, ErrNoAttestations, keep, func(sig Signature, st *Statement) {
				out[i].Attestations = append(out[i].Attestations, Attestation{Format: sig.Format, Source: sig.Source, Statement: st, Key: sig.Key})
			})
			if err != nil {
				out[i].Errors[pt] = err
			}
		}
		return nil
	})
	if err := joinSubjects("verifying attestations of "+r.Digest.String(), images, errs, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// defaultTransport is a session's own copy of Go's default transport, keeping more idle connections
// per registry than its two: a server verifying many images at once would otherwise open and close
// connections all the time.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}
