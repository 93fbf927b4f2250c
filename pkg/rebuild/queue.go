package rebuild

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/store"
)

// jobClient is what ingot uses of a River client, whichever driver it runs on (River's clients are
// generic over the driver's transaction type).
type jobClient interface {
	ID() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// backend is the database the queue lives in: a SQLite file with one connection (SQLite runs one
// writer at a time, and River's own services run in parallel), or a PostgreSQL pool.
type backend struct {
	name string
	db   *sql.DB
	pool *pgxpool.Pool
}

// openBackend opens the queue's database beside the store's catalog and migrates River's tables.
func openBackend(ctx context.Context, st store.Store) (*backend, error) {
	if dsn := st.JobsDSN(); dsn != "" {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			// The error repeats the DSN, password included.
			return nil, fault.Errorf(fault.Invalid, "jobs: the PostgreSQL connection string does not parse")
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fault.Errorf(fault.Unavailable, "jobs: connecting to PostgreSQL: %w", err)
		}
		b := &backend{name: "postgres", pool: pool}
		if err := b.migrate(ctx); err != nil {
			b.close()
			return nil, err
		}
		return b, nil
	}
	path := st.JobsPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	uriPath := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+uriPath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("jobs: opening %s: %w", path, err)
	}
	// River's SQLite driver wants one connection: its services run in parallel, SQLite one writer.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fault.Errorf(fault.Unavailable, "jobs: opening %s: %w", path, err)
	}
	b := &backend{name: "sqlite", db: db}
	if err := b.migrate(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// migrateLock is the PostgreSQL advisory lock ("ingotjob") that serialises River's migrations when
// several workers start at once.
const migrateLock = 0x696e676f746a6f62

// migrate brings River's tables to this binary's version, as rivermigrate does.
func (b *backend) migrate(ctx context.Context) error {
	if b.pool != nil {
		conn, err := b.pool.Acquire(ctx)
		if err != nil {
			return fault.Errorf(fault.Unavailable, "jobs: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
			return fmt.Errorf("jobs: waiting for other migrations: %w", err)
		}
		defer func() {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
		}()
		m, err := rivermigrate.New(riverpgxv5.New(b.pool), nil)
		if err != nil {
			return err
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: migrating River's tables: %w", err)
		}
		return nil
	}
	m, err := rivermigrate.New(riversqlite.New(b.db), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrating River's tables: %w", err)
	}
	return nil
}

// client makes a River client on the backend.
func (b *backend) client(cfg *river.Config) (jobClient, error) {
	if b.pool != nil {
		return river.NewClient[pgx.Tx](riverpgxv5.New(b.pool), cfg)
	}
	// SQLite has no LISTEN: workers poll.
	cfg.PollOnly = true
	return river.NewClient[*sql.Tx](riversqlite.New(b.db), cfg)
}

func (b *backend) close() {
	if b.pool != nil {
		b.pool.Close()
	}
	if b.db != nil {
		_ = b.db.Close() // River has stopped: nothing is left to write
	}
}

// Queue is the job queue beside the catalog: enqueue jobs and see how they went, without working
// them (Start returns a Runner that also works them).
type Queue struct {
	b      *backend
	client jobClient
	// poll is how often Wait looks at a job.
	poll time.Duration
}

// OpenQueue opens the queue beside the store's catalog (creating and migrating it): to enqueue
// rebuilds (the API's rebuild request) and list jobs (`ingot jobs`). Close it when done.
func OpenQueue(ctx context.Context, st store.Store) (*Queue, error) {
	b, err := openBackend(ctx, st)
	if err != nil {
		return nil, err
	}
	c, err := b.client(&river.Config{Logger: quietLogger()})
	if err != nil {
		b.close()
		return nil, err
	}
	return &Queue{b: b, client: c, poll: 250 * time.Millisecond}, nil
}

// Close releases the queue's database.
func (q *Queue) Close() error {
	q.b.close()
	return nil
}

// Backend names the queue's database: "sqlite" or "postgres".
func (q *Queue) Backend() string { return q.b.name }

// Job states, as River names them.
const (
	StateAvailable = string(rivertype.JobStateAvailable)
	StateRunning   = string(rivertype.JobStateRunning)
	StateRetryable = string(rivertype.JobStateRetryable)
	StateScheduled = string(rivertype.JobStateScheduled)
	StateCompleted = string(rivertype.JobStateCompleted)
	StateDiscarded = string(rivertype.JobStateDiscarded)
	StateCancelled = string(rivertype.JobStateCancelled)
)

// Job is a job as the queue holds it.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	Args        json.RawMessage `json:"args"`
	Created     time.Time       `json:"created"`
	Scheduled   time.Time       `json:"scheduled"`
	Finalized   time.Time       `json:"finalized,omitzero"`
	// Errors are the failed attempts, oldest first.
	Errors []JobError `json:"errors,omitempty"`
	// Output is what the job recorded (a cycle's report, a rebuild's result).
	Output json.RawMessage `json:"output,omitempty"`
	// AttemptedBy are the workers (River client IDs) that ran it; Snoozes counts the times a
	// stopping worker handed it back.
	AttemptedBy []string `json:"attemptedBy,omitempty"`
	Snoozes     int      `json:"snoozes,omitempty"`
}

// JobError is one failed attempt.
type JobError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// Failed reports whether the job has failed for good (discarded) or will be retried after failing.
func (j Job) Failed() bool { return j.State == StateDiscarded || j.State == StateRetryable }

// Done reports whether the job will not run again.
func (j Job) Done() bool {
	return j.State == StateCompleted || j.State == StateDiscarded || j.State == StateCancelled
}

// LastError is the newest attempt's error, or "".
func (j Job) LastError() string {
	if len(j.Errors) == 0 {
		return ""
	}
	return j.Errors[len(j.Errors)-1].Error
}

func jobOf(r *rivertype.JobRow) Job {
	j := Job{ID: r.ID, Kind: r.Kind, State: string(r.State), Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
		Args: json.RawMessage(r.EncodedArgs), Created: r.CreatedAt.UTC(), Scheduled: r.ScheduledAt.UTC()}
	if r.FinalizedAt != nil {
		j.Finalized = r.FinalizedAt.UTC()
	}
	for _, e := range r.Errors {
		j.Errors = append(j.Errors, JobError{At: e.At.UTC(), Attempt: e.Attempt, Error: e.Error})
	}
	if out := r.Output(); len(out) > 0 {
		j.Output = json.RawMessage(out)
	}
	j.AttemptedBy = r.AttemptedBy
	var meta struct {
		Snoozes int `json:"snoozes"`
	}
	if json.Unmarshal(r.Metadata, &meta) == nil {
		j.Snoozes = meta.Snoozes
	}
	return j
}

// JobFilter selects jobs to list.
type JobFilter struct {
	// States keeps jobs in these states (every state when empty).
	States []string
	// Kinds keeps jobs of these kinds (KindCycle, KindRebuild...; every kind when empty).
	Kinds []string
	// Limit caps the number listed (100 when zero).
	Limit int
}

// Jobs lists jobs, newest first.
func (q *Queue) Jobs(ctx context.Context, f JobFilter) ([]Job, error) {
	p := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	p = p.First(limit)
	if len(f.States) > 0 {
		var states []rivertype.JobState
		for _, s := range f.States {
			st := rivertype.JobState(strings.ToLower(strings.TrimSpace(s)))
			if !slices.Contains(rivertype.JobStates(), st) {
				return nil, fmt.Errorf("%w: job state %q (want one of %s)", ErrConfig, s, stateNames())
			}
			states = append(states, st)
		}
		p = p.States(states...)
	}
	if len(f.Kinds) > 0 {
		p = p.Kinds(f.Kinds...)
	}
	res, err := q.client.JobList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, r := range res.Jobs {
		out = append(out, jobOf(r))
	}
	return out, nil
}

func stateNames() string {
	var out []string
	for _, s := range rivertype.JobStates() {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}

// Job returns one job.
func (q *Queue) Job(ctx context.Context, id int64) (Job, error) {
	r, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return Job{}, fmt.Errorf("%w: no job %d", catalog.ErrNotFound, id)
	}
	if err != nil {
		return Job{}, err
	}
	return jobOf(r), nil
}

// Wait waits until the job is done (completed, discarded or cancelled) or has failed an attempt
// and waits for another (waiting on would take the backoff), and returns it.
func (q *Queue) Wait(ctx context.Context, id int64) (Job, error) {
	t := time.NewTicker(q.poll)
	defer t.Stop()
	for {
		j, err := q.Job(ctx, id)
		if err != nil {
			return j, err
		}
		if j.Done() || j.State == StateRetryable || len(j.Errors) > 0 && j.State != StateRunning {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

// Queued is a job an insert asked for: the new one, or the one already queued that made it a
// duplicate.
type Queued struct {
	Image     string `json:"image,omitempty"`
	Reason    string `json:"reason,omitempty"`
	JobID     int64  `json:"jobID"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// RequestRebuild enqueues a rebuild of a registered spec now, whatever the cycle would say: the job
// locks the spec afresh and publishes a new version if the image changed, its reason saying who
// asked (reason) and what changed. A rebuild of the image already queued or running is returned
// instead (Duplicate).
func (q *Queue) RequestRebuild(ctx context.Context, specs catalog.Specs, image, reason string) (Queued, error) {
	if err := catalog.ValidName(image); err != nil {
		return Queued{}, err
	}
	if _, err := specs.Spec(ctx, image); err != nil {
		return Queued{}, err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "requested"
	}
	return q.insert(ctx, RebuildArgs{Image: image, Reason: reason})
}

// insert enqueues a job with its kind's options.
func (q *Queue) insert(ctx context.Context, args river.JobArgs) (Queued, error) {
	res, err := q.client.Insert(ctx, args, nil)
	if err != nil {
		return Queued{}, fmt.Errorf("enqueueing %s: %w", args.Kind(), err)
	}
	out := Queued{JobID: res.Job.ID, Duplicate: res.UniqueSkippedAsDuplicate}
	if r, ok := args.(RebuildArgs); ok {
		out.Image, out.Reason = r.Image, r.Reason
	}
	return out, nil
}
