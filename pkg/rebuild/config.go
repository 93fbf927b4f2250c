package rebuild

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/store"
)

// Defaults of a Config.
const (
	// DefaultEvery is how often the scheduler runs a cycle.
	DefaultEvery = 24 * time.Hour
	// DefaultWorkers is how many jobs one process runs at once.
	DefaultWorkers = 2
	// DefaultJobTimeout bounds one job: a rebuild fetches, builds, scans, pushes and signs.
	DefaultJobTimeout = 2 * time.Hour
	// DefaultStopTimeout is how long Stop lets running jobs finish before cancelling them (they go
	// back to the queue, for this or another worker to run again).
	DefaultStopTimeout = 30 * time.Second
	// DeprecateEvery is how often the scheduler deprecates versions whose grace period is over.
	DeprecateEvery = time.Hour
	// SharedSettle is how old a version left pending must be before a worker sharing a PostgreSQL
	// catalog with other machines completes or abandons it (another machine may be publishing it).
	SharedSettle = 15 * time.Minute
	// Actor is who rebuilt, re-scanned or revoked, in the catalog's history.
	Actor = "ingot rebuild"
)

// ErrConfig means a Config cannot work; the message names the field.
var ErrConfig = fault.New(fault.Invalid, "rebuild: invalid configuration")

// Config is what a process running rebuild jobs needs.
type Config struct {
	// Store is this process's data directory (image layouts, caches, vulnerability data) and names
	// the catalog's database; the job queue lives beside the catalog (Store.JobsPath, or the
	// catalog's PostgreSQL database).
	Store store.Store
	// Catalog is the open catalog the jobs read and write; required. The caller closes it after Stop.
	Catalog catalog.Catalog
	// Pipeline are the machine-side settings of locks and builds: the HTTP client for repositories,
	// the apt sources behind "host: true", registry options for base images (also used for the base
	// tags' HEAD), limits. Its DataDir is Store.Root, whatever it says.
	Pipeline pipeline.Options
	// Publish says where rebuilt versions go and how they are signed.
	Publish Publish
	// Policy is what a re-scan does about a new finding.
	Policy Policy
	// Schedule makes this process a scheduler: it runs a cycle every Every (and once when it starts,
	// unless a cycle completed within the last Every) and deprecates versions past their grace every
	// hour, and it takes part in River's leader election, which also moves retried jobs back to the
	// queue and rescues jobs of workers that died. Without it the process only works jobs: at least
	// one process sharing the queue should schedule.
	Schedule bool
	// Every is the period of the scheduled cycle; DefaultEvery when zero.
	Every time.Duration
	// Workers bounds how many jobs this process runs at once; DefaultWorkers when zero.
	Workers int
	// JobTimeout bounds one job; DefaultJobTimeout when zero.
	JobTimeout time.Duration
	// StopTimeout is how long Stop waits for running jobs before cancelling them; DefaultStopTimeout
	// when zero.
	StopTimeout time.Duration
	// Poll is how often an idle worker looks for jobs when the database cannot notify it (SQLite);
	// one second when zero.
	Poll time.Duration
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Publish says where rebuilt versions go.
type Publish struct {
	// Repository is the registry prefix an image is pushed under: <Repository>/<image name>. Empty
	// keeps rebuilt versions in this data directory's layouts only (a catalog shared by several
	// machines wants a registry: a version is then readable from any of them).
	Repository string
	// Registry says how pushes reach the registry.
	Registry publish.PushOptions
	// Signer signs every rebuilt version and attests its evidence; nil signs nothing. It needs a
	// Repository.
	Signer sign.Signer
	// Sign are the signature formats and how signing reaches the registry.
	Sign sign.Options
	// Grace is how long the previous active version of a release line stays active once a rebuild
	// of it is published (zero deprecates it at once).
	Grace time.Duration
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c Config) every() time.Duration {
	if c.Every > 0 {
		return c.Every
	}
	return DefaultEvery
}

func (c Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// pipelineOptions are the pipeline's options for this data directory.
func (c Config) pipelineOptions() pipeline.Options {
	o := c.Pipeline
	o.DataDir = c.Store.Root
	if o.Now == nil && c.Now != nil {
		o.Now = c.Now
	}
	return o
}

// Validate names the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store.Root == "":
		return fmt.Errorf("%w: Store: no data directory", ErrConfig)
	case c.Catalog == nil:
		return fmt.Errorf("%w: Catalog: none given", ErrConfig)
	case c.Publish.Signer != nil && c.Publish.Repository == "":
		return fmt.Errorf("%w: Publish: signing needs a registry repository to push to", ErrConfig)
	case c.Workers < 0 || c.Every < 0 || c.JobTimeout < 0 || c.StopTimeout < 0 || c.Publish.Grace < 0:
		return fmt.Errorf("%w: negative workers, period, timeout or grace", ErrConfig)
	}
	return c.Policy.Validate()
}

// Action is what a re-scan does to a version with a new finding the policy covers.
type Action string

// Actions.
const (
	// ActionRevoke revokes the version: admission refuses it from then on.
	ActionRevoke Action = "revoke"
	// ActionFlag records a "flagged" event naming the finding and leaves the status alone.
	ActionFlag Action = "flag"
	// ActionNone records the finding only (the re-scan's own event).
	ActionNone Action = "none"
)

// Policy is what a re-scan does about a finding it introduces into a version: one whose severity is
// at least MinSeverity, that counts against the image (status affected: no VEX statement says
// otherwise) and whose fix is available gets Action. A fix is available when the advisory names a
// fixed version for the package's ecosystem: OSV's distribution data (Debian:12, ...) names one
// once the fixed package has shipped in that release, so a rebuild can pick it up. Only new
// findings act: a version someone restored after a revocation stays restored until a re-scan finds
// something new in it. The zero Policy does nothing; DefaultPolicy revokes at critical.
type Policy struct {
	Action      Action
	MinSeverity evidence.Severity
}

// DefaultPolicy revokes a version with a new critical finding whose fix is available.
func DefaultPolicy() Policy {
	return Policy{Action: ActionRevoke, MinSeverity: evidence.SeverityCritical}
}

// ParsePolicy reads an action (revoke, flag or none) and a severity level (critical, high, ...,
// or none, which is ActionNone whatever the action says).
func ParsePolicy(action, severity string) (Policy, error) {
	p := DefaultPolicy()
	if a := strings.ToLower(strings.TrimSpace(action)); a != "" {
		p.Action = Action(a)
	}
	if s := strings.TrimSpace(severity); s != "" {
		lvl, err := evidence.ParseFailOn(s)
		if err != nil {
			return p, fmt.Errorf("%w: severity: %w", ErrConfig, err)
		}
		if lvl == nil {
			p.Action = ActionNone
		} else {
			p.MinSeverity = *lvl
		}
	}
	return p, p.Validate()
}

// Validate checks the action.
func (p Policy) Validate() error {
	switch p.Action {
	case "", ActionRevoke, ActionFlag, ActionNone:
		return nil
	}
	return fmt.Errorf("%w: action %q (want %s, %s or %s)", ErrConfig, p.Action, ActionRevoke, ActionFlag, ActionNone)
}

func (p Policy) String() string {
	if p.Action == "" || p.Action == ActionNone {
		return "none"
	}
	return fmt.Sprintf("%s at %s", p.Action, p.MinSeverity)
}

// errSpecGone means a rebuild was asked for an image whose spec is no longer registered.
var errSpecGone = errors.New("rebuild: the spec is no longer registered")
