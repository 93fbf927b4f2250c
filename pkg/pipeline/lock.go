package pipeline

import (
	"context"
	"fmt"
	"maps"
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
	l, err := LockPackages(ctx, s, opt)
	if err != nil {
		return nil, err
	}
	if s.Base != "" {
		if l.Base, err = LockBase(ctx, s, opt); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Indexes are repositories' verified Releases and Packages indexes, fetched once and shared by the
// locks made with them (Options.Indexes): a rebuild cycle resolves every registered spec against
// one fetch of each repository. Safe for concurrent use; the zero value is ready.
type Indexes struct {
	mu    sync.Mutex
	repos map[string]*fetchedRepo
}

// fetchedRepo is one repository's Release and the Packages of the components and archs asked for.
type fetchedRepo struct {
	fetchOnce
	rel *apt.Release
	mu  sync.Mutex
	idx map[string]*fetchedIndex // by component/arch
}

type fetchedIndex struct {
	fetchOnce
	file  apt.IndexFile
	index *apt.Index
}

// fetchOnce runs a fetch once and keeps its result, unless it was cut short by its caller's context
// (another lock of the cycle failing): then the next caller fetches again.
type fetchOnce struct {
	mu   sync.Mutex
	done bool
	err  error
}

func (f *fetchOnce) do(ctx context.Context, fetch func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.err
	}
	err := fetch()
	if err != nil && ctx.Err() != nil {
		return err
	}
	f.done, f.err = true, err
	return err
}

// Repository is one repository as an Indexes fetched it: its verified Release and the Packages
// indexes read from it, for recording what was seen upstream.
type Repository struct {
	Source  apt.Source
	Release *apt.Release
	// Packages are every package of the indexes fetched, by index path. A stanza that does not parse
	// (a lock reads only the stanzas it needs, so it may not have failed one) is left out, and its
	// error is in Skipped.
	Packages map[string][]*apt.Package
	Skipped  []error
}

// Repositories lists what was fetched, in a stable order: what the locks made with ix saw.
func (ix *Indexes) Repositories() []Repository {
	ix.mu.Lock()
	keys := make([]string, 0, len(ix.repos))
	for k := range ix.repos {
		keys = append(keys, k)
	}
	ix.mu.Unlock()
	slices.Sort(keys)
	var out []Repository
	for _, k := range keys {
		ix.mu.Lock()
		r := ix.repos[k]
		ix.mu.Unlock()
		r.fetchOnce.mu.Lock()
		rel := r.rel
		r.fetchOnce.mu.Unlock()
		if rel == nil {
			continue
		}
		repo := Repository{Source: sourceOfKey(k), Release: rel, Packages: map[string][]*apt.Package{}}
		r.mu.Lock()
		idx := maps.Clone(r.idx)
		r.mu.Unlock()
		for _, f := range idx {
			f.mu.Lock()
			if f.done && f.err == nil {
				pkgs, errs := f.index.Parsed()
				repo.Packages[f.file.Path] = pkgs
				for _, err := range errs {
					repo.Skipped = append(repo.Skipped, fmt.Errorf("%s: %w", f.file.Path, err))
				}
			}
			f.mu.Unlock()
		}
		out = append(out, repo)
	}
	return out
}

// repoKey identifies a source: where, which suite, which keyrings (two specs naming the same
// repository with different keyrings verify it separately).
func repoKey(src apt.Source) string {
	kr := append([]string{src.Keyring}, src.Keyrings...)
	return strings.Join([]string{src.URL, src.Suite, src.Name, strings.Join(kr, "\x1f")}, "\x00")
}

func sourceOfKey(k string) apt.Source {
	parts := strings.SplitN(k, "\x00", 4)
	kr := strings.Split(parts[3], "\x1f")
	return apt.Source{URL: parts[0], Suite: parts[1], Name: parts[2], Keyring: kr[0], Keyrings: kr[1:]}
}

// release returns the source's verified Release, fetching it once.
func (ix *Indexes) release(ctx context.Context, c *apt.Client, src apt.Source) (*fetchedRepo, error) {
	ix.mu.Lock()
	if ix.repos == nil {
		ix.repos = map[string]*fetchedRepo{}
	}
	r := ix.repos[repoKey(src)]
	if r == nil {
		r = &fetchedRepo{idx: map[string]*fetchedIndex{}}
		ix.repos[repoKey(src)] = r
	}
	ix.mu.Unlock()
	err := r.do(ctx, func() (err error) {
		r.rel, err = c.Release(ctx, src)
		return err
	})
	return r, err
}

// packages returns one Packages index of the source, fetching it once.
func (r *fetchedRepo) packages(ctx context.Context, c *apt.Client, src apt.Source, comp, arch string) (apt.IndexFile, *apt.Index, error) {
	r.mu.Lock()
	f := r.idx[comp+"/"+arch]
	if f == nil {
		f = &fetchedIndex{}
		r.idx[comp+"/"+arch] = f
	}
	r.mu.Unlock()
	err := f.do(ctx, func() (err error) {
		f.file, f.index, err = c.Index(ctx, src, r.rel, comp, arch)
		return err
	})
	return f.file, f.index, err
}

// LockPackages is Lock without the base image: it resolves the packages of every arch against the
// repositories' verified indexes (those of opt.Indexes when set, fetched once for all the locks that
// share it). The lock's Base is nil.
func LockPackages(ctx context.Context, s *spec.Spec, opt Options) (*lock.Lock, error) {
	if err := Check(s, opt); err != nil {
		return nil, err
	}
	sources, err := Sources(s, opt)
	if err != nil {
		return nil, err
	}
	client := opt.client()
	ix := opt.Indexes
	if ix == nil {
		ix = &Indexes{}
	}

	type fetched struct {
		src   apt.Source
		repo  lock.Repository
		byArc map[string][]*apt.Index
	}
	results := make([]*fetched, len(sources))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, src := range sources {
		g.Go(func() error {
			r, err := ix.release(gctx, client, src)
			if err != nil {
				return fmt.Errorf("repository %s: %w", src.Name, err)
			}
			rel := r.rel
			f := &fetched{src: src, byArc: map[string][]*apt.Index{}, repo: lock.Repository{
				Name: src.Name, URL: src.URL, Suite: src.Suite, Components: src.Components,
				Codename: rel.Codename, Version: rel.Version, Release: rel.Digest, Signer: rel.Signer,
			}}
			if !rel.Date.IsZero() {
				f.repo.Date = rel.Date.UTC().Format("2006-01-02T15:04:05Z")
			}
			for _, arch := range s.Archs {
				for _, comp := range src.Components {
					idx, index, err := r.packages(gctx, client, src, comp, arch)
					if err != nil {
						return fmt.Errorf("repository %s: %w", src.Name, err)
					}
					mu.Lock()
					f.repo.Indexes = append(f.repo.Indexes, lock.Index{Path: idx.Path, Size: idx.Size, SHA256: idx.SHA256})
					f.byArc[arch] = append(f.byArc[arch], index)
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
		var sets []*apt.Index
		for _, f := range results {
			sets = append(sets, f.byArc[arch]...)
		}
		res, err := apt.NewIndexUniverse(arch, sets...).Resolve(apt.Request{Packages: s.Packages, Exclude: s.Exclude})
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
	return l, nil
}

// LockBase pins the spec's base image: its digest (what its tag names now, for a base given by tag),
// and for an index the digest of each arch's image.
func LockBase(ctx context.Context, s *spec.Spec, opt Options) (*lock.Base, error) {
	ref, err := name.ParseReference(s.Base)
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
