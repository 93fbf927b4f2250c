package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// Sources expands the spec's repositories into apt sources, reading the host's apt configuration for
// "host: true" entries.
func Sources(s *spec.Spec, opt Options) ([]apt.Source, error) {
	var out []apt.Source
	for i, r := range s.Repositories {
		if !r.Host {
			out = append(out, apt.Source{URL: r.URL, Suite: r.Suite, Components: r.Components, Keyring: resolvePath(s.Dir, r.Keyring)}.WithDefaults())
			continue
		}
		host, err := apt.HostSources(opt.AptSources...)
		if err != nil {
			return nil, fmt.Errorf("repositories[%d]: reading the host's apt sources: %w", i, err)
		}
		n := 0
		for _, h := range host {
			if len(r.Suites) == 0 || slices.Contains(r.Suites, h.Suite) {
				out = append(out, h.WithDefaults())
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("repositories[%d]: the host's apt sources have no suite %v", i, r.Suites)
		}
	}
	return out, nil
}

// resolvePath makes a keyring path relative to the spec absolute. Keyrings are not confined like the
// spec's local files: they are trust anchors the building machine provides (the host's
// /usr/share/keyrings), never copied into the image, and a wrong one only fails verification.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Lock resolves the spec: it fetches and verifies each repository's Release and Packages indexes,
// resolves the packages for every arch, and pins the base image digest. A spec that Check refuses is
// refused before anything is fetched.
func Lock(ctx context.Context, s *spec.Spec, opt Options) (*lock.Lock, error) {
	if err := Check(s, opt); err != nil {
		return nil, err
	}
	sources, err := Sources(s, opt)
	if err != nil {
		return nil, err
	}
	client := opt.client()

	type fetched struct {
		src   apt.Source
		repo  lock.Repository
		byArc map[string][]*apt.Package
	}
	results := make([]*fetched, len(sources))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, src := range sources {
		g.Go(func() error {
			rel, err := client.Release(gctx, src)
			if err != nil {
				return fmt.Errorf("repository %s: %w", src.Name, err)
			}
			f := &fetched{src: src, byArc: map[string][]*apt.Package{}, repo: lock.Repository{
				Name: src.Name, URL: src.URL, Suite: src.Suite, Components: src.Components,
				Codename: rel.Codename, Version: rel.Version, Release: rel.Digest, Signer: rel.Signer,
			}}
			if !rel.Date.IsZero() {
				f.repo.Date = rel.Date.UTC().Format("2006-01-02T15:04:05Z")
			}
			for _, arch := range s.Archs {
				for _, comp := range src.Components {
					idx, pkgs, err := client.Packages(gctx, src, rel, comp, arch)
					if err != nil {
						return fmt.Errorf("repository %s: %w", src.Name, err)
					}
					mu.Lock()
					f.repo.Indexes = append(f.repo.Indexes, lock.Index{Path: idx.Path, Size: idx.Size, SHA256: idx.SHA256})
					f.byArc[arch] = append(f.byArc[arch], pkgs...)
					mu.Unlock()
				}
			}
			slices.SortFunc(f.repo.Indexes, func(a, b lock.Index) int { return strings.Compare(a.Path, b.Path) })
			results[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	l := &lock.Lock{LockVersion: lock.Version, Inputs: lock.InputsOf(s), Archs: map[string]*lock.Contents{}}
	bySource := map[string]apt.Source{}
	for _, f := range results {
		l.Repositories = append(l.Repositories, f.repo)
		bySource[f.src.Name] = f.src
	}
	for _, arch := range s.Archs {
		var sets [][]*apt.Package
		for _, f := range results {
			sets = append(sets, f.byArc[arch])
		}
		res, err := apt.NewUniverse(arch, sets...).Resolve(apt.Request{Packages: s.Packages, Exclude: s.Exclude})
		if err != nil {
			return nil, fmt.Errorf("resolving packages for %s: %w", arch, err)
		}
		c := &lock.Contents{}
		for _, p := range res.Packages {
			c.Packages = append(c.Packages, lock.Package{
				Name: p.Name, Version: p.Version.String(), Architecture: p.Architecture,
				Source: p.Source, SourceVersion: p.SourceVersion.String(), Repository: p.Repository,
				Filename: p.Filename, URL: bySource[p.Repository].URLFor(p.Filename), Size: p.Size, SHA256: p.SHA256,
			})
		}
		for _, e := range res.Excluded {
			c.Excluded = append(c.Excluded, lock.Exclusion{Name: e.Name, RequiredBy: e.RequiredBy})
		}
		l.Archs[arch] = c
	}
	if s.Base != "" {
		if l.Base, err = lockBase(ctx, s, opt); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// lockBase pins the base image: its digest, and for an index the digest of each arch's image.
func lockBase(ctx context.Context, s *spec.Spec, opt Options) (*lock.Base, error) {
	ref, err := name.NewDigest(s.Base)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	desc, err := remote.Get(ref, append([]remote.Option{remote.WithContext(ctx)}, opt.Remote...)...)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", ref, err)
	}
	b := &lock.Base{Ref: s.Base, Digest: desc.Digest.String()}
	if !desc.MediaType.IsIndex() {
		if len(s.Archs) > 1 {
			return nil, fmt.Errorf("base %s is a single image but the spec builds %v", ref, s.Archs)
		}
		return b, nil
	}
	ii, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", ref, err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", ref, err)
	}
	b.Platforms = map[string]string{}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && slices.Contains(s.Archs, d.Platform.Architecture) {
			b.Platforms[d.Platform.Architecture] = d.Digest.String()
		}
	}
	for _, a := range s.Archs {
		if b.Platforms[a] == "" {
			return nil, fmt.Errorf("base %s has no linux/%s image", ref, a)
		}
	}
	return b, nil
}
