package main

import (
	"bytes"
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
	"syscall"
	"time"
)

// config is what the flags say; run takes nothing else from the process.
type config struct {
	work     string // holds the mirror, the caches, the ingot binary and every output
	specPath string // the spec whose package list both tools install
	suite    string
	arch     string
	keyring  string // "" takes the Signed-By of the host's source for the suite
	runs     int
	noopRuns int
	warmRuns int // ingot builds with the packages cached and nothing else
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/build:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/build:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "ingot-bench-build"), "working directory; kept between runs so the mirror is downloaded once")
	fs.StringVar(&cfg.specPath, "spec", "", "spec file or directory whose name, version, packages and excludes are built (default: examples/base of this module)")
	fs.StringVar(&cfg.suite, "suite", "bookworm", "Debian suite, as named in the host's apt sources")
	fs.StringVar(&cfg.arch, "arch", "amd64", "Debian architecture to build")
	fs.StringVar(&cfg.keyring, "keyring", "", "keyring that signs the suite (default: the host source's Signed-By)")
	fs.IntVar(&cfg.runs, "runs", 3, "timed cold builds per tool; the median is reported")
	fs.IntVar(&cfg.noopRuns, "noop-runs", 10, "timed no-op ingot rebuilds; the median is reported")
	fs.IntVar(&cfg.warmRuns, "warm-runs", 3, "timed warm ingot builds (packages cached, nothing else), and timed runs of the physical floor and of each decoder; medians are reported")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.runs < 1 || cfg.noopRuns < 1 || cfg.warmRuns < 1 {
		return cfg, errors.New("-runs, -noop-runs and -warm-runs must be at least 1")
	}
	work, err := filepath.Abs(cfg.work)
	if err != nil {
		return cfg, fmt.Errorf("-work: %w", err)
	}
	cfg.work = work
	return cfg, nil
}

// moduleRoot returns the directory of the go.mod the go tool sees from the current directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := output(ctx, "", nil, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the ingot module: run from its work tree (go run ./bench/build)")
	}
	return filepath.Dir(gomod), nil
}

// output runs a command and returns its stdout; a failure carries the command's stderr.
func output(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	return outputCPU(ctx, dir, env, nil, name, args...)
}

// outputCPU is output that also adds the CPU time the command used, with every process it waited for
// (mmdebstrap's apt and dpkg, ingot's xz), to *cpu. On a machine shared with other work, CPU time
// says more about the work done than wall time.
func outputCPU(ctx context.Context, dir string, env []string, cpu *time.Duration, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...) //nolint:gosec // the tools being measured, with the bench's arguments
	if cpu != nil {
		defer func() {
			if ps := cmd.ProcessState; ps != nil {
				*cpu += ps.UserTime() + ps.SystemTime()
			}
		}()
	}
	cmd.Dir = dir
	// mmdebstrap mounts /proc and /sys in its chroot: let it unmount them when interrupted.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return stdout.String(), nil
}

// tail keeps the last n lines of s, which is where a failing tool says why.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
