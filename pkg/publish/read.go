package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrIntegrity means a blob of an OCI layout does not hash to the digest that names it: the file
// changed after it was written (a failing disk, a bad copy, tampering). Nothing read from it can be
// trusted, so nothing is reported from it.
var ErrIntegrity = fault.New(fault.Integrity, "publish: blob does not match its digest")

// maxSmallBlob caps what is read whole: manifests, indexes and configs, which are kilobytes.
const maxSmallBlob = 64 << 20

// Layout reads one OCI image layout and checks every blob against its digest as it is read:
// manifests, indexes and configs when they are loaded, layer blobs as they stream (a layer's reader
// fails at its end when the content does not match). go-containerregistry's layout package trusts
// the files it reads; this reader does not, so a blob changed on disk is an error wrapping
// ErrIntegrity instead of a report on content that is not what its digest names.
type Layout struct{ Dir string }

// IndexManifest reads the layout's index.json. It is the one file of a layout not named by its
// digest, so it is only parsed.
func (l Layout) IndexManifest() (*v1.IndexManifest, error) {
	data, err := os.ReadFile(filepath.Join(l.Dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout %s: %w", l.Dir, err)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("opening OCI layout %s: index.json: %w", l.Dir, err)
	}
	return &m, nil
}

// Image opens the image that desc (an entry of index.json or of an index) names. Its manifest is
// read and checked now, its config when first asked for, its layers as they are read.
func (l Layout) Image(desc v1.Descriptor) (v1.Image, error) {
	raw, err := l.smallBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	core := &imageCore{l: l, desc: desc, raw: raw}
	m, err := partial.Manifest(core)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: manifest %s: %w", l.Dir, desc.Digest, err)
	}
	core.manifest = m
	ext, err := partial.CompressedToImage(core)
	if err != nil {
		return nil, err
	}
	return &layoutImage{Image: ext, core: core}, nil
}

// ImageIndex opens the index that desc names; its manifest is read and checked now.
func (l Layout) ImageIndex(desc v1.Descriptor) (v1.ImageIndex, error) {
	raw, err := l.smallBlob(desc.Digest)
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("OCI layout %s: index %s: %w", l.Dir, desc.Digest, err)
	}
	return &layoutIndex{l: l, desc: desc, raw: raw, manifest: &m}, nil
}

// path is where the blob named h lives. Only sha256 is read: it is what every tool writes, and a
// digest that is not 64 hex digits could name a path outside the blob directory.
func (l Layout) path(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || !IsSHA256Hex(h.Hex) {
		return "", fmt.Errorf("OCI layout %s: blob %q: only sha256 digests are read", l.Dir, h.String())
	}
	return filepath.Join(l.Dir, "blobs", h.Algorithm, h.Hex), nil
}

// IsSHA256Hex reports whether s is a sha256 digest in lowercase hex, as blob names and digests are
// written.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MismatchError is a blob of a layout whose content hashes to something else than its name. It
// wraps ErrIntegrity.
type MismatchError struct {
	Layout string
	Blob   v1.Hash
	// Got is the digest of the content found.
	Got v1.Hash
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("OCI layout %s: blob %s: %v (its content hashes to %s)", e.Layout, e.Blob, ErrIntegrity, e.Got)
}

func (e *MismatchError) Unwrap() error { return ErrIntegrity }

// mismatch is the error for blob h whose content hashes to got (hex).
func (l Layout) mismatch(h v1.Hash, got string) error {
	return &MismatchError{Layout: l.Dir, Blob: h, Got: v1.Hash{Algorithm: "sha256", Hex: got}}
}

// smallBlob reads a whole blob and checks it.
func (l Layout) smallBlob(h v1.Hash) ([]byte, error) {
	rc, err := l.open(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxSmallBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSmallBlob {
		return nil, fmt.Errorf("OCI layout %s: blob %s: more than %d bytes, too large for a manifest or config", l.Dir, h, maxSmallBlob)
	}
	return data, nil
}

// open opens blob h for reading; the reader fails at the end of the content when it does not hash
// to h.
func (l Layout) open(h v1.Hash) (io.ReadCloser, error) {
	p, err := l.path(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: blob %s: %w", l.Dir, h, err)
	}
	return VerifyingReader(f, h, func(got v1.Hash) error { return l.mismatch(h, got.Hex) }), nil
}

// VerifyingReader reads rc, hashing what it reads, and at the end of the content returns, in place
// of io.EOF, the error mismatch makes of the digest found when it is not want (a sha256). mismatch's
// error must wrap ErrIntegrity: a reader that gets it knows the content is not what want names.
func VerifyingReader(rc io.ReadCloser, want v1.Hash, mismatch func(got v1.Hash) error) io.ReadCloser {
	return &verifyingReader{rc: rc, h: sha256.New(), want: want, mismatch: mismatch}
}

// verifyingReader is VerifyingReader's reader.
type verifyingReader struct {
	rc       io.ReadCloser
	h        hash.Hash
	want     v1.Hash
	mismatch func(got v1.Hash) error
	err      error // the final result, once the end is reached
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		r.err = io.EOF
		if got := hex.EncodeToString(r.h.Sum(nil)); r.want.Algorithm != "sha256" || got != r.want.Hex {
			r.err = r.mismatch(v1.Hash{Algorithm: "sha256", Hex: got})
		}
		return n, r.err
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.rc.Close() }

// hashBlob reports whether blob h is present and hashes to its name: nil, an error wrapping
// ErrIntegrity, or the error of reading it (fs.ErrNotExist when it is missing).
func (l Layout) hashBlob(h v1.Hash) error {
	rc, err := l.open(h)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// imageCore is the minimum partial.CompressedToImage needs, read from the layout and checked.
type imageCore struct {
	l        Layout
	desc     v1.Descriptor
	raw      []byte // the manifest, checked against desc.Digest
	manifest *v1.Manifest

	configOnce sync.Once
	config     []byte
	configErr  error
}

func (c *imageCore) RawManifest() ([]byte, error) { return c.raw, nil }

func (c *imageCore) MediaType() (types.MediaType, error) {
	if c.desc.MediaType != "" {
		return c.desc.MediaType, nil
	}
	return c.manifest.MediaType, nil
}

func (c *imageCore) RawConfigFile() ([]byte, error) {
	c.configOnce.Do(func() { c.config, c.configErr = c.l.smallBlob(c.manifest.Config.Digest) })
	return c.config, c.configErr
}

func (c *imageCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == c.manifest.Config.Digest {
		return &blobLayer{core: c, desc: c.manifest.Config}, nil
	}
	for _, d := range c.manifest.Layers {
		if d.Digest == h {
			return &blobLayer{core: c, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("OCI layout %s: image %s has no blob %s", c.l.Dir, c.desc.Digest, h)
}

// layoutImage is an image read from a layout. Its layers are blobLayers, not go-containerregistry's
// wrappers, so that they keep their capabilities (StoredCompressed).
type layoutImage struct {
	v1.Image
	core *imageCore
}

// Descriptor is the entry the image was opened from, with its annotations and platform.
func (i *layoutImage) Descriptor() (*v1.Descriptor, error) {
	d := i.core.desc
	return &d, nil
}

func (i *layoutImage) Layers() ([]v1.Layer, error) {
	out := make([]v1.Layer, len(i.core.manifest.Layers))
	for j, d := range i.core.manifest.Layers {
		out[j] = &blobLayer{core: i.core, desc: d}
	}
	return out, nil
}

func (i *layoutImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.core.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return l.(*blobLayer), nil
}

func (i *layoutImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	d, err := partial.DiffIDToBlob(i, h)
	if err != nil {
		return nil, err
	}
	return i.LayerByDigest(d)
}

// Verify hashes every blob of the image again (manifest, config, layers) and returns the first
// problem: an error wrapping ErrIntegrity for content that does not match its digest. Hashing the
// compressed blobs costs a fraction of inflating them, so a cache keyed by the image digest can
// afford to ask before trusting the digest.
func (i *layoutImage) Verify(ctx context.Context) error {
	for _, d := range checkImage(ctx, i.core.l, i.core.desc, map[v1.Hash]bool{}, nil) {
		return d.Err
	}
	return ctx.Err()
}

// blobLayer is a layer blob of a layout.
type blobLayer struct {
	core *imageCore
	desc v1.Descriptor
}

func (b *blobLayer) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *blobLayer) Size() (int64, error)                { return b.desc.Size, nil }
func (b *blobLayer) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// Compressed reads the blob as stored; the reader fails at the end when the content does not match
// the digest.
func (b *blobLayer) Compressed() (io.ReadCloser, error) { return b.core.l.open(b.desc.Digest) }

// StoredCompressed says that Compressed is the blob as stored, checked as it is read, so a reader
// that wants the tar stream may inflate it directly (see imageref).
func (b *blobLayer) StoredCompressed() bool { return true }

func (b *blobLayer) Uncompressed() (io.ReadCloser, error) {
	l, err := partial.CompressedToLayer(b)
	if err != nil {
		return nil, err
	}
	return l.Uncompressed()
}

// DiffID comes from the config, without reading the layer.
func (b *blobLayer) DiffID() (v1.Hash, error) {
	cf, err := partial.ConfigFile(b.core)
	if err != nil {
		return v1.Hash{}, err
	}
	for i, d := range b.core.manifest.Layers {
		if d.Digest == b.desc.Digest && i < len(cf.RootFS.DiffIDs) {
			return cf.RootFS.DiffIDs[i], nil
		}
	}
	return v1.Hash{}, fmt.Errorf("OCI layout %s: no diff ID for layer %s in the config", b.core.l.Dir, b.desc.Digest)
}

// layoutIndex is an image index read from a layout.
type layoutIndex struct {
	l        Layout
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.IndexManifest
}

func (x *layoutIndex) MediaType() (types.MediaType, error) {
	if x.desc.MediaType != "" {
		return x.desc.MediaType, nil
	}
	return x.manifest.MediaType, nil
}

func (x *layoutIndex) Digest() (v1.Hash, error) { return x.desc.Digest, nil }
func (x *layoutIndex) Size() (int64, error)     { return int64(len(x.raw)), nil }
func (x *layoutIndex) RawManifest() ([]byte, error) {
	return x.raw, nil
}

func (x *layoutIndex) IndexManifest() (*v1.IndexManifest, error) {
	m := *x.manifest
	m.Manifests = append([]v1.Descriptor(nil), x.manifest.Manifests...)
	return &m, nil
}

func (x *layoutIndex) child(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.manifest.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("OCI layout %s: index %s has no entry %s", x.l.Dir, x.desc.Digest, h)
}

func (x *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.l.Image(d)
}

func (x *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.l.ImageIndex(d)
}
