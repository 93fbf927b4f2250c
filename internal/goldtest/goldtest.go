// Package goldtest makes images in every state admission tells apart, in a registry on loopback:
// signed and attested by a key as ingot build --sign does (a vulnerability report and SLSA provenance
// from ingot's builder, on every platform image), unsigned, signed by another key, with a critical
// finding, and multi-platform indexes. Tests and bench/admission share it; functions return errors so
// that a benchmark, which has no testing.T, can use them too.
package goldtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Key is a signing key with its public half in PEM, as a policy names it.
type Key struct {
	Signer sign.Signer
	PEM    []byte
}

// NewKey makes a fresh P-256 key pair in memory.
func NewKey() (Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, err
	}
	s, err := sign.NewECDSASigner(k)
	if err != nil {
		return Key{}, err
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		return Key{}, err
	}
	return Key{Signer: s, PEM: pem}, nil
}

// MustKey is NewKey for tests.
func MustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// WriteFile writes the public key as a PEM file in dir and returns its path.
func (k Key) WriteFile(t testing.TB, dir, file string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, k.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Image says how to make one image.
type Image struct {
	// Repo is the repository under the registry ("gold/app"); Tag its tag (default "v1").
	Repo, Tag string
	// Platforms > 1 makes an index of that many platform images (linux/amd64, linux/arm64, ...).
	Platforms int
	// Signer signs the image (and an index's platform manifests); nil leaves it unsigned.
	Signer sign.Signer
	// Attest are attested on every platform image by Signer (or AttestSigner when set).
	Attest       []sign.Predicate
	AttestSigner sign.Signer
	// Formats to write; zero means both.
	Formats sign.Format
}

var platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}}

// Push makes the image, pushes it to host and signs and attests it as asked; it returns the image by
// digest.
func Push(ctx context.Context, host string, o Image) (name.Digest, error) {
	if o.Tag == "" {
		o.Tag = "v1"
	}
	ref, err := name.NewTag(host + "/" + o.Repo + ":" + o.Tag)
	if err != nil {
		return name.Digest{}, err
	}
	var d v1.Hash
	var children []v1.Hash
	if o.Platforms > 1 {
		var adds []mutate.IndexAddendum
		for i := range o.Platforms {
			img, err := random.Image(256, 1)
			if err != nil {
				return name.Digest{}, err
			}
			p := platforms[i%len(platforms)]
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		}
		idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
		if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
			return name.Digest{}, err
		}
		if d, err = idx.Digest(); err != nil {
			return name.Digest{}, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return name.Digest{}, err
		}
		for _, c := range m.Manifests {
			children = append(children, c.Digest)
		}
	} else {
		img, err := random.Image(256, 1)
		if err != nil {
			return name.Digest{}, err
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return name.Digest{}, err
		}
		if d, err = img.Digest(); err != nil {
			return name.Digest{}, err
		}
		children = []v1.Hash{d}
	}
	dref := ref.Context().Digest(d.String())
	opts := sign.Options{Formats: o.Formats, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	if o.Signer != nil {
		if _, err := sign.Sign(ctx, dref, o.Signer, opts); err != nil {
			return name.Digest{}, fmt.Errorf("signing %s: %w", dref, err)
		}
	}
	as := o.AttestSigner
	if as == nil {
		as = o.Signer
	}
	if len(o.Attest) > 0 && as != nil {
		for _, c := range children {
			if _, err := sign.Attest(ctx, ref.Context().Digest(c.String()), as, o.Attest, opts); err != nil {
				return name.Digest{}, fmt.Errorf("attesting %s: %w", c, err)
			}
		}
	}
	return dref, nil
}

// MustPush is Push for tests.
func MustPush(t testing.TB, host string, o Image) name.Digest {
	t.Helper()
	d, err := Push(context.Background(), host, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Retag points tag of the repository at another digest (a tag moved after signing).
func Retag(ctx context.Context, host, repo, tag string, to name.Digest) error {
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		return err
	}
	desc, err := remote.Get(to, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	return remote.Tag(ref, desc, remote.WithContext(ctx))
}

// PlatformDigests lists an index's platform images, or the image itself.
func PlatformDigests(ctx context.Context, d name.Digest) ([]name.Digest, error) {
	desc, err := remote.Get(d, remote.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		return []name.Digest{d}, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []name.Digest
	for _, c := range m.Manifests {
		out = append(out, d.Context().Digest(c.Digest.String()))
	}
	return out, nil
}

// VulnPredicate is the vuln attestation ingot writes, with these findings.
func VulnPredicate(findings ...evidence.Finding) sign.Predicate {
	if findings == nil {
		findings = []evidence.Finding{}
	}
	at := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	data, err := vuln.CosignPredicate(evidence.Report{Tool: "ingot scan", Findings: findings}, vuln.PredicateOptions{
		ScannerVersion: "test", DBURI: "osv", DBVersion: at.Format(time.RFC3339), Started: at, Finished: at.Add(time.Second),
	})
	if err != nil {
		panic(err) // a report of findings always renders
	}
	return sign.Predicate{Type: attest.Vuln, JSON: data}
}

// Critical is an unresolved critical vulnerability finding.
func Critical(id string) evidence.Finding {
	return evidence.Finding{Kind: evidence.KindVulnerability, ID: id, Severity: evidence.SeverityCritical, Status: evidence.StatusAffected,
		Package: &evidence.PackageRef{Name: "libexample", Version: "1.0"}}
}

// ProvenancePredicate is SLSA v1 provenance from the given builder.
func ProvenancePredicate(builderID string) sign.Predicate {
	p := map[string]any{
		"buildDefinition": map[string]any{"buildType": attest.BuildType, "externalParameters": map[string]any{}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": builderID}},
	}
	data, _ := json.Marshal(p) // a map of strings always marshals
	return sign.Predicate{Type: attest.SLSAProvenanceV1, JSON: data}
}

// Gold are the attestations ingot build --sign writes that a policy checks: a clean vulnerability
// report and provenance from ingot's builder.
func Gold() []sign.Predicate {
	return []sign.Predicate{VulnPredicate(), ProvenancePredicate(attest.BuilderID)}
}

// Conditions a gold policy puts on them.
const (
	NoCriticalCondition = `!predicate.scanner.result.findings.exists(f, f.severity == "critical" && f.status == "affected")`
	BuilderCondition    = `predicate.runDetails.builder.id == "` + attest.BuilderID + `"`
)

// Catalog records the image at d in the catalog as a published, active version of image (line "1.0"),
// each platform image last scanned at scanned, and returns it.
func Catalog(ctx context.Context, c catalog.Versions, image string, d name.Digest, scanned time.Time) (*catalog.Version, error) {
	ps, err := PlatformDigests(ctx, d)
	if err != nil {
		return nil, err
	}
	v := &catalog.Version{Image: image, Line: "1.0", Kind: catalog.KindContainer, Digest: d.DigestStr(),
		Spec: []byte("name: " + image + "\n"), Lock: []byte("# lock\n"), Reason: "ingot build", Built: scanned}
	for i, p := range ps {
		pl := platforms[0]
		if len(ps) > 1 {
			pl = platforms[i%len(platforms)]
		}
		v.Platforms = append(v.Platforms, catalog.Platform{OS: pl.OS, Arch: pl.Architecture, Variant: pl.Variant, Digest: p.DigestStr(),
			Evidence: &evidence.Set{Scan: &evidence.ScanRecord{Scanner: "test", Started: scanned.Add(-time.Second), Finished: scanned}}})
	}
	got, _, err := c.Begin(ctx, v)
	if err != nil {
		return nil, err
	}
	if _, err := c.Publish(ctx, got.ID, catalog.Publication{At: scanned, Actor: "goldtest",
		Locations: []catalog.Location{{Kind: catalog.LocationRegistry, Ref: d.String()}}}); err != nil {
		return nil, err
	}
	return got, nil
}

// MustCatalog is Catalog for tests.
func MustCatalog(t testing.TB, c catalog.Versions, image string, d name.Digest, scanned time.Time) *catalog.Version {
	t.Helper()
	v, err := Catalog(context.Background(), c, image, d, scanned)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
