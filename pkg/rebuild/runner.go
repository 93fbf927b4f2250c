package rebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
)

// Runner works the queue's jobs in this process (and, with Config.Schedule, schedules cycles).
type Runner struct {
	*Queue
	cfg      Config
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// Start opens the job queue beside the catalog (migrating River's tables), and starts River's client
// with ingot's workers: up to cfg.Workers jobs at once, and with cfg.Schedule the periodic cycle and
// deprecation. It returns once the client runs; Stop stops it. This is what `ingot worker` and
// `ingot serve` run (see Run for a blocking form).
func Start(ctx context.Context, cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg}
	workers := river.NewWorkers()
	river.AddWorker(workers, &cycleWorker{r: r})
	river.AddWorker(workers, &rebuildWorker{r: r})
	river.AddWorker(workers, &rescanWorker{r: r})
	river.AddWorker(workers, &deprecateWorker{r: r})
	river.AddWorker(workers, &completeWorker{r: r})
	n := cfg.Workers
	if n <= 0 {
		n = DefaultWorkers
	}
	poll := cfg.Poll
	if poll <= 0 {
		poll = time.Second
	}
	stop := cfg.StopTimeout
	if stop <= 0 {
		stop = DefaultStopTimeout
	}
	rc := &river.Config{
		Logger:                      riverLogger(cfg.log()),
		Workers:                     workers,
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}},
		JobTimeout:                  r.timeout(),
		FetchPollInterval:           poll,
		FetchCooldown:               min(poll, 100*time.Millisecond),
		SoftStopTimeout:             stop,
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 30 * 24 * time.Hour,
		LeaderElectionDisabled:      !cfg.Schedule,
	}
	if cfg.Schedule {
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.every()), func() (river.JobArgs, *river.InsertOpts) {
				return CycleArgs{}, nil
			}, &river.PeriodicJobOpts{ID: KindCycle, RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(DeprecateEvery), func() (river.JobArgs, *river.InsertOpts) {
				return DeprecateArgs{}, nil
			}, &river.PeriodicJobOpts{ID: KindDeprecate, RunOnStart: true}),
		}
	}
	c, err := b.client(rc)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	r.Queue = &Queue{b: b, client: c, poll: min(poll, 250*time.Millisecond)}
	// The client runs until Stop, not until the caller's context ends: Stop hands running jobs back.
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		b.close()
		return nil, fmt.Errorf("jobs: starting the workers: %w", err)
	}
	cfg.log().Info("rebuild workers started", "queue", b.name, "workers", n, "schedule", cfg.Schedule,
		"every", cfg.every().String(), "policy", cfg.Policy.String())
	return r, nil
}

// ID is this process's River client ID, as jobs record who ran them (Job.AttemptedBy).
func (r *Runner) ID() string { return r.client.ID() }

// Stop stops taking jobs and waits for the running ones to finish, for Config.StopTimeout at most
// (or until ctx ends): then their contexts are cancelled and they go back to the queue unharmed, for
// another worker (or the next start) to run again. It closes the queue; the catalog stays open.
func (r *Runner) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		err := r.client.Stop(ctx)
		if err != nil && ctx.Err() != nil {
			// The caller cannot wait longer: cancel what runs (it is snoozed back), within a bound.
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = r.client.StopAndCancel(cctx)
			cancel()
		}
		r.b.close()
		r.stopErr = err
		r.cfg.log().Info("rebuild workers stopped")
	})
	return r.stopErr
}

// Run starts the workers (see Start), runs them until ctx ends, then stops them (see Stop, with
// Config.StopTimeout). It fits a server's background hook:
//
//	Background: func(ctx context.Context) error { return rebuild.Run(ctx, cfg) }
func Run(ctx context.Context, cfg Config) error {
	r, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	stop := cfg.StopTimeout
	if stop <= 0 {
		stop = DefaultStopTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stop+5*time.Second)
	defer cancel()
	return r.Stop(sctx)
}

// Cycle enqueues a cycle now (or joins the one queued or running) and waits for it and for the jobs
// it enqueued: what `ingot catalog cycle` does. Another worker sharing the queue may run them; this
// Runner works them too.
func (q *Queue) Cycle(ctx context.Context) (*CycleOutcome, error) {
	cq, err := q.insert(ctx, CycleArgs{OnDemand: true})
	if err != nil {
		return nil, err
	}
	job, err := q.Wait(ctx, cq.JobID)
	if err != nil {
		return nil, err
	}
	out := &CycleOutcome{Cycle: job}
	if len(job.Output) > 0 {
		out.Report = &CycleReport{}
		if err := json.Unmarshal(job.Output, out.Report); err != nil {
			return nil, fmt.Errorf("reading the cycle's report: %w", err)
		}
	}
	if out.Report == nil {
		return out, nil
	}
	for _, id := range out.Report.jobIDs() {
		j, err := q.Wait(ctx, id)
		if err != nil {
			return out, err
		}
		out.Jobs = append(out.Jobs, j)
	}
	return out, nil
}

// CycleOutcome is a cycle as it went: its job and report, and the jobs it enqueued, each done or
// failed.
type CycleOutcome struct {
	Cycle  Job          `json:"cycle"`
	Report *CycleReport `json:"report,omitempty"`
	Jobs   []Job        `json:"jobs"`
}

// Failed lists the jobs of the outcome that failed, the cycle's own first.
func (o *CycleOutcome) Failed() []Job {
	var out []Job
	if o.Cycle.Failed() || o.Cycle.State == StateCancelled {
		out = append(out, o.Cycle)
	}
	for _, j := range o.Jobs {
		if j.Failed() {
			out = append(out, j)
		}
	}
	return out
}

// lineLog turns the pipeline's progress lines into log records.
type lineLog struct {
	log *slog.Logger
	buf bytes.Buffer
	mu  sync.Mutex
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // an incomplete line waits for its end
			return len(p), nil
		}
		if line = strings.TrimSpace(line); line != "" {
			l.log.Info(line)
		}
	}
}

// riverLogger gives River the process's logger, one level quieter: River reports every fetch and
// maintenance run at info.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(quieter{l.Handler()})
}

type quieter struct{ h slog.Handler }

func (q quieter) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= slog.LevelWarn && q.h.Enabled(ctx, lvl)
}
func (q quieter) Handle(ctx context.Context, r slog.Record) error { return q.h.Handle(ctx, r) }
func (q quieter) WithAttrs(a []slog.Attr) slog.Handler            { return quieter{q.h.WithAttrs(a)} }
func (q quieter) WithGroup(n string) slog.Handler                 { return quieter{q.h.WithGroup(n)} }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// errorsOf joins the errors of a cycle's specs.
func errorsOf(errs []SpecError) error {
	var out []error
	for _, e := range errs {
		out = append(out, fmt.Errorf("%s: %s", e.Image, e.Error))
	}
	return errors.Join(out...)
}
