package apt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/internal/safefile"
)

// Cache is the content-addressed store of downloaded files: Dir/sha256/<hex>. An entry is only ever
// created complete and verified, and is checked again whenever it is read.
type Cache struct{ Dir string }

// Path returns where the entry with the given SHA-256 lives (or would live).
func (c *Cache) Path(sha256hex string) string {
	return filepath.Join(c.Dir, "sha256", sha256hex)
}

// ReadVerified reads an entry and checks its SHA-256 before returning it. A corrupt entry is removed
// and ErrHashMismatch returned; a missing one gives an error wrapping fs.ErrNotExist.
func (c *Cache) ReadVerified(sha256hex string) ([]byte, error) {
	if !validHex(sha256hex) {
		return nil, fmt.Errorf("%w: cache key %.80q is not a lowercase sha256", ErrHashMismatch, sha256hex)
	}
	p := c.Path(sha256hex)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading cache entry: %w", err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != sha256hex {
		if rerr := os.Remove(p); rerr != nil {
			return nil, fmt.Errorf("%w: cache entry %s is corrupt, and removing it failed: %w", ErrHashMismatch, p, rerr)
		}
		return nil, fmt.Errorf("%w: cache entry %s was corrupt and has been removed", ErrHashMismatch, p)
	}
	return data, nil
}

// store writes data as the entry for sha256hex, after checking that it is that content.
func (c *Cache) store(sha256hex string, data []byte) error {
	sum := sha256.Sum256(data)
	if !validHex(sha256hex) || hex.EncodeToString(sum[:]) != sha256hex {
		return fmt.Errorf("%w: refusing to cache data under %.80q", ErrHashMismatch, sha256hex)
	}
	if err := os.MkdirAll(filepath.Dir(c.Path(sha256hex)), 0o755); err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}
	return safefile.Write(c.Path(sha256hex), data, 0o644)
}

// validHex accepts exactly the lowercase form used for file names, so one hash has one path.
func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, ch := range s {
		if (ch < '0' || ch > '9') && (ch < 'a' || ch > 'f') {
			return false
		}
	}
	return true
}

// Download is one file to fetch into the cache, as a lock records it.
type Download struct {
	Name   string // shown in errors, e.g. "libc6 2.36-9+deb12u10 amd64"
	URL    string
	Size   int64
	SHA256 string // lowercase hex
}

// FetchOptions tune Cache.Fetch.
type FetchOptions struct {
	// HTTP fetches the URLs. Nil: the same default client as Client, which also serves file:// URLs.
	HTTP *http.Client
	// Parallel is how many downloads run at once; 0 means 6.
	Parallel int
	// Progress, when not nil, receives a one-line display refreshed in place with "\r", such as
	// "fetching 12/31 packages, 4.2/18.9 MiB". Pass a terminal, not a log.
	Progress io.Writer
}

// Fetch downloads every item not already in the cache, Parallel at a time. Each goes to a temporary file
// in the cache that is checked (size, then SHA-256) and only then renamed into place, so a failure never
// leaves a bad entry. Items are all validated before anything is fetched; the error names every item
// that failed.
func (c *Cache) Fetch(ctx context.Context, items []Download, opt FetchOptions) error {
	if c.Dir == "" {
		return fmt.Errorf("%w: cache has no directory", ErrSource)
	}
	var bad []error
	for _, it := range items {
		switch {
		case !validHex(it.SHA256):
			bad = append(bad, fmt.Errorf("%w: %s: sha256 %.80q is not lowercase hex", ErrHashMismatch, it.Name, it.SHA256))
		case it.Size <= 0:
			bad = append(bad, fmt.Errorf("%w: %s: no size", ErrHashMismatch, it.Name))
		case it.URL == "":
			bad = append(bad, fmt.Errorf("%w: %s: no URL", ErrSource, it.Name))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("fetching into cache %s: %w", c.Dir, errors.Join(bad...))
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "sha256"), 0o755); err != nil {
		return fmt.Errorf("creating cache: %w", err)
	}

	var todo []Download
	var total int64
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.SHA256] {
			continue
		}
		seen[it.SHA256] = true
		if fi, err := os.Stat(c.Path(it.SHA256)); err == nil && fi.Mode().IsRegular() && fi.Size() == it.Size {
			continue // ReadVerified checks the hash when the entry is used
		}
		todo = append(todo, it)
		total += it.Size
	}
	if len(todo) == 0 {
		return nil
	}

	hc := opt.HTTP
	if hc == nil {
		hc = newHTTPClient()
		defer hc.CloseIdleConnections()
	}
	parallel := opt.Parallel
	if parallel <= 0 {
		parallel = 6
	}
	prog := startProgress(opt.Progress, len(todo), total)
	defer prog.stop()

	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, parallel)
	)
	for i, it := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			var names []string
			for _, rest := range todo[i:] {
				names = append(names, rest.Name)
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("not fetched: %s: %w", strings.Join(names, ", "), ctx.Err()))
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := c.download(ctx, hc, it, prog)
			prog.itemDone()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("fetching %s: %w", it.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// download streams one item into a temporary file beside its entry, counting it on prog, and renames it
// into place only when its size and SHA-256 are right.
func (c *Cache) download(ctx context.Context, hc *http.Client, it Download, prog *progress) (err error) {
	body, err := open(ctx, hc, it.URL)
	if err != nil {
		return err
	}
	defer body.Close()
	dst := c.Path(it.SHA256)
	f, err := safefile.CreateTemp(filepath.Dir(dst), "fetch")
	if err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close() // already failing; the removal is what matters
			_ = os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h, prog.counter()), io.LimitReader(body, it.Size+1))
	if err != nil {
		return fmt.Errorf("downloading %s: %w", it.URL, err)
	}
	if err := checkDownload(it, n, h); err != nil {
		return fmt.Errorf("%s: %w", it.URL, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("creating cache entry: %w", err)
	}
	return nil
}

func checkDownload(it Download, n int64, h hash.Hash) error {
	if n != it.Size {
		return fmt.Errorf("%w: got %s bytes, want %d", ErrHashMismatch, sizeString(n, it.Size), it.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 {
		return fmt.Errorf("%w: got sha256 %s, want %s", ErrHashMismatch, got, it.SHA256)
	}
	return nil
}

// sizeString says "more than N" for a body cut off at the limit.
func sizeString(n, want int64) string {
	if n > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(n)
}
