package admission

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/internal/goldtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/policy"
)

// world is what the webhook's tests run against: a loopback registry (behind a Flaky) with images in
// every state, a second registry that no policy allows, the keys, a real SQLite catalog and a policy.
type world struct {
	host, elsewhere string
	flaky           *regtest.Flaky
	gold, wrong     goldtest.Key
	dir             string
	cat             *sqlstore.Store
	// open opens another connection to the world's catalog (a replica's, another process's).
	open func(t testing.TB) *sqlstore.Store
	// refs are the scenarios' images by tag; digests by digest.
	refs    map[string]string
	digests map[string]name.Digest
	policy  string
}

// The scenarios every recorded review is checked against, and the requirement each fails.
var scenarios = []struct{ name, fails string }{
	{"signed", ""},
	{"unsigned", policy.ReqSignature},
	{"wrongkey", policy.ReqSignature},
	{"revoked", policy.ReqCatalog},
	{"stale", policy.ReqScan},
	{"registry", policy.ReqRegistry},
}

const goldPolicy = `name: gold
registries: ["HOST"]
keys:
  - {name: gold, file: gold.pub}
rules:
  - name: gold images
    images: ["HOST/gold/**"]
    signature: {keys: [gold]}
    attestations:
      - type: vuln
        condition: 'NOCRIT'
      - type: slsaprovenance1
        condition: 'BUILDER'
    catalog:
      maxScanAge: 24h
`

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	return newWorldWith(t, dir, func(t testing.TB) *sqlstore.Store {
		t.Helper()
		cat, err := sqlite.Open(context.Background(), filepath.Join(dir, "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cat.Close() })
		return cat
	})
}

// newWorldWith makes the world with its catalog in the database open connects to.
func newWorldWith(t testing.TB, dir string, open func(t testing.TB) *sqlstore.Store) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{flaky: &regtest.Flaky{}, gold: goldtest.MustKey(t), wrong: goldtest.MustKey(t), dir: dir,
		refs: map[string]string{}, digests: map[string]name.Digest{}, open: open}
	w.host = regtest.Registry(t, regtest.WithHandler(w.flaky.Wrap))
	w.elsewhere = regtest.Registry(t)
	cat := open(t)
	w.cat = cat
	now := time.Now()
	for _, s := range []struct {
		name, host, repo string
		signer           goldtest.Key
		signed           bool
		scanned          time.Time
	}{
		{"signed", w.host, "gold/app", w.gold, true, now.Add(-time.Hour)},
		{"unsigned", w.host, "gold/unsigned", w.gold, false, now.Add(-time.Hour)},
		{"wrongkey", w.host, "gold/wrongkey", w.wrong, true, now.Add(-time.Hour)},
		{"revoked", w.host, "gold/revoked", w.gold, true, now.Add(-time.Hour)},
		{"stale", w.host, "gold/stale", w.gold, true, now.Add(-48 * time.Hour)},
		{"registry", w.elsewhere, "gold/app", w.gold, true, now.Add(-time.Hour)},
	} {
		o := goldtest.Image{Repo: s.repo}
		if s.signed {
			o.Signer, o.Attest = s.signer.Signer, goldtest.Gold()
		}
		d := goldtest.MustPush(t, s.host, o)
		w.digests[s.name] = d
		w.refs[s.name] = d.Context().Tag("v1").String()
		if s.host == w.host {
			goldtest.MustCatalog(t, cat, filepath.Base(s.repo), d, s.scanned)
		}
	}
	if _, err := cat.SetStatus(ctx, catalog.Ref{Image: "revoked", Version: w.digests["revoked"].DigestStr()},
		catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE-2026-4242", Actor: "security"}); err != nil {
		t.Fatal(err)
	}
	w.gold.WriteFile(t, w.dir, "gold.pub")
	w.policy = w.writePolicy(t, "gold.yaml", "")
	return w
}

// writePolicy writes the gold policy, with extra YAML appended, and returns its path.
func (w *world) writePolicy(t testing.TB, file, extra string) string {
	t.Helper()
	body := strings.NewReplacer("HOST", w.host, "NOCRIT", goldtest.NoCriticalCondition, "BUILDER", goldtest.BuilderCondition).Replace(goldPolicy) + extra
	p := filepath.Join(w.dir, file)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// service assembles a webhook for the world, following the catalog's events.
func (w *world) service(t testing.TB, o Options, policies ...string) *Service {
	t.Helper()
	if len(policies) == 0 {
		policies = []string{w.policy}
	}
	for _, f := range policies {
		p, err := policy.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		o.Policies = append(o.Policies, p)
	}
	if o.Catalog == nil {
		o.Catalog = policy.CatalogRecords{Versions: w.cat}
		o.Events = w.cat
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture reads a recorded review with the fixture image replaced by image.
func fixture(t testing.TB, file, image string) *Review {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reviews", file))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), fixtureImage, image))
	r, err := DecodeReview(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fixtures lists the recorded reviews.
func fixtures(t *testing.T) []string {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join("testdata", "reviews", "*.json"))
	if err != nil || len(ms) != 2*len(workloadKinds)+1 {
		t.Fatalf("%d recorded reviews (%v), want %d: run go test ./pkg/admission -run TestCaptureReviews -capture", len(ms), err, 2*len(workloadKinds)+1)
	}
	for i := range ms {
		ms[i] = filepath.Base(ms[i])
	}
	return ms
}

// edited reads a recorded review with the fixture image replaced by image, changed through its JSON.
func edited(t testing.TB, file, image string, edit func(obj map[string]any)) *Review {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reviews", file))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), fixtureImage, image))
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m["request"].(map[string]any)["object"].(map[string]any))
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	r, err := DecodeReview(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
