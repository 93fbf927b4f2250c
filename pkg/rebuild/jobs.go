package rebuild

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Job kinds.
const (
	KindCycle     = "ingot_cycle"
	KindRebuild   = "ingot_rebuild"
	KindRescan    = "ingot_rescan"
	KindDeprecate = "ingot_deprecate"
	KindComplete  = "ingot_complete"
)

// queuedStates are the states in which a job of a unique kind blocks another: queued or running
// (River requires these four; a retryable job is queued too). Completed ones do not: the next
// cycle may rebuild the same image again.
var queuedStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// CycleArgs runs one cycle: complete pending versions, deprecate those past their grace, check
// every registered spec against upstream and enqueue the rebuilds due, re-scan.
type CycleArgs struct {
	// OnDemand is set when someone asked for the cycle (ingot catalog cycle); a scheduled one is
	// skipped when another completed within the period.
	OnDemand bool `json:"onDemand,omitempty"`
}

// Kind implements river.JobArgs.
func (CycleArgs) Kind() string { return KindCycle }

// InsertOpts makes cycles unique while one is queued or running.
func (CycleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: queuedStates}}
}

// RebuildArgs rebuilds one registered spec.
type RebuildArgs struct {
	// Image names the registered spec; one rebuild per image is queued or running at a time.
	Image string `json:"image" river:"unique"`
	// Reason says why: it becomes the new version's reason in the catalog.
	Reason string `json:"reason"`
	// Lock is the lock the cycle resolved (empty: the job locks the spec itself), valid for the
	// registration whose digest is Registration (a spec registered again since is locked afresh).
	Lock         []byte `json:"lock,omitempty"`
	Registration string `json:"registration,omitempty"`
}

// Kind implements river.JobArgs.
func (RebuildArgs) Kind() string { return KindRebuild }

// InsertOpts makes rebuilds unique per image while queued or running, with a few attempts.
func (RebuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: queuedStates}}
}

// RescanArgs re-scans every active version against this worker's vulnerability data.
type RescanArgs struct {
	Reason string `json:"reason,omitempty"`
}

// Kind implements river.JobArgs.
func (RescanArgs) Kind() string { return KindRescan }

// InsertOpts makes re-scans unique while queued or running.
func (RescanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: queuedStates}}
}

// DeprecateArgs deprecates the versions whose grace period is over.
type DeprecateArgs struct{}

// Kind implements river.JobArgs.
func (DeprecateArgs) Kind() string { return KindDeprecate }

// InsertOpts makes deprecations unique while queued or running.
func (DeprecateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: queuedStates}}
}

// CompleteArgs completes (or abandons) the versions that interrupted publications left pending.
type CompleteArgs struct{}

// Kind implements river.JobArgs.
func (CompleteArgs) Kind() string { return KindComplete }

// InsertOpts makes completions unique while queued or running.
func (CompleteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: queuedStates}}
}

// work runs a job's function and records its output. A job cut short because this process is
// stopping goes back to the queue as it was (snoozed, its attempt not counted), for this or another
// worker to run again; every step of every job is idempotent, so running it again finishes it.
func work[T river.JobArgs](r *Runner, ctx context.Context, job *river.Job[T], fn func(context.Context, T) (any, error)) error {
	log := r.cfg.log().With("job", job.ID, "kind", job.Kind, "attempt", job.Attempt)
	log.Info("job started")
	out, err := fn(ctx, job.Args)
	if out != nil {
		if rerr := river.RecordOutput(ctx, out); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil && ctx.Err() != nil && r.stopping.Load() {
		log.Info("job handed back: the worker is stopping")
		return river.JobSnooze(0)
	}
	if errors.Is(err, errSpecGone) {
		log.Info("job cancelled", "why", err)
		return river.JobCancel(err)
	}
	if err != nil {
		log.Error("job failed", "error", err)
		return err
	}
	log.Info("job done")
	return nil
}

type cycleWorker struct {
	river.WorkerDefaults[CycleArgs]
	r *Runner
}

func (w *cycleWorker) Work(ctx context.Context, job *river.Job[CycleArgs]) error {
	return work(w.r, ctx, job, func(ctx context.Context, a CycleArgs) (any, error) {
		rep, err := w.r.cycle(ctx, a)
		if rep == nil {
			return nil, err
		}
		return rep, err
	})
}

// NextRetry waits minutes, not seconds, before a failed cycle runs again: what failed (a repository
// or registry out of reach, a broken registration) rarely mends in a second, and the cycle would
// read every repository again.
func (w *cycleWorker) NextRetry(job *river.Job[CycleArgs]) time.Time {
	return time.Now().Add(time.Duration(job.Attempt) * cycleRetry)
}

// cycleRetry is the backoff step of a failed cycle.
const cycleRetry = 5 * time.Minute

type rebuildWorker struct {
	river.WorkerDefaults[RebuildArgs]
	r *Runner
}

func (w *rebuildWorker) Work(ctx context.Context, job *river.Job[RebuildArgs]) error {
	return work(w.r, ctx, job, func(ctx context.Context, a RebuildArgs) (any, error) {
		res, err := w.r.rebuild(ctx, a)
		if res == nil {
			return nil, err
		}
		return res, err
	})
}

type rescanWorker struct {
	river.WorkerDefaults[RescanArgs]
	r *Runner
}

func (w *rescanWorker) Work(ctx context.Context, job *river.Job[RescanArgs]) error {
	return work(w.r, ctx, job, func(ctx context.Context, a RescanArgs) (any, error) {
		res, err := Rescan(ctx, w.r.cfg.Catalog, w.r.cfg.Store.VulnDB(), RescanOptions{Policy: w.r.cfg.Policy, Store: &w.r.cfg.Store, Now: w.r.cfg.Now, Reason: a.Reason})
		if errors.Is(err, vuln.ErrNoData) {
			// Nothing to match against on this worker: nothing changes.
			return map[string]string{"skipped": "no vulnerability data in " + w.r.cfg.Store.VulnDB().Dir}, nil
		}
		if res == nil {
			return nil, err
		}
		return res, err
	})
}

type deprecateWorker struct {
	river.WorkerDefaults[DeprecateArgs]
	r *Runner
}

func (w *deprecateWorker) Work(ctx context.Context, job *river.Job[DeprecateArgs]) error {
	return work(w.r, ctx, job, func(ctx context.Context, _ DeprecateArgs) (any, error) {
		evs, err := w.r.cfg.Catalog.DeprecateDue(ctx, w.r.cfg.now())
		if err != nil {
			return nil, err
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.Image+"@"+e.Tag)
		}
		return map[string]any{"deprecated": out}, nil
	})
}

type completeWorker struct {
	river.WorkerDefaults[CompleteArgs]
	r *Runner
}

func (w *completeWorker) Work(ctx context.Context, job *river.Job[CompleteArgs]) error {
	return work(w.r, ctx, job, func(ctx context.Context, _ CompleteArgs) (any, error) {
		done, err := pipeline.CompletePending(ctx, w.r.publishOptions(nil))
		type completed struct {
			Version   string `json:"version"`
			Digest    string `json:"digest"`
			Abandoned bool   `json:"abandoned,omitempty"`
		}
		out := []completed{}
		for _, c := range done {
			out = append(out, completed{Version: c.Version.Ref(), Digest: c.Version.Digest, Abandoned: c.Abandoned})
		}
		return map[string]any{"completed": out}, err
	})
}

// publishOptions are the pipeline's publishing options of this process; log (may be nil) receives
// the pipeline's progress lines.
func (r *Runner) publishOptions(log *lineLog) pipeline.PublishOptions {
	o := pipeline.PublishOptions{
		Options:  r.cfg.pipelineOptions(),
		Catalog:  r.cfg.Catalog,
		Registry: r.cfg.Publish.Registry,
		Signer:   r.cfg.Publish.Signer,
		Sign:     r.cfg.Publish.Sign,
		Actor:    Actor,
		Grace:    r.cfg.Publish.Grace,
	}
	if log != nil {
		o.Log = log
	}
	if r.cfg.Store.JobsDSN() != "" {
		o.Settle = SharedSettle
	}
	return o
}

// timeout is how long one job may run.
func (r *Runner) timeout() time.Duration {
	if r.cfg.JobTimeout > 0 {
		return r.cfg.JobTimeout
	}
	return DefaultJobTimeout
}

// errNotStarted means a Runner was used before Start or after Stop.
var errNotStarted = fmt.Errorf("%w: the job runner is not running", catalog.ErrInvalid)
