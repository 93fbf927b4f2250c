package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ingot-build/ingot/internal/kubetest"
	"github.com/ingot-build/ingot/pkg/admission"
)

type config struct {
	work               string
	images, apiWorkers int
	apiPhase, apiWarm  time.Duration
	rate               int
	directDur          time.Duration
	coldWorkers        int
	rounds             int
	skipAPI            bool
}

// Kyverno's figures through the same kind of API server on the same kind of machine (the issue's
// anchors): the bare API server, Kyverno v1.19.1 verifying a cosign-signed image, and denying an
// unsigned one.
var kyverno = struct {
	bareRPS, bareP50                                  float64
	verifyRPS, verifyP50, verifyP99, denyRPS, denyP50 float64
}{1558, 9.3, 321, 42.5, 141, 128, 115}

func main() {
	var cfg config
	flag.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-admission"), "work directory (emptied first)")
	flag.IntVar(&cfg.images, "images", 50, "distinct signed images")
	flag.IntVar(&cfg.apiWorkers, "api-concurrency", 16, "concurrent dry-run Pod creations through the API server")
	flag.DurationVar(&cfg.apiPhase, "api-phase", 20*time.Second, "measured time of each API server phase, over all rounds")
	flag.DurationVar(&cfg.apiWarm, "api-warmup", time.Second, "warm-up before each phase of each round")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of the API server phases, each phase in turn")
	flag.BoolVar(&cfg.skipAPI, "skip-api", false, "only the runs directly against the webhook")
	flag.IntVar(&cfg.rate, "rate", 1000, "requests per second sent to the warm webhook")
	flag.DurationVar(&cfg.directDur, "direct", 60*time.Second, "time of each direct webhook run (warm and cold)")
	flag.IntVar(&cfg.coldWorkers, "cold-concurrency", 8, "concurrent reviews in the cold run")
	flag.Parse()
	// The load generator's own collections would count as the webhook's latency: collect less often.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/admission:", err)
		os.Exit(1)
	}
}

// loadAtStart is the load average when the run began.
var loadAtStart string

// loadavg is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	loadAtStart = loadavg()
	fmt.Fprintf(os.Stderr, "setup: building ingot, pushing %d signed and attested images, recording them in the catalog...\n", cfg.images)
	w, err := setup(ctx, cfg)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	defer w.stopRegistry()

	api := &apiResults{}
	if !cfg.skipAPI {
		if api, err = throughAPIServer(ctx, cfg, w); err != nil {
			return err
		}
	}
	direct, err := againstWebhook(ctx, cfg, w)
	if err != nil {
		return err
	}
	report(out, cfg, w, api, direct)
	return nil
}

// apiResults are the API server phases.
type apiResults struct {
	bare, noop, signedTag, signedDigest, signedPinned, signedMutated, unsigned, unmatched *stats
}

// throughAPIServer runs dry-run Pod creations through a real kube-apiserver with ingot's webhooks
// registered by URL (a separate ingot admission serve process): phases differ by namespace (one the
// webhooks skip, as a bare API server; one only the validating webhook covers; one both cover) and
// image, and run in turn, round after round, so a machine's drift falls on every phase alike.
func throughAPIServer(ctx context.Context, cfg config, w *world) (*apiResults, error) {
	apiserver, err := kubetest.FindAPIServer()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(w.dir, "kube")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintln(os.Stderr, "starting etcd and kube-apiserver...")
	c, err := kubetest.Start(ctx, kubetest.Options{Dir: dir, APIServer: apiserver})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	for _, ns := range []string{"bare", "noop", "bench", "mutated"} {
		if err := c.Namespace(ctx, ns, nil); err != nil {
			return nil, err
		}
	}
	wh, err := w.startWebhook(ctx, "webhook-api.log", "--mutate")
	if err != nil {
		return nil, err
	}
	defer wh.stop()
	noop, err := startNoop(w)
	if err != nil {
		return nil, err
	}
	defer noop.stop()
	if err := registerWebhooks(ctx, c, w, wh, noop); err != nil {
		return nil, err
	}

	signedDigests := make([]string, len(w.signed))
	pinned := make([]string, len(w.signed))
	for i, d := range w.signed {
		signedDigests[i] = d.String()
		pinned[i] = w.signedTags[i] + "@" + d.DigestStr()
	}
	res := &apiResults{}
	phases := []struct {
		into     **stats
		name, ns string
		images   []string
		admitted bool
	}{
		{&res.bare, "bare (a namespace the webhooks skip)", "bare", w.signedTags, true},
		{&res.noop, "a webhook that admits everything (no-op)", "noop", w.signedTags, true},
		{&res.signedDigest, "signed, by digest", "bench", signedDigests, true},
		{&res.signedPinned, "signed, tag@digest (pinned)", "bench", pinned, true},
		{&res.signedTag, "signed, by tag", "bench", w.signedTags, true},
		{&res.unsigned, "unsigned, by tag (denied)", "bench", []string{w.unsignedTag}, false},
		{&res.unmatched, "unmatched (denied)", "bench", []string{w.unmatched}, false},
		{&res.signedMutated, "signed, by tag, mutating + validating", "mutated", w.signedTags, true},
	}
	per := cfg.apiPhase / time.Duration(cfg.rounds)
	for round := 1; round <= cfg.rounds; round++ {
		fmt.Fprintf(os.Stderr, "API server: round %d of %d (%d concurrent, %s per phase)...\n", round, cfg.rounds, cfg.apiWorkers, per)
		for _, p := range phases {
			var meter *cpuMeter
			s := closedLoopMeasured(ctx, p.name, cfg.apiWorkers, cfg.apiWarm, per, func() {
				meter = newCPUMeter(map[string]int{"kube-apiserver": c.PID("kube-apiserver"), "etcd": c.PID("etcd"), "webhook": wh.cmd.Process.Pid})
			}, func(i int64) outcome {
				pod := map[string]any{"apiVersion": "v1", "kind": "Pod",
					"metadata": map[string]any{"name": fmt.Sprintf("bench-%d", i), "namespace": p.ns},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": p.images[int(i)%len(p.images)]}}}}
				r, err := c.Create(ctx, pod, true)
				switch {
				case err != nil:
					return outcome{err: err}
				case r.Code == http.StatusCreated:
					return outcome{ok: p.admitted}
				case r.Code == http.StatusForbidden && strings.Contains(r.Status().Message, admission.ValidateWebhookName):
					return outcome{ok: !p.admitted}
				}
				return outcome{err: fmt.Errorf("%d %s", r.Code, r.Body)}
			})
			s.cpu, s.cpuN = meter.per(s.n()+s.errors), s.n()+s.errors
			if *p.into == nil {
				*p.into = s
			} else {
				(*p.into).merge(s)
			}
		}
	}
	return res, nil
}

// registerWebhooks registers ingot's validating webhook for every namespace but "bare" and "noop",
// its mutating one for "mutated" only, and the no-op webhook for "noop" only, and waits until the API
// server calls them.
func registerWebhooks(ctx context.Context, c *kubetest.Cluster, w *world, wh *webhook, noop *noopWebhook) error {
	hooks, err := admission.Manifests(admission.ManifestOptions{URL: wh.url, CABundle: w.ca, Mutate: true, SkipNamespaces: []string{"bare", "noop"}})
	if err != nil {
		return err
	}
	for _, doc := range strings.Split(string(hooks), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return err
		}
		if obj["kind"] == "MutatingWebhookConfiguration" {
			hook := obj["webhooks"].([]any)[0].(map[string]any)
			hook["namespaceSelector"] = map[string]any{"matchExpressions": []any{map[string]any{
				"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"mutated"}}}}
		}
		if r, err := c.Create(ctx, obj, false); err != nil || !r.OK() {
			return fmt.Errorf("registering the webhook: %w %s", err, r.Body)
		}
	}
	// The no-op webhook: the same registration as ingot's, its own URL, for "noop" only.
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(strings.Split(string(hooks), "\n---\n")[0]), &obj); err != nil {
		return err
	}
	obj["metadata"].(map[string]any)["name"] = "noop"
	hook := obj["webhooks"].([]any)[0].(map[string]any)
	hook["name"] = "noop.bench.ingot.build"
	hook["clientConfig"] = map[string]any{"url": noop.url + "/validate", "caBundle": base64.StdEncoding.EncodeToString(w.ca)}
	hook["namespaceSelector"] = map[string]any{"matchExpressions": []any{map[string]any{
		"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"noop"}}}}
	if r, err := c.Create(ctx, obj, false); err != nil || !r.OK() {
		return fmt.Errorf("registering the no-op webhook: %w %s", err, r.Body)
	}
	for deadline := time.Now().Add(30 * time.Second); noop.calls.Load() == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("the API server did not call the no-op webhook within 30s")
		}
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "probe", "namespace": "noop"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": w.signedTags[0]}}}}
		if _, err := c.Create(ctx, pod, true); err != nil {
			return err
		}
	}
	if err := waitCalled(ctx, c, w); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "probe", "namespace": "mutated"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": w.signedTags[0]}}}}
		r, err := c.Create(ctx, pod, true)
		if err != nil {
			return err
		}
		if r.Code == http.StatusCreated && strings.Contains(string(r.Body), w.signed[0].DigestStr()) {
			return nil
		}
	}
	return errors.New("the API server did not call the mutating webhook within 30s")
}

// waitCalled waits until the API server calls the new webhook (it learns of it through a watch).
func waitCalled(ctx context.Context, c *kubetest.Cluster, w *world) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "probe", "namespace": "bench"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": w.unsignedTag}}}}
		r, err := c.Create(ctx, pod, true)
		if err != nil {
			return err
		}
		if r.Code == http.StatusForbidden {
			return nil
		}
	}
	return errors.New("the API server did not call the webhook within 30s")
}

// directResults are the runs against the webhook itself.
type directResults struct {
	first, warm, warmMax, cold1, cold *stats
	warmRSS, coldRSS                  int64
}

// againstWebhook sends reviews straight to ingot admission serve: the first review of each image (a
// verification never done before), then a fixed rate over all of them (warm), and, against a webhook
// with no caches at all, reviews back to back (every one a first-time verification: cold).
func againstWebhook(ctx context.Context, cfg config, w *world) (*directResults, error) {
	res := &directResults{}
	bodies := make([][]byte, len(w.signed))
	for i, d := range w.signed {
		bodies[i] = w.review(d.String())
	}
	expectAdmit := func(wh *webhook) func(i int64) outcome {
		return func(i int64) outcome {
			ok, err := wh.post(bodies[int(i)%len(bodies)])
			return outcome{ok: ok, err: err}
		}
	}

	wh, err := w.startWebhook(ctx, "webhook-warm.log")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "webhook: first review of each of %d images...\n", len(bodies))
	res.first = &stats{name: "first review of each image"}
	began := time.Now()
	for i := range bodies {
		t0 := time.Now()
		o := expectAdmit(wh)(int64(i))
		switch {
		case o.err != nil:
			res.first.errors++
		case !o.ok:
			res.first.unexpected++
		}
		res.first.lat = append(res.first.lat, time.Since(t0))
	}
	res.first.elapsed = time.Since(began)
	fmt.Fprintf(os.Stderr, "webhook: warm, %d req/s for %s...\n", cfg.rate, cfg.directDur)
	// Warm means the caches and the connections: a few seconds at the rate first, not recorded.
	openLoop(ctx, "warm-up", cfg.rate, 64, 3*time.Second, expectAdmit(wh))
	meter := newCPUMeter(map[string]int{"webhook": wh.cmd.Process.Pid})
	res.warm = openLoop(ctx, fmt.Sprintf("warm, %d req/s for %s", cfg.rate, cfg.directDur), cfg.rate, 64, cfg.directDur, expectAdmit(wh))
	res.warm.cpu = meter.per(res.warm.n())
	fmt.Fprintln(os.Stderr, "webhook: warm, as fast as it answers (32 concurrent, 10s)...")
	res.warmMax = closedLoop(ctx, "warm, closed loop", 32, time.Second, 10*time.Second, expectAdmit(wh))
	res.warmRSS = wh.peakRSS()
	wh.stop()

	cold, err := w.startWebhook(ctx, "webhook-cold.log", "--no-cache")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "webhook: cold (no cache: every review verifies), one at a time for %s...\n", cfg.directDur)
	meter = newCPUMeter(map[string]int{"webhook": cold.cmd.Process.Pid})
	res.cold1 = closedLoop(ctx, fmt.Sprintf("cold (no cache), one at a time for %s", cfg.directDur), 1, 0, cfg.directDur, expectAdmit(cold))
	res.cold1.cpu = meter.per(res.cold1.n())
	fmt.Fprintf(os.Stderr, "webhook: cold, %d concurrent for %s...\n", cfg.coldWorkers, cfg.directDur/2)
	res.cold = closedLoop(ctx, fmt.Sprintf("cold (no cache), %d at a time for %s", cfg.coldWorkers, cfg.directDur/2), cfg.coldWorkers, 0, cfg.directDur/2, expectAdmit(cold))
	res.coldRSS = cold.peakRSS()
	cold.stop()
	return res, nil
}

func report(out io.Writer, cfg config, w *world, api *apiResults, d *directResults) {
	fmt.Fprintf(out, "ingot admission webhook benchmark: %d CPUs (GOMAXPROCS %d), %s; load average at the start %s, at the end %s (other processes share the machine)\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339), loadAtStart, loadavg())
	fmt.Fprintf(out, "policy: signature by the gold key, vuln and SLSA provenance attestations with CEL conditions on every platform image, catalog status and scan age (SQLite catalog, events followed)\n")
	fmt.Fprintf(out, "images: %d distinct signed images in a loopback registry (go-containerregistry's, in the bench process); webhook: ingot admission serve, its own process\n\n", len(w.signed))

	if api.bare != nil {
		reportAPI(out, cfg, api)
	}
	fmt.Fprintf(out, "Directly against the webhook over HTTPS on loopback (recorded Pod CREATE reviews, %d distinct images by digest)\n", len(w.signed))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\treviews\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tunexpected\tpeak RSS MiB\twebhook CPU µs/review\t")
	drow := func(s *stats, rss int64) {
		r, c := "-", "-"
		if rss > 0 {
			r = fmt.Sprintf("%.1f", float64(rss)/(1<<20))
		}
		if v, ok := s.cpu["webhook"]; ok {
			c = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", s.name, s.n(), s.throughput(), ms(s.pct(.5)), ms(s.pct(.99)), ms(s.max()), s.errors, s.unexpected, r, c)
	}
	drow(d.first, 0)
	drow(d.warm, 0)
	drow(d.warmMax, d.warmRSS)
	drow(d.cold1, 0)
	drow(d.cold, d.coldRSS)
	_ = tw.Flush()
	fmt.Fprintf(out, "\ntargets: warm p99 < 5 ms at %d req/s with zero errors: p99 %s ms, %d errors, %.1f%% of reviews over 5 ms;\n", cfg.rate, ms(d.warm.pct(.99)), d.warm.errors, 100*d.warm.over(5*time.Millisecond))
	fmt.Fprintf(out, "         cold verification p99 < 50 ms: first reviews p99 %s ms, cold one at a time p99 %s ms, cold %d at a time p99 %s ms\n",
		ms(d.first.pct(.99)), ms(d.cold1.pct(.99)), cfg.coldWorkers, ms(d.cold.pct(.99)))
	fmt.Fprintf(out, "warm run, reviews over 5 ms by second: %s\n", d.warm.slowSeconds(5*time.Millisecond))
	fmt.Fprintln(out, "warm latencies are measured from when each request was due (open loop), so queueing counts; \"first review\" is each image's first verification, one at a time; the cold runs have no verdict or catalog cache, so every review verifies the signature and both attestations on every platform image and reads the catalog.")
	for _, s := range []*stats{api.bare, api.signedDigest, api.signedPinned, api.signedTag, api.unsigned, api.unmatched, api.signedMutated, d.first, d.warm, d.warmMax, d.cold1, d.cold} {
		if s != nil && s.firstErr != nil {
			fmt.Fprintf(out, "first error in %s: %v\n", s.name, s.firstErr)
		}
	}
}

func reportAPI(out io.Writer, cfg config, api *apiResults) {
	fmt.Fprintf(out, "Through kube-apiserver v1.36.3 (with etcd 3.4 on loopback): %d concurrent server-side dry-run Pod creations, %s per phase in %d rounds, phases in turn, %s warm-up each\n",
		cfg.apiWorkers, cfg.apiPhase, cfg.rounds, cfg.apiWarm)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tunexpected\tvs bare req/s\t+p50 ms\tCPU µs/req: apiserver\tetcd\twebhook\t")
	bare := api.bare
	share := func(x *stats) float64 { return 100 * x.throughput() / bare.throughput() }
	added := func(x *stats) float64 { return float64((x.pct(.5) - bare.pct(.5)).Microseconds()) / 1000 }
	for _, s := range []*stats{api.bare, api.noop, api.signedDigest, api.signedPinned, api.signedTag, api.unsigned, api.unmatched, api.signedMutated} {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%.0f%%\t%+.2f\t%.0f\t%.0f\t%.0f\t\n", s.name, s.throughput(), ms(s.pct(.5)), ms(s.pct(.99)), ms(s.max()),
			s.errors, s.unexpected, share(s), added(s), s.cpu["kube-apiserver"], s.cpu["etcd"], s.cpu["webhook"])
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "\na webhook that does nothing costs the API server itself %.0f µs of CPU per request (%.0f against %.0f bare): with both on these cores, no webhook can keep more than %.0f%% of the bare throughput here (the no-op one keeps %.0f%%, +%.2f ms at p50)\n",
		api.noop.cpu["kube-apiserver"]-bare.cpu["kube-apiserver"], api.noop.cpu["kube-apiserver"], bare.cpu["kube-apiserver"],
		100*(bare.cpu["kube-apiserver"]+bare.cpu["etcd"])/(api.noop.cpu["kube-apiserver"]+api.noop.cpu["etcd"]), share(api.noop), added(api.noop))
	fmt.Fprintf(out, "\ntargets: >= 85%% of the bare throughput, <= 2 ms added at p50, denials as fast as admissions\n")
	for _, x := range []*stats{api.signedDigest, api.signedPinned, api.signedTag, api.signedMutated} {
		fmt.Fprintf(out, "  %s: %.0f%% of bare, %+.2f ms at p50\n", x.name, share(x), added(x))
	}
	fmt.Fprintf(out, "  denials: unsigned %.0f req/s p50 %s ms, unmatched %.0f req/s p50 %s ms, against signed by tag %.0f req/s p50 %s ms\n",
		api.unsigned.throughput(), ms(api.unsigned.pct(.5)), api.unmatched.throughput(), ms(api.unmatched.pct(.5)), api.signedTag.throughput(), ms(api.signedTag.pct(.5)))
	fmt.Fprintf(out, "\nagainst Kyverno v1.19.1 (the issue's anchors, same kind of machine): bare %.0f req/s p50 %.1f ms; Kyverno verifying %.0f req/s p50 %.1f ms p99 %.0f ms; denying %.0f req/s p50 %.0f ms\n",
		kyverno.bareRPS, kyverno.bareP50, kyverno.verifyRPS, kyverno.verifyP50, kyverno.verifyP99, kyverno.denyRPS, kyverno.denyP50)
	fmt.Fprintf(out, "  (this machine's bare API server: %.0f req/s p50 %s ms; compare shares of the bare throughput, and the ratios)\n", bare.throughput(), ms(bare.pct(.5)))
	for _, x := range []*stats{api.signedTag, api.signedMutated} {
		fmt.Fprintf(out, "  ingot %s: %.0f%% of bare (Kyverno verifying: %.0f%%), p50 +%.1f ms over bare (Kyverno +%.1f), p99 %s ms (Kyverno %.0f)\n",
			x.name, share(x), 100*kyverno.verifyRPS/kyverno.bareRPS, added(x), kyverno.verifyP50-kyverno.bareP50, ms(x.pct(.99)), kyverno.verifyP99)
	}
	fmt.Fprintf(out, "  ingot denying (unsigned): %.0f%% of bare (Kyverno denying: %.0f%%), p50 %+.1f ms over bare (Kyverno %+.1f)\n\n",
		share(api.unsigned), 100*kyverno.denyRPS/kyverno.bareRPS, added(api.unsigned), kyverno.denyP50-kyverno.bareP50)
}
