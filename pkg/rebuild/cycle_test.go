package rebuild

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/sign"
)

// TestCycleUpstream registers a spec and runs cycles on the embedded queue (SQLite, one connection):
// the first builds, signs and publishes 1.0-r1; an unchanged cycle publishes nothing; once the
// fixture repository publishes a newer hello-data, which fixes an advisory of the vulnerability
// data, the next cycle publishes a signed 1.0-r2 whose reason names the package and the advisory,
// deprecates 1.0-r1 (grace 0), and records when the new version was first seen upstream.
func TestCycleUpstream(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	f.register(f.specBody("app", "hello-data", ""), nil)
	cfg := f.config()

	out := f.cycle(cfg)
	res := rebuilt(t, out)
	if r := res["app"]; !r.Published || r.Version != "app@1.0-r1" || !strings.Contains(r.Reason, "no version of app@1.0 yet") {
		t.Fatalf("first cycle rebuilt %+v", res)
	}
	r1 := f.get("app@1.0-r1")
	checkSigned(t, f, r1)
	if len(out.Report.Repositories) != 1 || out.Report.UpstreamSeen == 0 {
		t.Errorf("first cycle report %+v: want one repository read and its packages recorded", out.Report)
	}
	if rs, err := f.cat.Spec(ctx, "app"); err != nil || len(rs.Lock) == 0 {
		t.Errorf("the registration has no lock after its first build: %v", err)
	}

	f.clock.set(f.clock.Now().Add(time.Hour))
	events := len(allEvents(t, f.cat))
	out = f.cycle(cfg)
	if len(out.Report.Rebuilds) != 0 || !slices.Equal(out.Report.Unchanged, []string{"app"}) {
		t.Errorf("unchanged cycle: rebuilds %+v, unchanged %v", out.Report.Rebuilds, out.Report.Unchanged)
	}
	if n := len(f.versions("app")); n != 1 {
		t.Errorf("an unchanged cycle left %d versions", n)
	}
	if n := len(allEvents(t, f.cat)); n != events {
		t.Errorf("an unchanged cycle appended %d events", n-events)
	}

	importAdvisories(t, f.st, advisory{id: "CVE-2099-0100", pkg: "hello-data", fixed: "1.1", cvss: cvssMedium, published: f.clock.Now()})
	f.repo.Publish(t, repoWith(baseFiles("12.4"), helloData("1.1")))
	seenAt := f.clock.Now().Add(time.Hour)
	f.clock.set(seenAt)
	out = f.cycle(cfg)
	res = rebuilt(t, out)
	r := res["app"]
	want := "upstream: hello-data 1.0 → 1.1 (fixes CVE-2099-0100)"
	if !r.Published || r.Version != "app@1.0-r2" || r.Reason != want {
		t.Fatalf("after a newer hello-data, the cycle rebuilt %+v; want app@1.0-r2 because %q", res, want)
	}
	r2 := f.get("app@1.0-r2")
	checkSigned(t, f, r2)
	if r2.Reason != want {
		t.Errorf("r2's reason = %q, want %q", r2.Reason, want)
	}
	if got := f.get("app@1.0-r1").Status.Status; got != catalog.StatusDeprecated {
		t.Errorf("r1 is %s after r2 was published with no grace, want deprecated", got)
	}
	h, err := f.cat.History(ctx, catalog.Ref{Image: "app", Version: "1.0-r2"})
	if err != nil || len(h) == 0 || h[0].Kind != catalog.EventPublished || h[0].Reason != want {
		t.Errorf("r2's history %+v (%v): want its published event to say %q", h, err, want)
	}
	at, ok, err := f.cat.FirstSeen(ctx, catalog.UpstreamPackage{Ecosystem: "Debian:1", Name: "hello-data", Version: "1.1"})
	if err != nil || !ok || !at.Equal(seenAt) {
		t.Errorf("hello-data 1.1 first seen %s, %v, %v; want %s", at, ok, err, seenAt)
	}
	if at, ok, _ := f.cat.FirstSeen(ctx, catalog.UpstreamPackage{Ecosystem: "Debian:1", Name: "hello-data", Version: "1.0"}); !ok || !at.Before(seenAt) {
		t.Errorf("hello-data 1.0 first seen %s, %v: want the first cycle's time", at, ok)
	}
	if pol := findJob(out, KindRescan); pol == nil || pol.State != StateCompleted {
		t.Errorf("the cycle's re-scan: %+v", pol)
	}
}

func repoWith(pkgs ...debtest.Package) testrepo.Options { return testrepo.Options{Packages: pkgs} }

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkSigned verifies a version's signatures in the registry with the fixture's key, and that the
// catalog records them and where the image is.
func checkSigned(t *testing.T, f *fixture, v *catalog.Version) {
	t.Helper()
	var reg string
	for _, l := range v.Locations {
		if l.Kind == catalog.LocationRegistry {
			reg = l.Ref
		}
	}
	if !strings.HasPrefix(reg, f.host+"/golden/"+v.Image+"@"+v.Digest) {
		t.Errorf("%s lives at %+v, want %s/golden/%s@%s", v.Ref(), v.Locations, f.host, v.Image, v.Digest)
		return
	}
	verifier, err := sign.NewVerifier(f.signer)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := sign.VerifyEach(context.Background(), mustDigest(t, reg), verifier, sign.Options{RemoteOptions: sign.RemoteOptions{Transport: f.tr}})
	if err != nil || len(signed) == 0 {
		t.Errorf("verifying %s: %v", reg, err)
	}
	kinds := map[string]int{}
	for _, a := range v.Artifacts {
		kinds[a.Kind]++
	}
	if kinds[catalog.ArtifactSignature] == 0 || kinds[catalog.ArtifactAttestation] == 0 {
		t.Errorf("%s records artifacts %v, want signatures and attestations", v.Ref(), kinds)
	}
}

func allEvents(t *testing.T, c catalog.Catalog) []catalog.Event {
	t.Helper()
	evs, err := c.Events(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func findJob(out *CycleOutcome, kind string) *Job {
	for i := range out.Jobs {
		if out.Jobs[i].Kind == kind {
			return &out.Jobs[i]
		}
	}
	return nil
}

// TestCycleBaseTag: two specs built on one base image tag. Each cycle asks the registry for the tag
// with one manifest HEAD, whatever the number of specs; an unchanged tag rebuilds nothing and is not
// fetched; a moved tag rebuilds both, each new version built on the new base and saying so.
func TestCycleBaseTag(t *testing.T) {
	var heads, gets atomic.Int32
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/library/base/manifests/12" {
				switch r.Method {
				case http.MethodHead:
					heads.Add(1)
				case http.MethodGet:
					gets.Add(1)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	f := newFixture(t, "", count)
	pushBase := func(seed int64) string {
		img, err := random.Image(64+seed, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		ref, err := name.NewTag(f.host + "/library/base:12")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(f.tr)); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	first := pushBase(1)
	base := "base: " + f.host + "/library/base:12\n"
	f.register(f.specBody("one", "hello-data", base), nil)
	f.register(f.specBody("two", "base-files", base), nil)
	cfg := f.config()
	if res := rebuilt(t, f.cycle(cfg)); !res["one"].Published || !res["two"].Published {
		t.Fatalf("first cycle: %+v", res)
	}
	for _, image := range []string{"one", "two"} {
		if got := baseOf(t, f, image+"@1.0-r1"); got != first {
			t.Errorf("%s@1.0-r1 is built on %s, want %s", image, got, first)
		}
	}

	heads.Store(0)
	gets.Store(0)
	out := f.cycle(cfg)
	if len(out.Report.Rebuilds) != 0 || heads.Load() != 1 || gets.Load() != 0 {
		t.Errorf("unchanged base: rebuilds %+v, %d HEAD and %d GET of the tag; want none, 1 and 0", out.Report.Rebuilds, heads.Load(), gets.Load())
	}
	if len(out.Report.Bases) != 1 || out.Report.Bases[0].Digest != first {
		t.Errorf("bases checked: %+v", out.Report.Bases)
	}

	second := pushBase(2)
	heads.Store(0)
	out = f.cycle(cfg)
	if heads.Load() != 1 {
		t.Errorf("a cycle sent %d HEADs for one base tag", heads.Load())
	}
	res := rebuilt(t, out)
	for _, image := range []string{"one", "two"} {
		r := res[image]
		want := "base " + f.host + "/library/base:12 moved from " + short(first) + " to " + short(second)
		if !r.Published || r.Version != image+"@1.0-r2" || r.Reason != want {
			t.Errorf("%s after the tag moved: %+v, want r2 because %q", image, r, want)
		}
		if got := baseOf(t, f, image+"@1.0-r2"); got != second {
			t.Errorf("%s@1.0-r2 is built on %s, want %s", image, got, second)
		}
	}
}

// baseOf is the base digest a version's image records.
func baseOf(t *testing.T, f *fixture, ref string) string {
	t.Helper()
	v := f.get(ref)
	img, err := remote.Image(mustDigest(t, f.host+"/golden/"+v.Image+"@"+v.Digest), remote.WithTransport(f.tr))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Annotations["org.opencontainers.image.base.digest"]
}
