package rebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// CycleReport is what one cycle found and did.
type CycleReport struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Skipped says why a scheduled cycle did nothing (another completed within the period).
	Skipped string `json:"skipped,omitempty"`
	// Specs counts the registered specs checked.
	Specs int `json:"specs"`
	// Repositories are the repositories whose signed index was read, each once.
	Repositories []string `json:"repositories,omitempty"`
	// UpstreamSeen counts the package versions of those indexes recorded (catalog.Upstream).
	UpstreamSeen int `json:"upstreamSeen"`
	// UpstreamSkipped are the index stanzas that did not parse, left out of what was recorded.
	UpstreamSkipped []string `json:"upstreamSkipped,omitempty"`
	// Bases are the base image tags checked, each with one manifest HEAD.
	Bases []BaseCheck `json:"bases,omitempty"`
	// Rebuilds are the rebuilds enqueued (or found queued already), each with its reason.
	Rebuilds []Queued `json:"rebuilds,omitempty"`
	// Unchanged are the images with nothing new upstream.
	Unchanged []string `json:"unchanged,omitempty"`
	// Errors are the specs that could not be checked.
	Errors []SpecError `json:"errors,omitempty"`
	// Complete, Deprecate and Rescan are the jobs the cycle enqueued besides rebuilds (0: none).
	Complete  int64 `json:"completeJob,omitempty"`
	Deprecate int64 `json:"deprecateJob,omitempty"`
	Rescan    int64 `json:"rescanJob,omitempty"`
}

// BaseCheck is one base tag as a cycle found it.
type BaseCheck struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest,omitempty"`
	Error  string `json:"error,omitempty"`
}

// SpecError is a registered spec a cycle could not check.
type SpecError struct {
	Image string `json:"image"`
	Error string `json:"error"`
}

// jobIDs are the jobs the cycle enqueued.
func (r *CycleReport) jobIDs() []int64 {
	var out []int64
	for _, id := range []int64{r.Complete, r.Deprecate} {
		if id != 0 {
			out = append(out, id)
		}
	}
	for _, q := range r.Rebuilds {
		out = append(out, q.JobID)
	}
	if r.Rescan != 0 {
		out = append(out, r.Rescan)
	}
	return out
}

// cycle runs one cycle: it enqueues the completion of pending versions and the deprecation of those
// past their grace, checks every registered spec against upstream and enqueues the rebuilds due,
// then a re-scan. A spec that cannot be checked does not stop the others; the cycle then fails
// (naming them) after enqueueing what it could, and is retried.
func (r *Runner) cycle(ctx context.Context, a CycleArgs) (*CycleReport, error) {
	rep := &CycleReport{Started: r.cfg.now()}
	if !a.OnDemand {
		if last, ok, err := r.lastCycle(ctx); err != nil {
			return nil, err
		} else if ok && rep.Started.Sub(last) < r.cfg.every()/2 {
			rep.Skipped = "a cycle completed at " + last.Format(time.RFC3339)
			return rep, nil
		}
	}
	for _, j := range []struct {
		args river.JobArgs
		id   *int64
	}{{CompleteArgs{}, &rep.Complete}, {DeprecateArgs{}, &rep.Deprecate}} {
		q, err := r.insert(ctx, j.args)
		if err != nil {
			return rep, err
		}
		*j.id = q.JobID
	}
	c := newChecker(r.cfg)
	due, err := c.run(ctx, rep)
	for _, args := range due {
		q, ierr := r.insert(ctx, args)
		if ierr != nil {
			err = errors.Join(err, ierr)
			continue
		}
		rep.Rebuilds = append(rep.Rebuilds, q)
		r.cfg.log().Info("rebuild enqueued", "image", args.Image, "reason", args.Reason, "job", q.JobID, "duplicate", q.Duplicate)
	}
	q, ierr := r.insert(ctx, RescanArgs{Reason: "cycle"})
	if ierr == nil {
		rep.Rescan = q.JobID
	}
	rep.Finished = r.cfg.now()
	return rep, errors.Join(err, ierr, errorsOf(rep.Errors))
}

// lastCycle is when the newest completed cycle finished.
func (r *Runner) lastCycle(ctx context.Context) (time.Time, bool, error) {
	res, err := r.client.JobList(ctx, river.NewJobListParams().Kinds(KindCycle).
		States(rivertype.JobStateCompleted).OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderDesc).First(1))
	if err != nil {
		return time.Time{}, false, err
	}
	if len(res.Jobs) == 0 || res.Jobs[0].FinalizedAt == nil {
		return time.Time{}, false, nil
	}
	return res.Jobs[0].FinalizedAt.UTC(), true, nil
}

// checker checks registered specs against upstream, sharing one fetch of each repository's indexes
// and one HEAD of each base tag between them.
type checker struct {
	cfg Config
	opt pipeline.Options
	ix  *pipeline.Indexes
	db  *vuln.DB

	mu    sync.Mutex
	heads map[string]headResult
	bases map[string]*lock.Base
}

type headResult struct {
	digest string
	err    error
}

func newChecker(cfg Config) *checker {
	ix := &pipeline.Indexes{}
	opt := cfg.pipelineOptions()
	opt.Indexes = ix
	// Base images are read with the docker config's credentials, as pushes are; the caller's
	// options come after and win.
	opt.Remote = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opt.Remote...)
	return &checker{cfg: cfg, opt: opt, ix: ix, db: cfg.Store.VulnDB(), heads: map[string]headResult{}, bases: map[string]*lock.Base{}}
}

// run checks every registered spec and records what upstream holds; it returns the rebuilds due.
func (c *checker) run(ctx context.Context, rep *CycleReport) ([]RebuildArgs, error) {
	specs, err := c.cfg.Catalog.ListSpecs(ctx)
	if err != nil {
		return nil, err
	}
	rep.Specs = len(specs)
	var due []RebuildArgs
	for _, rs := range specs {
		if err := ctx.Err(); err != nil {
			return due, err
		}
		args, err := c.check(ctx, rs)
		switch {
		case err != nil:
			rep.Errors = append(rep.Errors, SpecError{Image: rs.Name, Error: err.Error()})
			c.cfg.log().Warn("registered spec not checked", "image", rs.Name, "error", err)
		case args == nil:
			rep.Unchanged = append(rep.Unchanged, rs.Name)
		default:
			due = append(due, *args)
		}
	}
	repos := c.ix.Repositories()
	for _, r := range repos {
		rep.Repositories = append(rep.Repositories, r.Source.Name)
		for _, err := range r.Skipped {
			rep.UpstreamSkipped = append(rep.UpstreamSkipped, r.Source.Name+": "+err.Error())
			c.cfg.log().Warn("index stanza not recorded", "repository", r.Source.Name, "error", err)
		}
	}
	if pkgs := upstreamPackages(repos); len(pkgs) > 0 {
		if err := c.cfg.Catalog.SeenUpstream(ctx, rep.Started, pkgs); err != nil {
			return due, fmt.Errorf("recording what upstream holds: %w", err)
		}
		rep.UpstreamSeen = len(pkgs)
	}
	for ref, h := range c.heads {
		b := BaseCheck{Ref: ref, Digest: h.digest}
		if h.err != nil {
			b.Error = h.err.Error()
		}
		rep.Bases = append(rep.Bases, b)
	}
	slices.SortFunc(rep.Bases, func(a, b BaseCheck) int { return strings.Compare(a.Ref, b.Ref) })
	return due, nil
}

// check resolves one registered spec again and says whether (and why) it needs a rebuild: nil when
// nothing changed. What it compares with is the lock registered with the spec, or, when there is
// none that matches the spec (registered without one, or again with another spec), the lock of
// the newest version of its release line.
func (c *checker) check(ctx context.Context, rs catalog.RegisteredSpec) (*RebuildArgs, error) {
	s, cleanup, err := unpack(c.cfg.Store, rs)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	cur, err := pipeline.LockPackages(ctx, s, c.opt)
	if err != nil {
		return nil, err
	}
	newest, err := c.cfg.Catalog.List(ctx, catalog.ListOptions{Image: s.Name, Line: s.Tag(), Limit: 1})
	if err != nil {
		return nil, err
	}
	baseline := registeredLock(rs, s)
	if baseline == nil && len(newest) > 0 {
		if baseline, err = c.versionLock(ctx, newest[0]); err != nil {
			return nil, err
		}
	}
	var why []string
	if baseline == nil {
		why = append(why, "no version of "+s.Name+"@"+s.Tag()+" yet")
	} else {
		changes := diffLocks(baseline, cur)
		if changes, err = addFixes(ctx, c.db, baseline, cur, changes); err != nil {
			// The reason is then less precise; the rebuild is still due.
			c.cfg.log().Warn("advisories not named", "image", rs.Name, "error", err)
		}
		why = append(why, upstreamReason(changes))
	}
	if s.Base != "" {
		base, moved, err := c.base(ctx, s, baseline)
		if err != nil {
			return nil, err
		}
		cur.Base = base
		why = append(why, moved)
	}
	if len(newest) > 0 && newest[0].SpecDigest != canonicalDigest(s) {
		why = append(why, "the registered spec changed since "+newest[0].Ref())
	}
	reason := describe(why...)
	if reason == "" {
		return nil, nil
	}
	lb, err := cur.Marshal()
	if err != nil {
		return nil, err
	}
	return &RebuildArgs{Image: rs.Name, Reason: reason, Lock: lb, Registration: rs.Digest}, nil
}

// versionLock is the lock a version was built from.
func (c *checker) versionLock(ctx context.Context, v *catalog.Version) (*lock.Lock, error) {
	full, err := c.cfg.Catalog.Get(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()})
	if err != nil {
		return nil, err
	}
	if len(full.Lock) == 0 {
		return nil, nil
	}
	l, err := lock.Parse(full.Lock)
	if err != nil {
		return nil, fmt.Errorf("the lock of %s: %w", v.Ref(), err)
	}
	return l, nil
}

// canonicalDigest is the digest the catalog records of a version's spec (Version.SpecDigest).
func canonicalDigest(s *spec.Spec) string {
	sum := sha256.Sum256(s.Canonical())
	return hex.EncodeToString(sum[:])
}

// base is the spec's base as the new lock pins it, and why it moved (empty when it did not). A base
// given by digest stays as locked; a tag is checked with one manifest HEAD per cycle, and locked
// again (its platforms read) only when it names another digest than the old lock's.
func (c *checker) base(ctx context.Context, s *spec.Spec, old *lock.Lock) (*lock.Base, string, error) {
	var was *lock.Base
	if old != nil && old.Base != nil && old.Base.Ref == s.Base {
		was = old.Base
	}
	if !s.BaseTag() {
		if was != nil {
			return was, "", nil
		}
		b, err := pipeline.LockBase(ctx, s, c.opt)
		return b, "", err
	}
	now, err := c.head(ctx, s.Base)
	if err != nil {
		return nil, "", err
	}
	if was != nil && was.Digest == now {
		return was, "", nil
	}
	b, err := c.lockBase(ctx, s)
	if err != nil {
		return nil, "", err
	}
	if was == nil {
		return b, "", nil
	}
	return b, baseReason(s.Base, was.Digest, b.Digest), nil
}

// head is the digest a base tag names, asked once per cycle with a manifest HEAD.
func (c *checker) head(ctx context.Context, ref string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.heads[ref]; ok {
		return h.digest, h.err
	}
	var h headResult
	r, err := name.ParseReference(ref)
	if err != nil {
		h.err = fmt.Errorf("base %s: %w", ref, err)
	} else if desc, err := remote.Head(r, append([]remote.Option{remote.WithContext(ctx)}, c.opt.Remote...)...); err != nil {
		h.err = fmt.Errorf("base %s: %w", ref, err)
	} else {
		h.digest = desc.Digest.String()
	}
	c.heads[ref] = h
	return h.digest, h.err
}

// lockBase locks a moved base once per cycle for each set of archs.
func (c *checker) lockBase(ctx context.Context, s *spec.Spec) (*lock.Base, error) {
	key := s.Base + " " + fmt.Sprint(s.Archs)
	c.mu.Lock()
	b, ok := c.bases[key]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := pipeline.LockBase(ctx, s, c.opt)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.bases[key] = b
	c.mu.Unlock()
	return b, nil
}
