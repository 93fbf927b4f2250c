package main

import (
	"bytes"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
)

// sharedGo is the shared Go OSV export, from this package's directory.
const sharedGo = "../../../shared/data/vuln/Go/all.zip"

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, x := range n {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"median of four is the second (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the largest", ms(hundred...), 100, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

// TestSmoke runs the whole bench on a small SQLite catalog, so that the generator, the loader, the
// queries in process and over the API and the re-scan cannot rot between the runs of the real one.
func TestSmoke(t *testing.T) {
	if _, err := os.Stat(sharedGo); err != nil {
		t.Skipf("the shared Go OSV data is not here: %v", err)
	}
	ctx := t.Context()
	cfg := config{versions: 40, perImage: 10, backends: "sqlite", runs: 2, heavyRuns: 2, warm: 1, batch: 16, work: t.TempDir(),
		osv: sharedGo, debs: "testdata/debian-bookworm.tsv", withheld: 10, docs: true, api: true, rescan: true}
	d, err := prepare(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := openSQLite(ctx, filepath.Join(cfg.work, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.close() })
	var out bytes.Buffer
	sc := scenario{backend: "sqlite", versions: cfg.versions, exposure: time.Hour, rescan: time.Hour}
	r, err := measureScenario(ctx, &out, io.Discard, cfg, d, sc, h.c)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.load.versions != cfg.versions || r.load.findings == 0 || r.load.packages < 250*cfg.versions {
		t.Errorf("load = %+v, want %d versions of 250+ packages each with findings", r.load, cfg.versions)
	}
	// The catalog holds what the model made, in every status.
	vs, err := h.c.List(ctx, catalog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != cfg.versions {
		t.Errorf("%d versions listed, want %d", len(vs), cfg.versions)
	}
	active := 0
	for _, v := range vs {
		if v.Status.Status == catalog.StatusActive {
			active++
		}
	}

	byName := map[string]timing{}
	for _, tm := range r.inproc {
		byName[tm.name] = tm
		if len(tm.runs) != cfg.runs {
			t.Errorf("%s: %d runs timed, want %d", tm.name, len(tm.runs), cfg.runs)
		}
	}
	if got := byName["exposure: libc6 (every version)"].rows; got != cfg.versions {
		t.Errorf("libc6 is in %d versions, want every one (%d)", got, cfg.versions)
	}
	if got := byName["exposure: stdlib (Go, every version)"].rows; got != cfg.versions {
		t.Errorf("stdlib is in %d versions, want every one (%d)", got, cfg.versions)
	}
	if got := byName["exposure: a package no version ships"].rows; got != 0 {
		t.Errorf("an unknown package is in %d versions", got)
	}
	if byName["findings: active versions with a critical finding"].rows == 0 {
		t.Error("no active version has a critical finding: the severities of the data do not reach the catalog")
	}
	if got := byName["show: one version with its evidence"].rows; got < 250 {
		t.Errorf("show read an inventory of %d packages", got)
	}
	// Over the API, every query answers what it answers in process; exposures a page at a time.
	if len(r.api) != len(r.inproc)-len(exposureCases(newModel(cfg.versions, 4, d.debs, d.mods))) {
		t.Fatalf("%d operations over the API, %d in process", len(r.api), len(r.inproc))
	}
	for _, tm := range r.api {
		in := byName[tm.name]
		want := in.rows
		if strings.HasPrefix(tm.name, "show") {
			want = 1
		}
		if strings.HasPrefix(tm.name, "findings") {
			want = min(want, apiPage)
		}
		if tm.rows != want || in.name == "" {
			t.Errorf("%s: %d rows over the API, %d in process", tm.name, tm.rows, in.rows)
		}
		if strings.HasPrefix(tm.name, "exposure page: ") {
			whole := byName["exposure: "+strings.TrimPrefix(tm.name, "exposure page: ")]
			if tm.rows != min(whole.rows, apiPage) {
				t.Errorf("%s: a page of %d rows of %d", tm.name, tm.rows, whole.rows)
			}
		}
	}
	// The re-scan covers the active versions; the withheld advisories are new to it, and a second
	// re-scan finds nothing new.
	if r.rescan == nil || r.rescan.Versions != active || r.rescan.Recorded == 0 || len(r.rescan.Changes) == 0 {
		t.Errorf("re-scan after new data = %+v, want %d active versions re-scanned and some changed", r.rescan, active)
	}
	if r.again == nil || len(r.again.Changes) != 0 {
		t.Errorf("re-scan with no new data changed %d platform images", len(r.again.Changes))
	}
	if len(r.mem) != 4 {
		t.Errorf("memory of %d phases", len(r.mem))
	}
	for _, want := range []string{"In process", "Over ingot serve's HTTP API", "Full re-scan after new data", "Peak memory"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
		}
	}
}

func TestScenarios(t *testing.T) {
	scs, err := scenarios(config{versions: 10000, big: 100000, backends: "sqlite,postgres"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range scs {
		got = append(got, s.String()+" "+s.exposure.String()+" "+s.rescan.String())
	}
	want := []string{"SQLite, 10,000 versions 20ms 30s", "PostgreSQL, 10,000 versions 20ms 30s", "PostgreSQL, 100,000 versions 50ms 0s"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("scenarios = %q, want %q", got, want)
	}
	if scs, _ := scenarios(config{versions: 10000, big: 0, backends: "postgres"}); len(scs) != 1 {
		t.Errorf("-big 0 left %d scenarios, want the 10,000 on PostgreSQL alone", len(scs))
	}
	if _, err := scenarios(config{versions: 10, backends: "mysql"}); err == nil {
		t.Error("an unknown backend was accepted")
	}
}

// TestCloneSmoke makes a small large catalog on PostgreSQL as the bench makes the 100,000: the
// versions loaded through the store, copied inside the database. The copies answer the queries as
// loaded versions do (every version ships libc6, each copy's image and digests are its own), and no
// table of the schema is left out of the copies by accident.
func TestCloneSmoke(t *testing.T) {
	if _, err := os.Stat(sharedGo); err != nil {
		t.Skipf("the shared Go OSV data is not here: %v", err)
	}
	pg := regtest.StartPostgres(t)
	if pg == nil {
		return
	}
	ctx := t.Context()
	cfg := config{versions: 20, big: 60, perImage: 10, backends: "postgres", runs: 2, heavyRuns: 2, warm: 1, batch: 8,
		work: t.TempDir(), osv: sharedGo, debs: "testdata/debian-bookworm.tsv", withheld: 10, rescan: true, clone: true}
	scs, err := scenarios(cfg)
	if err != nil {
		t.Fatal(err)
	}
	big := scs[len(scs)-1]
	if big.versions != 60 || big.loaded != 20 {
		t.Fatalf("the large scenario = %+v, want 60 versions, 20 loaded", big)
	}
	d, err := prepare(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := openPostgres(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.close() })
	db := h.c.(interface{ DB() *sql.DB }).DB()
	known := map[string]bool{}
	for _, n := range append(append([]string{}, clonedTables...), sharedTables...) {
		known[n] = true
	}
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if !known[n] {
			t.Errorf("table %s is neither copied nor listed as shared (bench/catalog/clone.go)", n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := measureScenario(ctx, &out, io.Discard, cfg, d, big, h.c)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.rescan != nil {
		t.Error("the large catalog was re-scanned: the bench re-scans the 10,000-version catalogs only")
	}
	vs, err := h.c.List(ctx, catalog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]bool{}
	images := map[string]bool{}
	for _, v := range vs {
		digests[v.Digest] = true
		images[v.Image] = true
		if len(v.Platforms) == 0 || v.Platforms[0].Digest == "" {
			t.Errorf("%s has no platform image", v.Ref())
		}
	}
	if len(vs) != 60 || len(digests) != 60 || len(images) != 6 {
		t.Errorf("%d versions, %d digests, %d images; want 60 versions, each its own digest, of 6 images", len(vs), len(digests), len(images))
	}
	for _, tm := range r.inproc {
		if tm.name == "exposure: libc6 (every version)" && tm.rows != 60 {
			t.Errorf("libc6 is in %d versions, want every one (60)", tm.rows)
		}
	}
	copied, err := h.c.Get(ctx, catalog.Ref{Image: vs[len(vs)-1].Image, Version: vs[len(vs)-1].Tag()})
	if err != nil {
		t.Fatal(err)
	}
	if ev := copied.Platforms[0].Evidence; ev == nil || ev.Inventory == nil || len(ev.Inventory.Packages) < 250 {
		t.Errorf("a copied version shows no inventory: %+v", copied.Platforms[0])
	}
	if !strings.Contains(out.String(), "copied to 60 versions inside PostgreSQL") {
		t.Errorf("the report does not say the catalog was copied:\n%s", out.String())
	}
}
