package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
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
	flag.DurationVar(&cfg.apiPhase, "api-phase", 15*time.Second, "measured time of each API server phase")
	flag.DurationVar(&cfg.apiWarm, "api-warmup", 3*time.Second, "warm-up before each API server phase")
	flag.IntVar(&cfg.rate, "rate", 1000, "requests per second sent to the warm webhook")
	flag.DurationVar(&cfg.directDur, "direct", 60*time.Second, "time of each direct webhook run (warm and cold)")
	flag.IntVar(&cfg.coldWorkers, "cold-concurrency", 8, "concurrent reviews in the cold run")
	flag.Parse()
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

	api, err := throughAPIServer(ctx, cfg, w)
	if err != nil {
		return err
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
	bare, bareAfter, signedTag, signedDigest, signedPinned, signedMutated, unsigned, unmatched *stats
}

// throughAPIServer runs dry-run Pod creations through a real kube-apiserver, with no webhook and then
// with ingot's validating webhook (a separate ingot admission serve process) registered by URL.
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
	if err := c.Namespace(ctx, "bench", nil); err != nil {
		return nil, err
	}
	wh, err := w.startWebhook(ctx, "webhook-api.log")
	if err != nil {
		return nil, err
	}
	defer wh.stop()

	pods := func(name string, images []string, admitted bool) *stats {
		fmt.Fprintf(os.Stderr, "API server: %s (%d concurrent, %s)...\n", name, cfg.apiWorkers, cfg.apiPhase)
		return closedLoop(ctx, name, cfg.apiWorkers, cfg.apiWarm, cfg.apiPhase, func(i int64) outcome {
			pod := map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]any{"name": fmt.Sprintf("bench-%d", i), "namespace": "bench"},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": images[int(i)%len(images)]}}}}
			r, err := c.Create(ctx, pod, true)
			switch {
			case err != nil:
				return outcome{err: err}
			case r.Code == http.StatusCreated:
				return outcome{ok: admitted}
			case r.Code == http.StatusForbidden && strings.Contains(r.Status().Message, admission.ValidateWebhookName):
				return outcome{ok: !admitted}
			}
			return outcome{err: fmt.Errorf("%d %s", r.Code, r.Body)}
		})
	}
	res := &apiResults{}
	signedDigests := make([]string, len(w.signed))
	for i, d := range w.signed {
		signedDigests[i] = d.String()
	}
	res.bare = pods("bare API server, no webhook", w.signedTags, true)

	hooks, err := admission.Manifests(admission.ManifestOptions{URL: wh.url, CABundle: w.ca, Mutate: true})
	if err != nil {
		return nil, err
	}
	var vwc, mwc map[string]any
	for _, doc := range strings.Split(string(hooks), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, err
		}
		if obj["kind"] == "MutatingWebhookConfiguration" {
			mwc = obj
		} else {
			vwc = obj
		}
	}
	register := func(obj map[string]any) error {
		if r, err := c.Create(ctx, obj, false); err != nil || !r.OK() {
			return fmt.Errorf("registering the webhook: %w %s", err, r.Body)
		}
		return nil
	}
	if err := register(vwc); err != nil {
		return nil, err
	}
	if err := waitCalled(ctx, c, w); err != nil {
		return nil, err
	}
	pinned := make([]string, len(w.signed))
	for i, d := range w.signed {
		pinned[i] = w.signedTags[i] + "@" + d.DigestStr()
	}
	res.signedDigest = pods("signed, by digest", signedDigests, true)
	res.signedPinned = pods("signed, tag@digest (pinned)", pinned, true)
	res.signedTag = pods("signed, by tag", w.signedTags, true)
	res.unsigned = pods("unsigned, by tag (denied)", []string{w.unsignedTag}, false)
	res.unmatched = pods("unmatched (denied)", []string{w.unmatched}, false)
	if err := register(mwc); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second) // the API server's watch adds it
	res.signedMutated = pods("signed, by tag, mutating + validating", w.signedTags, true)
	for _, obj := range []map[string]any{vwc, mwc} {
		p, _ := kubetest.Path(obj, true)
		if r, err := c.Do(ctx, http.MethodDelete, p, nil, nil); err != nil || !r.OK() {
			return nil, fmt.Errorf("removing the webhook: %w %s", err, r.Body)
		}
	}
	time.Sleep(2 * time.Second) // the API server's watch removes them
	res.bareAfter = pods("bare API server again", w.signedTags, true)
	return res, nil
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
	first, warm, warmMax, cold *stats
	warmRSS, coldRSS           int64
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
	res.warm = openLoop(ctx, "warm", cfg.rate, 64, cfg.directDur, expectAdmit(wh))
	fmt.Fprintln(os.Stderr, "webhook: warm, as fast as it answers (32 concurrent, 10s)...")
	res.warmMax = closedLoop(ctx, "warm, closed loop", 32, time.Second, 10*time.Second, expectAdmit(wh))
	res.warmRSS = wh.peakRSS()
	wh.stop()

	cold, err := w.startWebhook(ctx, "webhook-cold.log", "--no-cache")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "webhook: cold (no cache: every review verifies), %d concurrent for %s...\n", cfg.coldWorkers, cfg.directDur)
	var n atomic.Int64
	res.cold = closedLoop(ctx, "cold", cfg.coldWorkers, 0, cfg.directDur, func(int64) outcome {
		return expectAdmit(cold)(n.Add(1))
	})
	res.coldRSS = cold.peakRSS()
	cold.stop()
	return res, nil
}

func report(out io.Writer, cfg config, w *world, api *apiResults, d *directResults) {
	fmt.Fprintf(out, "ingot admission webhook benchmark: %d CPUs (GOMAXPROCS %d), %s; load average at the start %s, at the end %s (other processes share the machine)\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339), loadAtStart, loadavg())
	fmt.Fprintf(out, "policy: signature by the gold key, vuln and SLSA provenance attestations with CEL conditions on every platform image, catalog status and scan age (SQLite catalog, events followed)\n")
	fmt.Fprintf(out, "images: %d distinct signed images in a loopback registry (go-containerregistry's, in the bench process); webhook: ingot admission serve, its own process\n\n", len(w.signed))

	fmt.Fprintf(out, "Through kube-apiserver v1.36.3 (with etcd 3.4 on loopback): %d concurrent server-side dry-run Pod creations, %s per phase after %s warm-up\n",
		cfg.apiWorkers, cfg.apiPhase, cfg.apiWarm)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tunexpected\tvs bare req/s\t+p50 ms\t")
	bare := api.bare
	row := func(s *stats) {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t%.0f%%\t%+.2f\t\n", s.name, s.throughput(), ms(s.pct(.5)), ms(s.pct(.99)), ms(s.max()),
			s.errors, s.unexpected, 100*s.throughput()/bare.throughput(), float64((s.pct(.5)-bare.pct(.5)).Microseconds())/1000)
	}
	for _, s := range []*stats{api.bare, api.signedDigest, api.signedPinned, api.signedTag, api.unsigned, api.unmatched, api.signedMutated, api.bareAfter} {
		row(s)
	}
	_ = tw.Flush()
	share := func(x *stats) float64 { return 100 * x.throughput() / bare.throughput() }
	added := func(x *stats) float64 { return float64((x.pct(.5) - bare.pct(.5)).Microseconds()) / 1000 }
	fmt.Fprintf(out, "\ntargets: >= 85%% of the bare throughput, <= 2 ms added at p50, denials as fast as admissions\n")
	for _, x := range []*stats{api.signedDigest, api.signedPinned, api.signedTag, api.signedMutated} {
		fmt.Fprintf(out, "  %s: %.0f%% of bare, %+.2f ms at p50\n", x.name, share(x), added(x))
	}
	fmt.Fprintf(out, "  denials: unsigned %.0f req/s p50 %s ms, unmatched %.0f req/s p50 %s ms, against signed by tag %.0f req/s p50 %s ms\n",
		api.unsigned.throughput(), ms(api.unsigned.pct(.5)), api.unmatched.throughput(), ms(api.unmatched.pct(.5)), api.signedTag.throughput(), ms(api.signedTag.pct(.5)))
	fmt.Fprintf(out, "  the bare API server moved from %.0f to %.0f req/s between the first and last phase (noise of a shared machine)\n", api.bare.throughput(), api.bareAfter.throughput())
	fmt.Fprintf(out, "\nagainst Kyverno v1.19.1 (the issue's anchors, same kind of machine): bare %.0f req/s p50 %.1f ms; Kyverno verifying %.0f req/s p50 %.1f ms p99 %.0f ms; denying %.0f req/s p50 %.0f ms\n",
		kyverno.bareRPS, kyverno.bareP50, kyverno.verifyRPS, kyverno.verifyP50, kyverno.verifyP99, kyverno.denyRPS, kyverno.denyP50)
	for _, x := range []*stats{api.signedTag, api.signedMutated} {
		fmt.Fprintf(out, "  ingot %s: %.0f req/s = %.1fx Kyverno's, p50 %s ms (Kyverno %.1f), p99 %s ms (Kyverno %.0f); share of its bare API server: ingot %.0f%%, Kyverno %.0f%%\n",
			x.name, x.throughput(), x.throughput()/kyverno.verifyRPS, ms(x.pct(.5)), kyverno.verifyP50, ms(x.pct(.99)), kyverno.verifyP99,
			share(x), 100*kyverno.verifyRPS/kyverno.bareRPS)
	}
	fmt.Fprintf(out, "  ingot denying (unsigned): %.0f req/s = %.1fx Kyverno's, p50 %s ms (Kyverno %.0f); share of bare: ingot %.0f%%, Kyverno %.0f%%\n\n",
		api.unsigned.throughput(), api.unsigned.throughput()/kyverno.denyRPS, ms(api.unsigned.pct(.5)), kyverno.denyP50,
		share(api.unsigned), 100*kyverno.denyRPS/kyverno.bareRPS)

	fmt.Fprintf(out, "Directly against the webhook over HTTPS on loopback (recorded Pod CREATE reviews, %d distinct images by digest)\n", len(w.signed))
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\treviews\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\tunexpected\tpeak RSS MiB\t")
	drow := func(s *stats, rss int64) {
		r := "-"
		if rss > 0 {
			r = fmt.Sprintf("%.1f", float64(rss)/(1<<20))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t%s\t\n", s.name, s.n(), s.throughput(), ms(s.pct(.5)), ms(s.pct(.99)), ms(s.max()), s.errors, s.unexpected, r)
	}
	drow(d.first, 0)
	d.warm.name = fmt.Sprintf("warm, %d req/s for %s", cfg.rate, cfg.directDur)
	drow(d.warm, 0)
	drow(d.warmMax, d.warmRSS)
	d.cold.name = fmt.Sprintf("cold (no cache), %d concurrent for %s", cfg.coldWorkers, cfg.directDur)
	drow(d.cold, d.coldRSS)
	_ = tw.Flush()
	fmt.Fprintf(out, "\ntargets: warm p99 < 5 ms at %d req/s with zero errors (p99 %s ms, %d errors); cold verification p99 < 50 ms (first reviews p99 %s ms; cold run p99 %s ms)\n",
		cfg.rate, ms(d.warm.pct(.99)), d.warm.errors, ms(d.first.pct(.99)), ms(d.cold.pct(.99)))
	fmt.Fprintln(out, "warm latencies are measured from when each request was due (open loop), so queueing counts; \"first review\" is each image's first verification, one at a time; the cold run has no verdict or catalog cache, so every review resolves, verifies the signature and both attestations on every platform image, and reads the catalog.")
	for _, s := range []*stats{api.bare, api.signedDigest, api.signedPinned, api.signedTag, api.unsigned, api.unmatched, api.signedMutated, api.bareAfter, d.first, d.warm, d.warmMax, d.cold} {
		if s.firstErr != nil {
			fmt.Fprintf(out, "first error in %s: %v\n", s.name, s.firstErr)
		}
	}
}
