package catalog

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Kind is what a version is an image of.
type Kind string

// Kinds of image.
const (
	KindContainer Kind = "container"
	KindVM        Kind = "vm"
)

// Status is a version's standing: whether it may run.
type Status string

// Statuses. Only active versions are gold; deprecated ones are superseded (and may run until their
// grace period ends, if the admission policy allows), revoked ones must not run, end-of-life ones are
// retired with their release line.
const (
	StatusActive     Status = "active"
	StatusDeprecated Status = "deprecated"
	StatusRevoked    Status = "revoked"
	StatusEOL        Status = "eol"
)

// State says whether every artifact of a version is where the catalog says it is.
type State string

// States. A version is written pending before anything is pushed, and published only after its image,
// signatures and attestations are all in place and verify; a crash leaves a pending version, which the
// next cycle completes or removes, never a published version without its artifacts.
const (
	StatePending   State = "pending"
	StatePublished State = "published"
)

// Version is the record of one built image version: one digest. A rebuild that yields the same digest
// is the same version; one that changes it is a new version of the same release line.
type Version struct {
	// ID is the backend's key, assigned by Begin.
	ID int64 `json:"id"`
	// Image is the image's name (the spec's name); Line its release line (the spec's version,
	// "latest" when the spec has none); Serial counts the versions of one image and line from 1.
	Image  string `json:"image"`
	Line   string `json:"line"`
	Serial int    `json:"serial"`
	Kind   Kind   `json:"kind"`
	// Digest is the version's manifest digest: the index's for several platforms, else the image's.
	Digest    string     `json:"digest"`
	Platforms []Platform `json:"platforms"`
	// Spec and Lock are the bytes the version was built from; their digests are sha256 hex of the
	// bytes.
	Spec       []byte `json:"spec,omitempty"`
	Lock       []byte `json:"lock,omitempty"`
	SpecDigest string `json:"specDigest,omitempty"`
	LockDigest string `json:"lockDigest,omitempty"`
	// Locations say where the version lives; Artifacts what was signed and attested for it.
	Locations []Location `json:"locations,omitempty"`
	Artifacts []Artifact `json:"artifacts,omitempty"`
	State     State      `json:"state"`
	// Status is the current standing and how it came to be.
	Status StatusChange `json:"status"`
	// Reason says why the version was built: "ingot build", or what a rebuild trigger found
	// (packages with newer versions upstream, a moved base image, advisories).
	Reason string `json:"reason,omitempty"`
	// Built is when the build finished; Published when the version was marked published.
	Built     time.Time `json:"built"`
	Published time.Time `json:"published,omitzero"`
	// DeprecateAt is when a superseded version becomes deprecated (publishing a newer version of the
	// same line sets it, after the configured grace period); zero while it is the newest.
	DeprecateAt time.Time `json:"deprecateAt,omitzero"`
}

// Tag is the version's immutable tag: the release line and the serial, "1.2.3-r4".
func (v *Version) Tag() string { return Tag(v.Line, v.Serial) }

// Tag names serial n of a release line.
func Tag(line string, n int) string { return fmt.Sprintf("%s-r%d", line, n) }

// Ref is how people name the version: image@tag.
func (v *Version) Ref() string { return v.Image + "@" + v.Tag() }

// Platform is one platform image of a version, with its evidence.
type Platform struct {
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Variant string `json:"variant,omitempty"`
	// Digest is the platform image's manifest digest (the version's own for a single image).
	Digest string `json:"digest"`
	// Scanned is when its vulnerabilities were last scanned: the build's scan (Evidence.Scan), then
	// every re-scan (RecordScan), whether or not it changed anything; zero when never. Admission
	// checks scan freshness against it, since re-scans are not re-attested.
	Scanned time.Time `json:"scanned,omitzero"`
	// Evidence is everything the evidence stages found; nil in summaries.
	Evidence *evidence.Set `json:"evidence,omitempty"`
}

// Name is the platform as os/arch[/variant].
func (p Platform) Name() string {
	n := p.OS + "/" + p.Arch
	if p.Variant != "" {
		n += "/" + p.Variant
	}
	return n
}

// Location kinds.
const (
	LocationLayout   = "layout"
	LocationRegistry = "registry"
)

// Location is a place the version's image is stored.
type Location struct {
	// Kind is LocationLayout (Ref is the layout directory and tag, dir:tag) or LocationRegistry (Ref
	// is the repository and digest, registry.example/app@sha256:...).
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// Artifact kinds.
const (
	ArtifactSignature   = "signature"
	ArtifactAttestation = "attestation"
)

// Artifact is a signature or attestation written for the version (or one of its platform images).
type Artifact struct {
	Kind string `json:"kind"`
	// Format is "legacy" (.sig/.att tags) or "bundle" (sigstore bundle referrer).
	Format string `json:"format"`
	// Subject is the digest signed: the version's, or a platform image's.
	Subject string `json:"subject"`
	// KeyID is the key's hint (base64 SHA-256 of its PKIX DER), as sigstore bundles carry it.
	KeyID string `json:"keyID"`
	// PredicateType is the attestation's in-toto predicate type; empty for signatures.
	PredicateType string `json:"predicateType,omitempty"`
	// Ref is where it lives: the registry reference of the .sig/.att image or referrer manifest.
	Ref string `json:"ref"`
}

// StatusChange is a status with who set it, when and why.
type StatusChange struct {
	Status Status    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	At     time.Time `json:"at"`
	// Detail goes to the change's event (Event.Detail): the finding that revoked a version, for one.
	// The version keeps only the status, reason, actor and time.
	Detail json.RawMessage `json:"-"`
}
