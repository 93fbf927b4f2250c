package apt_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/deb"
)

// TestPackages runs every case with Go's decoders and with the programs (igzip, xz).
func TestPackages(t *testing.T) { apt.Decoders(t, testPackages) }

func testPackages(t *testing.T) {
	const dir = "dists/stable/main/binary-amd64/"
	tests := []packagesCase{
		{
			name:     "gz preferred",
			wantPath: "main/binary-amd64/Packages.gz",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
			check: func(t *testing.T, r *testrepo.Repo) {
				if reqs := r.Requests(); !slices.Contains(reqs, dir+"Packages.gz") || slices.Contains(reqs, dir+"Packages.xz") {
					t.Errorf("requests = %q, want the .gz only", reqs)
				}
			},
		},
		{
			name:     "arch all listed for every arch",
			opt:      testrepo.Options{Archs: []string{"amd64", "arm64"}},
			arch:     "arm64",
			wantPath: "main/binary-arm64/Packages.gz",
			wantPkgs: []string{"hello-data_all", "libhello1_arm64"},
		},
		{
			name:     "xz when there is no gz",
			opt:      testrepo.Options{Compressions: []string{"xz"}},
			wantPath: "main/binary-amd64/Packages.xz",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
		},
		{
			name:     "uncompressed",
			opt:      testrepo.Options{Compressions: []string{"none"}},
			wantPath: "main/binary-amd64/Packages",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
		},
		{
			name:     "detached Release",
			opt:      testrepo.Options{Detached: true},
			wantPath: "main/binary-amd64/Packages.gz",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
		},
		{
			name:     "by-hash",
			opt:      testrepo.Options{ByHash: true},
			wantPath: "main/binary-amd64/Packages.gz",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
			check: func(t *testing.T, r *testrepo.Repo) {
				reqs := r.Requests()
				if slices.Contains(reqs, dir+"Packages.gz") || !slices.ContainsFunc(reqs, func(p string) bool { return strings.HasPrefix(p, dir+"by-hash/SHA256/") }) {
					t.Errorf("requests = %q, want the index by hash", reqs)
				}
			},
		},
		{
			name: "by-hash announced but not served",
			opt:  testrepo.Options{ByHash: true},
			setup: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				r.FailWith(dir+"by-hash/SHA256/"+rel.Files["main/binary-amd64/Packages.gz"].SHA256, http.StatusNotFound)
			},
			wantPath: "main/binary-amd64/Packages.gz",
			wantPkgs: []string{"hello-data_all", "hello_amd64", "libhello1_amd64"},
			check: func(t *testing.T, r *testrepo.Repo) {
				if !slices.Contains(r.Requests(), dir+"Packages.gz") {
					t.Errorf("requests = %q, want a fallback to the index by name", r.Requests())
				}
			},
		},
		{
			name:     "empty suite",
			opt:      testrepo.Options{Packages: []debtest.Package{}},
			wantPath: "main/binary-amd64/Packages.gz",
		},
		{
			name: "tampered index",
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.Tamper(t, dir+"Packages.gz", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			// Another index of exactly the signed size, which parses: only its hash tells it apart.
			name: "another index of the signed size",
			opt:  testrepo.Options{Compressions: []string{"none"}},
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.Tamper(t, dir+"Packages", func(b []byte) []byte {
					other := strings.Replace(string(b), "\nVersion: 1.0-1\n", "\nVersion: 9.9-9\n", 1)
					if other == string(b) {
						t.Fatal("no version to change in the index")
					}
					return []byte(other)
				})
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			// The served .gz is genuine, but the signed Release names another one: a mirror serving an
			// index of another Release than the one verified.
			name: "Release signs another hash for the .gz only",
			setup: func(_ *testing.T, _ *testrepo.Repo, rel *apt.Release) {
				f := rel.Files["main/binary-amd64/Packages.gz"]
				f.SHA256 = strings.Repeat("ab", 32)
				rel.Files[f.Path] = f
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			// It would name a cache file outside the cache.
			name: "sha256 that is not hex",
			setup: func(_ *testing.T, _ *testrepo.Repo, rel *apt.Release) {
				f := rel.Files["main/binary-amd64/Packages.gz"]
				f.SHA256 = "../../../../" + strings.Repeat("a", 52)
				rel.Files[f.Path] = f
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "by-hash index replaced",
			opt:  testrepo.Options{ByHash: true},
			setup: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				r.Tamper(t, dir+"by-hash/SHA256/"+rel.Files["main/binary-amd64/Packages.gz"].SHA256, func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "index longer than signed",
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.Tamper(t, dir+"Packages.gz", func(b []byte) []byte { return append(b, make([]byte, 1<<20)...) })
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "index shorter than signed",
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.Tamper(t, dir+"Packages.gz", func(b []byte) []byte { return b[:len(b)-1] })
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "listed but missing",
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.FailWith(dir+"Packages.gz", http.StatusNotFound)
			},
			wantErr: apt.ErrNotFound,
		},
		{
			name: "server error is not ErrNotFound",
			setup: func(t *testing.T, r *testrepo.Repo, _ *apt.Release) {
				r.FailWith(dir+"Packages.gz", http.StatusInternalServerError)
			},
			wantErr: &apt.StatusError{StatusCode: http.StatusInternalServerError},
		},
		{
			name:    "not listed",
			arch:    "riscv64",
			wantErr: apt.ErrNotFound,
		},
	}
	// Each case runs without caches, and with both caches, where the index is parsed as it is written
	// to the cache: a failure must leave no entry in either.
	for _, tt := range tests {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				tt.run(t, cached)
			})
		}
	}
}

type packagesCase struct {
	name     string
	opt      testrepo.Options
	arch     string                                                 // default amd64
	setup    func(t *testing.T, r *testrepo.Repo, rel *apt.Release) // after the Release was fetched
	wantPath string
	wantPkgs []string // name_arch, sorted
	wantErr  error
	check    func(t *testing.T, r *testrepo.Repo)
}

func (tt packagesCase) run(t *testing.T, cached bool) {
	if tt.opt.Packages == nil {
		tt.opt.Packages = samplePackages()
	}
	if tt.arch == "" {
		tt.arch = "amd64"
	}
	r := testrepo.New(t, tt.opt)
	c := &apt.Client{}
	cacheDir := t.TempDir()
	if cached {
		c.Cache = &apt.Cache{Dir: filepath.Join(cacheDir, "indexes")}
	}
	ctx := context.Background()
	rel, err := c.Release(ctx, r.Source)
	if err != nil {
		t.Fatal(err)
	}
	// Release keeps the verified InRelease by digest (what a VM build's mirror serves): what
	// Packages adds or leaves is counted apart from it.
	released := files(t, cacheDir)
	if tt.setup != nil {
		tt.setup(t, r, rel)
	}
	idx, pkgs, err := c.Packages(ctx, r.Source, rel, "main", tt.arch)
	var want *apt.StatusError
	if errors.As(tt.wantErr, &want) {
		var se *apt.StatusError
		if !errors.As(err, &se) || se.StatusCode != want.StatusCode || errors.Is(err, apt.ErrNotFound) {
			t.Fatalf("err = %v, want a %d StatusError that is not ErrNotFound", err, want.StatusCode)
		}
		return
	}
	if tt.wantErr != nil {
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("err = %v, want %v", err, tt.wantErr)
		}
		if left := files(t, cacheDir); len(left) > len(released) {
			t.Errorf("a failed Packages left %q in the caches (Release left %q)", left, released)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if cached {
		if left := files(t, cacheDir); len(left) != len(released)+1 {
			t.Errorf("caches hold %q, want the index", left)
		}
		// Read again from the cache: the same packages, and the same lazily.
		_, again, err := c.Packages(ctx, r.Source, rel, "main", tt.arch)
		if err != nil {
			t.Fatalf("reading the cached index: %v", err)
		}
		if got, want := describeAll(again), describeAll(pkgs); !slices.Equal(got, want) {
			t.Errorf("the cached index gives\n%q\nthe first read gave\n%q", got, want)
		}
		_, ix, err := c.Index(ctx, r.Source, rel, "main", tt.arch)
		if err != nil {
			t.Fatal(err)
		}
		lazily, err := ix.Packages()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := describeAll(lazily), describeAll(pkgs); !slices.Equal(got, want) {
			t.Errorf("Index gives\n%q\nPackages gave\n%q", got, want)
		}
	}
	if tt.wantPath != "" && (idx.Path != tt.wantPath || idx != rel.Files[tt.wantPath]) {
		t.Errorf("index = %+v, want the Release's %s: %+v", idx, tt.wantPath, rel.Files[tt.wantPath])
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"_"+p.Architecture)
		if p.Repository != r.Source.Name {
			t.Errorf("%s: Repository = %q, want %q", p.Name, p.Repository, r.Source.Name)
		}
		deb, ok := r.Debs[p.Filename]
		if !ok {
			t.Errorf("%s: Filename %s is not in the pool", p.Name, p.Filename)
		} else if p.Size != int64(len(deb)) || p.SHA256 != sha256hex(deb) {
			t.Errorf("%s: Size/SHA256 do not describe the .deb served", p.Name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, tt.wantPkgs) {
		t.Errorf("packages = %q, want %q", got, tt.wantPkgs)
	}
	if tt.check != nil {
		tt.check(t, r)
	}
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// describe spells out every field of a Package a lock or a resolution reads, relations included.
func describe(p *apt.Package) string {
	var rels []string
	for _, f := range []func() ([]deb.Alternatives, error){p.PreDepends, p.Depends, p.Provides, p.Conflicts, p.Breaks} {
		groups, err := f()
		rels = append(rels, fmt.Sprint(groups, err))
	}
	return fmt.Sprintf("%s %s %s src=%s %s prio=%s sec=%s ma=%s ess=%v %s %d %d %s repo=%s rel=%q",
		p.Name, p.Version, p.Architecture, p.Source, p.SourceVersion, p.Priority, p.Section, p.MultiArch,
		p.Essential, p.Filename, p.Size, p.InstalledSize, p.SHA256, p.Repository, rels)
}

func describeAll(pkgs []*apt.Package) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = describe(p)
	}
	return out
}

// TestPackagesIndexCache shows that a second run with the same cache fetches only the InRelease, and
// that a corrupt cache entry is replaced rather than trusted.
func TestPackagesIndexCache(t *testing.T) {
	r := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	cache := &apt.Cache{Dir: t.TempDir()}
	ctx := context.Background()
	lock := func() (apt.IndexFile, []*apt.Package) {
		t.Helper()
		c := &apt.Client{Cache: cache}
		rel, err := c.Release(ctx, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		idx, pkgs, err := c.Packages(ctx, r.Source, rel, "main", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		return idx, pkgs
	}

	idx, first := lock()
	if _, err := cache.ReadVerified(idx.SHA256); err != nil {
		t.Fatalf("index not cached: %v", err)
	}
	before := len(r.Requests())
	_, second := lock()
	if got := r.Requests()[before:]; !slices.Equal(got, []string{"dists/stable/InRelease"}) {
		t.Errorf("second run requested %q, want only the InRelease", got)
	}
	if len(second) != len(first) {
		t.Errorf("second run parsed %d packages, first %d", len(second), len(first))
	}

	if err := writeFile(cache.Path(idx.SHA256), []byte("corrupt")); err != nil {
		t.Fatal(err)
	}
	before = len(r.Requests())
	if _, third := lock(); len(third) != len(first) {
		t.Errorf("after corruption: %d packages, want %d", len(third), len(first))
	}
	if got := r.Requests()[before:]; !slices.Contains(got, "dists/stable/main/binary-amd64/Packages.gz") {
		t.Errorf("corrupt cache entry was not refetched: requests %q", got)
	}
	if _, err := cache.ReadVerified(idx.SHA256); err != nil {
		t.Errorf("cache entry not repaired: %v", err)
	}
}

// TestFileSource reads the same archive through a file:// URL, which the default client serves
// without any HTTP server.
func TestFileSource(t *testing.T) {
	r := testrepo.New(t, testrepo.Options{Packages: samplePackages(), Compressions: []string{"gz"}})
	src := r.Source
	src.URL, src.Name = "file://"+r.Dir, ""
	c := &apt.Client{}
	ctx := context.Background()
	rel, err := c.Release(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	idx, pkgs, err := c.Packages(ctx, src, rel, "main", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Path != "main/binary-amd64/Packages.gz" || len(pkgs) != 3 {
		t.Errorf("index %s with %d packages", idx.Path, len(pkgs))
	}
	if want := "file://" + r.Dir + " stable"; pkgs[0].Repository != want {
		t.Errorf("Repository = %q, want the default name %q", pkgs[0].Repository, want)
	}
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Errorf("the HTTP server was asked for %q", reqs)
	}
}

// TestPackagesSizeCap checks the archive-bomb guard: an index that decompresses beyond the cap is an
// error, not a truncated list.
func TestPackagesSizeCap(t *testing.T) { apt.Decoders(t, testPackagesSizeCap) }

func testPackagesSizeCap(t *testing.T) {
	r := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	ctx := context.Background()
	for _, tt := range []struct {
		limit   int64
		wantErr error
	}{
		{limit: 512, wantErr: apt.ErrTooLarge},
		{limit: 1 << 20},
	} {
		c := &apt.Client{MaxIndexSize: tt.limit}
		rel, err := c.Release(ctx, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Packages(ctx, r.Source, rel, "main", "amd64")
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("limit %d: err = %v, want %v", tt.limit, err, tt.wantErr)
		}
	}
}

// TestIndexTextCache: with a text cache, a second read of the same index state neither reads the
// index (from the network or the index cache) nor decompresses it, and gives the same packages; a
// damaged entry is a miss, read again and written anew; an index that does not match its signed
// hash leaves no entry. Through both decoders.
func TestIndexTextCache(t *testing.T) { apt.Decoders(t, testIndexTextCache) }

func testIndexTextCache(t *testing.T) {
	r := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	texts := &apt.TextCache{Dir: t.TempDir()}
	ctx := context.Background()
	c := &apt.Client{Texts: texts}
	rel, err := c.Release(ctx, r.Source)
	if err != nil {
		t.Fatal(err)
	}
	read := func() (apt.IndexFile, []string) {
		t.Helper()
		idx, ix, err := c.Index(ctx, r.Source, rel, "main", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := ix.Packages()
		if err != nil {
			t.Fatal(err)
		}
		return idx, describeAll(pkgs)
	}
	indexRequests := func(reqs []string) int {
		n := 0
		for _, q := range reqs {
			if strings.Contains(q, "binary-amd64/") {
				n++
			}
		}
		return n
	}

	idx, first := read()
	if _, err := texts.Load(idx.SHA256); err != nil {
		t.Fatalf("the index's text is not cached: %v", err)
	}
	before := len(r.Requests())
	if _, second := read(); !slices.Equal(second, first) {
		t.Errorf("from the text cache:\n%q\nread:\n%q", second, first)
	}
	if n := indexRequests(r.Requests()[before:]); n != 0 {
		t.Errorf("a second read requested the index %d times", n)
	}

	// Damage: a miss, read again, and the entry written anew.
	entry, err := os.ReadFile(texts.Path(idx.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	entry[len(entry)-2] ^= 0x01
	if err := writeFile(texts.Path(idx.SHA256), entry); err != nil {
		t.Fatal(err)
	}
	if err := texts.Check(texts.Path(idx.SHA256)); !errors.Is(err, apt.ErrTextEntry) {
		t.Errorf("Check of a damaged entry: %v", err)
	}
	before = len(r.Requests())
	if _, third := read(); !slices.Equal(third, first) {
		t.Errorf("after damage:\n%q\nwant:\n%q", third, first)
	}
	if n := indexRequests(r.Requests()[before:]); n == 0 {
		t.Error("a damaged entry was used, not read again")
	}
	if _, err := texts.Load(idx.SHA256); err != nil {
		t.Errorf("the damaged entry was not written anew: %v", err)
	}

	// An index that does not match its signed hash leaves no entry.
	bad := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	badTexts := &apt.TextCache{Dir: t.TempDir()}
	bc := &apt.Client{Texts: badTexts}
	brel, err := bc.Release(ctx, bad.Source)
	if err != nil {
		t.Fatal(err)
	}
	bad.Tamper(t, "dists/stable/main/binary-amd64/Packages.gz", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
	if _, _, err := bc.Index(ctx, bad.Source, brel, "main", "amd64"); !errors.Is(err, apt.ErrHashMismatch) {
		t.Fatalf("a tampered index: %v, want ErrHashMismatch", err)
	}
	if left := files(t, badTexts.Dir); len(left) != 0 {
		t.Errorf("a tampered index left %q in the text cache", left)
	}
}
