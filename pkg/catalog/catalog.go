package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Errors every backend returns, for errors.Is.
var (
	// ErrNotFound: no such image, version, spec or token.
	ErrNotFound = fault.New(fault.NotFound, "catalog: not found")
	// ErrTransition: the status change is not allowed from the version's current status or state
	// (see Transition).
	ErrTransition = fault.New(fault.Conflict, "catalog: status change not allowed")
	// ErrInvalid: a malformed request (a bad reference, an empty reason, an unknown status).
	ErrInvalid = fault.New(fault.Invalid, "catalog: invalid request")
)

// Catalog is the store of versions and everything recorded about them. Every backend (SQLite in the
// data directory, PostgreSQL) implements all of it, with the same behaviour: catalogtest.Run checks
// it. Methods are safe for concurrent use, also from several processes sharing one database.
type Catalog interface {
	Versions
	Findings
	Specs
	Upstream
	Tokens
	Clouds
	// Close releases the database.
	Close() error
}

// Versions records versions and their status, and keeps the history.
type Versions interface {
	// Begin records v as pending (State and Status are set by Begin: pending, active) and fills in its
	// ID and Serial (the next of its image and line). A version with the same Digest already recorded
	// for the image is not recorded twice: Begin returns that one instead, with existed true.
	Begin(ctx context.Context, v *Version) (got *Version, existed bool, err error)
	// Publish marks a pending version published, with where it lives and what was signed for it, and
	// appends a "published" event. Older active versions of the same line get DeprecateAt = at +
	// grace. Publishing a published version again merges locations and artifacts and appends nothing.
	Publish(ctx context.Context, id int64, p Publication) (Event, error)
	// Abandon removes a pending version (a build whose push failed for good); published ones are
	// never removed.
	Abandon(ctx context.Context, id int64) error
	// Pending lists the versions left pending, oldest first, for the next cycle to complete or abandon.
	Pending(ctx context.Context) ([]*Version, error)

	// Get returns one version with its evidence (see Ref for how versions are named; an image alone
	// names its newest active version). Pending versions are not found: nothing may use them yet.
	Get(ctx context.Context, r Ref) (*Version, error)
	// List returns versions without evidence, spec or lock bytes, newest first.
	List(ctx context.Context, o ListOptions) ([]*Version, error)
	// SetStatus changes a published version's status (see Transition) and appends a "status" event.
	// Setting the status it already has changes nothing and returns ErrTransition.
	SetStatus(ctx context.Context, r Ref, c StatusChange) (Event, error)
	// Flag appends a "flagged" event to a published version's history and leaves its status as it
	// is: what a policy that reports instead of revoking records (the note's reason and detail name
	// what was found).
	Flag(ctx context.Context, r Ref, n Note) (Event, error)
	// DeprecateDue deprecates every active version whose DeprecateAt has passed at now, each with a
	// "status" event, and returns the events.
	DeprecateDue(ctx context.Context, now time.Time) ([]Event, error)
	// History is the events of one image (every version when r.Version is empty), oldest first.
	History(ctx context.Context, r Ref) ([]Event, error)
	// Events returns up to limit events with Seq greater than after, in Seq order: what followers
	// (the admission webhook) poll.
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
}

// Batch is implemented by backends that record many versions or scans in one transaction (both of
// ingot's do): for loading a catalog in bulk, as the benchmark does, and re-scanning it, where one
// transaction per version costs more than the version's rows.
type Batch interface {
	// BeginBatch is Begin of each version, in order, in one transaction: all are recorded or none.
	// existed[i] says whether got[i] was recorded before (by an earlier version of the batch too).
	BeginBatch(ctx context.Context, vs []*Version) (got []*Version, existed []bool, err error)
	// RecordScans is RecordScan of each scan, in order, in one transaction: all are recorded or
	// none. A re-scan of the whole catalog records thousands of platform images; one transaction
	// each costs more than their findings.
	RecordScans(ctx context.Context, scans []Scan) ([]ScanChange, error)
	// OpenFindings returns the open findings of every platform image of the given versions, from
	// the catalog's columns, in version, platform and finding order. A re-scan compares each new
	// scan with these: reading the full findings (FindingHistory) of the whole catalog costs far
	// more than the re-scan's matching.
	OpenFindings(ctx context.Context, versionIDs []int64) ([]OpenFinding, error)
}

// OpenFinding is an open finding of one platform image as the catalog keys and indexes it: what
// deciding whether a new scan changed it needs, without the finding's full record.
type OpenFinding struct {
	VersionID int64
	// Platform is the platform image's digest.
	Platform string
	// ID, Package and PackageVersion name the finding within the platform image (the package is
	// empty for findings of none).
	ID, Package, PackageVersion string
	Severity                    evidence.Severity
	Status                      string
	// Reason is the finding's reason, read only for statuses that do not count (a VEX statement's
	// justification, which a re-scan keeps); empty for the others.
	Reason       string
	FixedVersion string
}

// Counts reports whether the finding counts against the image (as evidence.Finding.Counts).
func (f OpenFinding) Counts() bool { return evidence.Finding{Status: f.Status}.Counts() }

// Publication is what publishing a version records.
type Publication struct {
	Locations []Location
	Artifacts []Artifact
	At        time.Time
	// Grace is how long older active versions of the same line stay active; zero deprecates them at
	// once (at At).
	Grace time.Duration
	Actor string
}

// Findings answers the questions asked across versions: which versions ship a package, which have
// a finding, and keeps each finding's history as vulnerability data changes.
type Findings interface {
	// QueryPackage finds the versions that ship a package (optionally of one ecosystem, and in a
	// version range compared by that ecosystem's own ordering), with each version's status.
	QueryPackage(ctx context.Context, q PackageQuery) ([]Exposure, error)
	// QueryPackagePage answers a page of QueryPackage's answer, in the same order, and how many
	// exposures the whole answer has: what an API answers a package that thousands of versions ship.
	QueryPackagePage(ctx context.Context, q PackageQuery, p Page) (ExposurePage, error)
	// QueryFindings finds the counting findings at or above a severity in versions of the given
	// statuses (all when empty): "active versions with a critical finding".
	QueryFindings(ctx context.Context, q FindingQuery) ([]VersionFinding, error)
	// Packages returns the distinct packages of the versions in the given statuses (all when empty),
	// so a re-scan matches each package once, not once per version.
	Packages(ctx context.Context, statuses ...Status) ([]evidence.Package, error)
	// RecordScan replaces the vulnerability findings of one platform image of a version with those of
	// a new scan, keeping each finding's FirstSeen, records the scan's time as the platform image's
	// Scanned, and returns what changed. An open finding that still counts at the same severity and
	// fixed version keeps its recorded detail (the build's, with its locations): a re-scan decides on
	// these, and comparing every finding whole costs more than the re-scan. A scan that changes nothing appends no event; one that does
	// appends a "rescanned" event naming what was introduced and fixed.
	RecordScan(ctx context.Context, s Scan) (ScanChange, error)
	// FindingHistory returns every finding a version has had, with when it was first and last seen
	// (a finding that a later scan no longer has keeps its LastSeen): what patch SLAs are measured on.
	FindingHistory(ctx context.Context, r Ref) ([]TrackedFinding, error)
}

// Specs are the specs registered for continuous rebuild, stored with their bytes so that any
// worker rebuilds exactly what was registered.
type Specs interface {
	// AddSpec registers a spec (replacing the one of the same name) and returns it with its ID.
	AddSpec(ctx context.Context, s RegisteredSpec) (RegisteredSpec, error)
	// Spec returns a registered spec by image name.
	Spec(ctx context.Context, name string) (RegisteredSpec, error)
	// ListSpecs returns every registered spec, by name.
	ListSpecs(ctx context.Context) ([]RegisteredSpec, error)
	// RemoveSpec stops rebuilding an image (its versions stay).
	RemoveSpec(ctx context.Context, name string) error
}

// Upstream remembers when each package version was first seen in a repository index, for patch
// SLAs ("when did the fix become available").
type Upstream interface {
	// SeenUpstream records that the package versions were in an index at time at; a version already
	// seen keeps its first time.
	SeenUpstream(ctx context.Context, at time.Time, pkgs []UpstreamPackage) error
	// FirstSeen returns when a package version was first seen upstream.
	FirstSeen(ctx context.Context, p UpstreamPackage) (time.Time, bool, error)
}

// Tokens are the API's bearer tokens, stored by hash only.
type Tokens interface {
	// CreateToken stores a token's hash, name and scope.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// TokenByHash finds a token by the hash of its secret; ErrNotFound when there is none (or it was
	// revoked).
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// ListTokens lists tokens without their hashes.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken disables a token by name.
	RevokeToken(ctx context.Context, name string) error
}

// Event kinds.
const (
	EventPublished = "published"
	EventStatus    = "status"
	EventRescanned = "rescanned"
	EventFlagged   = "flagged"
)

// Note is what Flag records: why, who, when, and kind-specific detail for the event.
type Note struct {
	Reason string
	Actor  string
	At     time.Time
	Detail json.RawMessage
}

// Event is one entry of the append-only history. Seq increases monotonically across the catalog, so
// a follower asks for the events after the last one it saw.
type Event struct {
	Seq       int64  `json:"seq"`
	Kind      string `json:"kind"`
	VersionID int64  `json:"versionID"`
	Image     string `json:"image"`
	Tag       string `json:"tag"`
	Digest    string `json:"digest"`
	// Status is the version's status after the event; From the one before (status events).
	Status Status    `json:"status"`
	From   Status    `json:"from,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	At     time.Time `json:"at"`
	// Detail carries kind-specific data: a published version's reason, a re-scan's ScanChange, the
	// finding that revoked a version.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// ListOptions filter List.
type ListOptions struct {
	// Image restricts to one image; Line to one release line of it.
	Image, Line string
	// Digest restricts to the versions with this digest, their own or one of their platform images'
	// (what admission asks, for every image it sees: without the evidence Get reads).
	Digest string
	// Statuses restricts to versions in these statuses (all when empty).
	Statuses []Status
	// Pending includes pending versions (left out otherwise).
	Pending bool
	// Limit caps the number returned; 0 is no cap.
	Limit int
}

// PackageQuery asks which versions ship a package.
type PackageQuery struct {
	Name string
	// Ecosystem is an OSV ecosystem name ("Debian:12", "Go", "npm"); a prefix without a release
	// ("Debian") matches every release. Empty matches any.
	Ecosystem string
	// Range is a version constraint such as "<1.2.3" or ">=1.0, <2.0", compared by each package's
	// ecosystem ordering; empty matches every version.
	Range string
	// Statuses restricts to versions in these statuses (all when empty); pending versions never match.
	Statuses []Status
}

// Page asks for part of an ordered answer: Limit items (every one when zero) after the first Offset.
type Page struct {
	Limit, Offset int
}

// Validate refuses a negative limit or offset.
func (p Page) Validate() error {
	if p.Limit < 0 || p.Offset < 0 {
		return fmt.Errorf("%w: a page's limit and offset are zero or more (got limit %d, offset %d)", ErrInvalid, p.Limit, p.Offset)
	}
	return nil
}

// ExposurePage is a page of an exposure query's answer.
type ExposurePage struct {
	// Total is the number of exposures of the whole answer.
	Total     int        `json:"total"`
	Exposures []Exposure `json:"exposures"`
}

// Exposure is one version that ships a queried package.
type Exposure struct {
	Image    string           `json:"image"`
	Tag      string           `json:"tag"`
	Digest   string           `json:"digest"`
	Status   Status           `json:"status"`
	Platform string           `json:"platform"`
	Package  evidence.Package `json:"package"`
}

// FindingQuery asks for findings across versions.
type FindingQuery struct {
	MinSeverity evidence.Severity
	Statuses    []Status
	// Image restricts to one image.
	Image string
	// WithFix keeps only findings with a fixed version.
	WithFix bool
}

// VersionFinding is a finding of one platform image of a version.
type VersionFinding struct {
	Image    string           `json:"image"`
	Tag      string           `json:"tag"`
	Digest   string           `json:"digest"`
	Status   Status           `json:"status"`
	Platform string           `json:"platform"`
	Finding  evidence.Finding `json:"finding"`
	// FirstSeen is when the finding was first recorded for this version.
	FirstSeen time.Time `json:"firstSeen"`
}

// Scan is one platform image's vulnerability findings from one scan.
type Scan struct {
	VersionID int64
	// Platform is the platform image's digest.
	Platform string
	Findings []evidence.Finding
	At       time.Time
	// Data names the vulnerability data (its sources and import times), recorded in the event.
	Data string
}

// ScanChange is what a re-scan changed for one platform image: findings by "ID package version".
type ScanChange struct {
	Introduced []string `json:"introduced,omitempty"`
	Fixed      []string `json:"fixed,omitempty"`
}

// Changed reports whether the scan changed anything.
func (c ScanChange) Changed() bool { return len(c.Introduced)+len(c.Fixed) > 0 }

// TrackedFinding is a finding with its life in one version.
type TrackedFinding struct {
	Platform  string           `json:"platform"`
	Finding   evidence.Finding `json:"finding"`
	FirstSeen time.Time        `json:"firstSeen"`
	// LastSeen is when a scan last had it; Open says whether the newest scan still has it.
	LastSeen time.Time `json:"lastSeen"`
	Open     bool      `json:"open"`
}

// RegisteredSpec is a spec registered for continuous rebuild.
type RegisteredSpec struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Spec is the ingot.yaml bytes; Files a tar of the spec directory's files the spec names (its
	// local files, structure tests and VEX documents, confined to the directory); Lock the lock the
	// last build used.
	Spec  []byte    `json:"-"`
	Files []byte    `json:"-"`
	Lock  []byte    `json:"-"`
	Added time.Time `json:"added"`
	// Digest is sha256 hex of Spec and Files together, so a changed registration is noticed.
	Digest string `json:"digest"`
}

// UpstreamPackage is a package version in a repository index.
type UpstreamPackage struct {
	// Ecosystem is the OSV ecosystem ("Debian:12"); Name the binary package; Source its source
	// package (advisories name it).
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Source    string `json:"source,omitempty"`
	Version   string `json:"version"`
}

// Token scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// Token is an API bearer token: only the hash of its secret is stored.
type Token struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Scope   string    `json:"scope"`
	Hash    string    `json:"-"`
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
}
