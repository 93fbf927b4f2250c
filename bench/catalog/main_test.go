package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// Over the API, every query answers what it answers in process.
	if len(r.api) != len(r.inproc) {
		t.Fatalf("%d operations over the API, %d in process", len(r.api), len(r.inproc))
	}
	for i, tm := range r.api {
		want := r.inproc[i].rows
		if strings.HasPrefix(tm.name, "show") {
			want = 1
		}
		if tm.rows != want {
			t.Errorf("%s: %d rows over the API, %d in process", tm.name, tm.rows, r.inproc[i].rows)
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
