package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/internal/safefile"
)

// RefNameAnnotation is how umoci, skopeo and buildkit find an image in a layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// ErrNotFound means the layout has no image with that tag.
var ErrNotFound = errors.New("image not found in layout")

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`) })

// Layouts is a directory of OCI image layouts, one per image name: <Root>/<name>/{oci-layout,index.json,blobs}.
// Within a layout each tag is an index.json entry carrying the ref.name annotation.
type Layouts struct{ Root string }

// Dir is the layout directory of an image name.
func (s Layouts) Dir(name string) string { return filepath.Join(s.Root, name) }

// Write stores the artifact under name:tag. Blobs already present are kept; index.json is replaced
// atomically after every blob is in place, and an existing entry for the same tag is replaced.
func (s Layouts) Write(ctx context.Context, name, tag string, a Artifact) (v1.Descriptor, error) {
	if !validName().MatchString(name) {
		return v1.Descriptor{}, fmt.Errorf("layout name %q: lowercase letters and digits separated by . _ -", name)
	}
	dir := s.Dir(name)
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return v1.Descriptor{}, fmt.Errorf("creating layout %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer unlock()

	w := blobWriter{dir: dir}
	if a.Index != nil {
		err = w.index(ctx, a.Index)
	} else {
		err = w.image(ctx, a.Image)
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s:%s to %s: %w", name, tag, dir, err)
	}
	desc, err := a.Descriptor()
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc.Annotations = map[string]string{RefNameAnnotation: tag}
	if err := updateIndex(dir, desc); err != nil {
		return v1.Descriptor{}, err
	}
	return desc, nil
}

// Lookup finds name:tag in the store and returns its descriptor, or ErrNotFound.
func (s Layouts) Lookup(name, tag string) (v1.Descriptor, error) {
	idx, err := readIndex(s.Dir(name))
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range idx.Manifests {
		if d.Annotations[RefNameAnnotation] == tag {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%s:%s: %w", name, tag, ErrNotFound)
}

// LookupDigest finds an image of name stored with digest d, under any tag, or ErrNotFound.
func (s Layouts) LookupDigest(name string, d v1.Hash) (v1.Descriptor, error) {
	idx, err := readIndex(s.Dir(name))
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, m := range idx.Manifests {
		if m.Digest == d {
			return m, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%s@%s: %w", name, d, ErrNotFound)
}

// Tag makes tag name the image of name stored with digest d (under another tag), replacing what tag
// named: the image's blobs are already there, so only index.json changes (atomically, as Write
// changes it).
func (s Layouts) Tag(name string, d v1.Hash, tag string) error {
	dir := s.Dir(name)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%s@%s: %w", name, d, ErrNotFound)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	desc, err := s.LookupDigest(name, d)
	if err != nil {
		return err
	}
	desc.Annotations = map[string]string{RefNameAnnotation: tag}
	return updateIndex(dir, desc)
}

// Has reports whether name:tag is stored with exactly this digest and all of its blobs are present.
func (s Layouts) Has(name, tag string, digest v1.Hash) bool {
	d, err := s.Lookup(name, tag)
	if err != nil || d.Digest != digest {
		return false
	}
	_, err = os.Stat(filepath.Join(s.Dir(name), "blobs", digest.Algorithm, digest.Hex))
	return err == nil
}

// Read loads name:tag back from the store. Every blob is checked against its digest as it is read
// (see Layout): a damaged one is an error wrapping ErrIntegrity.
func (s Layouts) Read(name, tag string) (Artifact, error) {
	d, err := s.Lookup(name, tag)
	if err != nil {
		return Artifact{}, err
	}
	return s.read(name, d)
}

// ReadDigest loads the image of name with digest d back from the store, under whichever tag it is
// (see Read).
func (s Layouts) ReadDigest(name string, d v1.Hash) (Artifact, error) {
	desc, err := s.LookupDigest(name, d)
	if err != nil {
		return Artifact{}, err
	}
	return s.read(name, desc)
}

func (s Layouts) read(name string, d v1.Descriptor) (Artifact, error) {
	l := Layout{Dir: s.Dir(name)}
	if d.MediaType.IsIndex() {
		ii, err := l.ImageIndex(d)
		if err != nil {
			return Artifact{}, err
		}
		return Artifact{Index: ii}, nil
	}
	img, err := l.Image(d)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Image: img}, nil
}

func readIndex(dir string) (*v1.IndexManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("reading %s/index.json: %w", dir, err)
	}
	return &idx, nil
}

func updateIndex(dir string, desc v1.Descriptor) error {
	if err := safefile.Write(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	idx, err := readIndex(dir)
	if err != nil {
		return err
	}
	tag := desc.Annotations[RefNameAnnotation]
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		if d.Annotations[RefNameAnnotation] != tag {
			kept = append(kept, d)
		}
	}
	idx.Manifests = append(kept, desc)
	idx.MediaType = types.OCIImageIndex
	data, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return safefile.Write(filepath.Join(dir, "index.json"), data, 0o644)
}

// lockDir serialises writers of one layout with an advisory lock.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644) //nolint:gosec // G302: an empty lock file, as readable as the layout it guards
	if err != nil {
		return nil, fmt.Errorf("locking layout %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close() // already failing
		return nil, fmt.Errorf("locking layout %s: %w", dir, err)
	}
	// Closing releases the lock; the lock file holds no data, so a failed Close loses nothing.
	return func() { _ = f.Close() }, nil
}

type blobWriter struct{ dir string }

func (w blobWriter) index(ctx context.Context, ii v1.ImageIndex) error {
	m, err := ii.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := w.index(ctx, child); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			img, err := ii.Image(d.Digest)
			if err != nil {
				return err
			}
			if err := w.image(ctx, img); err != nil {
				return err
			}
		default:
			return fmt.Errorf("index entry %s has unsupported media type %s", d.Digest, d.MediaType)
		}
	}
	raw, err := ii.RawManifest()
	if err != nil {
		return err
	}
	return w.bytes(raw)
}

func (w blobWriter) image(ctx context.Context, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, l := range layers {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, err := l.Digest()
			if err != nil {
				return err
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			return w.blob(d, size, l.Compressed)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := w.bytes(cfg); err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	return w.bytes(raw)
}

func (w blobWriter) bytes(b []byte) error {
	sum := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	return w.blob(h, int64(len(b)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// blob writes one blob unless it is already there: a file of the right size that hashes to its name.
// A file that does not (a bit flipped on disk, content swapped) is replaced, so writing an image again
// repairs its damaged blobs. The content is hashed on the way to a temporary file and renamed only
// when it matches its digest.
func (w blobWriter) blob(h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	if h.Algorithm != "sha256" || !IsSHA256Hex(h.Hex) {
		return fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	path := filepath.Join(w.dir, "blobs", h.Algorithm, h.Hex)
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		if (Layout{Dir: w.dir}).hashBlob(h) == nil {
			return nil
		}
	}
	return safefile.WriteFrom(path, 0o644, func(f io.Writer) error {
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		hasher := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, hasher), rc)
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(hasher.Sum(nil)); got != h.Hex || n != size {
			return fmt.Errorf("blob %s: content has digest sha256:%s and size %d, want size %d", h, got, n, size)
		}
		return nil
	})
}
