package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// The sigstore bundle as cosign v3 stores it: one bundle per OCI 1.1 referrer manifest.
const (
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// EmptyMediaType is the OCI 1.1 empty config of artifact manifests.
	EmptyMediaType = "application/vnd.oci.empty.v1+json"
	// BundleContentAnnotation and BundlePredicateTypeAnnotation are set on the referrer manifest, so
	// readers can choose bundles without fetching them.
	BundleContentAnnotation       = "dev.sigstore.bundle.content"
	BundlePredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	createdAnnotation             = "org.opencontainers.image.created"
)

// NewBundle wraps a signed DSSE envelope in a sigstore bundle v0.3 whose verification material is
// the signing key's hint: no certificate, no transparency log entry.
func NewBundle(env *Envelope, hint string) ([]byte, error) {
	var sigs []*protodsse.Signature
	for _, s := range env.Signatures {
		sigs = append(sigs, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: env.Payload, PayloadType: env.PayloadType, Signatures: sigs,
		}},
	}
	return protojson.Marshal(b)
}

// ParsedBundle is what verification needs from a bundle: its envelope and the key hint it names.
type ParsedBundle struct {
	Envelope *Envelope
	Hint     string
}

// ParseBundle decodes a sigstore bundle holding a DSSE envelope (what cosign v3 and ingot write for
// image signatures and attestations).
func ParseBundle(data []byte) (*ParsedBundle, error) {
	var b protobundle.Bundle
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: sigstore bundle: %w", ErrMalformed, err)
	}
	if b.GetMediaType() != BundleMediaType && b.GetMediaType() != "application/vnd.dev.sigstore.bundle+json;version=0.3" {
		return nil, fmt.Errorf("%w: bundle media type %q, want %s", ErrMalformed, b.GetMediaType(), BundleMediaType)
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, fmt.Errorf("%w: the bundle holds no DSSE envelope", ErrMalformed)
	}
	out := &ParsedBundle{Envelope: &Envelope{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}}
	for _, s := range env.GetSignatures() {
		out.Envelope.Signatures = append(out.Envelope.Signatures, EnvelopeSignature{KeyID: s.GetKeyid(), Sig: s.GetSig()})
	}
	if pk := b.GetVerificationMaterial().GetPublicKey(); pk != nil {
		out.Hint = pk.GetHint()
	}
	return out, nil
}

// referrerManifest is an OCI 1.1 image manifest with the artifactType field ggcr's type lacks.
type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

// putBundle stores a bundle as a referrer of subject, unless an equivalent one (same predicate type,
// same statement, this key) is already there. existing lists the subject's referrers, fetched once.
// It returns the referrer manifest's reference, and whether it was written now.
func (c *client) putBundle(subject name.Digest, subjectDesc v1.Descriptor, env *Envelope, predType, hint string,
	existing []v1.Descriptor, v Verifier, now time.Time) (name.Digest, bool, error) {
	repo := subject.Context()
	for _, r := range existing {
		if !maybeBundle(r) || r.Annotations[BundlePredicateTypeAnnotation] != predType {
			continue
		}
		b, err := c.fetchBundle(repo, r.Digest)
		if err == nil && bytes.Equal(b.Envelope.Payload, env.Payload) && b.Envelope.Verify(v) == nil {
			return repo.Digest(r.Digest.String()), false, nil
		}
	}
	data, err := NewBundle(env, hint)
	if err != nil {
		return name.Digest{}, false, err
	}
	layer, err := c.putBlob(repo, data, BundleMediaType)
	if err != nil {
		return name.Digest{}, false, err
	}
	cfg, err := c.putBlob(repo, []byte("{}"), EmptyMediaType)
	if err != nil {
		return name.Digest{}, false, err
	}
	cfg.ArtifactType = BundleMediaType
	m := referrerManifest{Manifest: v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        cfg,
		Layers:        []v1.Descriptor{layer},
		Subject:       &v1.Descriptor{MediaType: subjectDesc.MediaType, Digest: subjectDesc.Digest, Size: subjectDesc.Size},
		Annotations: map[string]string{
			createdAnnotation:             now.UTC().Format(time.RFC3339),
			BundleContentAnnotation:       "dsse-envelope",
			BundlePredicateTypeAnnotation: predType,
		},
	}, ArtifactType: BundleMediaType}
	raw, err := json.Marshal(m)
	if err != nil {
		return name.Digest{}, false, err
	}
	if err := c.putManifest(repo, raw, types.OCIManifestSchema1, ""); err != nil {
		return name.Digest{}, false, err
	}
	sum := sha256.Sum256(raw)
	return repo.Digest("sha256:" + hex.EncodeToString(sum[:])), true, nil
}

// errNotBundle marks a referrer that holds something else than one sigstore bundle: another tool's
// artifact, neither valid nor invalid for us.
var errNotBundle = errors.New("not a sigstore bundle")

// maybeBundle reports whether a referrer descriptor can hold a bundle. Registries report the
// manifest's artifactType, or (older ones, like ggcr's) its config media type, the empty one.
func maybeBundle(r v1.Descriptor) bool {
	return r.ArtifactType == BundleMediaType || r.ArtifactType == EmptyMediaType || r.ArtifactType == ""
}

// fetchBundle reads the bundle a referrer manifest holds.
func (c *client) fetchBundle(repo name.Repository, d v1.Hash) (*ParsedBundle, error) {
	desc, err := c.artifact(repo.Digest(d.String()))
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: referrer %s: %w", ErrMalformed, d, err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != BundleMediaType {
		return nil, fmt.Errorf("referrer %s: %w", d, errNotBundle)
	}
	data, err := c.blob(repo, m.Layers[0].Digest)
	if err != nil {
		return nil, err
	}
	return ParseBundle(data)
}
