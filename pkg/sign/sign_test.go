package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
)

// testKey is a fresh key pair (in memory: the key file format is tested in keys_test.go).
func testKey(t testing.TB) (Signer, Verifier) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewECDSASigner(k)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// pushImage writes a random image to host/repo:tag and returns it by digest.
func pushImage(t *testing.T, host, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Context().Digest(d.String())
}

func provenance() Predicate {
	return Predicate{Type: "https://slsa.dev/provenance/v1", JSON: json.RawMessage(`{"buildDefinition":{"buildType":"t","externalParameters":{}},"runDetails":{"builder":{"id":"b"}}}`)}
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	for _, referrers := range []bool{true, false} {
		for _, f := range []Format{FormatLegacy, FormatBundle, FormatBoth} {
			t.Run(f.String()+map[bool]string{true: "/referrers-api", false: "/fallback-tag"}[referrers], func(t *testing.T) {
				host := regtest.Registry(t, regtest.WithReferrers(referrers))
				ref := pushImage(t, host, "app")
				s, v := testKey(t)
				o := Options{Formats: f}
				w, err := Sign(ctx, ref, s, o)
				if err != nil {
					t.Fatal(err)
				}
				want := map[Format]int{FormatLegacy: 1, FormatBundle: 1, FormatBoth: 2}[f]
				if w.Signatures != want || w.Present != 0 {
					t.Fatalf("first sign wrote %+v, want %d signatures", w, want)
				}
				// A retry writes nothing new.
				if w, err = Sign(ctx, ref, s, o); err != nil || w.Signatures != 0 || w.Present != want {
					t.Fatalf("second sign: %+v %v", w, err)
				}
				sigs, err := Verify(ctx, ref, v, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(sigs) != want {
					t.Fatalf("verified %d signatures, want %d", len(sigs), want)
				}
				for _, other := range []Format{FormatLegacy, FormatBundle} {
					_, err := Verify(ctx, ref, v, Options{Formats: other})
					if other&f != 0 && err != nil {
						t.Errorf("verify %s: %v", other, err)
					}
					if other&f == 0 && !errors.Is(err, ErrNoSignatures) {
						t.Errorf("verify %s of an image signed only as %s: %v, want ErrNoSignatures", other, f, err)
					}
				}
			})
		}
	}
}

func TestSignIndexSignsEachPlatform(t *testing.T) {
	ctx := context.Background()
	host := regtest.Registry(t, regtest.WithReferrers(false))
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/multi:v1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	s, v := testKey(t)
	w, err := Sign(ctx, ref, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Signatures != 6 {
		t.Fatalf("wrote %d signatures, want 6 (index and 2 platforms, 2 formats)", w.Signatures)
	}
	m, _ := idx.IndexManifest()
	d, _ := idx.Digest()
	for _, h := range append([]v1.Hash{d}, m.Manifests[0].Digest, m.Manifests[1].Digest) {
		if _, err := Verify(ctx, ref.Context().Digest(h.String()), v, Options{}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
}

func TestAttest(t *testing.T) {
	ctx := context.Background()
	host := regtest.Registry(t, regtest.WithReferrers(false))
	ref := pushImage(t, host, "app")
	s, v := testKey(t)
	preds := []Predicate{provenance(), {Type: "https://cosign.sigstore.dev/attestation/vuln/v1", JSON: json.RawMessage(`{"scanner":{}}`)}}
	w, err := Attest(ctx, ref, s, preds, Options{})
	if err != nil || w.Attestations != 4 {
		t.Fatalf("attest: %+v %v", w, err)
	}
	if w, err = Attest(ctx, ref, s, preds, Options{}); err != nil || w.Attestations != 0 || w.Present != 4 {
		t.Fatalf("attesting again: %+v %v", w, err)
	}
	for _, f := range []Format{FormatLegacy, FormatBundle} {
		atts, err := VerifyAttestations(ctx, ref, v, preds[0].Type, Options{Formats: f})
		if err != nil {
			t.Fatal(err)
		}
		if len(atts) != 1 || atts[0].Statement.PredicateType != preds[0].Type || string(atts[0].Statement.Predicate) != string(preds[0].JSON) {
			t.Fatalf("%s: got %+v", f, atts)
		}
	}
	if _, err := VerifyAttestations(ctx, ref, v, "https://spdx.dev/Document", Options{}); !errors.Is(err, ErrNoAttestations) {
		t.Fatalf("an absent type: %v, want ErrNoAttestations", err)
	}
	// Attestations are not signatures.
	if _, err := Verify(ctx, ref, v, Options{}); !errors.Is(err, ErrNoSignatures) {
		t.Fatalf("verify an attested but unsigned image: %v", err)
	}
}

// failing wraps a registry so that requests matching match get status.
func failing(match func(*http.Request) bool, status int, armed *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() && match(r) {
				if status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", "0")
				}
				w.WriteHeader(status)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// alterManifest changes the body the registry serves for manifests matching match.
func alterManifest(match func(*http.Request) bool, armed *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !armed.Load() || !match(r) || r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			rec := &recorder{header: http.Header{}}
			next.ServeHTTP(rec, r)
			body := append([]byte(nil), rec.body...)
			body = append(body, ' ')
			for k, v := range rec.header {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(body)
		})
	}
}

type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) Write(b []byte) (int, error) { r.body = append(r.body, b...); return len(b), nil }

func TestVerifyFailsClosed(t *testing.T) {
	ctx := context.Background()
	quick := RemoteOptions{Retry: remote.Backoff{Steps: 1}}
	cases := []struct {
		name   string
		format Format
		// attestations verifies the image's attestations instead of its signatures.
		attestations bool
		// setup prepares the registry and returns the image to verify and the key to verify with.
		setup func(t *testing.T, host string, armed *atomic.Bool) (name.Digest, Verifier)
		wrap  func(armed *atomic.Bool) func(http.Handler) http.Handler
		want  error
	}{
		{name: "missing signature", setup: func(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
			_, v := testKey(t)
			return pushImage(t, host, "app"), v
		}, want: ErrNoSignatures},
		{name: "wrong key/legacy", format: FormatLegacy, setup: signedWithOtherKey, want: ErrWrongKey},
		{name: "wrong key/bundle", format: FormatBundle, setup: signedWithOtherKey, want: ErrWrongKey},
		{name: "tampered payload/legacy", format: FormatLegacy, setup: tamperedLegacy, want: ErrBadSignature},
		{name: "tampered payload/bundle", format: FormatBundle, setup: tamperedBundle, want: ErrBadSignature},
		{name: "signature of another image/legacy", format: FormatLegacy, setup: otherImageLegacy, want: ErrOtherImage},
		{name: "signature of another image/bundle", format: FormatBundle, setup: otherImageBundle, want: ErrOtherImage},
		{name: "payload re-signed for another digest/legacy", format: FormatLegacy, setup: resignedOtherDigestLegacy, want: ErrOtherImage},
		{name: "bundle of another image replayed/bundle", format: FormatBundle, setup: replayedBundle, want: ErrOtherImage},
		{name: "attestation of another image/legacy", format: FormatLegacy, attestations: true, setup: otherImageAttestation, want: ErrOtherImage},
		{name: "digest mismatch", setup: signed, want: ErrDigestMismatch, wrap: func(armed *atomic.Bool) func(http.Handler) http.Handler {
			return alterManifest(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/sha256:") }, armed)
		}},
		{name: "throttled .sig tag", format: FormatLegacy, setup: signed, want: ErrRegistry, wrap: func(armed *atomic.Bool) func(http.Handler) http.Handler {
			return failing(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ".sig") }, http.StatusTooManyRequests, armed)
		}},
		{name: "failing referrers", format: FormatBundle, setup: signed, want: ErrRegistry, wrap: func(armed *atomic.Bool) func(http.Handler) http.Handler {
			return failing(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/") }, http.StatusInternalServerError, armed)
		}},
		{name: "throttled unsigned image is not 'no signatures'", setup: func(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
			_, v := testKey(t)
			return pushImage(t, host, "app"), v
		}, want: ErrRegistry, wrap: func(armed *atomic.Bool) func(http.Handler) http.Handler {
			return failing(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/sha256-") }, http.StatusServiceUnavailable, armed)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			armed := &atomic.Bool{}
			var opts []regtest.RegistryOption
			opts = append(opts, regtest.WithReferrers(false))
			if tc.wrap != nil {
				opts = append(opts, regtest.WithHandler(tc.wrap(armed)))
			}
			host := regtest.Registry(t, opts...)
			ref, v := tc.setup(t, host, armed)
			armed.Store(true)
			o := Options{Formats: tc.format, RemoteOptions: quick}
			_, err := Verify(ctx, ref, v, o)
			if tc.attestations {
				_, err = VerifyAttestations(ctx, ref, v, "", o)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrNoSignatures, ErrWrongKey, ErrBadSignature, ErrOtherImage, ErrDigestMismatch, ErrRegistry} {
				if !errors.Is(other, tc.want) && errors.Is(err, other) {
					t.Errorf("%v is also %v: the kinds must stay distinct", err, other)
				}
			}
		})
	}
}

func signed(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ref := pushImage(t, host, "app")
	s, v := testKey(t)
	if _, err := Sign(context.Background(), ref, s, Options{}); err != nil {
		t.Fatal(err)
	}
	return ref, v
}

func signedWithOtherKey(t *testing.T, host string, a *atomic.Bool) (name.Digest, Verifier) {
	ref, _ := signed(t, host, a)
	_, other := testKey(t)
	return ref, other
}

// tamperedLegacy changes the signed payload in the .sig image, keeping the signature.
func tamperedLegacy(t *testing.T, host string, a *atomic.Bool) (name.Digest, Verifier) {
	ref, v := signed(t, host, a)
	c, _ := newClient(context.Background(), RemoteOptions{})
	h, _ := v1.NewHash(ref.DigestStr())
	tag := legacyTag(h, "sig")
	d, err := c.manifest(ref.Context().Tag(tag))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	_ = json.Unmarshal(d.Manifest, &m)
	payload, _ := c.blob(ref.Context(), m.Layers[0].Digest)
	altered := []byte(strings.Replace(string(payload), `"optional":null`, `"optional":{"approved":"yes"}`, 1))
	desc, err := c.putBlob(ref.Context(), altered, SimpleSigningMediaType)
	if err != nil {
		t.Fatal(err)
	}
	desc.Annotations = m.Layers[0].Annotations
	if err := c.putImage(ref.Context(), tag, []v1.Descriptor{desc}); err != nil {
		t.Fatal(err)
	}
	return ref, v
}

// tamperedBundle attaches a bundle whose statement was changed after signing.
func tamperedBundle(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ctx := context.Background()
	ref := pushImage(t, host, "app")
	s, v := testKey(t)
	c, _ := newClient(ctx, RemoteOptions{})
	tg, err := c.resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	stmt, _ := NewStatement(ref.Context().Name(), tg.Descriptor.Digest, Predicate{Type: SignPredicateType})
	env, _ := SignEnvelope(ctx, s, InTotoPayloadType, stmt)
	env.Payload = []byte(strings.Replace(string(env.Payload), `"predicate":{}`, `"predicate":{"x":1}`, 1))
	hint, _ := KeyHint(s.PublicKey())
	if _, _, err := c.putBundle(ref, tg.Descriptor, env, SignPredicateType, hint, nil, v, testNow()); err != nil {
		t.Fatal(err)
	}
	return ref, v
}

// otherImageLegacy copies image A's .sig image to image B's tag.
func otherImageLegacy(t *testing.T, host string, a *atomic.Bool) (name.Digest, Verifier) {
	refA, v := signed(t, host, a)
	refB := pushImage(t, host, "app")
	src, _ := name.ParseReference(refA.Context().String() + ":" + legacyTag(mustHash(refA), "sig"))
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := refB.Context().Tag(legacyTag(mustHash(refB), "sig"))
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	return refB, v
}

// otherImageBundle attaches image A's signed statement as a referrer of image B.
func otherImageBundle(t *testing.T, host string, _ *atomic.Bool) (name.Digest, Verifier) {
	ctx := context.Background()
	refA := pushImage(t, host, "app")
	refB := pushImage(t, host, "app")
	s, v := testKey(t)
	c, _ := newClient(ctx, RemoteOptions{})
	tb, err := c.resolve(refB)
	if err != nil {
		t.Fatal(err)
	}
	stmt, _ := NewStatement(refA.Context().Name(), mustHash(refA), Predicate{Type: SignPredicateType})
	env, _ := SignEnvelope(ctx, s, InTotoPayloadType, stmt)
	hint, _ := KeyHint(s.PublicKey())
	if _, _, err := c.putBundle(refB, tb.Descriptor, env, SignPredicateType, hint, nil, v, testNow()); err != nil {
		t.Fatal(err)
	}
	return refB, v
}

func mustHash(d name.Digest) v1.Hash {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		panic(err)
	}
	return h
}

// TestVerifyCache: a second verification fetches only what can change (tags, referrer lists, the
// image's manifest), and a damaged cache entry is fetched again, not trusted.
func TestVerifyCache(t *testing.T) {
	ctx := context.Background()
	flaky := &regtest.Flaky{}
	host := regtest.Registry(t, regtest.WithReferrers(false), regtest.WithHandler(flaky.Wrap))
	ref := pushImage(t, host, "app")
	s, v := testKey(t)
	if _, err := Attest(ctx, ref, s, []Predicate{provenance()}, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(ctx, ref, s, Options{}); err != nil {
		t.Fatal(err)
	}
	// writes counts the calls of the hook that runs before the cache is written to.
	var writes atomic.Int32
	o := Options{RemoteOptions: RemoteOptions{CacheDir: t.TempDir(), BeforeCacheWrite: func() { writes.Add(1) }}}
	verify := func() (blobs int) {
		t.Helper()
		before := flaky.Count(http.MethodGet, regtest.KindBlob)
		if _, err := Verify(ctx, ref, v, o); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyAttestations(ctx, ref, v, "", o); err != nil {
			t.Fatal(err)
		}
		return flaky.Count(http.MethodGet, regtest.KindBlob) - before
	}
	if n := verify(); n == 0 {
		t.Fatal("the first verification fetched no blobs")
	}
	if writes.Load() == 0 {
		t.Error("the cache was filled without calling BeforeCacheWrite")
	}
	writes.Store(0)
	if n := verify(); n != 0 {
		t.Fatalf("the second verification fetched %d blobs, want 0", n)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("a verification served from the cache called BeforeCacheWrite %d times", n)
	}
	// Damage every cached file: each is dropped and fetched again, and verification still succeeds.
	entries, err := os.ReadDir(filepath.Join(o.CacheDir, "sha256"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache: %v, %d entries", err, len(entries))
	}
	for _, e := range entries {
		if err := os.WriteFile(filepath.Join(o.CacheDir, "sha256", e.Name()), []byte("forged"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := verify(); n == 0 {
		t.Fatal("a damaged cache was trusted")
	}
}

// TestTargetArtifacts signs and attests a target the caller already knows (as a build that has just
// pushed does): no manifest of the index or its images is fetched to find out what to sign, every
// signature and attestation is reported with where it lives, exactly as verification names it, and
// doing it again reports the same ones as already there.
func TestTargetArtifacts(t *testing.T) {
	ctx := context.Background()
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	m, _ := idx.IndexManifest()
	raw, _ := idx.RawManifest()
	mt, _ := idx.MediaType()
	var subjectFetches atomic.Int32
	subjects := map[string]bool{d.String(): true, m.Manifests[0].Digest.String(): true, m.Manifests[1].Digest.String(): true}
	host := regtest.Registry(t, regtest.WithReferrers(false), regtest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i := strings.LastIndex(r.URL.Path, "/manifests/"); i >= 0 && r.Method != http.MethodPut && subjects[r.URL.Path[i+len("/manifests/"):]] {
				subjectFetches.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}))
	ref, _ := name.ParseReference(host + "/multi:v1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	subjectFetches.Store(0) // pushing an index checks its images
	target := Target{Ref: ref.Context().Digest(d.String()), Descriptor: v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}, Platforms: m.Manifests}
	s, v := testKey(t)
	hint, _ := KeyHint(s.PublicKey())
	w, err := SignTarget(ctx, target, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var atts []Artifact
	for _, img := range target.Images() {
		aw, err := AttestTarget(ctx, img, s, []Predicate{provenance()}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, aw.Artifacts...)
	}
	if n := subjectFetches.Load(); n != 0 {
		t.Errorf("signing a known target fetched its manifests %d times", n)
	}
	if len(w.Artifacts) != 6 || len(atts) != 4 {
		t.Fatalf("%d signatures and %d attestations reported, want 6 (3 manifests, 2 formats) and 4 (2 images, 2 formats)", len(w.Artifacts), len(atts))
	}
	key := func(kind string, f Format, subject, ref, pt string) string {
		return strings.Join([]string{kind, f.String(), subject, ref, pt}, " ")
	}
	reported := map[string]bool{}
	for _, a := range append(w.Artifacts, atts...) {
		if !a.New || a.KeyHint != hint {
			t.Errorf("%+v: want new, by key %s", a, hint)
		}
		reported[key(a.Kind, a.Format, a.Subject.String(), a.Ref, a.PredicateType)] = true
	}
	signed, err := VerifyEach(ctx, ref, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range signed {
		for _, sig := range sm.Signatures {
			if k := key(KindSignature, sig.Format, sm.Digest.DigestStr(), sig.Source, ""); !reported[k] {
				t.Errorf("verified signature %q was not reported", k)
			}
			delete(reported, key(KindSignature, sig.Format, sm.Digest.DigestStr(), sig.Source, ""))
		}
	}
	attested, err := VerifyEachAttestations(ctx, ref, v, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, am := range attested {
		for _, a := range am.Attestations {
			k := key(KindAttestation, a.Format, am.Digest.DigestStr(), a.Source, a.Statement.PredicateType)
			if !reported[k] {
				t.Errorf("verified attestation %q was not reported", k)
			}
			delete(reported, k)
		}
	}
	for k := range reported {
		t.Errorf("reported %q, which does not verify", k)
	}
	again, err := SignTarget(ctx, target, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range again.Artifacts {
		if a.New || a.Ref != w.Artifacts[i].Ref {
			t.Errorf("signing again: %+v, want %s already there", a, w.Artifacts[i].Ref)
		}
	}
}
