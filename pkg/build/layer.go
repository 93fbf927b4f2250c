package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// gzipLevel is fixed: the compressed bytes, and so the layer digests, depend on it.
const gzipLevel = gzip.DefaultCompression

// layerPaths returns, for each of n layers, the sorted paths it carries: its non-directories, the
// directories it shipped, and the parents of all of those.
func (t *tree) layerPaths(n int) [][]string {
	sets := make([]map[string]struct{}, n)
	for i := range sets {
		sets[i] = make(map[string]struct{})
	}
	add := func(l int, p string) {
		s := sets[l]
		for p != "" {
			if _, ok := s[p]; ok {
				return
			}
			s[p] = struct{}{}
			p = parentOf(p)
		}
	}
	for p, nd := range t.nodes {
		if p == "" {
			continue
		}
		if nd.typ == tar.TypeDir {
			for _, l := range nd.touch {
				add(l, p)
			}
		} else if nd.layer != baseLayer {
			add(nd.layer, p)
		}
	}
	out := make([][]string, n)
	for i, s := range sets {
		ps := make([]string, 0, len(s))
		for p := range s {
			ps = append(ps, p)
		}
		// Plain byte order puts every directory before its children: a parent is a prefix of them.
		sort.Strings(ps)
		out[i] = ps
	}
	return out
}

// clamp returns min(t, epoch) in whole seconds; the zero time stands for the epoch.
func clamp(t, epoch time.Time) time.Time {
	if t.IsZero() || t.After(epoch) {
		t = epoch
	}
	return time.Unix(t.Unix(), 0).UTC()
}

// writeTar writes the normalised tar of paths: names without "./", directories with a trailing "/",
// clamped whole-second mtimes, numeric owners only, and the first name of a hardlinked file (in this
// layer) carrying the content.
func (t *tree) writeTar(w io.Writer, paths []string, epoch time.Time) error {
	tw := tar.NewWriter(w)
	first := make(map[*inode]string)
	for _, p := range paths {
		n := t.nodes[p]
		h := &tar.Header{Name: p, Typeflag: n.typ, Mode: n.mode, Uid: n.uid, Gid: n.gid, ModTime: clamp(n.mtime, epoch)}
		var data []byte
		switch n.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = n.link
		case tar.TypeReg:
			ino := n.ino
			h.Mode, h.Uid, h.Gid, h.ModTime = ino.mode, ino.uid, ino.gid, clamp(ino.mtime, epoch)
			if f, ok := first[ino]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, f
				break
			}
			if ino.noData {
				return fmt.Errorf("writing %s: %w", p, ErrBaseContent)
			}
			first[ino] = p
			data = ino.data
			h.Size = int64(len(data))
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = n.devmajor, n.devminor
		case tar.TypeFifo:
		default:
			return fmt.Errorf("writing %s: unexpected tar type %q", p, n.typ)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing tar header of %s: %w", p, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return tw.Close()
}

// layer is a gzip-compressed layer held in memory, compressed once; its digests were computed while
// compressing.
type layer struct {
	compressed []byte
	digest     v1.Hash
	diffID     v1.Hash
}

var _ v1.Layer = (*layer)(nil)

func (l *layer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *layer) Size() (int64, error)     { return int64(len(l.compressed)), nil }
func (l *layer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

func (l *layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.compressed))
	if err != nil {
		return nil, fmt.Errorf("decompressing layer %s: %w", l.digest, err)
	}
	return zr, nil
}

func sha256Hash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// compress gzips what write produces, deterministically (fixed level, no name, no mtime in the header),
// hashing both streams on the way.
func compress(write func(io.Writer) error) (*layer, error) {
	var buf bytes.Buffer
	zh := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(&buf, zh), gzipLevel)
	if err != nil {
		return nil, err
	}
	th := sha256.New()
	if err := write(io.MultiWriter(zw, th)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	return &layer{compressed: buf.Bytes(), digest: sha256Hash(zh), diffID: sha256Hash(th)}, nil
}

// buildLayers writes and compresses every layer in parallel.
func (t *tree) buildLayers(ctx context.Context, paths [][]string, epoch time.Time) ([]*layer, error) {
	out := make([]*layer, len(paths))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range paths {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			l, err := compress(func(w io.Writer) error { return t.writeTar(w, paths[i], epoch) })
			if err != nil {
				return fmt.Errorf("building layer %d: %w", i+1, err)
			}
			out[i] = l
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
