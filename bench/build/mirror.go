package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/apt"
)

// maxInRelease bounds the one file fetched without a known hash; Debian's is about 150 KiB.
const maxInRelease = 64 << 20

// mirror is the local, partial copy of one suite that both tools read: the real signed InRelease and
// Packages index, byte for byte, and every .deb either tool will ask for.
type mirror struct {
	dir    string
	source apt.Source // file:// over dir, verified with the suite's real keyring
	// ingot and apt are what each tool installs for the spec's package list: ingot honours the spec's
	// excludes, apt cannot.
	ingot, apt []*apt.Package
}

// aptLine is the sources.list line by which apt reads the mirror. It uses copy://, which copies each
// .deb into apt's archive cache as a download would: mmdebstrap refuses file:// because the packages
// would have to be visible inside its chroot.
func (m *mirror) aptLine() string {
	return fmt.Sprintf("deb [signed-by=%s] copy://%s %s main", m.source.Keyring, m.dir, m.source.Suite)
}

// prepareMirror fills work/mirror from the host's apt source for the suite. It is the only step that
// uses the network, and downloads only what is not already in work/cache.
func prepareMirror(ctx context.Context, cfg config, packages, exclude []string, log io.Writer) (*mirror, error) {
	host, err := hostSource(cfg.suite)
	if err != nil {
		return nil, err
	}
	keyring := cfg.keyring
	if keyring == "" {
		keyring = host.Keyring
	}
	if keyring == "" {
		return nil, fmt.Errorf("the host's source for %s names no Signed-By keyring: pass -keyring", cfg.suite)
	}
	m := &mirror{dir: filepath.Join(cfg.work, "mirror")}
	m.source = apt.Source{URL: "file://" + m.dir, Suite: cfg.suite, Components: []string{"main"}, Keyring: keyring}.WithDefaults()
	cache := &apt.Cache{Dir: filepath.Join(cfg.work, "cache")}
	dists := filepath.Join(m.dir, "dists", filepath.FromSlash(cfg.suite))

	fmt.Fprintf(log, "setup: mirroring %s %s from the host's apt source into %s\n", cfg.suite, cfg.arch, m.dir)
	inRelease, err := fetchInRelease(ctx, host)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dists, 0o755); err != nil {
		return nil, fmt.Errorf("creating the mirror: %w", err)
	}
	if err := safefile.Write(filepath.Join(dists, "InRelease"), inRelease, 0o644); err != nil {
		return nil, fmt.Errorf("writing the mirror's InRelease: %w", err)
	}
	// Verifying the stored copy, not the download, proves that what both tools will read is signed.
	client := &apt.Client{}
	rel, err := client.Release(ctx, m.source)
	if err != nil {
		return nil, fmt.Errorf("verifying the mirrored InRelease: %w", err)
	}

	// Mirror both compressions the Release lists: apt reads the .xz, ingot the .gz.
	for _, ext := range []string{".xz", ".gz"} {
		indexPath := "main/binary-" + cfg.arch + "/Packages" + ext
		idx, ok := rel.Files[indexPath]
		if !ok {
			return nil, fmt.Errorf("the %s Release lists no %s", cfg.suite, indexPath)
		}
		byHash := path.Dir(indexPath) + "/by-hash/SHA256/" + idx.SHA256
		remote := indexPath
		if rel.AcquireByHash {
			remote = byHash // stays the same file while the host's mirror updates
		}
		if err := cache.Fetch(ctx, []apt.Download{{Name: indexPath, URL: host.URLFor("dists/" + cfg.suite + "/" + remote), Size: idx.Size, SHA256: idx.SHA256}}, apt.FetchOptions{}); err != nil {
			return nil, fmt.Errorf("downloading the Packages index: %w", err)
		}
		// Both tools ask for by-hash when the Release offers it; serve both names.
		for _, p := range []string{indexPath, byHash} {
			if err := place(cache.Path(idx.SHA256), filepath.Join(dists, filepath.FromSlash(p))); err != nil {
				return nil, err
			}
		}
	}
	_, index, err := client.Packages(ctx, m.source, rel, "main", cfg.arch)
	if err != nil {
		return nil, fmt.Errorf("reading the mirrored Packages index: %w", err)
	}

	res, err := apt.NewUniverse(cfg.arch, index).Resolve(apt.Request{Packages: packages, Exclude: exclude})
	if err != nil {
		return nil, fmt.Errorf("resolving the spec's packages: %w", err)
	}
	m.ingot = res.Packages
	// apt decides its own set; ask it rather than predict it.
	m.apt, err = aptSelect(ctx, filepath.Join(cfg.work, "apt-select"), m, cfg.arch, packages, index)
	if err != nil {
		return nil, err
	}

	union := map[string]*apt.Package{}
	for _, p := range slices.Concat(m.ingot, m.apt) {
		union[p.SHA256] = p
	}
	var downloads []apt.Download
	for _, p := range union {
		if !filepath.IsLocal(filepath.FromSlash(p.Filename)) {
			return nil, fmt.Errorf("package %s has a Filename outside the archive: %q", p, p.Filename)
		}
		downloads = append(downloads, apt.Download{Name: p.String(), URL: host.URLFor(p.Filename), Size: p.Size, SHA256: p.SHA256})
	}
	fmt.Fprintf(log, "setup: %d packages for ingot, %d for apt, %d distinct .debs\n", len(m.ingot), len(m.apt), len(downloads))
	if err := cache.Fetch(ctx, downloads, apt.FetchOptions{}); err != nil {
		return nil, fmt.Errorf("downloading packages: %w", err)
	}
	for _, p := range union {
		if err := place(cache.Path(p.SHA256), filepath.Join(m.dir, filepath.FromSlash(p.Filename))); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// hostSource finds the host's apt source for suite with the main component.
func hostSource(suite string) (apt.Source, error) {
	sources, err := apt.HostSources()
	if err != nil {
		return apt.Source{}, fmt.Errorf("reading the host's apt sources: %w", err)
	}
	for _, s := range sources {
		s = s.WithDefaults()
		if s.Suite == suite && slices.Contains(s.Components, "main") {
			return s, nil
		}
	}
	return apt.Source{}, fmt.Errorf("the host's apt sources have no suite %s with component main", suite)
}

// fetchInRelease downloads the suite's InRelease as served; its signature is checked once it is stored.
func fetchInRelease(ctx context.Context, src apt.Source) ([]byte, error) {
	url := src.URLFor("dists/" + src.Suite + "/InRelease")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxInRelease+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	if len(data) > maxInRelease {
		return nil, fmt.Errorf("fetching %s: larger than %d bytes", url, maxInRelease)
	}
	return data, nil
}

// place puts the cache entry src at dst, hard-linked when it can be, replacing whatever dst was.
func place(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("placing %s: %w", dst, err)
	}
	tmp := dst + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("placing %s: %w", dst, err)
	}
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return fmt.Errorf("placing %s: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("placing %s: %w", dst, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return safefile.WriteFrom(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}
