package vuln

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/internal/safefile"
)

// UpdateSource is the name of the source Update writes.
const UpdateSource = "osv"

// Errors in what an update is asked to do.
var (
	// ErrNoEcosystems means an update was asked for without ecosystems and none were fetched before.
	ErrNoEcosystems = errors.New("vuln: no ecosystems to update (name them, e.g. Go or Debian:12)")
	// ErrUpdateURL means the base URL is not an http or https URL.
	ErrUpdateURL = errors.New("vuln: invalid vulnerability database URL")
)

// Update downloads <baseURL>/<Ecosystem>/all.zip for each of the ecosystems (the layout of osv.dev's
// bucket and of any mirror of it) and imports them together as the source "osv", replacing it
// atomically: if any download or record fails, the previous data stays. With no ecosystems it fetches
// those the previous update fetched. The URL always comes from the caller; nothing else fetches.
func (db *DB) Update(ctx context.Context, baseURL string, ecosystems []string, hc *http.Client) (ImportStats, error) {
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
	if hc == nil {
		hc = &http.Client{}
	}
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
		if err := download(ctx, hc, src, filepath.Join(dir, "all.zip")); err != nil {
			return ImportStats{}, err
		}
	}
	return db.importSource(ctx, tmp, indexHeader{SourceStatus: SourceStatus{Name: UpdateSource, Origin: u.Redacted(), Requested: want}})
}

func download(ctx context.Context, hc *http.Client, src, dst string) (err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: %s", src, resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("downloading %s: %w", src, err)
	}
	return nil
}
