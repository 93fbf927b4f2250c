package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ingot-build/ingot/bench/internal/steal"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/rebuild"
	"github.com/ingot-build/ingot/pkg/server"
)

// memPhase is the peak memory of one phase of a scenario.
type memPhase struct {
	name      string
	rss, heap int64
	stolen    string // the share of the machine's CPU time the hypervisor took meanwhile
}

// result is what one scenario measured.
type result struct {
	sc     scenario
	load   loadStats
	cloned time.Duration // copying the loaded versions (large catalogs)
	inproc []timing
	api    []timing
	// rescan is the re-scan after new data (the withheld advisories), again the one after it with no
	// new data: the steady state of a scheduled re-scan.
	rescan, again     *rebuild.RescanResult
	rescanIn, againIn time.Duration
	// rescanCPU and againCPU are this process's CPU time in them.
	rescanCPU, againCPU time.Duration
	mem                 []memPhase
	hwmReset            bool
}

// phase runs fn and records its peak memory (the RSS high-water mark, reset first where the kernel
// allows, and the Go heap's peak) and the CPU time the hypervisor stole meanwhile.
func (r *result) phase(name string, fn func() error) error {
	r.hwmReset = resetPeak()
	h := startHeapSampler()
	mark := steal.Now()
	err := fn()
	r.mem = append(r.mem, memPhase{name: name, rss: vmHWM(), heap: h.end(), stolen: steal.Since(mark)})
	return err
}

// stolen is what the hypervisor took during the last phase.
func (r *result) stolen() string { return r.mem[len(r.mem)-1].stolen }

// exposureCase is one exposure query of the spread.
type exposureCase struct {
	label string
	q     catalog.PackageQuery
}

// exposureCases are the exposure queries measured: packages every version ships, by binary and by
// source name, with and without a version range; packages few versions ship; one none does.
func exposureCases(m *model) []exposureCase {
	find := func(name string) *debPkg {
		for i := range m.debs {
			if m.debs[i].name == name {
				return &m.debs[i]
			}
		}
		return nil
	}
	var out []exposureCase
	if libc := find("libc6"); libc != nil {
		out = append(out,
			exposureCase{"libc6 (every version)", catalog.PackageQuery{Name: "libc6", Ecosystem: "Debian:12"}},
			exposureCase{"libc6 " + "<" + libc.versions[len(libc.versions)/2] + " (range)",
				catalog.PackageQuery{Name: "libc6", Ecosystem: "Debian:12", Range: "<" + libc.versions[len(libc.versions)/2]}},
			exposureCase{libc.source + " (source package), active",
				catalog.PackageQuery{Name: libc.source, Ecosystem: "Debian", Statuses: []catalog.Status{catalog.StatusActive}}})
	}
	for _, g := range m.gomods {
		if g.name == "stdlib" {
			out = append(out, exposureCase{"stdlib (Go, every version)", catalog.PackageQuery{Name: "stdlib", Ecosystem: "Go"}})
		}
	}
	if len(m.commonMods) > 0 {
		g := m.gomods[m.commonMods[0]]
		for _, i := range m.commonMods {
			if m.gomods[i].name == "golang.org/x/net" {
				g = m.gomods[i]
			}
		}
		recent := g.versions[len(g.versions)*2/3:] // what the model links (see model.version)
		rg := "<" + recent[len(recent)/2]
		out = append(out, exposureCase{g.name + " " + rg + " (range)", catalog.PackageQuery{Name: g.name, Ecosystem: "Go", Range: rg}})
	}
	if len(m.pool) > 0 {
		d := m.debs[m.pool[len(m.pool)-1]]
		out = append(out, exposureCase{d.name + " (Debian, few images)", catalog.PackageQuery{Name: d.name, Ecosystem: "Debian:12"}})
	}
	if len(m.libs) > 0 {
		g := m.gomods[m.libs[len(m.libs)-1]]
		out = append(out, exposureCase{g.name + " (Go, few images)", catalog.PackageQuery{Name: g.name, Ecosystem: "Go"}})
	}
	out = append(out, exposureCase{"a package no version ships", catalog.PackageQuery{Name: "no-such-package"}})
	return out
}

// apiPage is the exposures in a page of the API's answer when the request gives no limit.
const apiPage = 1000

// exposurePath is the API request of an exposure query: its first page, of the default size.
func exposurePath(q catalog.PackageQuery) string {
	v := url.Values{"package": {q.Name}}
	if q.Ecosystem != "" {
		v.Set("ecosystem", q.Ecosystem)
	}
	if q.Range != "" {
		v.Set("range", q.Range)
	}
	for _, s := range q.Statuses {
		v.Add("status", string(s))
	}
	return "/v1/exposure?" + v.Encode()
}

// criticalQuery is "the active versions with a critical finding".
var criticalQuery = catalog.FindingQuery{MinSeverity: evidence.SeverityCritical, Statuses: []catalog.Status{catalog.StatusActive}}

const criticalPath = "/v1/findings?severity=critical&status=active"

// showRefs picks versions to show, spread over the catalog, the same every run.
func showRefs(ctx context.Context, c catalog.Catalog, n int) ([]catalog.Ref, error) {
	vs, err := c.List(ctx, catalog.ListOptions{})
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, errors.New("the catalog is empty")
	}
	r := rand.New(rand.NewPCG(5, 6)) //nolint:gosec // G404: a reproducible choice
	refs := make([]catalog.Ref, n)
	for i := range refs {
		v := vs[r.IntN(len(vs))]
		refs[i] = catalog.Ref{Image: v.Image, Version: v.Tag()}
	}
	return refs, nil
}

// measureScenario loads one catalog and measures it.
func measureScenario(ctx context.Context, w, logw io.Writer, cfg config, d *data, sc scenario, c catalog.Catalog) (*result, error) {
	res := &result{sc: sc}
	loaded := sc.versions
	if sc.loaded > 0 {
		loaded = sc.loaded
	}
	m := newModel(loaded, max(1, loaded/max(1, cfg.perImage)), d.debs, d.mods)
	match := newMatcher(d.build)
	err := res.phase("load", func() error {
		var err error
		res.load, err = load(ctx, c, m, match, cfg.batch, cfg.docs, func(done int, el time.Duration) {
			if done%max(cfg.batch, loaded/20) < cfg.batch || done == loaded {
				fmt.Fprintf(logw, "  loaded %s of %s versions in %s\n", thousands(done), thousands(loaded), el.Round(time.Second))
			}
		})
		if err != nil || loaded == sc.versions {
			return err
		}
		db, ok := c.(interface{ DB() *sql.DB })
		if !ok {
			return errors.New("the catalog gives no database to copy versions in")
		}
		start := time.Now()
		err = cloneCopies(ctx, db.DB(), sc.versions/loaded, func(done int) {
			fmt.Fprintf(logw, "  copied: %s of %s versions in %s\n", thousands(done*loaded), thousands(sc.versions), time.Since(start).Round(time.Second))
		})
		res.cloned = time.Since(start)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading: %w", err)
	}
	printLoad(w, m, res.load, cfg)
	if res.cloned > 0 {
		fmt.Fprintf(w, "  copied to %s versions inside PostgreSQL in %s (untimed setup; %d copies of the %s loaded, each image renamed IMAGE-cN, each digest new; then VACUUM ANALYZE)\n",
			thousands(sc.versions), res.cloned.Round(time.Second), sc.versions/loaded-1, thousands(loaded))
	}

	cases := exposureCases(m)
	refs, err := showRefs(ctx, c, 256)
	if err != nil {
		return nil, err
	}
	ops := operations(cases, refs, sc)
	err = res.phase("queries in process", func() error {
		for _, op := range ops {
			t, err := measure(op.name, cfg.warm, cfg.runsOf(op), op.target, func(i int) (int, error) { return op.inproc(ctx, c, i) })
			if err != nil {
				return err
			}
			res.inproc = append(res.inproc, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "In process (%d runs each, the findings query %d, after %d warm-up runs; CPU/run is this process's; CPU time stolen by the hypervisor meanwhile %s):\n",
		cfg.runs, min(cfg.runs, cfg.heavyRuns), cfg.warm, res.stolen())
	printTimings(w, res.inproc)

	if cfg.api {
		err = res.phase("queries over the API", func() error {
			var err error
			res.api, err = measureAPI(ctx, cfg, c, ops)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("over the API: %w", err)
		}
		fmt.Fprintf(w, "Over ingot serve's HTTP API (loopback, one client, keep-alive; exposures and findings a page of %d, the API's default; the answer read whole, not decoded; CPU/run is the server's and the client's; stolen %s):\n",
			apiPage, res.stolen())
		printTimings(w, res.api)
	}

	if cfg.rescan && sc.loaded == 0 {
		err = res.phase("re-scan", func() error {
			start, cpu := time.Now(), cpuTime()
			var err error
			if res.rescan, err = rebuild.Rescan(ctx, c, d.full, rebuild.RescanOptions{Reason: "bench: new data"}); err != nil {
				return err
			}
			res.rescanIn, res.rescanCPU = time.Since(start), cpuTime()-cpu
			start, cpu = time.Now(), cpuTime()
			res.again, err = rebuild.Rescan(ctx, c, d.full, rebuild.RescanOptions{Reason: "bench: no new data"})
			res.againIn, res.againCPU = time.Since(start), cpuTime()-cpu
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("re-scan: %w", err)
		}
		printRescan(w, res.sc, "Full re-scan after new data (pkg/rebuild.Rescan, every Go advisory and the Debian ones)", res.rescan, res.rescanIn, res.rescanCPU)
		printRescan(w, res.sc, "The same re-scan again, no new data", res.again, res.againIn, res.againCPU)
	}
	printMemory(w, res)
	return res, nil
}

// operation is one measured query, in process and over the API.
type operation struct {
	name   string
	target time.Duration
	inproc func(ctx context.Context, c catalog.Catalog, i int) (int, error)
	path   func(i int) string // nil: measured in process only
	// many says the API answers a list (rows are its length); one object otherwise.
	many bool
	// heavy operations answer tens of thousands of rows: they are run -heavy-runs times.
	heavy bool
}

// runsOf is how many times op is timed.
func (cfg config) runsOf(op operation) int {
	if op.heavy {
		return min(cfg.runs, cfg.heavyRuns)
	}
	return cfg.runs
}

func operations(cases []exposureCase, refs []catalog.Ref, sc scenario) []operation {
	var ops []operation
	// Each exposure query twice: its whole answer (in process: the API answers pages), and its first
	// page as the API answers it by default.
	for _, ec := range cases {
		q := ec.q
		ops = append(ops, operation{name: "exposure: " + ec.label, target: sc.exposure, many: true,
			inproc: func(ctx context.Context, c catalog.Catalog, _ int) (int, error) {
				es, err := c.QueryPackage(ctx, q)
				return len(es), err
			}})
	}
	for _, ec := range cases {
		q := ec.q
		ops = append(ops, operation{name: "exposure page: " + ec.label, target: sc.exposure, many: true,
			inproc: func(ctx context.Context, c catalog.Catalog, _ int) (int, error) {
				p, err := c.QueryPackagePage(ctx, q, catalog.Page{Limit: apiPage})
				return len(p.Exposures), err
			},
			path: func(int) string { return exposurePath(q) }})
	}
	ops = append(ops, operation{name: "findings: active versions with a critical finding", many: true, heavy: true,
		inproc: func(ctx context.Context, c catalog.Catalog, _ int) (int, error) {
			fs, err := c.QueryFindings(ctx, criticalQuery)
			return len(fs), err
		},
		path: func(int) string { return criticalPath }})
	ops = append(ops, operation{name: "show: one version with its evidence",
		inproc: func(ctx context.Context, c catalog.Catalog, i int) (int, error) {
			v, err := c.Get(ctx, refs[i%len(refs)])
			if err != nil {
				return 0, err
			}
			if len(v.Platforms) == 0 || v.Platforms[0].Evidence == nil || v.Platforms[0].Evidence.Inventory == nil {
				return 0, fmt.Errorf("%s has no evidence", v.Ref())
			}
			return len(v.Platforms[0].Evidence.Inventory.Packages), nil
		},
		path: func(i int) string {
			r := refs[i%len(refs)]
			return "/v1/images/" + url.PathEscape(r.Image) + "/versions/" + url.PathEscape(r.Version)
		}})
	return ops
}

// measureAPI serves the catalog as ingot serve does, on a loopback port, and times each operation's
// request: sent, answered, read and decoded.
func measureAPI(ctx context.Context, cfg config, c catalog.Catalog, ops []operation) ([]timing, error) {
	srv, err := server.New(server.Config{Catalog: c})
	if err != nil {
		return nil, err
	}
	secret, _, err := server.CreateToken(ctx, c, fmt.Sprintf("bench-%d", time.Now().UnixNano()), catalog.ScopeRead, time.Now())
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "serving the API: %v\n", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 5 * time.Minute}
	defer client.CloseIdleConnections()
	// count decodes the answer to count its rows (in the warm-up runs); the timed runs read it whole
	// and leave the decoding, which is the client's work, out.
	get := func(path string, many, count bool) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return 0, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
		}
		if !count {
			_, err := io.Copy(io.Discard, resp.Body)
			return -1, err
		}
		if many {
			var rows []json.RawMessage
			err := json.NewDecoder(resp.Body).Decode(&rows)
			return len(rows), err
		}
		var one json.RawMessage
		return 1, json.NewDecoder(resp.Body).Decode(&one)
	}
	var out []timing
	for _, op := range ops {
		if op.path == nil {
			continue // in process only
		}
		t, err := measure(op.name, cfg.warm, cfg.runsOf(op), op.target, func(i int) (int, error) {
			n := cfg.runsOf(op)
			return get(op.path(i), op.many, i >= n || (cfg.warm == 0 && i == n-1))
		})
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

func printLoad(w io.Writer, m *model, st loadStats, cfg config) {
	var statuses []string
	for _, s := range []catalog.Status{catalog.StatusActive, catalog.StatusDeprecated, catalog.StatusRevoked, catalog.StatusEOL} {
		statuses = append(statuses, fmt.Sprintf("%s %d", s, st.byStatus[s]))
	}
	docs := "with"
	if !cfg.docs {
		docs = "without"
	}
	fmt.Fprintf(w, "Catalog: %s versions of %d images, %d packages each on average, %s SBOM documents; %s findings recorded at build time\n",
		thousands(st.versions), m.images, st.packages/max(1, st.versions), docs, thousands(st.findings))
	fmt.Fprintf(w, "  statuses: %s\n", strings.Join(statuses, ", "))
	fmt.Fprintf(w, "  loaded in %s (untimed setup): BeginBatch %s, Publish %s, status changes %s\n",
		st.total.Round(time.Second), st.begin.Round(time.Second), st.publs.Round(time.Second), st.statuses.Round(time.Second))
}

func printRescan(w io.Writer, sc scenario, label string, rs *rebuild.RescanResult, took, cpu time.Duration) {
	verdict := ""
	if t := sc.rescan; t > 0 {
		verdict = fmt.Sprintf("   target < %s: %s", t, metOrMissed(took < t))
	}
	fmt.Fprintf(w, "%s: %s (CPU of this process %s)%s\n", label, took.Round(10*time.Millisecond), cpu.Round(10*time.Millisecond), verdict)
	introduced, fixed := 0, 0
	for _, c := range rs.Changes {
		introduced += len(c.Introduced)
		fixed += len(c.Fixed)
	}
	fmt.Fprintf(w, "  %s active versions, %s distinct packages matched once each (%s with a finding), %s platform images recorded, %s changed (%s findings introduced, %s fixed)\n",
		thousands(rs.Versions), thousands(rs.Packages), thousands(rs.Affected), thousands(rs.Recorded), thousands(len(rs.Changes)),
		thousands(introduced), thousands(fixed))
}

func printMemory(w io.Writer, r *result) {
	how := "reset per phase"
	if !r.hwmReset {
		how = "of the whole process: /proc/self/clear_refs is not writable"
	}
	fmt.Fprintf(w, "Peak memory (RSS high-water mark, VmHWM, %s; Go heap peak, sampled every 50 ms), and the CPU time the hypervisor stole, by phase:\n", how)
	for _, p := range r.mem {
		fmt.Fprintf(w, "  %-24s RSS %9s   Go heap %9s   stolen %s\n", p.name, mib(p.rss), mib(p.heap), p.stolen)
	}
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// printSummary is one line per scenario and measure: the worst exposure query, the findings query,
// show, the re-scan, and the peak RSS.
func printSummary(w io.Writer, rs []*result) {
	fmt.Fprintf(w, "  %-30s %-30s %12s %12s  %s\n", "", "", "in process", "API", "target")
	for _, r := range rs {
		worst := func(ts []timing, prefix string) (timing, bool) {
			var best timing
			found := false
			for _, t := range ts {
				if strings.HasPrefix(t.name, prefix) && (!found || t.p(99) > best.p(99)) {
					best, found = t, true
				}
			}
			return best, found
		}
		row := func(label, prefix string, target time.Duration) {
			in, ok := worst(r.inproc, prefix)
			if !ok {
				return
			}
			api := "-"
			verdict := ""
			if t, ok := worst(r.api, prefix); ok {
				api = ms(t.p(99))
			}
			if target > 0 {
				verdict = fmt.Sprintf("< %s in process: %s", ms(target), metOrMissed(in.p(99) < target))
			}
			fmt.Fprintf(w, "  %-30s %-30s %12s %12s  %s\n", r.sc, label, ms(in.p(99)), api, verdict)
		}
		row("exposure, whole (slowest)", "exposure: ", r.sc.exposure)
		row("exposure, page (slowest)", "exposure page: ", r.sc.exposure)
		row("active with a critical finding", "findings", 0)
		row("show", "show", 0)
		if r.rescan != nil {
			for _, x := range []struct {
				label string
				took  time.Duration
			}{{"full re-scan, new data", r.rescanIn}, {"full re-scan, no new data", r.againIn}} {
				verdict := ""
				if r.sc.rescan > 0 {
					verdict = fmt.Sprintf("< %s: %s", r.sc.rescan, metOrMissed(x.took < r.sc.rescan))
				}
				fmt.Fprintf(w, "  %-30s %-30s %12s %12s  %s\n", r.sc, x.label, x.took.Round(10*time.Millisecond), "", verdict)
			}
		}
		peak := slices.MaxFunc(r.mem, func(a, b memPhase) int { return int(a.rss - b.rss) })
		fmt.Fprintf(w, "  %-30s %-30s %12s %12s  (%s)\n", r.sc, "peak RSS", mib(peak.rss), "", peak.name)
	}
}
