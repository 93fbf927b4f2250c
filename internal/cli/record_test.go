package cli

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/store"
)

// openTestCatalog opens the catalog of a data directory, as ingot does.
func openTestCatalog(t *testing.T, data string) catalog.Catalog {
	t.Helper()
	cat, err := store.Store{Root: data}.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	return cat
}

// TestBuildRecords: ingot build with no registry (the README's first command) records the version in
// the data directory's catalog, with its layout location; an unchanged build records nothing more; a
// changed spec is the next version of the release line, and the layout keeps both.
func TestBuildRecords(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()
	stdout, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	r1 := strings.TrimSpace(stdout)
	cat := openTestCatalog(t, data)
	ctx := context.Background()
	vs, err := cat.List(ctx, catalog.ListOptions{Image: "fixture", Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	layout := store.Store{Root: data}.Layouts().Dir("fixture")
	if len(vs) != 1 || vs[0].Tag() != "1.0-r1" || vs[0].Digest != r1 || vs[0].State != catalog.StatePublished ||
		!slices.Equal(vs[0].Locations, []catalog.Location{{Kind: catalog.LocationLayout, Ref: layout + ":1.0-r1"}}) {
		t.Fatalf("the catalog holds %+v, want fixture 1.0-r1 %s published in %s", vs, r1, layout)
	}
	if !strings.Contains(stderr, "recorded fixture@1.0-r1") {
		t.Errorf("build does not say what it recorded:\n%s", stderr)
	}
	// What build recorded is what the catalog verbs show: the version, with its evidence.
	out, _, err := run(t, "--data-dir", data, "catalog", "show", "fixture@1.0", "-o", "json")
	if err != nil || !strings.Contains(out, r1) || !strings.Contains(out, `"inventory"`) {
		t.Errorf("catalog show fixture@1.0: %v\n%s", err, out)
	}

	stdout, stderr, err = run(t, "--data-dir", data, "build", dir)
	if err != nil || strings.TrimSpace(stdout) != r1 || !strings.Contains(stderr, "nothing published") {
		t.Errorf("unchanged build: %v, %q\n%s", err, stdout, stderr)
	}

	changed := writeSpec(t, repo, specTemplate+"labels: {team: platform}\n")
	stdout, stderr, err = run(t, "--data-dir", data, "build", changed)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	r2 := strings.TrimSpace(stdout)
	if vs, err = cat.List(ctx, catalog.ListOptions{Image: "fixture", Pending: true}); err != nil || len(vs) != 2 || vs[0].Tag() != "1.0-r2" || vs[0].Digest != r2 {
		t.Fatalf("after a changed spec the catalog holds %+v (%v), want 1.0-r2 %s newest", vs, err, r2)
	}
	layouts := store.Store{Root: data}.Layouts()
	for tag, want := range map[string]string{"1.0-r1": r1, "1.0-r2": r2, "1.0": r2, "latest": r2} {
		if d, err := layouts.Lookup("fixture", tag); err != nil || d.Digest.String() != want {
			t.Errorf("layout tag %s: %v %v, want %s", tag, d.Digest, err, want)
		}
	}
}

// TestBuildCompletesPending: a signed build whose signing failed after the push leaves its version
// pending; a build without a key leaves it alone (it could not sign it), and the next signing build,
// of another image, completes it first: published, with its signatures and attestations.
func TestBuildCompletesPending(t *testing.T) {
	var refuse atomic.Bool
	host := regtest.Registry(t, regtest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".sig") {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	f := newSignFixture(t)
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	refuse.Store(true)
	if _, _, err := runWith(t, g, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", host+"/golden/fixture", f.spec); err == nil {
		t.Fatal("build succeeded while the registry refused its signatures")
	}
	refuse.Store(false)
	cat := openTestCatalog(t, f.data)
	ctx := context.Background()
	pending, err := cat.Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0].Ref() != "fixture@1.0-r1" {
		t.Fatalf("pending after the failed build: %+v %v", pending, err)
	}

	body, err := os.ReadFile(filepath.Join(f.spec, "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "ingot.yaml")
	writeTestFile(t, other, []byte(strings.Replace(string(body), "name: fixture", "name: other", 1)))
	if _, stderr, err := runWith(t, g, "--data-dir", f.data, "build", other); err != nil {
		t.Fatalf("build of another image: %v\n%s", err, stderr)
	}
	if pending, _ := cat.Pending(ctx); len(pending) != 1 {
		t.Fatalf("a build without a key completed a version that was to be signed: pending %+v", pending)
	}

	_, stderr, err := runWith(t, g, "--data-dir", f.data, "build", "--sign", "--key", f.key, "--push", host+"/golden/other", other)
	if err != nil {
		t.Fatalf("signed build of another image: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "completed fixture@1.0-r1") {
		t.Errorf("the build does not say it completed the pending version:\n%s", stderr)
	}
	v, err := cat.Get(ctx, catalog.Ref{Image: "fixture", Version: "1.0-r1"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, a := range v.Artifacts {
		kinds[a.Kind]++
	}
	if v.State != catalog.StatePublished || kinds[catalog.ArtifactSignature] != 2 || kinds[catalog.ArtifactAttestation] == 0 {
		t.Errorf("completed version: %s with %v artifacts, want published, signed in both formats and attested", v.State, kinds)
	}
	if _, stderr, err := runWith(t, g, "--data-dir", f.data, "verify", "--key", f.pub, host+"/golden/fixture:1.0-r1"); err != nil {
		t.Errorf("verify the completed version: %v\n%s", err, stderr)
	}
}
