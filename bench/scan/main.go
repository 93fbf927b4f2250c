// Command scan measures ingot's SBOM and vulnerability scan against the tools users compare it with,
// on the same image and the same OSV data, in one run: ingot sbom against syft, and ingot scan against
// osv-scanner (offline) and govulncheck (binary mode). It prints the median times, the ratios, the
// package counts, and the Go advisories each tool reported that ingot did not (and the reverse).
//
// Two images: examples/base's package set, from the host's apt sources, plus a Go program that links
// golang.org/x/text v0.3.7; and an ordinary Debian image, `mmdebstrap --variant=minbase` of the
// host's suite packed into one layer as `crane append` does. Setup (untimed) may use the network: the
// Go module proxy for that program and the host's Debian mirror for the packages. See
// bench/README.md.
package main

import (
	"archive/zip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/bench/internal/steal"

	"github.com/ingot-build/ingot/pkg/store"
)

type config struct {
	work, osvData, spec, suite string
	runs                       int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-scan"), "work directory, kept between runs")
	flag.StringVar(&cfg.osvData, "osv-data", "../shared/data/vuln/Go/all.zip", "OSV Go data (the zip osv.dev publishes per ecosystem)")
	flag.StringVar(&cfg.spec, "spec", "examples/base/ingot.yaml", "spec whose packages go into the image")
	flag.StringVar(&cfg.suite, "suite", "bookworm", "Debian suite of the ordinary image (mmdebstrap --variant=minbase), as named in the host's apt sources")
	flag.IntVar(&cfg.runs, "runs", 5, "timed runs per tool")
	flag.Parse()
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scan:", err)
		os.Exit(1)
	}
}

// tools are the peers, found on PATH.
type tools struct{ syft, osvScanner, govulncheck string }

func findTools() (tools, error) {
	var t tools
	var missing []string
	for name, dst := range map[string]*string{"syft": &t.syft, "osv-scanner": &t.osvScanner, "govulncheck": &t.govulncheck} {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		*dst = p
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return t, fmt.Errorf("not on PATH: %s (see bench/README.md for go install commands)", strings.Join(missing, ", "))
	}
	return t, nil
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	t, err := findTools()
	if err != nil {
		return err
	}
	s, err := setup(ctx, cfg)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	env := append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false", "OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="+s.osvDir)
	fmt.Fprintf(out, "ingot %s; syft %s; osv-scanner %s; govulncheck %s\n\n",
		release.Describe(s.ingot), release.Describe(t.syft), release.Describe(t.osvScanner), release.Describe(t.govulncheck))
	targets := []target{
		{
			title:    fmt.Sprintf("%s (%s plus a Go program linking golang.org/x/text v0.3.7)", s.ref, cfg.spec),
			ingotRef: s.ref, syftRef: "oci-dir:" + s.layout, archive: s.archive, app: s.app,
		},
		{
			title:    fmt.Sprintf("docker-archive:%s (mmdebstrap --variant=minbase %s, one layer, %d MB)", s.debian, cfg.suite, size(s.debian)>>20),
			ingotRef: "docker-archive:" + s.debian, syftRef: "docker-archive:" + s.debian, archive: s.debian,
		},
	}
	for i, tg := range targets {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := compare(ctx, cfg, t, s, env, tg, out); err != nil {
			return err
		}
	}
	return nil
}

// target is one image the tools are compared on.
type target struct {
	title             string
	ingotRef, syftRef string
	// archive is the image as a docker archive, for osv-scanner; app a Go program for govulncheck
	// ("" for none).
	archive, app string
}

func size(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// compare times every tool on one image and reports.
func compare(ctx context.Context, cfg config, t tools, s *setupResult, env []string, tg target, out io.Writer) error {
	ingot := func(args ...string) []string { return append([]string{s.ingot, "--data-dir", s.data, "-q"}, args...) }

	// ingot keeps inventories by image digest, and what it found in each layer by diff ID; "cold"
	// runs empty both caches first, as on a first scan.
	coldCache := func() error {
		st := store.Store{Root: s.data}
		return errors.Join(os.RemoveAll(st.Inventories().Dir), os.RemoveAll(st.LayerAnalyses().Dir))
	}
	type job struct {
		name   string
		argv   []string
		before func() error
	}
	jobs := []job{
		{"ingot sbom", ingot("sbom", tg.ingotRef, "-o", "spdx-json"), coldCache},
		{"ingot sbom cached", ingot("sbom", tg.ingotRef, "-o", "spdx-json"), nil},
		{"syft", []string{t.syft, "scan", tg.syftRef, "-o", "spdx-json", "-q"}, nil},
		{"ingot scan", ingot("scan", tg.ingotRef, "-o", "json"), coldCache},
		{"ingot scan cached", ingot("scan", tg.ingotRef, "-o", "json"), nil},
		{"osv-scanner", []string{t.osvScanner, "scan", "image", "--archive", "--offline", "--format", "json", tg.archive}, nil},
	}
	if tg.app != "" {
		jobs = append(jobs, job{"govulncheck", []string{t.govulncheck, "-mode", "binary", "-db", "file://" + s.govulnDB, "-json", tg.app}, nil})
	}
	times, cpus := map[string]time.Duration{}, map[string]time.Duration{}
	stolen := map[string]string{}
	outputs := map[string][]byte{}
	for _, j := range jobs {
		if _, err := exec1(ctx, env, j.argv); err != nil { // untimed warm-up, and a check that it works
			return fmt.Errorf("%s: %w", j.name, err)
		}
		var ds, cs []time.Duration
		mark := steal.Now()
		for i := 0; i < cfg.runs; i++ {
			if j.before != nil {
				if err := j.before(); err != nil {
					return err
				}
			}
			start := time.Now()
			o, cpu, err := execCPU(ctx, env, j.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", j.name, err)
			}
			ds, cs = append(ds, time.Since(start)), append(cs, cpu)
			outputs[j.name] = o
		}
		times[j.name], cpus[j.name], stolen[j.name] = median(ds), median(cs), steal.Since(mark)
	}

	ingotPkgs, err := spdxPackages(outputs["ingot sbom"])
	if err != nil {
		return fmt.Errorf("ingot sbom output: %w", err)
	}
	syftPkgs, err := spdxPackages(outputs["syft"])
	if err != nil {
		return fmt.Errorf("syft output: %w", err)
	}
	found := map[string][]string{}
	if found["ingot scan"], err = ingotIDs(outputs["ingot scan"]); err != nil {
		return err
	}
	if found["ingot scan cached"], err = ingotIDs(outputs["ingot scan cached"]); err != nil {
		return err
	}
	if found["osv-scanner"], err = osvScannerIDs(outputs["osv-scanner"]); err != nil {
		return err
	}
	peers := []string{"osv-scanner"}
	if tg.app != "" {
		if found["govulncheck"], err = govulncheckIDs(outputs["govulncheck"]); err != nil {
			return err
		}
		peers = append(peers, "govulncheck")
	}

	fmt.Fprintf(out, "image: %s; median of %d runs\n\n", tg.title, cfg.runs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tmedian ms\tCPU ms\tstolen\tresult\t")
	row := func(n, result string) {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%s\t\n", n, ms(times[n]), ms(cpus[n]), stolen[n], result)
	}
	row("ingot sbom", fmt.Sprintf("%d packages", len(ingotPkgs)))
	row("ingot sbom cached", "")
	row("syft", fmt.Sprintf("%d packages", len(syftPkgs)))
	for _, n := range append([]string{"ingot scan", "ingot scan cached"}, peers...) {
		row(n, fmt.Sprintf("%d Go advisories", len(found[n])))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio syft / ingot sbom:        %.1fx cold (%.1fx CPU), %.1fx cached\n", ratio(times["syft"], times["ingot sbom"]), ratio(cpus["syft"], cpus["ingot sbom"]), ratio(times["syft"], times["ingot sbom cached"]))
	for _, peer := range peers {
		fmt.Fprintf(out, "ratio %s / ingot scan: %.1fx cold (%.1fx CPU), %.1fx cached\n", peer, ratio(times[peer], times["ingot scan"]), ratio(cpus[peer], cpus["ingot scan"]), ratio(times[peer], times["ingot scan cached"]))
	}
	fmt.Fprintln(out, "stolen: the share of the machine's CPU time the hypervisor took during each tool's timed runs")
	fmt.Fprintf(out, "\npackages syft lists that ingot does not: %v\n", minus(syftPkgs, ingotPkgs))
	fmt.Fprintf(out, "packages ingot lists that syft does not: %v\n", minus(ingotPkgs, syftPkgs))
	for _, peer := range peers {
		fmt.Fprintf(out, "Go advisories %s reports that ingot does not: %v\n", peer, minus(found[peer], found["ingot scan"]))
		fmt.Fprintf(out, "Go advisories ingot reports that %s does not: %v\n", peer, minus(found["ingot scan"], found[peer]))
	}
	return nil
}

// setupResult is what the timed runs read.
type setupResult struct {
	ingot, data, ref, layout, archive, app, osvDir, govulnDB string
	// debian is the ordinary Debian image, as a docker archive.
	debian string
}

func setup(ctx context.Context, cfg config) (*setupResult, error) {
	repo, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	s := &setupResult{ingot: filepath.Join(cfg.work, "ingot"), data: filepath.Join(cfg.work, "data"), ref: "benchscan:1"}
	img := filepath.Join(cfg.work, "image")
	for _, d := range []string{cfg.work, img} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := release.Build(ctx, "", s.ingot, "./cmd/ingot"); err != nil {
		return nil, err
	}
	s.app = filepath.Join(img, "vulnapp")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", s.app, ".")
	build.Dir = filepath.Join(repo, "bench", "scan", "testdata", "vulnapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if o, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building vulnapp: %w\n%s", err, o)
	}
	spec, err := os.ReadFile(cfg.spec)
	if err != nil {
		return nil, err
	}
	body := string(spec)
	body = strings.Replace(body, "name: base", "name: benchscan", 1)
	body = strings.Replace(body, "version: bookworm", `version: "1"`, 1)
	body += "files:\n  - {source: vulnapp, path: /usr/local/bin/vulnapp, mode: \"0755\"}\nevidence: {fail-on: none}\n"
	if err := os.WriteFile(filepath.Join(img, "ingot.yaml"), []byte(body), 0o644); err != nil {
		return nil, err
	}
	if _, err := exec1(ctx, nil, []string{s.ingot, "--data-dir", s.data, "-q", "db", "import", cfg.osvData, "--name", "go"}); err != nil {
		return nil, err
	}
	s.archive = filepath.Join(cfg.work, "benchscan.tar")
	if _, err := exec1(ctx, nil, []string{s.ingot, "--data-dir", s.data, "-q", "build", "--tarball", s.archive, img}); err != nil {
		return nil, err
	}
	s.layout = store.Store{Root: s.data}.Layouts().Dir("benchscan")

	// osv-scanner's offline database: DIR/osv-scalibr/<Ecosystem>/all.zip.
	s.osvDir = filepath.Join(cfg.work, "osv-scanner-db")
	if err := copyFile(cfg.osvData, filepath.Join(s.osvDir, "osv-scalibr", "Go", "all.zip")); err != nil {
		return nil, err
	}
	// The image's Debian packages make osv-scanner ask for a Debian database; without one it gives up
	// on every ecosystem and prints "No issues found". An empty one keeps the data the same for all.
	if err := writeEmptyZip(filepath.Join(s.osvDir, "osv-scalibr", "Debian", "all.zip")); err != nil {
		return nil, err
	}
	if s.debian, err = debianImage(ctx, cfg.work, cfg.suite); err != nil {
		return nil, err
	}
	// govulncheck's file database: a flat folder of <ID>.json.
	s.govulnDB = filepath.Join(cfg.work, "govulncheck-db")
	if err := unzipFlat(cfg.osvData, s.govulnDB); err != nil {
		return nil, err
	}
	return s, nil
}

func exec1(ctx context.Context, env []string, argv []string) ([]byte, error) {
	out, _, err := execCPU(ctx, env, argv)
	return out, err
}

// execCPU is exec1, and also returns the CPU time (user + system) of the command and of every
// process it waited for (igzip under ingot).
func execCPU(ctx context.Context, env []string, argv []string) ([]byte, time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = env
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		cpu = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		// osv-scanner and govulncheck exit non-zero when they find something; their output counts.
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(out) > 0 && (strings.HasSuffix(argv[0], "osv-scanner") || strings.HasSuffix(argv[0], "govulncheck")) {
			return out, cpu, nil
		}
		return nil, 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return out, cpu, nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func writeEmptyZip(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := zip.NewWriter(f).Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func unzipFlat(src, dir string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer func() { _ = zr.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range zr.File {
		name := filepath.Base(f.Name)
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
