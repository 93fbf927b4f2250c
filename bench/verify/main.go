package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/bench/internal/steal"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/pkg/store"
)

type config struct {
	work, osvData, spec string
	runs                int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-verify"), "work directory; its data directory (package cache) is kept between runs")
	flag.StringVar(&cfg.osvData, "osv-data", "../shared/data/vuln/Go/all.zip", "OSV data imported so the image gets a vuln attestation")
	flag.StringVar(&cfg.spec, "spec", "examples/static", "spec directory of the image to sign")
	flag.IntVar(&cfg.runs, "runs", 10, "timed runs per tool and step, after one warm-up")
	flag.Parse()
	if cfg.runs < 1 {
		fmt.Fprintln(os.Stderr, "bench/verify: -runs must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/verify:", err)
		os.Exit(1)
	}
}

// bench is what setup prepares and the timed steps use.
type bench struct {
	cfg       config
	cosign    cosigns
	ingot     string
	data      string
	key, pub  string
	host      string
	base      name.Digest
	preds     []predicateFile
	evidence  string // the base image's evidence directory
	fresh     *freshImages
	env       map[string][]string // per tool: "ingot", "cosign2", "cosign3"
	trusted   string              // cosign v3's empty trusted root
	signCfg   string              // cosign v3's empty signing config
	stopStore func()
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	cs, err := findCosigns(ctx)
	if err != nil {
		return err
	}
	b, err := setup(ctx, cfg, cs)
	if b != nil && b.stopStore != nil {
		defer b.stopStore()
	}
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	// Sign: every run signs a fresh image (pushed untimed) and attests the five evidence documents.
	signers := []struct {
		tool   string
		argv   func(ref string) [][]string
		before func(name.Digest) error
	}{
		{"ingot", b.ingotSign("both"), nil},
		{"ingot legacy", b.ingotSign("legacy"), nil},
		{"ingot bundle", b.ingotSign("bundle"), nil},
		{"ingot evidence", func(ref string) [][]string {
			return [][]string{b.ingotArgv("sign", "--key", b.key, ref), b.ingotArgv("attest", "--key", b.key, ref)}
		}, func(d name.Digest) error { return lendEvidence(b.data, b.evidence, d) }},
		{"cosign2", b.cosignSign(b.cosign.v2, "--tlog-upload=false"), nil},
		{"cosign3", b.cosignSign(b.cosign.v3, "--signing-config", b.signCfg), nil},
	}
	mark := steal.Now()
	signTimes := map[string]measure{}
	signed := map[string]string{} // the last image each signer signed and attested
	for _, s := range signers {
		var ds []measure
		for i := 0; i <= cfg.runs; i++ { // run 0 is the warm-up
			ref, err := b.fresh.next(ctx)
			if err != nil {
				return err
			}
			if s.before != nil {
				if err := s.before(ref); err != nil {
					return err
				}
			}
			d, err := b.timeAll(ctx, s.tool, s.argv(ref.String()))
			if err != nil {
				return err
			}
			if i > 0 {
				ds = append(ds, d)
			}
			signed[s.tool] = ref.String()
		}
		signTimes[s.tool] = medians(ds)
	}

	// Verify: the image ingot signed and attested in both formats (what ingot build --sign makes) for
	// cosign v3, and the legacy-only one for cosign v2.
	both, legacy := signed["ingot"], signed["ingot legacy"]
	type pair struct {
		step       string
		ingot      []string
		peer       string
		peerArgv   []string
		ingotT, pT measure
	}
	v2flags := []string{"--key", b.pub, "--insecure-ignore-tlog", "--allow-http-registry"}
	v3flags := append(append([]string(nil), v2flags...), "--trusted-root", b.trusted)
	pairs := []*pair{
		{step: "verify signature, legacy image", ingot: b.ingotArgv("verify", "--key", b.pub, legacy),
			peer: "cosign2", peerArgv: cat([]string{b.cosign.v2, "verify"}, v2flags, []string{legacy})},
		{step: "verify signature, both formats", ingot: b.ingotArgv("verify", "--key", b.pub, both),
			peer: "cosign3", peerArgv: cat([]string{b.cosign.v3, "verify"}, v3flags, []string{both})},
		{step: "verify signature, legacy, no cache", ingot: b.ingotArgv("verify", "--no-cache", "--key", b.pub, legacy),
			peer: "cosign2", peerArgv: cat([]string{b.cosign.v2, "verify"}, v2flags, []string{legacy})},
		{step: "verify signature, both, no cache", ingot: b.ingotArgv("verify", "--no-cache", "--key", b.pub, both),
			peer: "cosign3", peerArgv: cat([]string{b.cosign.v3, "verify"}, v3flags, []string{both})},
		{step: "verify slsaprovenance1, legacy", ingot: b.ingotArgv("verify", "--key", b.pub, "--attestation", "slsaprovenance1", legacy),
			peer: "cosign2", peerArgv: cat([]string{b.cosign.v2, "verify-attestation", "--type", "slsaprovenance1"}, v2flags, []string{legacy})},
		{step: "verify slsaprovenance1, both", ingot: b.ingotArgv("verify", "--key", b.pub, "--attestation", "slsaprovenance1", both),
			peer: "cosign3", peerArgv: cat([]string{b.cosign.v3, "verify-attestation", "--type", "slsaprovenance1"}, v3flags, []string{both})},
	}
	for _, p := range pairs {
		if p.ingotT, err = b.timeRuns(ctx, "ingot", p.ingot); err != nil {
			return err
		}
		if p.pT, err = b.timeRuns(ctx, p.peer, p.peerArgv); err != nil {
			return err
		}
	}

	stolen := steal.Since(mark)
	n := len(b.preds)
	fmt.Fprintf(out, "image: %s built from %s, %d evidence documents; registry: docker-registry on %s\n", b.base, cfg.spec, n, b.host)
	fmt.Fprintf(out, "cosign v2: %s (%s), cosign v3: %s (%s); ingot %s\n", b.cosign.v2, release.Describe(b.cosign.v2), b.cosign.v3, release.Describe(b.cosign.v3), release.Describe(b.ingot))
	fmt.Fprintf(out, "offline (proxies refuse, fresh HOME); median of %d runs after a warm-up\n", cfg.runs)
	fmt.Fprintf(out, "CPU: user+system time of the process(es); on a machine shared with other work it is steadier than wall time;\n")
	fmt.Fprintf(out, "the hypervisor took %s of the machine's CPU time during the timed runs\n\n", stolen)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tingot ms\tCPU ms\tpeer\tpeer ms\tCPU ms\tpeer/ingot\tCPU\t")
	row := func(step string, in measure, peer string, p measure) {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%.1f\t%.1f\t%.1fx\t%.1fx\t\n", step, ms(in.wall), ms(in.cpu), peer, ms(p.wall), ms(p.cpu), ratio(p.wall, in.wall), ratio(p.cpu, in.cpu))
	}
	both2 := measure{wall: signTimes["cosign2"].wall + signTimes["cosign3"].wall, cpu: signTimes["cosign2"].cpu + signTimes["cosign3"].cpu}
	row(fmt.Sprintf("sign + %d attestations, legacy", n), signTimes["ingot legacy"], "cosign v2", signTimes["cosign2"])
	row(fmt.Sprintf("sign + %d attestations, bundle", n), signTimes["ingot bundle"], "cosign v3", signTimes["cosign3"])
	row(fmt.Sprintf("sign + %d attestations, both", n), signTimes["ingot"], "v2 + v3", both2)
	row(fmt.Sprintf("sign + attest evidence (%d), both", n), signTimes["ingot evidence"], "v2 + v3", both2)
	for _, p := range pairs {
		peer := "cosign v2"
		if p.peer == "cosign3" {
			peer = "cosign v3"
		}
		row(p.step, p.ingotT, peer, p.pT)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nsign steps: %d processes each (sign, then attest once per document), on a fresh image each run; \"both\" for cosign is the sum of v2's and v3's medians.\n", n+1)
	fmt.Fprintln(out, "\"attest evidence\": ingot sign, then one ingot attest of the evidence recorded for the image (2 processes, as ingot build --sign does in one); the fresh image borrows the built image's evidence.")
	fmt.Fprintln(out, "ingot verify reads both formats (its default); the target is ingot at least 10x faster at verifying.")
	fmt.Fprintln(out, "ingot keeps signature material named by digest in its data directory (hashed again on every read) and fetches tags, referrer lists and the image manifest every time; \"no cache\" rows fetch everything.")
	return nil
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func (b *bench) ingotArgv(args ...string) []string {
	return append([]string{b.ingot, "--data-dir", b.data, "-q"}, args...)
}

// ingotSign signs with ingot sign, then attests each evidence document with ingot attest.
func (b *bench) ingotSign(format string) func(string) [][]string {
	return func(ref string) [][]string {
		cmds := [][]string{b.ingotArgv("sign", "--key", b.key, "--format", format, ref)}
		for _, p := range b.preds {
			cmds = append(cmds, b.ingotArgv("attest", "--key", b.key, "--format", format, "--type", p.typ, "--predicate", p.path, ref))
		}
		return cmds
	}
}

// cosignSign signs with cosign sign, then attests each evidence document with cosign attest, with the
// same key, types and files as ingot; extra are the flags that keep it off the transparency log.
func (b *bench) cosignSign(bin string, extra ...string) func(string) [][]string {
	return func(ref string) [][]string {
		common := append([]string{"--key", b.key, "-y", "--allow-http-registry"}, extra...)
		cmds := [][]string{cat([]string{bin, "sign"}, common, []string{ref})}
		for _, p := range b.preds {
			cmds = append(cmds, cat([]string{bin, "attest"}, common, []string{"--type", p.typ, "--predicate", p.path, ref}))
		}
		return cmds
	}
}

// timeRuns runs argv once untimed, then cfg.runs times, and returns the median wall and CPU times.
func (b *bench) timeRuns(ctx context.Context, tool string, argv []string) (measure, error) {
	var ds []measure
	for i := 0; i <= b.cfg.runs; i++ {
		d, err := b.timeAll(ctx, tool, [][]string{argv})
		if err != nil {
			return measure{}, err
		}
		if i > 0 {
			ds = append(ds, d)
		}
	}
	return medians(ds), nil
}

// timeAll runs the commands one after the other in tool's offline environment and returns their
// total wall time and CPU time. A command that fails stops the bench: a failed signature or
// verification is not a measurement.
func (b *bench) timeAll(ctx context.Context, tool string, cmds [][]string) (measure, error) {
	var total measure
	for _, argv := range cmds {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // the tools being measured, with the bench's arguments
		cmd.Env = b.env[tool]
		cmd.Dir = envHome(cmd.Env)
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		start := time.Now()
		err := cmd.Run()
		total.wall += time.Since(start)
		if err != nil {
			return measure{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
		}
		total.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return total, nil
}

func envHome(env []string) string {
	for _, kv := range env {
		if h, ok := strings.CutPrefix(kv, "HOME="); ok {
			return h
		}
	}
	return ""
}

// setup builds ingot, starts the registry, imports the vulnerability data, makes a key pair, builds
// and pushes the image with its evidence, and prepares each tool's offline environment. None of it is
// timed; the build may use the network (the host's apt sources).
func setup(ctx context.Context, cfg config, cs cosigns) (*bench, error) {
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, cosign: cs, ingot: filepath.Join(work, "ingot"), data: filepath.Join(work, "data"), env: map[string][]string{}}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if err := release.Build(ctx, "", b.ingot, "./cmd/ingot"); err != nil {
		return nil, err
	}
	host, stop, err := startRegistry(ctx, filepath.Join(work, "registry"))
	if err != nil {
		return nil, err
	}
	b.host, b.stopStore = host, stop

	for tool, home := range map[string]string{"ingot": "home-ingot", "cosign2": "home-cosign2", "cosign3": "home-cosign3"} {
		dir := filepath.Join(work, home)
		if err := os.RemoveAll(dir); err != nil {
			return b, err
		}
		if b.env[tool], err = offlineEnv(ctx, dir); err != nil {
			return b, err
		}
	}
	for _, tool := range []string{"ingot legacy", "ingot bundle", "ingot evidence"} {
		b.env[tool] = b.env["ingot"]
	}

	if err := run1(ctx, nil, b.ingot, "--data-dir", b.data, "-q", "db", "import", cfg.osvData, "--name", "go"); err != nil {
		return b, err
	}
	prefix := filepath.Join(work, "bench")
	b.key, b.pub = prefix+".key", prefix+".pub"
	for _, f := range []string{b.key, b.pub} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return b, err
		}
	}
	if err := run1(ctx, b.env["ingot"], b.ingot, "key", "generate", "--output-key-prefix", prefix); err != nil {
		return b, err
	}
	for _, f := range []string{b.key, b.pub} {
		if _, err := os.Stat(f); err != nil {
			return b, fmt.Errorf("ingot key generate: %w", err)
		}
	}

	// The build reads the host's apt sources, so it runs in the ordinary environment.
	pushed := host + "/bench/static:1"
	if err := run1(ctx, nil, b.ingot, "--data-dir", b.data, "-q", "build", cfg.spec, "--push", pushed); err != nil {
		return b, err
	}
	ref, err := name.ParseReference(pushed)
	if err != nil {
		return b, err
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return b, fmt.Errorf("reading back %s: %w", pushed, err)
	}
	b.base = ref.Context().Digest(desc.Digest.String())
	if b.evidence, err = (store.Store{Root: b.data}).FindEvidence(desc.Digest); err != nil {
		return b, err
	}
	if b.preds, err = writePredicates(store.Store{Root: b.data}, desc.Digest, filepath.Join(work, "predicates")); err != nil {
		return b, err
	}
	// Links lent to earlier runs' fresh images point at evidence that a rebuild may have replaced.
	if err := os.RemoveAll(filepath.Join(store.Store{Root: b.data}.EvidenceRoot(), "bench-fresh")); err != nil {
		return b, err
	}
	if b.fresh, err = newFreshImages(ctx, b.base); err != nil {
		return b, err
	}

	b.trusted = filepath.Join(work, "trusted_root.json")
	b.signCfg = filepath.Join(work, "signing_config.json")
	if err := run1(ctx, b.env["cosign3"], cs.v3, "trusted-root", "create", "--out", b.trusted); err != nil {
		return b, err
	}
	if err := run1(ctx, b.env["cosign3"], cs.v3, "signing-config", "create", "--out", b.signCfg); err != nil {
		return b, err
	}
	return b, nil
}

// run1 runs a setup command; env nil means the bench's own environment.
func run1(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}
