package vuln

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/fault"
)

// UpdateSource is the name of the source Update writes.
const UpdateSource = "osv"

// DefaultUpdateURL is OSV's public bucket of per-ecosystem exports (<url>/<Ecosystem>/all.zip), where
// osv-scanner's offline mode downloads from too: vulnerability data, not a package mirror.
const DefaultUpdateURL = "https://osv-vulnerabilities.storage.googleapis.com"

// Errors in what an update is asked to do.
var (
	// ErrNoEcosystems means an update was asked for without ecosystems and none were fetched before.
	ErrNoEcosystems = fault.New(fault.Invalid, "vuln: no ecosystems to update (name them, e.g. Go or Debian:12)")
	// ErrUpdateURL means the base URL is not an http or https URL.
	ErrUpdateURL = fault.New(fault.Invalid, "vuln: invalid vulnerability database URL")
)

// UpdateOptions tune Update.
type UpdateOptions struct {
	// Client fetches the zips; nil means a new http.Client.
	Client *http.Client
	// MaxSize bounds the data as ImportOptions.MaxSize does, and the downloads too: together they may
	// not exceed it either. Zero means DefaultMaxSize.
	MaxSize int64
}

// Update downloads <baseURL>/<Ecosystem>/all.zip for each of the ecosystems (the layout of osv.dev's
// bucket and of any mirror of it) and imports them together as the source "osv", replacing it
// atomically: if any download or record fails, the previous data stays. With no ecosystems it fetches
// those the previous update fetched. The URL always comes from the caller; nothing else fetches.
func (db *DB) Update(ctx context.Context, baseURL string, ecosystems []string, opt UpdateOptions) (ImportStats, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ImportStats{}, fmt.Errorf("%w %q: want an http or https URL", ErrUpdateURL, baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if len(ecosystems) == 0 {
		if x, err := openIndex(db.sourcePath(UpdateSource)); err == nil {
			ecosystems = x.header.Requested
			x.Close()
		}
	}
	var want []string
	for _, e := range ecosystems {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(want, e) {
			want = append(want, e)
		}
	}
	if len(want) == 0 {
		return ImportStats{}, ErrNoEcosystems
	}
	hc := opt.Client
	if hc == nil {
		hc = &http.Client{}
	}
	maxSize := opt.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	left := maxSize // what the downloads may still take
	if err := os.MkdirAll(db.Dir, 0o755); err != nil {
		return ImportStats{}, fmt.Errorf("creating vulnerability database directory: %w", err)
	}
	tmp, err := safefile.MkdirTemp(db.Dir, "update")
	if err != nil {
		return ImportStats{}, fmt.Errorf("updating vulnerability database: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // the downloads are imported or discarded either way
	for i, eco := range want {
		// Ecosystem names hold ':' and spaces; each download gets a plain directory name.
		dir := filepath.Join(tmp, fmt.Sprintf("%d-%s", i, defaultSourceName(eco)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return ImportStats{}, err
		}
		src := strings.TrimSuffix(u.String(), "/") + "/" + url.PathEscape(eco) + "/all.zip"
		n, err := download(ctx, hc, src, filepath.Join(dir, "all.zip"), left)
		if err != nil {
			return ImportStats{}, err
		}
		left -= n
	}
	return db.importSource(ctx, tmp, indexHeader{SourceStatus: SourceStatus{Name: UpdateSource, Origin: u.Redacted(), Requested: want}}, maxSize)
}

// download writes src to dst and returns its size; a body longer than limit is refused (a zip
// never holds more than it inflates to, so the import's budget bounds the downloads too).
func download(ctx context.Context, hc *http.Client, src, dst string, limit int64) (n int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return 0, fmt.Errorf("downloading %s: %w", src, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("downloading %s: %s", src, resp.Status)
	}
	if resp.ContentLength > limit {
		return 0, fmt.Errorf("%w: %s is %d bytes, more than the %s left of the limit", ErrTooLarge, src, resp.ContentLength, limitText(limit))
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	n, err = io.Copy(f, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return n, fmt.Errorf("downloading %s: %w", src, err)
	}
	if n > limit {
		return n, fmt.Errorf("%w: %s is more than the %s left of the limit", ErrTooLarge, src, limitText(limit))
	}
	return n, nil
}
