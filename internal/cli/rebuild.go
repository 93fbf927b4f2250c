package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/rebuild"
	"github.com/ingot-build/ingot/pkg/sign"
)

// policyFlags are the re-scan policy of the verbs that re-scan (worker, serve, catalog cycle, db
// import and update), over INGOT_REVOKE_AT and INGOT_REVOKE_ACTION.
type policyFlags struct {
	revokeAt, action string
}

func (f *policyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.revokeAt, "revoke-at", "", "a re-scan acts on a version with a new finding at or above this level, with a fix and no VEX statement: "+oneOf(failOnLevels())+" (default $INGOT_REVOKE_AT, else critical)")
	cmd.Flags().StringVar(&f.action, "revoke-action", "", "what it does: revoke, flag (an event, no status change) or none (default $INGOT_REVOKE_ACTION, else revoke)")
}

// policy is the policy the flags and the environment give.
func (f *policyFlags) policy(env Env) (rebuild.Policy, error) {
	at, action := env.RevokeAt, env.RevokeAction
	if f.revokeAt != "" {
		at = f.revokeAt
	}
	if f.action != "" {
		action = f.action
	}
	p, err := rebuild.ParsePolicy(action, at)
	if err != nil {
		return p, usageError{err}
	}
	return p, nil
}

// rebuildFlags configure a process that runs rebuild jobs: where rebuilt versions go, how they are
// signed, the re-scan policy, and the workers.
type rebuildFlags struct {
	push       string
	insecure   bool
	key        keyFlags
	signFormat string
	grace      time.Duration
	policy     policyFlags
	workers    int
	jobTimeout time.Duration
}

// publishHelp says where rebuilt versions go and how they are signed, for the verbs' help.
const publishHelp = `Rebuilt versions are published as ingot build publishes them: recorded pending, stored in the data
directory's layout, pushed under --push PREFIX/<image> (credentials from the docker config), signed
and attested with --key (its password from --key-password-file or COSIGN_PASSWORD: no terminal is
needed), verified, then published; the previous active version of the release line is deprecated
after --grace. Registered specs are read from the catalog, with their files; a spec's keyrings must
be absolute paths on the worker (or its repositories host: true).`

// policyHelp says what a re-scan does.
const policyHelp = `A re-scan matches each distinct package of the active versions once against this data directory's
vulnerability data and records what changed; a version with a new finding at --revoke-at or above
(default critical), whose advisory names a fixed version and that no VEX statement covers, is
revoked (or, with --revoke-action flag, flagged: an event naming the finding, no status change).`

func (f *rebuildFlags) add(cmd *cobra.Command, workers bool) {
	cmd.Flags().StringVar(&f.push, "push", "", "push rebuilt images under this registry `PREFIX` (PREFIX/<image>); default: the data directory's layouts only")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to a non-loopback registry")
	f.key.add(cmd, "sign and attest rebuilt versions with this private key (needs --push)")
	cmd.Flags().StringVar(&f.signFormat, "sign-format", "both", "signature format with --key: "+signFormatHelp())
	cmd.Flags().DurationVar(&f.grace, "grace", 24*time.Hour, "how long the previous active version of a release line stays active once a rebuild is published")
	f.policy.add(cmd)
	cmd.Flags().IntVar(&f.workers, "workers", rebuild.DefaultWorkers, "jobs run at once in this process")
	cmd.Flags().DurationVar(&f.jobTimeout, "job-timeout", rebuild.DefaultJobTimeout, "longest a job may run")
	if !workers {
		_ = cmd.Flags().MarkHidden("workers") // a one-off cycle runs what it needs
	}
}

// config is the rebuild configuration of the flags, for the catalog cat.
func (f *rebuildFlags) config(g *globalFlags, cmd *cobra.Command, env Env, cat catalog.Catalog) (rebuild.Config, error) {
	if f.workers < 1 {
		return rebuild.Config{}, usageErrorf("--workers must be at least 1")
	}
	if f.grace < 0 || f.jobTimeout <= 0 {
		return rebuild.Config{}, usageErrorf("--grace must not be negative, --job-timeout must be positive")
	}
	policy, err := f.policy.policy(env)
	if err != nil {
		return rebuild.Config{}, err
	}
	popt := pipelineOptions(env, g, cmd, nil)
	popt.Progress = nil
	popt.Remote = []remote.Option{remote.WithTransport(g.registryTransport())}
	cfg := rebuild.Config{
		Store:      env.Store(),
		Catalog:    cat,
		Pipeline:   popt,
		Policy:     policy,
		Workers:    f.workers,
		JobTimeout: f.jobTimeout,
		Log:        g.logger(cmd),
		Publish: rebuild.Publish{
			Registry: publish.PushOptions{Insecure: f.insecure, Transport: g.transport},
			Grace:    f.grace,
		},
	}
	if f.push != "" {
		p := strings.TrimSuffix(f.push, "/")
		if _, err := publish.PushReference(p+"/x", "", f.insecure); err != nil {
			return rebuild.Config{}, usageErrorf("--push %q is not a registry prefix (REGISTRY/PATH): %v", f.push, err)
		}
		cfg.Publish.Repository = p
	}
	if f.key.key != "" || f.key.passwordFile != "" {
		if f.push == "" {
			return rebuild.Config{}, usageErrorf("--key signs what --push publishes: give --push PREFIX")
		}
		fm, err := sign.ParseFormat(f.signFormat)
		if err != nil {
			return rebuild.Config{}, usageError{err}
		}
		ro, err := g.remote(cmd)
		if err != nil {
			return rebuild.Config{}, err
		}
		cfg.Publish.Sign = sign.Options{Formats: fm, RemoteOptions: ro}
		if cfg.Publish.Signer, err = f.key.loadSigner(g, cmd); err != nil {
			return rebuild.Config{}, err
		}
	}
	return cfg, nil
}

// logger is where a long-running verb's logs go: stderr, one line per record; warnings only with
// --quiet.
func (g *globalFlags) logger(cmd *cobra.Command) *slog.Logger {
	lvl := slog.LevelInfo
	if g.quiet {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
}

func newWorkerCmd(g *globalFlags) *cobra.Command {
	var f rebuildFlags
	var noSchedule bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run rebuild jobs: the daily cycle, rebuilds, re-scans (until interrupted)",
		Long: `Run the rebuild jobs of the catalog until interrupted (SIGINT, SIGTERM).

Jobs live beside the catalog: in <data-dir>/jobs.db for the embedded SQLite catalog, in the catalog's
PostgreSQL database otherwise, where several workers (on several machines) share them; a job runs
once, on one of them. A worker runs up to --workers jobs at once. Failed jobs are retried with backoff
and listed by ingot jobs; a worker that is stopped hands its running jobs back to the queue, for
another worker (or its next start) to run again.

Unless --no-schedule, the worker also schedules: a cycle every --every (and on start, unless one
completed within half of it), which completes versions interrupted publications left pending,
deprecates versions past their grace period, reads each repository's signed index once, resolves
every registered spec again, checks each base image tag with one manifest HEAD, enqueues a rebuild of
each image with newer packages or a moved base (its reason names the packages, old and new versions,
and the advisories the new ones fix), and re-scans. With --no-schedule the process only works jobs:
another (a worker or ingot serve) must schedule.

` + publishHelp + `

` + policyHelp,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if every < 0 {
				return usageErrorf("--every must be positive")
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			cat, err := env.Store().Catalog(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { _ = cat.Close() }() // the workers have stopped: nothing is left to write
			cfg, err := f.config(g, cmd, env, cat)
			if err != nil {
				return err
			}
			cfg.Schedule, cfg.Every = !noSchedule, every
			return rebuild.Run(cmd.Context(), cfg)
		},
	}
	f.add(cmd, true)
	cmd.Flags().BoolVar(&noSchedule, "no-schedule", false, "only work jobs: another process schedules the cycles")
	cmd.Flags().DurationVar(&every, "every", rebuild.DefaultEvery, "how often the scheduled cycle runs")
	return cmd
}

func newCatalogCycleCmd(g *globalFlags) *cobra.Command {
	var f rebuildFlags
	var output string
	cmd := &cobra.Command{
		Use:   "cycle",
		Short: "Run a rebuild cycle now and wait for it: rebuild what changed upstream, re-scan",
		Long: `Run one rebuild cycle now, and wait for it and the jobs it enqueues.

The cycle completes versions interrupted publications left pending, deprecates versions past their
grace period, reads each repository's signed index once (recording when each package version was first
seen, for patch SLAs), resolves every registered spec again, checks each base image tag with one
manifest HEAD, enqueues a rebuild of each image with newer packages or a moved base tag (its reason,
in the new version's history, names the packages and the advisories the new versions fix), then
re-scans. A rebuild that gives a digest already recorded publishes nothing. This process works the
jobs, together with any ingot worker sharing the queue; if a cycle is already queued or running, this
one waits for it.

` + publishHelp + `

` + policyHelp + `

Exit status 1 when a job failed (ingot jobs lists it with its error; it is retried by a worker).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			cat, err := env.Store().Catalog(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { _ = cat.Close() }() // the workers have stopped: nothing is left to write
			cfg, err := f.config(g, cmd, env, cat)
			if err != nil {
				return err
			}
			r, err := rebuild.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out, err := r.Cycle(cmd.Context())
			if serr := r.Stop(cmd.Context()); err == nil {
				err = serr
			}
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else if err := writeCycle(cmd.OutOrStdout(), out); err != nil {
				return err
			}
			if failed := out.Failed(); len(failed) > 0 {
				return fmt.Errorf("%d job(s) failed (ingot jobs lists them): %s", len(failed), failed[0].LastError())
			}
			return nil
		},
	}
	f.add(cmd, false)
	addOutputFlag(cmd, &output)
	return cmd
}

// writeCycle prints a cycle's outcome: what it read, each rebuild with its result and reason, the
// re-scan, and what failed.
func writeCycle(w io.Writer, out *rebuild.CycleOutcome) error {
	rep := out.Report
	if rep == nil {
		_, err := fmt.Fprintf(w, "cycle %d %s: %s\n", out.Cycle.ID, out.Cycle.State, orDash(out.Cycle.LastError()))
		return err
	}
	if rep.Skipped != "" {
		_, err := fmt.Fprintf(w, "cycle %d skipped: %s\n", out.Cycle.ID, rep.Skipped)
		return err
	}
	fmt.Fprintf(w, "cycle %d %s: %d registered spec(s), %d repository index(es) read once each, %d package version(s) recorded, %d base tag(s) checked\n",
		out.Cycle.ID, out.Cycle.State, rep.Specs, len(rep.Repositories), rep.UpstreamSeen, len(rep.Bases))
	jobs := map[int64]rebuild.Job{}
	for _, j := range out.Jobs {
		jobs[j.ID] = j
	}
	for _, q := range rep.Rebuilds {
		j := jobs[q.JobID]
		var res rebuild.RebuildResult
		result := j.State
		if len(j.Output) > 0 && decodeJSON(j.Output, &res) == nil && res.Version != "" {
			if res.Published {
				result = "published " + res.Version
			} else {
				result = "unchanged: " + res.Version
			}
		} else if e := j.LastError(); e != "" {
			result += ": " + e
		}
		fmt.Fprintf(w, "rebuild %s (job %d): %s\n  because %s\n", q.Image, q.JobID, result, q.Reason)
	}
	if len(rep.Unchanged) > 0 {
		fmt.Fprintf(w, "unchanged: %s\n", strings.Join(rep.Unchanged, ", "))
	}
	if j, ok := jobs[rep.Rescan]; ok {
		var res rebuild.RescanResult
		switch {
		case j.State != rebuild.StateCompleted:
			fmt.Fprintf(w, "re-scan (job %d) %s: %s\n", j.ID, j.State, j.LastError())
		case decodeJSON(j.Output, &res) == nil && res.Data != "":
			writeRescan(w, &res)
		default:
			fmt.Fprintf(w, "re-scan: skipped (no vulnerability data: ingot db update)\n")
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s: %s\n", e.Image, e.Error)
	}
	for _, j := range out.Failed() {
		fmt.Fprintf(w, "failed: job %d (%s), attempt %d of %d: %s\n", j.ID, j.Kind, j.Attempt, j.MaxAttempts, j.LastError())
	}
	return nil
}

// writeRescan prints what a re-scan did, in a few lines.
func writeRescan(w io.Writer, res *rebuild.RescanResult) {
	fmt.Fprintf(w, "re-scan of %d active version(s) against %s: %d distinct package(s) matched once each, %d affected; findings changed in %d platform image(s)\n",
		res.Versions, res.Data, res.Packages, res.Affected, len(res.Changes))
	for _, c := range res.Changes {
		fmt.Fprintf(w, "  %s (%s): %d introduced, %d fixed\n", c.Version, c.Platform, len(c.Introduced), len(c.Fixed))
	}
	for _, a := range res.Actions {
		verb := map[rebuild.Action]string{rebuild.ActionRevoke: "revoked", rebuild.ActionFlag: "flagged"}[a.Action]
		if a.Error != "" {
			fmt.Fprintf(w, "  not %s %s: %s\n", verb, a.Version, a.Error)
			continue
		}
		fmt.Fprintf(w, "  %s %s: %s\n", verb, a.Version, a.Reason)
	}
}
