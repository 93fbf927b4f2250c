package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/bench/internal/steal"

	"sigs.k8s.io/yaml"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// run sets up (untimed), then times both tools on the same inputs and prints the report to stdout.
func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("mmdebstrap's root mode needs root: run as root")
	}
	for _, tool := range []string{"go", "apt-get", "mmdebstrap", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed (apt-get install mmdebstrap umoci): %w", tool, err)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.specPath == "" {
		cfg.specPath = filepath.Join(root, "examples", "base")
	}
	if fi, err := os.Stat(cfg.specPath); err == nil && fi.IsDir() {
		cfg.specPath = filepath.Join(cfg.specPath, "ingot.yaml")
	}
	orig, err := spec.Load(cfg.specPath)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", cfg.work, err)
	}

	m, err := prepareMirror(ctx, cfg, orig.Packages, orig.Exclude, stderr)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, mirror: m, name: orig.Name, packages: orig.Packages,
		ingotBin: filepath.Join(cfg.work, "ingot"), specDir: filepath.Join(cfg.work, "spec")}
	fmt.Fprintf(stderr, "setup: building ingot\n")
	if err := release.Build(ctx, root, b.ingotBin, "github.com/ingot-build/ingot/cmd/ingot"); err != nil {
		return err
	}
	if err := b.writeSpec(orig); err != nil {
		return err
	}

	// One untimed run of each checks that both work and warms the page cache for both alike.
	fmt.Fprintf(stderr, "warm-up: one untimed run of each tool\n")
	if _, err := b.ingotCold(ctx); err != nil {
		return err
	}
	if _, err := b.mmdebstrap(ctx); err != nil {
		return err
	}
	r := &results{runs: cfg.runs, noopRuns: cfg.noopRuns}
	mark := steal.Now()
	for i := range cfg.runs {
		fmt.Fprintf(stderr, "timed run %d/%d\n", i+1, cfg.runs)
		// Alternate which tool goes first so that neither always runs on the other's leftovers.
		steps := []func() error{
			func() error { s, err := b.ingotCold(ctx); r.ingot = append(r.ingot, s); return err },
			func() error { s, err := b.mmdebstrap(ctx); r.mmdebstrap = append(r.mmdebstrap, s); return err },
		}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	r.stolen = steal.Since(mark)
	fmt.Fprintf(stderr, "timing %d no-op rebuilds\n", cfg.noopRuns)
	for range cfg.noopRuns {
		s, err := b.ingotBuild(ctx)
		if err != nil {
			return err
		}
		r.noop = append(r.noop, s.wall)
		r.noopDigests = append(r.noopDigests, s.digest)
	}
	fmt.Fprintf(stderr, "timing %d warm builds (packages cached, nothing else)\n", cfg.warmRuns)
	for range cfg.warmRuns {
		s, err := b.ingotWarm(ctx)
		if err != nil {
			return err
		}
		r.warm = append(r.warm, s)
		r.noopDigests = append(r.noopDigests, s.digest)
	}
	if err := b.collect(r); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "timing the physical floor and each decoder, %d runs each\n", cfg.warmRuns)
	if r.floor, err = b.measureFloor(ctx, cfg.warmRuns); err != nil {
		return fmt.Errorf("measuring the floor: %w", err)
	}
	if r.decoders, err = b.measureDecoders(ctx, cfg.warmRuns); err != nil {
		return fmt.Errorf("timing the decoders: %w", err)
	}
	return r.print(stdout, b)
}

// ingotWarm runs ingot build with the lock and the package cache of the last build and nothing else
// (no build cache, image layouts, catalog, evidence or index caches): the whole work of a build
// without the downloads, which is what the floor measures.
func (b *bench) ingotWarm(ctx context.Context) (sample, error) {
	debs := store.Store{Root: b.dataDir()}.Packages().Dir
	keep := filepath.Join(b.cfg.work, "debs-kept")
	if err := os.RemoveAll(keep); err != nil {
		return sample{}, err
	}
	if err := os.Rename(debs, keep); err != nil {
		return sample{}, fmt.Errorf("keeping the package cache: %w", err)
	}
	if err := os.RemoveAll(b.dataDir()); err != nil {
		return sample{}, fmt.Errorf("clearing ingot's data directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(debs), 0o755); err != nil {
		return sample{}, err
	}
	if err := os.Rename(keep, debs); err != nil {
		return sample{}, fmt.Errorf("restoring the package cache: %w", err)
	}
	return b.ingotBuild(ctx)
}

// bench holds the paths and inputs shared by the timed runs.
type bench struct {
	cfg      config
	mirror   *mirror
	name     string
	packages []string
	ingotBin string
	specDir  string
}

func (b *bench) dataDir() string     { return filepath.Join(b.cfg.work, "ingot-data") }
func (b *bench) tarball() string     { return filepath.Join(b.cfg.work, "mmdebstrap.tar") }
func (b *bench) umociDir() string    { return filepath.Join(b.cfg.work, "umoci-oci") }
func (b *bench) extracted() string   { return filepath.Join(b.cfg.work, "mmdebstrap-debs.txt") }
func (b *bench) ingotLayout() string { return store.Store{Root: b.dataDir()}.Layouts().Dir(b.name) }

// writeSpec writes the spec both ingot runs use: the original's package set, from the mirror.
func (b *bench) writeSpec(orig *spec.Spec) error {
	s := spec.Spec{
		Name:    orig.Name,
		Version: orig.Version,
		Repositories: []spec.Repository{{
			URL: b.mirror.source.URL, Suite: b.mirror.source.Suite, Components: b.mirror.source.Components,
			Keyring: b.mirror.source.Keyring,
		}},
		Packages: orig.Packages,
		Exclude:  orig.Exclude,
		Archs:    []string{b.cfg.arch},
	}
	data, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding the benchmark spec: %w", err)
	}
	if err := os.MkdirAll(b.specDir, 0o755); err != nil {
		return fmt.Errorf("writing the benchmark spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.specDir, "ingot.yaml"), data, 0o644); err != nil {
		return fmt.Errorf("writing the benchmark spec: %w", err)
	}
	return nil
}

// sample is one timed run: wall time, the CPU time of the processes, and for a build the digest it
// printed.
type sample struct {
	wall, cpu time.Duration
	digest    string
}

// ingotSample is one cold ingot run: lock, then build, from an empty data directory.
type ingotSample struct {
	lock, build sample
}

func (s ingotSample) total() sample {
	return sample{wall: s.lock.wall + s.build.wall, cpu: s.lock.cpu + s.build.cpu, digest: s.build.digest}
}

// ingotCold runs ingot lock and ingot build with no lock and an empty data directory, as a first build
// on a new machine would.
func (b *bench) ingotCold(ctx context.Context) (ingotSample, error) {
	var s ingotSample
	if err := os.RemoveAll(b.dataDir()); err != nil {
		return s, fmt.Errorf("clearing ingot's data directory: %w", err)
	}
	if err := os.Remove(filepath.Join(b.specDir, "ingot.lock")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("removing the previous lock: %w", err)
	}
	start := time.Now()
	if _, err := outputCPU(ctx, "", nil, &s.lock.cpu, b.ingotBin, "--quiet", "--data-dir", b.dataDir(), "lock", b.specDir); err != nil {
		return s, fmt.Errorf("ingot lock: %w", err)
	}
	s.lock.wall = time.Since(start)
	var err error
	s.build, err = b.ingotBuild(ctx)
	return s, err
}

// ingotBuild runs ingot build once and returns its times and the digest it printed.
func (b *bench) ingotBuild(ctx context.Context) (sample, error) {
	var s sample
	start := time.Now()
	out, err := outputCPU(ctx, "", nil, &s.cpu, b.ingotBin, "--quiet", "--data-dir", b.dataDir(), "build", b.specDir)
	s.wall = time.Since(start)
	if err != nil {
		return s, fmt.Errorf("ingot build: %w", err)
	}
	s.digest = strings.TrimSpace(out)
	return s, nil
}

// mmdebstrap extracts the package list with mmdebstrap into a tarball and makes it an OCI image with
// umoci, timing the whole.
func (b *bench) mmdebstrap(ctx context.Context) (sample, error) {
	var s sample
	for _, p := range []string{b.tarball(), b.umociDir(), b.extracted()} {
		if err := os.RemoveAll(p); err != nil {
			return s, fmt.Errorf("clearing the previous run: %w", err)
		}
	}
	image := b.umociDir() + ":" + b.name
	start := time.Now()
	if _, err := outputCPU(ctx, "", nil, &s.cpu, "mmdebstrap",
		"--variant=extract", "--include="+strings.Join(b.packages, ","),
		"--components=main", "--architectures="+b.cfg.arch,
		// MMDEBSTRAP_ESSENTIAL lists the .debs extracted, which is what the image holds.
		`--extract-hook=printf '%s\n' $MMDEBSTRAP_ESSENTIAL > `+shellQuote(b.extracted()),
		b.cfg.suite, b.tarball(), b.mirror.aptLine()); err != nil {
		return s, fmt.Errorf("mmdebstrap: %w", err)
	}
	for _, args := range [][]string{
		{"init", "--layout", b.umociDir()},
		{"new", "--image", image},
		{"raw", "add-layer", "--image", image, b.tarball()},
	} {
		if _, err := outputCPU(ctx, "", nil, &s.cpu, "umoci", args...); err != nil {
			return s, fmt.Errorf("umoci: %w", err)
		}
	}
	s.wall = time.Since(start)
	return s, nil
}

// collect reads what the last runs left: package counts and image sizes.
func (b *bench) collect(r *results) error {
	l, err := lock.Read(filepath.Join(b.specDir, "ingot.lock"))
	if err != nil {
		return err
	}
	c, ok := l.Archs[b.cfg.arch]
	if !ok {
		return fmt.Errorf("the lock has nothing for %s", b.cfg.arch)
	}
	r.ingotPackages = len(c.Packages)
	data, err := os.ReadFile(b.extracted())
	if err != nil {
		return fmt.Errorf("reading the list of packages mmdebstrap extracted: %w", err)
	}
	r.mmdebstrapPackages = len(strings.Fields(string(data)))
	if r.ingotImage, err = imageSize(b.ingotLayout()); err != nil {
		return fmt.Errorf("ingot's image: %w", err)
	}
	if r.mmdebstrapImage, err = imageSize(b.umociDir()); err != nil {
		return fmt.Errorf("umoci's image: %w", err)
	}
	return nil
}

// shellQuote quotes s for sh, which runs mmdebstrap's hooks.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
