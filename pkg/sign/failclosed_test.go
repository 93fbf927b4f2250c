package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
)

// resignedOtherDigestLegacy replaces the image's legacy signature with its own payload, the
// docker-manifest-digest changed to another image's, signed again with the right key: a signature
// that verifies, for another image.
func resignedOtherDigestLegacy(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ctx := context.Background()
	ref := pushImage(t, host, "app")
	other := pushImage(t, host, "app")
	s, v := testKey(t)
	if _, err := Sign(ctx, ref, s, Options{Formats: FormatLegacy}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(ctx, RemoteOptions{})
	tag := legacyTag(mustHash(ref), "sig")
	d, err := c.manifest(ref.Context().Tag(tag))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	payload, err := c.blob(ref.Context(), m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	altered := strings.Replace(string(payload), ref.DigestStr(), other.DigestStr(), 1)
	if altered == string(payload) {
		t.Fatalf("the payload does not name %s: %s", ref.DigestStr(), payload)
	}
	sig, err := s.Sign(ctx, []byte(altered))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.putBlob(ref.Context(), []byte(altered), SimpleSigningMediaType)
	if err != nil {
		t.Fatal(err)
	}
	desc.Annotations = map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	if err := c.putImage(ref.Context(), tag, []v1.Descriptor{desc}); err != nil {
		t.Fatal(err)
	}
	return ref, v
}

// replayedBundle attaches to image B the bundle ingot signed image A with: a genuine bundle, moved.
func replayedBundle(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ctx := context.Background()
	refA := pushImage(t, host, "app")
	refB := pushImage(t, host, "app")
	s, v := testKey(t)
	if _, err := Sign(ctx, refA, s, Options{Formats: FormatBundle}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(ctx, RemoteOptions{})
	refs, err := c.r.referrers(ctx, refA)
	if err != nil || len(refs) != 1 {
		t.Fatalf("referrers of the signed image: %v, %v", refs, err)
	}
	b, err := c.fetchBundle(refA.Context(), refs[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := c.resolve(refB)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.putBundle(refB, tb.Descriptor, b.Envelope, SignPredicateType, b.Hint, nil, v, testNow()); err != nil {
		t.Fatal(err)
	}
	return refB, v
}

// otherImageAttestation copies image A's .att image to image B's .att tag.
func otherImageAttestation(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ctx := context.Background()
	refA := pushImage(t, host, "app")
	refB := pushImage(t, host, "app")
	s, v := testKey(t)
	if _, err := Attest(ctx, refA, s, []Predicate{provenance()}, Options{Formats: FormatLegacy}); err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(refA.Context().Tag(legacyTag(mustHash(refA), "att")))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(refB.Context().Tag(legacyTag(mustHash(refB), "att")), img); err != nil {
		t.Fatal(err)
	}
	return refB, v
}

// signedMaterial is where everything verification reads for one image lives: the image, both of its
// legacy tags with their layers, and its referrers with their bundles.
type signedMaterial struct {
	image                        name.Digest
	sigLayers, attLayers         []v1.Hash
	bundleManifests, bundleBlobs []v1.Hash
}

// signAndAttest signs and attests a fresh image in both formats and records where it all lives.
func signAndAttest(t *testing.T, host string, s Signer) signedMaterial {
	t.Helper()
	ctx := context.Background()
	m := signedMaterial{image: pushImage(t, host, "app")}
	if _, err := Sign(ctx, m.image, s, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Attest(ctx, m.image, s, []Predicate{provenance()}, Options{}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(ctx, RemoteOptions{})
	for suffix, dst := range map[string]*[]v1.Hash{"sig": &m.sigLayers, "att": &m.attLayers} {
		d, err := c.manifest(m.image.Context().Tag(legacyTag(mustHash(m.image), suffix)))
		if err != nil {
			t.Fatal(err)
		}
		var man v1.Manifest
		if err := json.Unmarshal(d.Manifest, &man); err != nil {
			t.Fatal(err)
		}
		for _, l := range man.Layers {
			*dst = append(*dst, l.Digest)
		}
	}
	refs, err := c.r.referrers(ctx, m.image)
	if err != nil || len(refs) != 2 {
		t.Fatalf("referrers: %v, %v; want a signature and an attestation", refs, err)
	}
	for _, r := range refs {
		d, err := c.manifest(m.image.Context().Digest(r.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		var man v1.Manifest
		if err := json.Unmarshal(d.Manifest, &man); err != nil {
			t.Fatal(err)
		}
		m.bundleManifests = append(m.bundleManifests, r.Digest)
		m.bundleBlobs = append(m.bundleBlobs, man.Layers[0].Digest)
	}
	return m
}

// names reports whether the request path ends in one of the digests.
func names(path string, ds []v1.Hash) bool {
	for _, d := range ds {
		if strings.HasSuffix(path, "/"+d.String()) {
			return true
		}
	}
	return false
}

// TestRegistryErrorIsNeverAbsence fails each kind of request verification makes — the image's
// manifest, the .sig and .att tags and their layers, the referrers list (API or fallback tag), a
// bundle's manifest and blob — with 500 and with 429, through a Flaky that sees only that kind. Verify
// and VerifyAttestations must report ErrRegistry: never "no signatures" or "no attestations", which
// a policy may read as "unsigned, allowed" or which hides an outage.
func TestRegistryErrorIsNeverAbsence(t *testing.T) {
	ctx := context.Background()
	// Retries run out (two tries), so a persistent failure is reported, not waited out.
	retry := RemoteOptions{Retry: remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}}
	type kind struct {
		name   string
		format Format
		match  func(r *http.Request, m signedMaterial) bool
	}
	image := kind{"image manifest", FormatBoth, func(r *http.Request, m signedMaterial) bool {
		return strings.HasSuffix(r.URL.Path, "/manifests/"+m.image.DigestStr())
	}}
	referrers := kind{"referrers list", FormatBundle, func(r *http.Request, m signedMaterial) bool {
		tag := strings.Replace(m.image.DigestStr(), ":", "-", 1)
		return regtest.KindOf(r.URL.Path) == regtest.KindReferrers || strings.HasSuffix(r.URL.Path, "/manifests/"+tag)
	}}
	bundleManifest := kind{"bundle manifest", FormatBundle, func(r *http.Request, m signedMaterial) bool {
		return regtest.KindOf(r.URL.Path) == regtest.KindManifest && names(r.URL.Path, m.bundleManifests)
	}}
	bundleBlob := kind{"bundle blob", FormatBundle, func(r *http.Request, m signedMaterial) bool {
		return regtest.KindOf(r.URL.Path) == regtest.KindBlob && names(r.URL.Path, m.bundleBlobs)
	}}
	legacyTagKind := func(suffix string) kind {
		return kind{"." + suffix + " tag", FormatLegacy, func(r *http.Request, m signedMaterial) bool {
			return strings.HasSuffix(r.URL.Path, "/manifests/"+legacyTag(mustHash(m.image), suffix))
		}}
	}
	sigLayer := kind{".sig payload", FormatLegacy, func(r *http.Request, m signedMaterial) bool {
		return regtest.KindOf(r.URL.Path) == regtest.KindBlob && names(r.URL.Path, m.sigLayers)
	}}
	attLayer := kind{".att envelope", FormatLegacy, func(r *http.Request, m signedMaterial) bool {
		return regtest.KindOf(r.URL.Path) == regtest.KindBlob && names(r.URL.Path, m.attLayers)
	}}
	verbs := []struct {
		name  string
		kinds []kind
		// verify verifies the image; absent is the error that says there is nothing.
		verify func(m signedMaterial, v Verifier, o Options) error
		absent error
	}{
		{
			name:  "Verify",
			kinds: []kind{image, legacyTagKind("sig"), sigLayer, referrers, bundleManifest, bundleBlob},
			verify: func(m signedMaterial, v Verifier, o Options) error {
				_, err := Verify(ctx, m.image, v, o)
				return err
			},
			absent: ErrNoSignatures,
		},
		{
			name:  "VerifyAttestations",
			kinds: []kind{image, legacyTagKind("att"), attLayer, referrers, bundleManifest, bundleBlob},
			verify: func(m signedMaterial, v Verifier, o Options) error {
				_, err := VerifyAttestations(ctx, m.image, v, provenance().Type, o)
				return err
			},
			absent: ErrNoAttestations,
		},
	}
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers API", false: "referrers tag"}[api], func(t *testing.T) {
			flaky := &regtest.Flaky{}
			var match atomic.Pointer[func(*http.Request) bool]
			only := func(next http.Handler) http.Handler {
				failing := flaky.Wrap(next)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if m := match.Load(); m != nil && (*m)(r) {
						failing.ServeHTTP(w, r)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			host := regtest.Registry(t, regtest.WithReferrers(api), regtest.WithHandler(only))
			s, v := testKey(t)
			m := signAndAttest(t, host, s)
			for _, verb := range verbs {
				// Unbroken, both formats verify, so a failure below is the injected one.
				for _, f := range []Format{FormatLegacy, FormatBundle} {
					if err := verb.verify(m, v, Options{Formats: f, RemoteOptions: retry}); err != nil {
						t.Fatalf("%s %s before any failure: %v", verb.name, f, err)
					}
				}
				for _, k := range verb.kinds {
					for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
						t.Run(fmt.Sprintf("%s/%s/%d", verb.name, k.name, status), func(t *testing.T) {
							sel := func(r *http.Request) bool { return r.Method == http.MethodGet && k.match(r, m) }
							match.Store(&sel)
							flaky.FailAll(regtest.Failure{Status: status, RetryAfter: "0"})
							before := flaky.Failed()
							err := verb.verify(m, v, Options{Formats: k.format, RemoteOptions: retry})
							failed := flaky.Failed() - before
							flaky.Heal()
							match.Store(nil)
							if failed == 0 {
								t.Fatalf("no %s request was made, so none failed (err %v)", k.name, err)
							}
							if !errors.Is(err, ErrRegistry) {
								t.Errorf("%d on the %s: %v, want ErrRegistry", status, k.name, err)
							}
							if errors.Is(err, verb.absent) || errors.Is(err, ErrNoSignatures) || errors.Is(err, ErrNoAttestations) {
								t.Errorf("%d on the %s reads as absence: %v", status, k.name, err)
							}
						})
					}
				}
			}
		})
	}
}
