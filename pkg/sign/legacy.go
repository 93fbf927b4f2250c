package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// cosign's legacy ("simple signing") format: media types, annotations and tag suffixes.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSEMediaType          = "application/vnd.dsse.envelope.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
	// PredicateTypeAnnotation is set on .att layers so readers can pick attestations without
	// opening them.
	PredicateTypeAnnotation = "predicateType"
	// KeyHintAnnotation names the signing key (as bundles do) on ingot's legacy layers. It is not
	// signed and never trusted: it only lets a failed verification say "another key" rather than
	// "altered".
	KeyHintAnnotation = "dev.ingot.key-hint"
	simpleSigningType = "cosign container image signature"
)

// SimpleSigning is cosign's signature payload: the image digest it vouches for, and the repository it
// was signed in (which verification does not check: a copied image keeps its signatures).
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// SimpleSigningPayload is the payload cosign signs for an image digest, byte for byte.
func SimpleSigningPayload(ref name.Digest, annotations map[string]any) ([]byte, error) {
	var p SimpleSigning
	p.Critical.Identity.DockerReference = ref.Context().Name()
	p.Critical.Image.DockerManifestDigest = ref.DigestStr()
	p.Critical.Type = simpleSigningType
	p.Optional = annotations
	return json.Marshal(p)
}

// legacyTag is the tag cosign keeps signatures (".sig") or attestations (".att") of a digest under.
func legacyTag(d v1.Hash, suffix string) string {
	return d.Algorithm + "-" + d.Hex + "." + suffix
}

// entry is one layer to add to a .sig or .att image.
type entry struct {
	data        []byte
	mediaType   types.MediaType
	annotations map[string]string
	// present reports whether an existing layer already carries this entry, so that a retry adds
	// nothing twice.
	present func(desc v1.Descriptor, blob func() ([]byte, error)) bool
}

// appendLayers adds entries to the signature image under tag, creating it if needed. It returns
// which entries were new.
func (c *client) appendLayers(repo name.Repository, tag string, entries []entry) ([]bool, error) {
	var layers []v1.Descriptor
	d, err := c.manifest(repo.Tag(tag))
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		return nil, err
	default:
		var m v1.Manifest
		if err := json.Unmarshal(d.Manifest, &m); err != nil {
			return nil, fmt.Errorf("%w: %s:%s: %w", ErrMalformed, repo, tag, err)
		}
		layers = m.Layers
	}
	added := make([]bool, len(entries))
	for i, e := range entries {
		if slices.ContainsFunc(layers, func(l v1.Descriptor) bool {
			return e.present(l, func() ([]byte, error) { return c.blob(repo, l.Digest) })
		}) {
			continue
		}
		desc, err := c.putBlob(repo, e.data, e.mediaType)
		if err != nil {
			return nil, err
		}
		desc.Annotations = e.annotations
		layers = append(layers, desc)
		added[i] = true
	}
	if !slices.Contains(added, true) {
		return added, nil
	}
	if err := c.putImage(repo, tag, layers); err != nil {
		return nil, err
	}
	return added, nil
}

// putImage writes an OCI image manifest of metadata layers (and its config) under tag.
func (c *client) putImage(repo name.Repository, tag string, layers []v1.Descriptor) error {
	cfg := v1.ConfigFile{RootFS: v1.RootFS{Type: "layers"}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc, err := c.putBlob(repo, cfgJSON, types.OCIConfigJSON)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfgDesc, Layers: layers})
	if err != nil {
		return err
	}
	err = c.putManifest(repo, raw, types.OCIManifestSchema1, tag)
	return err
}

// signLegacy adds a simple-signing signature of d to its .sig image.
func (c *client) signLegacy(ctx context.Context, d name.Digest, s Signer, v Verifier, hint string) (Artifact, error) {
	payload, err := SimpleSigningPayload(d, nil)
	if err != nil {
		return Artifact{}, err
	}
	sig, err := s.Sign(ctx, payload)
	if err != nil {
		return Artifact{}, fmt.Errorf("signing %s: %w", d, err)
	}
	e := entry{
		data: payload, mediaType: SimpleSigningMediaType,
		annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig), KeyHintAnnotation: hint},
		present: func(l v1.Descriptor, _ func() ([]byte, error)) bool {
			// Same payload (same digest) and a signature by this key: already signed.
			if l.MediaType != SimpleSigningMediaType || !sameDigest(l.Digest, payload) {
				return false
			}
			old, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
			return err == nil && v.Verify(payload, old) == nil
		},
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return Artifact{}, err
	}
	tag := legacyTag(h, "sig")
	added, err := c.appendLayers(d.Context(), tag, []entry{e})
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Kind: KindSignature, Format: FormatLegacy, Subject: h, KeyHint: hint, Ref: d.Context().Tag(tag).String(), New: added[0]}, nil
}

// attestLegacy adds DSSE envelopes to d's .att image, skipping statements this key already attested.
func (c *client) attestLegacy(envs []*Envelope, predTypes []string, d name.Digest, v Verifier, hint string) ([]Artifact, error) {
	var entries []entry
	for i, env := range envs {
		data, err := env.MarshalJSON()
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{
			data: data, mediaType: DSSEMediaType,
			annotations: map[string]string{SignatureAnnotation: "", PredicateTypeAnnotation: predTypes[i], KeyHintAnnotation: hint},
			present: func(l v1.Descriptor, blob func() ([]byte, error)) bool {
				if l.MediaType != DSSEMediaType || l.Annotations[PredicateTypeAnnotation] != predTypes[i] {
					return false
				}
				return sameStatement(blob, env.Payload, v)
			},
		})
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	tag := legacyTag(h, "att")
	added, err := c.appendLayers(d.Context(), tag, entries)
	if err != nil {
		return nil, err
	}
	out := make([]Artifact, len(entries))
	for i := range entries {
		out[i] = Artifact{Kind: KindAttestation, Format: FormatLegacy, Subject: h, KeyHint: hint, PredicateType: predTypes[i], Ref: d.Context().Tag(tag).String(), New: added[i]}
	}
	return out, nil
}

// sameStatement reports whether an existing envelope carries payload, signed by v's key.
func sameStatement(blob func() ([]byte, error), payload []byte, v Verifier) bool {
	data, err := blob()
	if err != nil {
		return false
	}
	old, err := ParseEnvelope(data)
	return err == nil && bytes.Equal(old.Payload, payload) && old.Verify(v) == nil
}

// parseSimpleSigning decodes a signature payload and checks that it is cosign's kind.
func parseSimpleSigning(payload []byte) (*SimpleSigning, error) {
	var p SimpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("%w: signature payload: %w", ErrMalformed, err)
	}
	if !strings.EqualFold(p.Critical.Type, simpleSigningType) {
		return nil, fmt.Errorf("%w: signature payload type %q", ErrMalformed, p.Critical.Type)
	}
	return &p, nil
}
