package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/ingot-build/ingot/bench/internal/steal"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/postgres"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// config is the bench's flags.
type config struct {
	versions  int    // versions of the catalogs on both backends
	big       int    // versions of the PostgreSQL-only catalog; 0 skips it
	perImage  int    // versions per image (the images are versions / perImage)
	backends  string // comma-separated: sqlite, postgres
	runs      int    // timed runs of each query
	warm      int    // untimed runs before them
	heavyRuns int    // timed runs of the queries that answer tens of thousands of rows
	batch     int    // versions per BeginBatch
	work      string // working directory (catalogs, vulnerability databases)
	osv       string // the shared Go OSV export
	debs      string // the Debian package list
	withheld  int    // one Go advisory in withheld is new to the re-scan
	docs      bool   // SPDX and CycloneDX documents in every version's evidence
	api       bool   // measure over the HTTP API too
	rescan    bool
	clone     bool   // make the large catalog from copies of the small one
	cpuprof   string // write a CPU profile of the whole run here
	pgset     string // more PostgreSQL settings, comma-separated
}

// Targets from the issue.
const (
	targetExposure10k  = 20 * time.Millisecond
	targetExposure100k = 50 * time.Millisecond
	targetRescan10k    = 30 * time.Second
)

func main() {
	var cfg config
	flag.IntVar(&cfg.versions, "versions", 10000, "versions of the catalog on each backend")
	flag.IntVar(&cfg.big, "big", 100000, "versions of the large catalog on PostgreSQL (0 skips it)")
	flag.IntVar(&cfg.perImage, "per-image", 20, "versions per image")
	flag.StringVar(&cfg.backends, "backends", "sqlite,postgres", "backends, comma-separated")
	flag.IntVar(&cfg.runs, "runs", 100, "timed runs of each query")
	flag.IntVar(&cfg.warm, "warm", 3, "untimed runs of each query before the timed ones")
	flag.IntVar(&cfg.heavyRuns, "heavy-runs", 20, "timed runs of the findings query (tens of thousands of rows)")
	flag.IntVar(&cfg.batch, "batch", 250, "versions per BeginBatch when loading")
	flag.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-catalog"), "working directory")
	flag.StringVar(&cfg.osv, "osv", "../shared/data/vuln/Go/all.zip", "the Go OSV export (zip)")
	flag.StringVar(&cfg.debs, "debs", "bench/catalog/testdata/debian-bookworm.tsv", "the Debian package list")
	flag.IntVar(&cfg.withheld, "withheld", 10, "builds are scanned without one Go advisory in this many; the re-scan reads them all (0: none withheld)")
	flag.BoolVar(&cfg.docs, "docs", false, "record SPDX and CycloneDX documents in every version's evidence, as builds do (loading takes about three times as long)")
	flag.BoolVar(&cfg.api, "api", true, "measure over ingot serve's HTTP API too")
	flag.BoolVar(&cfg.rescan, "rescan", true, "measure a full re-scan (of the 10,000-version catalogs; not of the large one)")
	flag.BoolVar(&cfg.clone, "clone", true, "make the large PostgreSQL catalog by loading -versions through the store and copying them inside the database (false: load it all through the store, which takes hours)")
	flag.StringVar(&cfg.pgset, "pg-settings", "", "more PostgreSQL server settings, comma-separated (log_min_duration_statement=100)")
	flag.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/catalog: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, cfg)
	stop()
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/catalog:", err)
		os.Exit(1)
	}
}

// scenario is one catalog measured: a backend and a size.
type scenario struct {
	backend  string
	versions int
	// loaded are the versions loaded through the store; the rest are copies of them made inside
	// PostgreSQL (cloneCopies). Zero: all of them.
	loaded int
	// exposure and rescan are the targets at this size (zero: none).
	exposure, rescan time.Duration
}

func (s scenario) String() string {
	return fmt.Sprintf("%s, %s versions", map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}[s.backend], thousands(s.versions))
}

// scenarios lists what cfg asks for, the small catalogs first.
func scenarios(cfg config) ([]scenario, error) {
	var out []scenario
	want := map[string]bool{}
	for b := range strings.SplitSeq(cfg.backends, ",") {
		switch b = strings.TrimSpace(b); b {
		case "sqlite", "postgres":
			want[b] = true
		case "":
		default:
			return nil, fmt.Errorf("-backends: unknown backend %q (want sqlite or postgres)", b)
		}
	}
	at := func(n int, big bool) (time.Duration, time.Duration) {
		if big {
			return targetExposure100k, 0
		}
		if n == 10000 {
			return targetExposure10k, targetRescan10k
		}
		return 0, 0
	}
	for _, b := range []string{"sqlite", "postgres"} {
		if want[b] && cfg.versions > 0 {
			e, r := at(cfg.versions, false)
			out = append(out, scenario{backend: b, versions: cfg.versions, exposure: e, rescan: r})
		}
	}
	if want["postgres"] && cfg.big > 0 {
		e, _ := at(cfg.big, cfg.big == 100000)
		sc := scenario{backend: "postgres", versions: cfg.big, exposure: e}
		if cfg.versions > 0 && cfg.big > cfg.versions && cfg.clone {
			if cfg.big%cfg.versions != 0 {
				return nil, fmt.Errorf("-big %d is not a multiple of -versions %d (the large catalog is copies of the small one; -clone=false loads it whole)", cfg.big, cfg.versions)
			}
			sc.loaded = cfg.versions
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to measure")
	}
	return out, nil
}

// data is what every scenario shares: the package lists and the vulnerability databases.
type data struct {
	debs  []debPkg
	mods  []goMod
	build *vuln.DB // what builds scanned against: Go advisories before the cutoff, the Debian ones
	full  *vuln.DB // what the re-scan reads: every Go advisory, the Debian ones
	notes []string
}

// prepare reads the package lists and imports the vulnerability data (untimed setup).
func prepare(ctx context.Context, cfg config) (*data, error) {
	d := &data{}
	var err error
	if d.debs, err = loadDebian(cfg.debs); err != nil {
		return nil, err
	}
	if d.mods, err = loadGoModules(cfg.osv); err != nil {
		return nil, fmt.Errorf("reading %s: %w", cfg.osv, err)
	}
	if err := os.MkdirAll(cfg.work, 0o750); err != nil {
		return nil, err
	}
	debZip := filepath.Join(cfg.work, "bench-debian.zip")
	nDeb, err := debianAdvisories(debZip, d.debs)
	if err != nil {
		return nil, err
	}
	goZip := filepath.Join(cfg.work, "go-known-to-builds.zip")
	kept, all, err := goKnown(cfg.osv, goZip, cfg.withheld)
	if err != nil {
		return nil, err
	}
	if d.build, err = importDB(ctx, filepath.Join(cfg.work, "vulndb-build"), map[string]string{"go": goZip, "debian": debZip}); err != nil {
		return nil, err
	}
	if d.full, err = importDB(ctx, filepath.Join(cfg.work, "vulndb-full"), map[string]string{"go": cfg.osv, "debian": debZip}); err != nil {
		return nil, err
	}
	d.notes = append(d.notes,
		fmt.Sprintf("packages: %d Debian 12 binary packages, %d Go modules (from %s)", len(d.debs), len(d.mods), filepath.Base(cfg.osv)),
		fmt.Sprintf("vulnerability data: builds scanned against %d of %d Go advisories and %d synthetic Debian ones; the re-scan reads all %d Go ones",
			kept, all, nDeb, all))
	return d, nil
}

// run measures every scenario and prints the report to w (progress to logw).
func run(ctx context.Context, w, logw io.Writer, cfg config) error {
	scs, err := scenarios(cfg)
	if err != nil {
		return err
	}
	started := time.Now()
	mark := steal.Now()
	fmt.Fprintf(w, "bench/catalog: %s, %s, GOMAXPROCS %d, load average at start %s\n", runtime.Version(), runtime.GOARCH, runtime.GOMAXPROCS(0), loadAvg())
	d, err := prepare(ctx, cfg)
	if err != nil {
		return err
	}
	for _, n := range d.notes {
		fmt.Fprintln(w, n)
	}
	var pg *regtest.PostgresCluster
	defer func() {
		if pg != nil {
			pg.Stop()
		}
	}()
	var results []*result
	for _, sc := range scs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var cat *catalogHandle
		switch sc.backend {
		case "sqlite":
			cat, err = openSQLite(ctx, filepath.Join(cfg.work, fmt.Sprintf("catalog-%d.db", sc.versions)))
		case "postgres":
			if pg == nil {
				// Room for the hot tables in memory, as a catalog server would be configured.
				settings := []string{"shared_buffers=512MB", "work_mem=32MB"}
				if cfg.pgset != "" {
					settings = append(settings, strings.Split(cfg.pgset, ",")...)
				}
				if pg, err = regtest.LaunchPostgres(settings...); err != nil {
					return fmt.Errorf("starting PostgreSQL: %w", err)
				}
			}
			cat, err = openPostgres(ctx, pg)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n== %s\n", sc)
		r, err := measureScenario(ctx, w, logw, cfg, d, sc, cat.c)
		if cerr := cat.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
		results = append(results, r)
	}
	fmt.Fprintf(w, "\n== Summary (p99; targets from the issue)\n")
	printSummary(w, results)
	fmt.Fprintf(w, "\ntotal %s, load average at the end %s, CPU time stolen by the hypervisor %s\n",
		time.Since(started).Round(time.Second), loadAvg(), steal.Since(mark))
	return nil
}

// catalogHandle is an open catalog and how to dispose of it.
type catalogHandle struct {
	c     catalog.Catalog
	close func() error
}

func openSQLite(ctx context.Context, path string) (*catalogHandle, error) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	c, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	return &catalogHandle{c: c, close: c.Close}, nil
}

func openPostgres(ctx context.Context, pg *regtest.PostgresCluster) (*catalogHandle, error) {
	dsn, err := pg.CreateDatabase()
	if err != nil {
		return nil, err
	}
	c, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &catalogHandle{c: c, close: c.Close}, nil
}

// thousands renders n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
