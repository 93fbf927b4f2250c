package apt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/deb"
)

// Packages returns the packages of the Packages index of component and arch: Packages.gz, else .xz,
// else the plain file, whichever the Release lists first. gzip comes first although xz is smaller: Go's
// xz decoder takes over a second for Debian's main index (about 6x gzip's time), far more than the
// 3-4 MiB more that gzip costs to download. The index is parsed as it arrives (decompressing in one
// goroutine, parsing stanzas in others) and its size and SHA-256 are checked against the Release before
// anything parsed from it is returned; every stanza is parsed with ParsePackage and its Repository set
// to the source's Name. With a Parsed cache, an index parsed before is not read at all. The IndexFile
// used is returned for the lock.
func (c *Client) Packages(ctx context.Context, src Source, rel *Release, component, arch string) (IndexFile, []*Package, error) {
	src = src.WithDefaults()
	if rel == nil {
		return IndexFile{}, nil, fmt.Errorf("%w: %s: Packages needs the source's verified Release", ErrSource, src.Name)
	}
	if !validRelPath(component) || !validRelPath(arch) || strings.Contains(arch, "/") {
		return IndexFile{}, nil, fmt.Errorf("%w: component %q, arch %q", ErrSource, component, arch)
	}
	dir := component + "/binary-" + arch + "/"
	var idx IndexFile
	found := false
	for _, ext := range []string{".gz", ".xz", ""} { // fastest to decompress first
		if f, ok := rel.Files[dir+"Packages"+ext]; ok {
			idx, found = f, true
			break
		}
	}
	if !found {
		return IndexFile{}, nil, fmt.Errorf("%w: %s lists no %sPackages index", ErrNotFound, src.distURL("Release"), dir)
	}
	pkgs, err := c.indexPackages(ctx, src, rel, idx)
	if err != nil {
		return IndexFile{}, nil, err
	}
	for _, p := range pkgs {
		p.Repository = src.Name
	}
	return idx, pkgs, nil
}

// indexPackages returns the parsed stanzas of idx: from the parsed cache when it holds them, else
// parsed from the index, which is recorded in the parsed cache.
func (c *Client) indexPackages(ctx context.Context, src Source, rel *Release, idx IndexFile) ([]*Package, error) {
	if c.Parsed != nil {
		if pkgs, err := c.Parsed.Load(idx.SHA256); err == nil {
			return pkgs, nil
		}
	}
	pkgs, err := c.index(ctx, src, rel, idx)
	if err != nil {
		return nil, err
	}
	if c.Parsed != nil {
		if err := c.Parsed.Save(idx.SHA256, pkgs); err != nil {
			return nil, err
		}
	}
	return pkgs, nil
}

// index parses idx from the cache when it holds it, else as it downloads, writing it to the cache
// once it proves to be the index signed.
func (c *Client) index(ctx context.Context, src Source, rel *Release, idx IndexFile) ([]*Package, error) {
	if !validHex(idx.SHA256) {
		// It names cache files: nothing but the lowercase hex of a sha256 may.
		return nil, fmt.Errorf("%w: %s: %.80q is not a lowercase sha256", ErrHashMismatch, idx.Path, idx.SHA256)
	}
	limit := c.MaxIndexSize
	if limit <= 0 {
		limit = maxIndexSize
	}
	if c.Cache != nil {
		p := c.Cache.Path(idx.SHA256)
		if f, err := os.Open(p); err == nil {
			pkgs, err := parseVerified(ctx, idx, f, nil, limit)
			_ = f.Close() // read-only
			switch {
			case err == nil:
				return pkgs, nil
			case errors.Is(err, ErrHashMismatch):
				// Damaged: fetch it again.
				if rerr := os.Remove(p); rerr != nil {
					return nil, fmt.Errorf("%w: cache entry %s is corrupt, and removing it failed: %w", ErrHashMismatch, p, rerr)
				}
			default:
				return nil, fmt.Errorf("%s: %w", p, err)
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
		return nil, err
	}
	defer body.Close()
	if c.Cache == nil {
		pkgs, err := parseVerified(ctx, idx, body, nil, limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", url, err)
		}
		return pkgs, nil
	}
	return c.parseInto(ctx, idx, url, body, limit)
}

// parseInto parses body while writing it to a temporary file in the cache, renamed into place only
// when body proves to be idx.
func (c *Client) parseInto(ctx context.Context, idx IndexFile, url string, body io.Reader, limit int64) (_ []*Package, err error) {
	dst := c.Cache.Path(idx.SHA256)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("creating cache: %w", err)
	}
	f, err := safefile.CreateTemp(filepath.Dir(dst), "index")
	if err != nil {
		return nil, fmt.Errorf("creating cache entry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close() // already failing; the removal is what matters
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	pkgs, err := parseVerified(ctx, idx, body, bw, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	for _, step := range []func() error{bw.Flush, func() error { return f.Chmod(0o644) }, f.Sync, f.Close, func() error { return os.Rename(f.Name(), dst) }} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("creating cache entry: %w", err)
		}
	}
	return pkgs, nil
}

// parseVerified parses the index idx from r, copying what it reads to w when w is not nil, and reads
// r to its end (at most one byte past the size signed) so that its size and SHA-256 can be checked.
// When they are not the ones signed the error wraps ErrHashMismatch, whatever parsing found: a
// corrupt download is reported as such, not as the syntax error it may have caused.
func parseVerified(ctx context.Context, idx IndexFile, r io.Reader, w io.Writer, limit int64) ([]*Package, error) {
	h := sha256.New()
	var sink io.Writer = h
	if w != nil {
		sink = io.MultiWriter(h, w)
	}
	lr := &io.LimitedReader{R: r, N: idx.Size + 1}
	src := io.TeeReader(lr, sink)
	pkgs, perr := parseIndex(ctx, idx.Path, idx.Size, src, limit)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The decompressor may stop before the end of its input (a gzip trailer, trailing bytes): read the
	// rest so that the hash covers every byte.
	if _, err := io.Copy(io.Discard, src); err != nil {
		if perr != nil {
			return nil, fmt.Errorf("%w (reading the rest of the index: %w)", perr, err)
		}
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	n := idx.Size + 1 - lr.N
	if n > idx.Size {
		return nil, fmt.Errorf("%w: larger than the %d bytes signed", ErrHashMismatch, idx.Size)
	}
	if n != idx.Size {
		return nil, fmt.Errorf("%w: %d bytes, %d signed", ErrHashMismatch, n, idx.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != idx.SHA256 {
		return nil, fmt.Errorf("%w: sha256 %s, %s signed", ErrHashMismatch, got, idx.SHA256)
	}
	if perr != nil {
		return nil, perr
	}
	return pkgs, nil
}

// parseChunk is how much decompressed text one parsing goroutine takes at a time.
const parseChunk = 1 << 20

// textChunk is a run of whole stanzas, with its place in the index.
type textChunk struct {
	seq  int
	off  int64 // offset of data in the decompressed index
	data []byte
}

// parseIndex decompresses a Packages index of size bytes (by its name's extension) as it reads r and
// parses its stanzas, in index order. One goroutine decompresses (or feeds the decompressing program,
// see indexDecoder) and cuts the text at blank lines into chunks of whole stanzas; the others parse
// chunks, so on a machine with more than one core decompressing and parsing overlap.
func parseIndex(ctx context.Context, name string, size int64, r io.Reader, limit int64) ([]*Package, error) {
	var closeFn func() error
	if p := indexDecoder(name, size, r); p != nil {
		// Closing stops the program, if it is still running, after its feeder has read all of r.
		closeFn, r = p.Close, p
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".xz")
	}
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		r = xr
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		closeFn = gr.Close
		r = gr
	}
	if closeFn != nil {
		defer closeFn() //nolint:errcheck // read-only decoder
	}
	lr := &limitedReader{r: r, n: limit, limit: limit}

	workers := max(1, runtime.GOMAXPROCS(0))
	chunks := make(chan textChunk, workers)
	var (
		mu      sync.Mutex
		results [][]*Package
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(chunks)
		return splitStanzas(gctx, lr, chunks)
	})
	for range workers {
		g.Go(func() error {
			for c := range chunks {
				pkgs, err := parseStanzas(c)
				if err != nil {
					return err
				}
				mu.Lock()
				for len(results) <= c.seq {
					results = append(results, nil)
				}
				results[c.seq] = pkgs
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	total := 0
	for _, r := range results {
		total += len(r)
	}
	out := make([]*Package, 0, total)
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// splitStanzas reads r in chunks of about parseChunk bytes, each ending after a blank line (or at the
// end of r), and sends them in order.
func splitStanzas(ctx context.Context, r io.Reader, out chan<- textChunk) error {
	var (
		carry []byte
		off   int64
		seq   int
	)
	send := func(data []byte) error {
		select {
		case out <- textChunk{seq: seq, off: off, data: data}:
		case <-ctx.Done():
			return ctx.Err()
		}
		seq++
		off += int64(len(data))
		return nil
	}
	for {
		buf := make([]byte, len(carry), max(parseChunk, 2*len(carry)))
		copy(buf, carry)
		n, err := io.ReadFull(r, buf[len(carry):cap(buf)])
		buf = buf[:len(carry)+n]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if len(buf) == 0 {
				return nil
			}
			return send(buf)
		}
		if err != nil {
			return fmt.Errorf("decompressing: %w", err)
		}
		// A chunk ends after the last empty line: a stanza never spans it. Text without one grows the
		// next chunk instead.
		cut := bytes.LastIndex(buf, []byte("\n\n"))
		if cut < 0 {
			carry = buf
			continue
		}
		carry = buf[cut+2:]
		if err := send(buf[:cut+2]); err != nil {
			return err
		}
	}
}

// parseStanzas parses the stanzas of one chunk.
func parseStanzas(c textChunk) ([]*Package, error) {
	var pkgs []*Package
	err := deb.ReadParagraphs(bytes.NewReader(c.data), func(p deb.Paragraph) error {
		pkg, err := ParsePackage(p)
		if err != nil {
			return fmt.Errorf("stanza of %q: %w", p.Get("Package"), err)
		}
		pkgs = append(pkgs, pkg)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("in the decompressed bytes %d to %d: %w", c.off, c.off+int64(len(c.data)), err)
	}
	return pkgs, nil
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
