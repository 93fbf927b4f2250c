package imageref

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/publish"
)

// A docker archive whose layers are stored compressed (as `crane append`, `crane pull --format
// tarball` and ingot write them; `docker save` writes them uncompressed) is read by ingot itself:
// its layers are Stored, their blob the file in the archive, read in place at the offset
// checkArchive's walk found and checked against the layer's digest as it is read, so that the
// stages inflate it themselves. Such an archive holds no manifest, only a config and layer files,
// so the image's manifest is made up, exactly as go-containerregistry's tarball package makes it
// (the same digest).
//
// A layer file named by its digest (`HEX.tar.gz`, as go-containerregistry writes them, or
// `blobs/sha256/HEX`) is taken at its name's word, as a blob of an OCI layout is: hashing 65 MB
// before anything else is a fixed cost on the critical path of every cold read, and reading the
// layer checks the name anyway. A layer file named otherwise is hashed when the archive is opened.
// Every other archive (uncompressed layers, several images, layers that are links, foreign
// layers) is read through go-containerregistry.

// member is a regular file of an archive: where its content starts and how long it is.
type member struct {
	off, size int64
	// plain says the member's bytes are its content, stored whole at off: not a link (which
	// go-containerregistry follows) nor a sparse file (whose stored bytes leave out its holes).
	plain bool
}

// archiveTOC is what the walk of an archive found: its manifest.json and its members.
type archiveTOC struct {
	manifest   tarball.Manifest
	members    map[string]member
	compressed bool // whether the first layer is stored compressed
}

func openArchive(p, ref string, toc *archiveTOC) (*Set, error) {
	if toc.compressed {
		img, ok, err := openCompressedArchive(p, toc)
		if err != nil {
			return nil, fmt.Errorf("opening docker archive %s: %w", p, err)
		}
		if ok {
			return single(&Image{Image: img, Ref: ref, Kind: "docker-archive"}), nil
		}
	}
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		return nil, fmt.Errorf("opening docker archive %s: %w", p, err)
	}
	return single(&Image{Image: img, Ref: ref, Kind: "docker-archive"}), nil
}

// openCompressedArchive reads the one image of an archive with compressed layers; ok is false for
// an archive it leaves to go-containerregistry.
func openCompressedArchive(p string, toc *archiveTOC) (img v1.Image, ok bool, err error) {
	m := toc.manifest
	if len(m) != 1 || len(m[0].LayerSources) > 0 || len(m[0].Layers) == 0 {
		return nil, false, nil
	}
	d := m[0]
	for _, n := range append([]string{d.Config}, d.Layers...) {
		if mem, found := toc.members[path.Clean(n)]; !found || !mem.plain {
			return nil, false, nil
		}
	}
	cfgMember := toc.members[path.Clean(d.Config)]
	if cfgMember.size > maxDocument {
		return nil, false, fmt.Errorf("its config %s is larger than %d bytes", d.Config, maxDocument)
	}
	a := &compressedArchive{path: p}
	if a.config, err = a.read(cfgMember); err != nil {
		return nil, false, fmt.Errorf("reading its config %s: %w", d.Config, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(a.config))
	if err != nil {
		return nil, false, fmt.Errorf("its config %s: %w", d.Config, err)
	}
	if len(d.Layers) > len(cf.RootFS.DiffIDs) {
		return nil, false, fmt.Errorf("its manifest.json names %d layer(s) but its config has %d rootfs.diff_ids", len(d.Layers), len(cf.RootFS.DiffIDs))
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(a.config))
	if err != nil {
		return nil, false, err
	}
	a.manifest = v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: cfgSize, Digest: cfgHash},
	}
	for _, n := range d.Layers {
		mem := toc.members[path.Clean(n)]
		h, named := nameDigest(path.Clean(n))
		if !named {
			rc := a.section(mem)
			h, _, err = v1.SHA256(rc)
			if err = errors.Join(err, rc.Close()); err != nil {
				return nil, false, fmt.Errorf("hashing layer %s: %w", n, err)
			}
		}
		a.manifest.Layers = append(a.manifest.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: mem.size, Digest: h})
		a.layers = append(a.layers, layerFile{member: mem, named: named})
	}
	if a.rawManifest, err = json.Marshal(a.manifest); err != nil {
		return nil, false, err
	}
	ci, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, false, err
	}
	return archiveImage{Image: ci, a: a}, true, nil
}

// nameDigest is the digest a layer file's name gives, if it is one: go-containerregistry names them
// HEX.tar.gz, docker's OCI-style archives blobs/sha256/HEX.
func nameDigest(n string) (v1.Hash, bool) {
	var h string
	switch {
	case strings.HasPrefix(n, "blobs/sha256/"):
		h = strings.TrimPrefix(n, "blobs/sha256/")
	case strings.HasSuffix(n, ".tar.gz") && !strings.Contains(n, "/"):
		h = strings.TrimSuffix(n, ".tar.gz")
	default:
		return v1.Hash{}, false
	}
	if !publish.IsSHA256Hex(h) {
		return v1.Hash{}, false
	}
	return v1.Hash{Algorithm: "sha256", Hex: h}, true
}

// compressedArchive is partial.CompressedImageCore over an archive read in place.
type compressedArchive struct {
	path                string
	config, rawManifest []byte
	manifest            v1.Manifest
	layers              []layerFile // by manifest layer
}

// section reads a member from a file of its own, closed with the reader.
func (a *compressedArchive) section(m member) io.ReadCloser {
	f, err := os.Open(a.path)
	if err != nil {
		return io.NopCloser(failReader{err})
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, m.off, m.size), f}
}

func (a *compressedArchive) read(m member) ([]byte, error) {
	rc := a.section(m)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err == nil && int64(len(data)) != m.size {
		err = io.ErrUnexpectedEOF
	}
	return data, err
}

func (a *compressedArchive) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *compressedArchive) MediaType() (types.MediaType, error) { return a.manifest.MediaType, nil }
func (a *compressedArchive) RawManifest() ([]byte, error)        { return a.rawManifest, nil }

func (a *compressedArchive) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for i, d := range a.manifest.Layers {
		if d.Digest == h {
			return &archiveBlob{a: a, desc: d, m: a.layers[i].member}, nil
		}
	}
	return nil, fmt.Errorf("blob %v not found", h)
}

// layerFile is a layer's file in the archive, and whether its digest is the one its name gives
// (rather than hashed when the archive was opened).
type layerFile struct {
	member
	named bool
}

// archiveBlob is a compressed layer of an archive.
type archiveBlob struct {
	a    *compressedArchive
	desc v1.Descriptor
	m    member
}

func (b *archiveBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *archiveBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *archiveBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// Compressed reads the layer's file in the archive; the reader fails at its end, with an error
// wrapping publish.ErrIntegrity, when the content does not match the digest.
func (b *archiveBlob) Compressed() (io.ReadCloser, error) {
	return checked(b.a.section(b.m), b.desc.Digest), nil
}

// archiveImage is the image of a compressed archive, whose layers say they are Stored.
type archiveImage struct {
	v1.Image
	a *compressedArchive
}

// Verify hashes the layer files whose digests were taken from their names, and returns an error
// wrapping publish.ErrIntegrity for one that does not match: a cache keyed by the image digest asks
// before trusting the digest, as it asks of an OCI layout.
func (i archiveImage) Verify(ctx context.Context) error {
	for j, d := range i.a.manifest.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !i.a.layers[j].named {
			continue // hashed when the archive was opened
		}
		c := checked(i.a.section(i.a.layers[j].member), d.Digest)
		_, err := io.Copy(io.Discard, c)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("docker archive %s, layer %d: %w", i.a.path, j, err)
		}
	}
	return nil
}

func (i archiveImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = archiveLayer{l}
	}
	return out, nil
}

func (i archiveImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return archiveLayer{l}, nil
}

func (i archiveImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return archiveLayer{l}, nil
}

// archiveLayer is a compressed layer of a docker archive: its Compressed is the checked blob.
type archiveLayer struct{ v1.Layer }

func (archiveLayer) StoredCompressed() bool { return true }

// checked reads rc, failing at its end with an error wrapping publish.ErrIntegrity when the content
// does not hash to want.
func checked(rc io.ReadCloser, want v1.Hash) io.ReadCloser {
	return publish.VerifyingReader(rc, want, func(got v1.Hash) error {
		return fmt.Errorf("%w: %s hashes to %s", publish.ErrIntegrity, want, got)
	})
}
