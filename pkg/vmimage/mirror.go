package vmimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/store"
)

// ErrNoInRelease means the verified InRelease a lock names is neither in the cache nor served by the
// repository any more, so no mirror keeping Debian's signature can be written from it.
var ErrNoInRelease = fault.New(fault.Invalid, "vmimage: the locked InRelease is no longer served (run ingot lock --update)")

// Mirror is a local, partial copy of the lock's repositories, each a Debian archive root: its signed
// InRelease and Packages index exactly as they were locked, and the locked .debs at their pool
// paths, hard-linked from the verified cache. apt reads it with the repositories' own keyrings, so
// what mmdebstrap installs is checked against Debian's signature once more, by apt itself.
type Mirror struct {
	Dir string
	// Lines are the sources.list lines reading it, one per repository.
	Lines []string
}

// WriteMirror writes the mirror of l into dir, fetching into the store's verified caches whatever
// they lack. sources are the spec's repositories (pipeline.Sources), matched to the lock's by name.
// The InRelease is served from the index cache, where ingot lock keeps it; when it is not there (the
// lock was made elsewhere) it is fetched and verified again, and must still be the one locked.
func WriteMirror(ctx context.Context, l *lock.Lock, st store.Store, sources []apt.Source, dir string, fetch apt.FetchOptions) (*Mirror, error) {
	bySource := map[string]apt.Source{}
	for _, src := range sources {
		bySource[src.Name] = src
	}
	var debs []apt.Download
	for _, p := range l.Packages() {
		debs = append(debs, apt.Download{Name: p.Name + "_" + p.Version + "_" + p.Architecture, URL: p.URL, Size: p.Size, SHA256: p.SHA256})
	}
	if err := st.Packages().Fetch(ctx, debs, fetch); err != nil {
		return nil, fmt.Errorf("fetching packages: %w", err)
	}
	m := &Mirror{Dir: dir}
	roots := map[string]string{}
	for i, r := range l.Repositories {
		root := filepath.Join(dir, fmt.Sprintf("%d", i))
		roots[r.Name] = root
		dists := filepath.Join(root, "dists", filepath.FromSlash(r.Suite))
		relHex := strings.TrimPrefix(r.Release, "sha256:")
		src, ok := bySource[r.Name]
		if !ok {
			return nil, fmt.Errorf("repository %s is in the lock but not the spec: %w", r.Name, lock.ErrStale)
		}
		if _, err := st.Indexes().ReadVerified(relHex); err != nil {
			client := &apt.Client{HTTP: fetch.HTTP, Cache: st.Indexes()}
			if _, err := client.Release(ctx, src); err != nil {
				return nil, fmt.Errorf("repository %s: %w", r.Name, err)
			}
			if _, err := st.Indexes().ReadVerified(relHex); err != nil {
				return nil, fmt.Errorf("repository %s has a newer Release than the lock's %s: %w", r.Name, r.Release, ErrNoInRelease)
			}
		}
		if err := place(st.Indexes().Path(relHex), filepath.Join(dists, "InRelease")); err != nil {
			return nil, err
		}
		var idx []apt.Download
		for _, x := range r.Indexes {
			idx = append(idx, apt.Download{Name: r.Name + " " + x.Path, URL: strings.TrimSuffix(r.URL, "/") + "/dists/" + r.Suite + "/" + x.Path, Size: x.Size, SHA256: x.SHA256})
		}
		if err := st.Indexes().Fetch(ctx, idx, fetch); err != nil {
			return nil, fmt.Errorf("repository %s: fetching its indexes: %w", r.Name, err)
		}
		for _, x := range r.Indexes {
			if !filepath.IsLocal(filepath.FromSlash(x.Path)) {
				return nil, fmt.Errorf("repository %s: index path %q leaves the archive", r.Name, x.Path)
			}
			// apt asks for by-hash names when the Release offers them: serve both.
			for _, p := range []string{x.Path, path.Dir(x.Path) + "/by-hash/SHA256/" + x.SHA256} {
				if err := place(st.Indexes().Path(x.SHA256), filepath.Join(dists, filepath.FromSlash(p))); err != nil {
					return nil, err
				}
			}
		}
		opts := []string{"arch=amd64"}
		if k := src.Keyring; k != "" {
			opts = append(opts, "signed-by="+k)
		}
		// copy:// rather than file://: apt copies each .deb into its archive cache as a download would,
		// which mmdebstrap needs because the mirror is not visible inside its chroot.
		m.Lines = append(m.Lines, fmt.Sprintf("deb [%s] copy://%s %s %s", strings.Join(opts, " "), root, r.Suite, strings.Join(r.Components, " ")))
	}
	for _, p := range l.Packages() {
		root, ok := roots[p.Repository]
		if !ok {
			return nil, fmt.Errorf("package %s comes from repository %q, which the lock does not record", p.Name, p.Repository)
		}
		if !filepath.IsLocal(filepath.FromSlash(p.Filename)) {
			return nil, fmt.Errorf("package %s has a Filename outside the archive: %q", p.Name, p.Filename)
		}
		if err := place(st.Packages().Path(p.SHA256), filepath.Join(root, filepath.FromSlash(p.Filename))); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// place puts the cache entry src at dst, hard-linked when it can be.
func place(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("writing the mirror: %w", err)
	}
	if err := os.Link(src, dst); err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("writing the mirror: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) //nolint:gosec // a mirror is served to apt: world-readable
	if err != nil {
		return fmt.Errorf("writing the mirror: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("writing the mirror: %w", err)
	}
	return out.Close()
}
