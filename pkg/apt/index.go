package apt

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ingot-build/ingot/internal/safefile"
)

// Packages returns every package of the Packages index of component and arch: Packages.gz, else .xz,
// else the plain file, whichever the Release lists first. gzip comes first although xz is smaller: Go's
// xz decoder takes over a second for Debian's main index (about 6x gzip's time), far more than the
// 3-4 MiB more that gzip costs to download. The index is read as Index reads it, its size and SHA-256
// checked against the Release before anything is returned, then every stanza is parsed with
// ParsePackage and its Repository set to the source's Name; one that does not parse is an error. A
// lock needs a few of them: it uses Index. The IndexFile used is returned.
func (c *Client) Packages(ctx context.Context, src Source, rel *Release, component, arch string) (IndexFile, []*Package, error) {
	idx, ix, err := c.Index(ctx, src, rel, component, arch)
	if err != nil {
		return IndexFile{}, nil, err
	}
	pkgs, err := ix.Packages()
	if err != nil {
		return IndexFile{}, nil, fmt.Errorf("%s: %w", idx.Path, err)
	}
	return idx, pkgs, nil
}

// pickIndex is the Packages index of component and arch the Release lists: .gz, else .xz, else the
// plain file.
func (c *Client) pickIndex(src Source, rel *Release, component, arch string) (IndexFile, error) {
	if rel == nil {
		return IndexFile{}, fmt.Errorf("%w: %s: Packages needs the source's verified Release", ErrSource, src.Name)
	}
	if !validRelPath(component) || !validRelPath(arch) || strings.Contains(arch, "/") {
		return IndexFile{}, fmt.Errorf("%w: component %q, arch %q", ErrSource, component, arch)
	}
	dir := component + "/binary-" + arch + "/"
	for _, ext := range []string{".gz", ".xz", ""} { // fastest to decompress first
		if f, ok := rel.Files[dir+"Packages"+ext]; ok {
			return f, nil
		}
	}
	return IndexFile{}, fmt.Errorf("%w: %s lists no %sPackages index", ErrNotFound, src.distURL("Release"), dir)
}

// maxIndexSize is the cap on an index's decompressed size.
func (c *Client) maxIndexSize() int64 {
	if c.MaxIndexSize > 0 {
		return c.MaxIndexSize
	}
	return maxIndexSize
}

// index reads idx, through consume, from the cache when it holds it, else as it downloads, writing
// it to the cache once it proves to be the index signed. consume may be called more than once (a
// damaged cache entry is fetched again): what it made of a failed call is not used.
func (c *Client) index(ctx context.Context, src Source, rel *Release, idx IndexFile, consume func(io.Reader) error) error {
	if !validHex(idx.SHA256) {
		// It names cache files: nothing but the lowercase hex of a sha256 may.
		return fmt.Errorf("%w: %s: %.80q is not a lowercase sha256", ErrHashMismatch, idx.Path, idx.SHA256)
	}
	if c.Cache != nil {
		p := c.Cache.Path(idx.SHA256)
		if f, err := os.Open(p); err == nil {
			err := readVerified(ctx, idx, f, nil, consume)
			_ = f.Close() // read-only
			switch {
			case err == nil:
				return nil
			case errors.Is(err, ErrHashMismatch):
				// Damaged: fetch it again.
				if rerr := os.Remove(p); rerr != nil {
					return fmt.Errorf("%w: cache entry %s is corrupt, and removing it failed: %w", ErrHashMismatch, p, rerr)
				}
			default:
				return fmt.Errorf("%s: %w", p, err)
			}
		}
	}
	hc := c.httpClient()
	var body io.ReadCloser
	var url string
	var err error
	if rel.AcquireByHash {
		// by-hash files never change under the same name, so a mirror update between the Release and
		// this request cannot hand us a newer index than the one signed.
		url = src.distURL(path.Dir(idx.Path) + "/by-hash/SHA256/" + idx.SHA256)
		body, err = open(ctx, hc, url)
	}
	if !rel.AcquireByHash || errors.Is(err, ErrNotFound) {
		url = src.distURL(idx.Path)
		body, err = open(ctx, hc, url)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if c.Cache == nil {
		if err := readVerified(ctx, idx, body, nil, consume); err != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
		return nil
	}
	return c.readInto(ctx, idx, url, body, consume)
}

// parseInto parses body while writing it to a temporary file in the cache, renamed into place only
// when body proves to be idx.
func (c *Client) readInto(ctx context.Context, idx IndexFile, url string, body io.Reader, consume func(io.Reader) error) (err error) {
	dst := c.Cache.Path(idx.SHA256)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}
	f, err := safefile.CreateTemp(filepath.Dir(dst), "index")
	if err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close() // already failing; the removal is what matters
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := readVerified(ctx, idx, body, bw, consume); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	for _, step := range []func() error{bw.Flush, func() error { return f.Chmod(0o644) }, f.Sync, f.Close, func() error { return os.Rename(f.Name(), dst) }} {
		if err := step(); err != nil {
			return fmt.Errorf("creating cache entry: %w", err)
		}
	}
	return nil
}

// readVerified gives consume the index idx from r, copying what it reads to w when w is not nil, and reads
// r to its end (at most one byte past the size signed) so that its size and SHA-256 can be checked.
// When they are not the ones signed the error wraps ErrHashMismatch, whatever parsing found: a
// corrupt download is reported as such, not as the syntax error it may have caused.
func readVerified(ctx context.Context, idx IndexFile, r io.Reader, w io.Writer, consume func(io.Reader) error) error {
	h := sha256.New()
	var sink io.Writer = h
	if w != nil {
		sink = io.MultiWriter(h, w)
	}
	lr := &io.LimitedReader{R: r, N: idx.Size + 1}
	src := io.TeeReader(lr, sink)
	perr := consume(src)
	if err := ctx.Err(); err != nil {
		return err
	}
	// The decompressor may stop before the end of its input (a gzip trailer, trailing bytes): read the
	// rest so that the hash covers every byte.
	if _, err := io.Copy(io.Discard, src); err != nil {
		if perr != nil {
			return fmt.Errorf("%w (reading the rest of the index: %w)", perr, err)
		}
		return fmt.Errorf("reading the index: %w", err)
	}
	n := idx.Size + 1 - lr.N
	if n > idx.Size {
		return fmt.Errorf("%w: larger than the %d bytes signed", ErrHashMismatch, idx.Size)
	}
	if n != idx.Size {
		return fmt.Errorf("%w: %d bytes, %d signed", ErrHashMismatch, n, idx.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != idx.SHA256 {
		return fmt.Errorf("%w: sha256 %s, %s signed", ErrHashMismatch, got, idx.SHA256)
	}
	return perr
}

// limitedReader is io.LimitReader that fails, rather than reporting EOF, once more than n bytes are read,
// so that a decompression bomb is an error and not a silently truncated index.
type limitedReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w: index decompresses to more than %d bytes", ErrTooLarge, l.limit)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: index decompresses to more than %d bytes", ErrTooLarge, l.limit)
	}
	return n, err
}
