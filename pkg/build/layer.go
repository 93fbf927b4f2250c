package build

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/flate"
	"golang.org/x/sync/errgroup"
)

// gzipLevel is fixed: the compressed bytes, and so the layer digests, depend on it.
const gzipLevel = flate.DefaultCompression

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

// layer is a gzip-compressed layer held in memory, compressed once; its digests were computed when it
// was made.
type layer struct {
	parts [][]byte // concatenated, the gzip stream
	// raw is the tar itself, kept so that the evidence stages, which read every layer of a new image
	// right after it is built, do not inflate what was just deflated.
	raw    []byte
	size   int64
	digest v1.Hash
	diffID v1.Hash
}

var _ v1.Layer = (*layer)(nil)

func (l *layer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *layer) Size() (int64, error)     { return l.size, nil }
func (l *layer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

func (l *layer) reader() io.Reader {
	rs := make([]io.Reader, len(l.parts))
	for i, p := range l.parts {
		rs[i] = bytes.NewReader(p)
	}
	return io.MultiReader(rs...)
}

func (l *layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(l.reader()), nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}

// tarSize is the exact size of the tar writeTar produces for paths when no PAX header is needed, a
// close estimate otherwise.
func (t *tree) tarSize(paths []string) int64 {
	n := int64(1024) // end-of-archive blocks
	for _, p := range paths {
		n += 512
		if nd := t.nodes[p]; nd.typ == tar.TypeReg {
			n += (int64(len(nd.ino.data)) + 511) &^ 511
		}
	}
	return n
}

// gzipBlock is the unit of parallel compression. Each block is deflated on its own, primed with the
// 32 KiB before it as dictionary and ended with a sync flush, and the blocks are concatenated into one
// gzip member, as pigz does. The output depends only on the input, the block size and the level, so
// it is as reproducible as a serial stream and readable by any gzip reader.
const gzipBlock = 1 << 20

// deflateBlock compresses block i of raw.
func deflateBlock(raw []byte, i int) ([]byte, error) {
	start := i * gzipBlock
	end := min(start+gzipBlock, len(raw))
	dict := raw[max(0, start-32<<10):start]
	var buf bytes.Buffer
	buf.Grow((end-start)/2 + 1024)
	fw, err := flate.NewWriterDict(&buf, gzipLevel, dict)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(raw[start:end]); err != nil {
		return nil, err
	}
	if end == len(raw) {
		err = fw.Close() // final block
	} else {
		err = fw.Flush() // byte-aligned, not final
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipHeader has no name, no mtime and the "unknown" OS, so it says nothing about the build host.
func gzipHeader() []byte { return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255} }

// assembleGzip frames the deflated blocks of raw as one gzip member and computes both digests. The
// parts are kept as they are rather than copied into one buffer.
func assembleGzip(raw []byte, blocks [][]byte) *layer {
	trailer := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(raw))
	trailer = binary.LittleEndian.AppendUint32(trailer, uint32(len(raw))) //nolint:gosec // ISIZE is the size modulo 2^32
	parts := make([][]byte, 0, len(blocks)+2)
	parts = append(parts, gzipHeader())
	parts = append(parts, blocks...)
	parts = append(parts, trailer)
	zh := sha256.New()
	var size int64
	for _, p := range parts {
		zh.Write(p)
		size += int64(len(p))
	}
	tsum := sha256.Sum256(raw)
	return &layer{
		raw:    raw,
		parts:  parts,
		size:   size,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(zh.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(tsum[:])},
	}
}

// buildLayers writes every layer's tar, then compresses all their blocks in parallel (bounded by
// GOMAXPROCS), so that a single large layer uses every core too.
func (t *tree) buildLayers(ctx context.Context, paths [][]string, epoch time.Time) ([]*layer, error) {
	raws := make([][]byte, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range paths {
		g.Go(func() error {
			var buf bytes.Buffer
			buf.Grow(int(t.tarSize(paths[i])))
			if err := t.writeTar(&buf, paths[i], epoch); err != nil {
				return fmt.Errorf("writing layer %d: %w", i+1, err)
			}
			raws[i] = buf.Bytes()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	blocks := make([][][]byte, len(raws))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, raw := range raws {
		blocks[i] = make([][]byte, (len(raw)+gzipBlock-1)/gzipBlock)
		for j := range blocks[i] {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				b, err := deflateBlock(raw, j)
				if err != nil {
					return fmt.Errorf("compressing layer %d: %w", i+1, err)
				}
				blocks[i][j] = b
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]*layer, len(raws))
	g = new(errgroup.Group)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range raws {
		g.Go(func() error {
			out[i] = assembleGzip(raws[i], blocks[i])
			return nil
		})
	}
	_ = g.Wait() // assembleGzip cannot fail
	return out, nil
}
