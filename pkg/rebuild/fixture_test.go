package rebuild

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Fixture packages: base-files and hello-data, which depends on it.
func baseFiles(v string) debtest.Package {
	return debtest.Package{Name: "base-files", Version: v, Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte(v + "\n")}}}
}

func helloData(v string) debtest.Package {
	return debtest.Package{Name: "hello-data", Version: v, Arch: "all", Depends: "base-files",
		Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hi " + v + "\n")}}}
}

// clock is a settable clock for the catalog's times. It starts a minute ahead of the real time:
// the pipeline checks the repository's signatures with it too, and they must not be from its future.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Add(time.Minute).Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a data directory with a catalog, the fixture repository, a loopback registry and a key.
type fixture struct {
	t      *testing.T
	repo   *testrepo.Repo
	host   string
	tr     http.RoundTripper
	signer sign.Signer
	st     store.Store
	cat    catalog.Catalog
	clock  *clock
}

// newFixture opens a data directory's catalog (dsn: empty for SQLite in it) and serves the fixture
// repository with base-files 12.4 and hello-data 1.0; wrap (may be nil) wraps the registry.
func newFixture(t *testing.T, dsn string, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), tr: regtest.OfflineTransport(nil)}
	f.repo = testrepo.New(t, testrepo.Options{Packages: []debtest.Package{baseFiles("12.4"), helloData("1.0")}})
	var opts []regtest.RegistryOption
	if wrap != nil {
		opts = append(opts, regtest.WithHandler(wrap))
	}
	f.host = regtest.Registry(t, opts...)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if f.signer, err = sign.NewECDSASigner(k); err != nil {
		t.Fatal(err)
	}
	f.st = store.Store{Root: t.TempDir(), CatalogDSN: dsn}
	f.cat = f.openCatalog(f.st)
	return f
}

func (f *fixture) openCatalog(st store.Store) catalog.Catalog {
	f.t.Helper()
	c, err := st.Catalog(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	return c
}

// specBody is a spec of image name, release line 1.0, from the fixture repository.
func (f *fixture) specBody(name, packages, extra string) string {
	return fmt.Sprintf("name: %s\nversion: \"1.0\"\nrepositories: [{url: %q, suite: stable, keyring: %q}]\npackages: [%s]\n%s",
		name, f.repo.URL, f.repo.Keyring, packages, extra)
}

// register registers a spec as `ingot catalog add` does (its bytes, its local files, no lock), with
// files (relative path → content) beside it.
func (f *fixture) register(body string, files map[string]string) catalog.RegisteredSpec {
	f.t.Helper()
	dir := f.t.TempDir()
	for p, content := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "ingot.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
	s, err := spec.Load(path)
	if err != nil {
		f.t.Fatal(err)
	}
	local, err := s.Local()
	if err != nil {
		f.t.Fatal(err)
	}
	var archive []byte
	if len(local.Files)+len(local.VEX) > 0 || local.Tests != nil {
		if archive, err = local.Archive(); err != nil {
			f.t.Fatal(err)
		}
	}
	rs, err := f.cat.AddSpec(context.Background(), catalog.RegisteredSpec{Name: s.Name, Spec: []byte(body), Files: archive, Added: f.clock.Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

// config is a worker of the fixture's data directory that pushes to the loopback registry and signs.
func (f *fixture) config() Config {
	return f.configFor(f.st, f.cat)
}

func (f *fixture) configFor(st store.Store, cat catalog.Catalog) Config {
	return Config{
		Store:   st,
		Catalog: cat,
		Pipeline: pipeline.Options{
			Remote: []remote.Option{remote.WithTransport(f.tr)},
		},
		Publish: Publish{
			Repository: f.host + "/golden",
			Registry:   publish.PushOptions{Transport: f.tr},
			Signer:     f.signer,
			Sign:       sign.Options{RemoteOptions: sign.RemoteOptions{Transport: f.tr}},
		},
		Policy:      DefaultPolicy(),
		Workers:     2,
		Poll:        50 * time.Millisecond,
		StopTimeout: 5 * time.Second,
		Now:         f.clock.Now,
		Log:         testLogger(f.t),
	}
}

// start starts a runner, stopped when the test ends.
func start(t *testing.T, cfg Config) *Runner {
	t.Helper()
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// cycle runs one cycle with a runner of cfg and returns how it went; every job must succeed.
func (f *fixture) cycle(cfg Config) *CycleOutcome {
	f.t.Helper()
	r := start(f.t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := r.Cycle(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, j := range out.Failed() {
		f.t.Errorf("job %d (%s) %s: %s", j.ID, j.Kind, j.State, j.LastError())
	}
	if err := r.Stop(ctx); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// rebuilt is the rebuild results of a cycle, by image.
func rebuilt(t *testing.T, out *CycleOutcome) map[string]RebuildResult {
	t.Helper()
	res := map[string]RebuildResult{}
	for _, j := range out.Jobs {
		if j.Kind != KindRebuild {
			continue
		}
		var r RebuildResult
		if err := json.Unmarshal(j.Output, &r); err != nil {
			t.Fatalf("rebuild job %d output %s: %v", j.ID, j.Output, err)
		}
		res[r.Image] = r
	}
	return res
}

// versions lists an image's versions (every status), newest first.
func (f *fixture) versions(image string) []*catalog.Version {
	f.t.Helper()
	vs, err := f.cat.List(context.Background(), catalog.ListOptions{Image: image, Pending: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return vs
}

func (f *fixture) get(ref string) *catalog.Version {
	f.t.Helper()
	r, err := catalog.ParseRef(ref)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := f.cat.Get(context.Background(), r)
	if err != nil {
		f.t.Fatalf("Get %s: %v", ref, err)
	}
	return v
}

// advisory is an OSV record against a Debian:1 package (the fixture repository's release).
type advisory struct {
	id, pkg, fixed, cvss string
	published            time.Time
}

// Vectors of each rating.
const (
	cvssCritical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
	cvssHigh     = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
	cvssMedium   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"
)

// importAdvisories writes the records into a directory and imports it as the source "fixtures" of
// the data directory's vulnerability data (replacing what it held).
func importAdvisories(t *testing.T, st store.Store, advs ...advisory) {
	t.Helper()
	dir := t.TempDir()
	for _, a := range advs {
		rec := map[string]any{
			"id": a.id, "modified": a.published.Format(time.RFC3339), "published": a.published.Format(time.RFC3339),
			"summary":  "test advisory " + a.id,
			"severity": []map[string]string{{"type": "CVSS_V3", "score": a.cvss}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": "Debian:1", "name": a.pkg},
				"ranges":  []map[string]any{{"type": "ECOSYSTEM", "events": []map[string]string{{"introduced": "0"}, {"fixed": a.fixed}}}},
			}},
		}
		data, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, a.id+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.VulnDB().Import(context.Background(), dir, vuln.ImportOptions{Name: "fixtures"}); err != nil {
		t.Fatal(err)
	}
}

// testLogger writes the workers' logs to the test's log while the test runs.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
