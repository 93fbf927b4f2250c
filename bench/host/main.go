// Command host benchmarks ingot's host layer: -mode audit times ingot host audit against
// oscap-chroot on the Debian 11 trees (audit.go), -mode build times ingot host build against plain
// mmdebstrap and a disk assembled by hand (build.go).
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
	"syscall"
)

type config struct {
	work string // holds the mirror, the ingot binary and every output, kept between runs
	spec string // the VM spec (default: examples/vm of this module)
	runs int
	mode string
	// trees and oscapProfile are the audit half's: the directory of .ci/host-tree.sh's trees, and
	// the oscap profile ("shared": the rules both check, through the testdata tailoring).
	trees        string
	oscapProfile string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/host:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	switch cfg.mode {
	case "build":
		err = runBuild(ctx, cfg, os.Stdout, os.Stderr)
	case "audit":
		runAudit(cfg)
	default:
		err = fmt.Errorf("unknown -mode %q", cfg.mode)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/host:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.mode, "mode", "build", "what to measure: build (ingot host build against mmdebstrap and a disk assembled by hand) or audit (ingot host audit against oscap-chroot)")
	fs.StringVar(&cfg.trees, "trees", defaultTrees(), "audit: the directory holding the weak/ and hardened/ trees of .ci/host-tree.sh")
	fs.StringVar(&cfg.oscapProfile, "oscap-profile", "shared", "audit: oscap profile: shared (the rules both check, testdata tailoring) or an SSG profile ID such as xccdf_org.ssgproject.content_profile_standard")
	fs.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-host"), "working directory; kept between runs so the mirror is downloaded once")
	fs.StringVar(&cfg.spec, "spec", "", "VM spec file or directory (default: examples/vm of this module)")
	fs.IntVar(&cfg.runs, "runs", 0, "timed runs of each; the median is reported (default 1 for build, 3 for audit)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case cfg.runs < 0:
		return cfg, errors.New("-runs must be at least 1")
	case cfg.runs == 0 && cfg.mode == "audit":
		cfg.runs = 3
	case cfg.runs == 0:
		cfg.runs = 1
	}
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return cfg, fmt.Errorf("-work: %w", err)
	}
	cfg.work = work
	return cfg, nil
}
