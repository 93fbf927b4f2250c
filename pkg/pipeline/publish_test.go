package pipeline

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// openCatalog opens the catalog of data directory dir, closed when the test ends.
func openCatalog(t *testing.T, dir string) catalog.Catalog {
	t.Helper()
	cat, err := store.Store{Root: dir}.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	return cat
}

func testSigner(t *testing.T) sign.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewECDSASigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appSpec is the fixture spec of image "app", release line 1.0, with extra lines appended.
func appSpec(t *testing.T, repoURL, keyring, extra string) *spec.Spec {
	t.Helper()
	return parseSpec(t, t.TempDir(), `name: app
version: "1.0"
repositories: [{url: "`+repoURL+`", suite: stable, keyring: "`+keyring+`"}]
packages: [hello-data]
`+extra)
}

// lockSpec locks s.
func lockSpec(t *testing.T, s *spec.Spec, opt Options) *lock.Lock {
	t.Helper()
	l, err := Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sigPutFailer fails, while armed, every PUT of a .sig manifest: signing fails after the push. While
// forgetting, it answers 404 for every manifest until one is PUT: a registry that lost the image.
// It counts manifest PUTs.
type sigPutFailer struct {
	armed, forgetting atomic.Bool
	manifestPuts      atomic.Int32
}

func (f *sigPutFailer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		manifest := strings.Contains(r.URL.Path, "/manifests/")
		if f.armed.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, ".sig") {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		if manifest && r.Method == http.MethodPut {
			f.manifestPuts.Add(1)
			f.forgetting.Store(false)
		}
		if manifest && f.forgetting.Load() {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkArtifacts verifies the version's signatures and attestations in the registry with the key,
// and checks that every artifact the catalog records is among them: each signature for the version's
// digest, and an attestation of every predicate its evidence renders, in both formats.
func checkArtifacts(t *testing.T, v *catalog.Version, s sign.Signer, o sign.Options) {
	t.Helper()
	ctx := context.Background()
	var reg string
	for _, l := range v.Locations {
		if l.Kind == catalog.LocationRegistry {
			reg = l.Ref
		}
	}
	ref, err := name.NewDigest(reg)
	if err != nil {
		t.Fatalf("registry location %q: %v", reg, err)
	}
	verifier, err := sign.NewVerifier(s)
	if err != nil {
		t.Fatal(err)
	}
	hint, _ := sign.KeyHint(s.PublicKey())
	verified := map[string]bool{}
	key := func(kind, format, subject, ref, pt string) string {
		return strings.Join([]string{kind, format, subject, ref, pt}, " ")
	}
	signed, err := sign.VerifyEach(ctx, ref, verifier, o)
	if err != nil {
		t.Fatalf("verifying %s: %v", ref, err)
	}
	for _, m := range signed {
		for _, sig := range m.Signatures {
			verified[key(catalog.ArtifactSignature, sig.Format.String(), m.Digest.DigestStr(), sig.Source, "")] = true
		}
	}
	attested, err := sign.VerifyEachAttestations(ctx, ref, verifier, "", o)
	if err != nil {
		t.Fatalf("verifying the attestations of %s: %v", ref, err)
	}
	for _, m := range attested {
		for _, a := range m.Attestations {
			verified[key(catalog.ArtifactAttestation, a.Format.String(), m.Digest.DigestStr(), a.Source, a.Statement.PredicateType)] = true
		}
	}
	want := map[string]bool{}
	for _, f := range []string{"legacy", "bundle"} {
		want[catalog.ArtifactSignature+" "+f+" "+v.Digest] = true
		preds, err := attest.Predicates(v.Platforms[0].Evidence)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range preds {
			want[catalog.ArtifactAttestation+" "+f+" "+v.Platforms[0].Digest+" "+p.Type] = true
		}
	}
	for _, a := range v.Artifacts {
		if !verified[key(a.Kind, a.Format, a.Subject, a.Ref, a.PredicateType)] {
			t.Errorf("recorded %+v does not verify", a)
		}
		if a.KeyID != hint {
			t.Errorf("recorded %+v names key %s, want %s", a, a.KeyID, hint)
		}
		delete(want, strings.TrimSuffix(a.Kind+" "+a.Format+" "+a.Subject+" "+a.PredicateType, " "))
	}
	for w := range want {
		t.Errorf("no %s recorded", w)
	}
}

// evidenceJSON is a version's platforms with their evidence, for comparing records.
func evidenceJSON(t *testing.T, v *catalog.Version) string {
	t.Helper()
	data, err := json.Marshal(v.Platforms)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// tagsAt reads which digest each tag of repo names in the registry.
func registryTag(t *testing.T, repo, tag string, tr http.RoundTripper) string {
	t.Helper()
	ref, err := name.ParseReference(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithTransport(tr))
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return desc.Digest.String()
}

func layoutTag(t *testing.T, opt Options, tag string) string {
	t.Helper()
	d, err := opt.Store().Layouts().Lookup("app", tag)
	if err != nil {
		t.Fatalf("layout tag %s: %v", tag, err)
	}
	return d.Digest.String()
}

// TestPublish publishes the fixture spec, signed, into a loopback registry (ggcr's in-process one and
// Debian's docker-registry): a failure after the push leaves r1 pending and unpublished, and
// publishing again completes it with its locations and artifacts, every one verifying; an unchanged
// rebuild is a cache hit that returns the same record and publishes nothing; a changed label gives
// r2, and the moving tags follow it in the layout and the registry while r1 keeps its tag.
func TestPublish(t *testing.T) {
	repo := fixtureRepo(t)
	for _, reg := range []struct {
		name  string
		start func(t *testing.T, wrap func(http.Handler) http.Handler) string
	}{
		{"in-process", func(t *testing.T, wrap func(http.Handler) http.Handler) string {
			return regtest.Registry(t, regtest.WithHandler(wrap))
		}},
		{"docker-registry", func(t *testing.T, wrap func(http.Handler) http.Handler) string {
			return regtest.Front(t, regtest.DockerRegistry(t), wrap)
		}},
	} {
		t.Run(reg.name, func(t *testing.T) {
			ctx := context.Background()
			var fail sigPutFailer
			host := reg.start(t, fail.wrap)
			tr := regtest.OfflineTransport(nil)
			data := t.TempDir()
			var log bytes.Buffer
			signer := testSigner(t)
			opt := PublishOptions{
				Options:  Options{DataDir: data},
				Catalog:  openCatalog(t, data),
				Push:     host + "/golden/app",
				Registry: publish.PushOptions{Transport: tr},
				Signer:   signer,
				Sign:     sign.Options{RemoteOptions: sign.RemoteOptions{Transport: tr}},
				Log:      &log,
			}
			s := appSpec(t, repo.URL, repo.Keyring, "")
			l := lockSpec(t, s, opt.Options)

			fail.armed.Store(true)
			if _, err := Publish(ctx, s, l, opt); err == nil {
				t.Fatal("Publish succeeded while the registry refused signatures")
			}
			pending, err := opt.Catalog.Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != 1 || pending[0].Tag() != "1.0-r1" || pending[0].State != catalog.StatePending {
				t.Fatalf("after a failed signing, pending = %+v, want 1.0-r1", pending)
			}
			if _, err := opt.Catalog.Get(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"}); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("a version whose signing failed is found: %v", err)
			}
			if evs, _ := opt.Catalog.Events(ctx, 0, 100); len(evs) != 0 {
				t.Errorf("events before anything was published: %+v", evs)
			}

			fail.armed.Store(false)
			v1, err := Publish(ctx, s, l, opt)
			if err != nil {
				t.Fatalf("Publish: %v\n%s", err, log.String())
			}
			if v1.ID != pending[0].ID || v1.Tag() != "1.0-r1" || v1.State != catalog.StatePublished || v1.Status.Status != catalog.StatusActive {
				t.Fatalf("published %s (id %d, %s, %s), want the pending 1.0-r1 (id %d) published and active", v1.Tag(), v1.ID, v1.State, v1.Status.Status, pending[0].ID)
			}
			wantLocs := []catalog.Location{
				{Kind: catalog.LocationLayout, Ref: opt.Store().Layouts().Dir("app") + ":1.0-r1"},
				{Kind: catalog.LocationRegistry, Ref: host + "/golden/app@" + v1.Digest},
			}
			for _, w := range wantLocs {
				if !slices.Contains(v1.Locations, w) {
					t.Errorf("locations %+v lack %+v", v1.Locations, w)
				}
			}
			checkArtifacts(t, v1, signer, opt.Sign)
			evs, err := opt.Catalog.Events(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Kind != catalog.EventPublished || evs[0].VersionID != v1.ID {
				t.Fatalf("events %+v, want one published event for r1", evs)
			}

			// Unchanged: the build is a cache hit, the record the same, nothing published or pushed.
			log.Reset()
			puts := fail.manifestPuts.Load()
			again, err := Publish(ctx, s, l, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "cached (") {
				t.Errorf("the unchanged rebuild was not a cache hit:\n%s", log.String())
			}
			if again.ID != v1.ID || again.Digest != v1.Digest || again.Tag() != v1.Tag() || evidenceJSON(t, again) != evidenceJSON(t, v1) {
				t.Errorf("a cache hit gave another record: %s %s, want %s %s (or other evidence)", again.Tag(), again.Digest, v1.Tag(), v1.Digest)
			}
			if more, _ := opt.Catalog.Events(ctx, evs[0].Seq, 100); len(more) != 0 {
				t.Errorf("an unchanged rebuild appended events: %+v", more)
			}
			if vs, _ := opt.Catalog.List(ctx, catalog.ListOptions{Image: "app", Pending: true}); len(vs) != 1 {
				t.Errorf("%d versions after an unchanged rebuild, want 1", len(vs))
			}
			if n := fail.manifestPuts.Load(); n != puts {
				t.Errorf("an unchanged rebuild sent %d manifests", n-puts)
			}
			// A registry that lost the image gets it again, and nothing is published twice.
			fail.forgetting.Store(true)
			if again, err = Publish(ctx, s, l, opt); err != nil {
				t.Fatalf("publishing to a registry that lost the image: %v\n%s", err, log.String())
			}
			if again.ID != v1.ID {
				t.Errorf("publishing to a registry that lost the image gave version %d, want %d", again.ID, v1.ID)
			}
			if fail.manifestPuts.Load() == puts {
				t.Error("the image was not pushed again to the registry that lost it")
			}
			if more, _ := opt.Catalog.Events(ctx, evs[0].Seq, 100); len(more) != 0 {
				t.Errorf("pushing again appended events: %+v", more)
			}

			// A changed label is a new version of the line; the moving tags follow it.
			s2 := appSpec(t, repo.URL, repo.Keyring, "labels: {team: platform}\n")
			v2, err := Publish(ctx, s2, lockSpec(t, s2, opt.Options), opt)
			if err != nil {
				t.Fatalf("Publish r2: %v\n%s", err, log.String())
			}
			if v2.Tag() != "1.0-r2" || v2.Digest == v1.Digest {
				t.Fatalf("the changed spec gave %s %s, want 1.0-r2 with a new digest", v2.Tag(), v2.Digest)
			}
			checkArtifacts(t, v2, signer, opt.Sign)
			for tag, want := range map[string]string{"1.0-r1": v1.Digest, "1.0-r2": v2.Digest, "1.0": v2.Digest, "latest": v2.Digest} {
				if got := registryTag(t, host+"/golden/app", tag, tr); got != want {
					t.Errorf("registry tag %s names %s, want %s", tag, got, want)
				}
				if got := layoutTag(t, opt.Options, tag); got != want {
					t.Errorf("layout tag %s names %s, want %s", tag, got, want)
				}
			}
		})
	}
}

// TestPublishLocal: without a registry the version is recorded with its layout location only and
// no artifacts, the layout carries its immutable tag and the moving ones; signing without a registry
// is refused before anything is built or recorded.
func TestPublishLocal(t *testing.T) {
	repo := fixtureRepo(t)
	ctx := context.Background()
	data := t.TempDir()
	opt := PublishOptions{Options: Options{DataDir: data}, Catalog: openCatalog(t, data)}
	s := appSpec(t, repo.URL, repo.Keyring, "")
	l := lockSpec(t, s, opt.Options)

	signing := opt
	signing.Signer = testSigner(t)
	if _, err := Publish(ctx, s, l, signing); !errors.Is(err, ErrSignNeedsPush) {
		t.Fatalf("signing without a registry: %v, want ErrSignNeedsPush", err)
	}
	if vs, _ := opt.Catalog.List(ctx, catalog.ListOptions{Pending: true}); len(vs) != 0 {
		t.Errorf("a refused publish recorded %d versions", len(vs))
	}

	v, err := Publish(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.Location{{Kind: catalog.LocationLayout, Ref: opt.Store().Layouts().Dir("app") + ":1.0-r1"}}
	if v.State != catalog.StatePublished || !reflect.DeepEqual(v.Locations, want) || len(v.Artifacts) != 0 {
		t.Errorf("local build recorded %s, locations %+v, artifacts %+v; want published at %+v only", v.State, v.Locations, v.Artifacts, want)
	}
	if len(v.Platforms) != 1 || v.Platforms[0].Evidence == nil || v.Platforms[0].Evidence.Provenance == nil || len(v.Spec) == 0 || len(v.Lock) == 0 {
		t.Errorf("the record lacks its evidence, spec or lock: %+v", v)
	}
	for _, tag := range []string{"1.0-r1", "1.0", "latest"} {
		if got := layoutTag(t, opt.Options, tag); got != v.Digest {
			t.Errorf("layout tag %s names %s, want %s", tag, got, v.Digest)
		}
	}
	if got, err := opt.Catalog.Get(ctx, catalog.Ref{Image: "app", Version: "latest"}); err != nil || got.ID != v.ID {
		t.Errorf("app@latest = %v, %v; want the version just published", got, err)
	}

	// A spec without a version: its release line is latest.
	nover := parseSpec(t, t.TempDir(), `name: nover
repositories: [{url: "`+repo.URL+`", suite: stable, keyring: "`+repo.Keyring+`"}]
packages: [hello-data]
`)
	nv, err := Publish(ctx, nover, lockSpec(t, nover, opt.Options), opt)
	if err != nil {
		t.Fatal(err)
	}
	if nv.Tag() != "latest-r1" {
		t.Errorf("a spec without a version gave %s, want latest-r1", nv.Tag())
	}
	for _, tag := range []string{"latest-r1", "latest"} {
		if d, err := opt.Store().Layouts().Lookup("nover", tag); err != nil || d.Digest.String() != nv.Digest {
			t.Errorf("layout tag %s: %v %v, want %s", tag, d.Digest, err, nv.Digest)
		}
	}
}

// TestCompletePendingLeavesOrAbandons: CompletePending leaves alone a pending version younger than
// Settle, and one that was to be pushed when it has no signer; it abandons one whose image is neither
// in the layout nor in a registry; with nothing pending it does nothing.
func TestCompletePendingLeavesOrAbandons(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	opt := PublishOptions{Options: Options{DataDir: data}, Catalog: openCatalog(t, data)}
	if done, err := CompletePending(ctx, opt); err != nil || len(done) != 0 {
		t.Fatalf("CompletePending with nothing pending: %+v %v", done, err)
	}
	digest := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	begin := func(d string, locs ...catalog.Location) *catalog.Version {
		t.Helper()
		v, _, err := opt.Catalog.Begin(ctx, &catalog.Version{
			Image: "gone", Line: "1", Digest: d, Built: time.Now(), Locations: locs,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	local := begin(digest("a"))
	pushed := begin(digest("b"), catalog.Location{Kind: catalog.LocationRegistry, Ref: "127.0.0.1:1/gone@" + digest("b")})

	settled := opt
	settled.Settle = time.Hour
	if done, err := CompletePending(ctx, settled); err != nil || len(done) != 0 {
		t.Fatalf("CompletePending of versions younger than Settle: %+v %v", done, err)
	}
	done, err := CompletePending(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || !done[0].Abandoned || done[0].Version.ID != local.ID {
		t.Fatalf("CompletePending did %+v, want %s abandoned", done, local.Ref())
	}
	pending, err := opt.Catalog.Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0].ID != pushed.ID {
		t.Errorf("pending after: %+v %v, want only the version to be pushed and signed", pending, err)
	}
}
