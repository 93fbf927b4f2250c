package apt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/apt"
)

// poolRepo publishes n small packages and returns the repository and a Download for each .deb.
func poolRepo(t *testing.T, n int) (*testrepo.Repo, []apt.Download) {
	t.Helper()
	var pkgs []debtest.Package
	for i := range n {
		pkgs = append(pkgs, debtest.Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1",
			Files: []debtest.File{{Path: fmt.Sprintf("usr/share/pkg%d/data", i), Body: bytes.Repeat([]byte{byte(i)}, 1000*(i+1))}}})
	}
	r := testrepo.New(t, testrepo.Options{Packages: pkgs})
	var items []apt.Download
	for _, name := range sortedKeys(r.Debs) {
		d := r.Debs[name]
		items = append(items, apt.Download{Name: filepath.Base(name), URL: r.Source.URLFor(name), Size: int64(len(d)), SHA256: sha256hex(d)})
	}
	return r, items
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// cacheFiles lists what is in the cache's sha256 directory, temporary files included.
func cacheFiles(t *testing.T, c *apt.Cache) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(c.Dir, "sha256"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	otherSHA := sha256hex([]byte("something else"))
	tests := []struct {
		name string
		// change alters the downloads; it returns the names that must fail.
		change  func(r *testrepo.Repo, items []apt.Download) []string
		wantErr error
		noReqs  bool // nothing may be requested
	}{
		{name: "all", change: func(*testrepo.Repo, []apt.Download) []string { return nil }},
		{
			name: "sha256 mismatch",
			change: func(_ *testrepo.Repo, items []apt.Download) []string {
				items[1].SHA256 = otherSHA
				return []string{items[1].Name}
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "body longer than the size",
			change: func(_ *testrepo.Repo, items []apt.Download) []string {
				items[2].Size -= 10
				return []string{items[2].Name}
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "body shorter than the size",
			change: func(_ *testrepo.Repo, items []apt.Download) []string {
				items[0].Size += 10
				return []string{items[0].Name}
			},
			wantErr: apt.ErrHashMismatch,
		},
		{
			name: "two missing",
			change: func(_ *testrepo.Repo, items []apt.Download) []string {
				items[0].URL += ".missing"
				items[3].URL += ".missing"
				return []string{items[0].Name, items[3].Name}
			},
			wantErr: apt.ErrNotFound,
		},
		{
			name: "server error",
			change: func(r *testrepo.Repo, items []apt.Download) []string {
				r.FailWith(strings.TrimPrefix(items[4].URL, r.URL+"/"), http.StatusServiceUnavailable)
				return []string{items[4].Name}
			},
		},
		{
			name: "invalid item fetches nothing",
			change: func(_ *testrepo.Repo, items []apt.Download) []string {
				items[5].SHA256 = "ABC"
				return []string{items[5].Name}
			},
			wantErr: apt.ErrHashMismatch,
			noReqs:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, items := poolRepo(t, 6)
			failing := tt.change(r, items)
			cache := &apt.Cache{Dir: t.TempDir()}
			var progress bytes.Buffer
			err := cache.Fetch(context.Background(), items, apt.FetchOptions{Parallel: 3, Progress: &progress})
			if len(failing) == 0 {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil {
					t.Fatal("Fetch succeeded")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				for _, name := range failing {
					if !strings.Contains(err.Error(), name) {
						t.Errorf("err = %v, want it to name %s", err, name)
					}
				}
			}
			if tt.noReqs {
				if reqs := r.Requests(); len(reqs) != 0 {
					t.Errorf("requested %q for an invalid list", reqs)
				}
				return
			}
			var want []string
			for _, it := range items {
				if slices.Contains(failing, it.Name) {
					if _, err := os.Stat(cache.Path(it.SHA256)); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("%s: failed item left an entry (%v)", it.Name, err)
					}
					continue
				}
				want = append(want, it.SHA256)
				got, err := cache.ReadVerified(it.SHA256)
				if err != nil {
					t.Errorf("%s: %v", it.Name, err)
				} else if !bytes.Equal(got, r.Debs[strings.TrimPrefix(it.URL, r.URL+"/")]) {
					t.Errorf("%s: cached bytes differ from the .deb served", it.Name)
				}
			}
			slices.Sort(want)
			if got := cacheFiles(t, cache); !slices.Equal(got, want) {
				t.Errorf("cache holds %q, want exactly %q (no temporary files)", got, want)
			}
			line := fmt.Sprintf("fetching %d/%d packages", len(items), len(items))
			if out := progress.String(); !strings.HasPrefix(out, "\r") || !strings.HasSuffix(out, "\n") || !strings.Contains(out, line) {
				t.Errorf("progress = %q, want \\r-refreshed lines ending in %q and a newline", out, line)
			}
		})
	}
}

// TestFetchCached shows that items already in the cache are not requested again, and that identical
// items are fetched once.
func TestFetchCached(t *testing.T) {
	r, items := poolRepo(t, 4)
	cache := &apt.Cache{Dir: t.TempDir()}
	ctx := context.Background()
	if err := cache.Fetch(ctx, append(items[:2:2], items[0]), apt.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests()); n != 2 {
		t.Errorf("%d requests for 2 distinct items", n)
	}
	before := len(r.Requests())
	if err := cache.Fetch(ctx, items, apt.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	got := r.Requests()[before:]
	slices.Sort(got)
	var want []string
	for _, it := range items[2:] {
		want = append(want, strings.TrimPrefix(it.URL, r.URL+"/"))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("second Fetch requested %q, want only the uncached %q", got, want)
	}
	before = len(r.Requests())
	if err := cache.Fetch(ctx, items, apt.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := r.Requests()[before:]; len(got) != 0 {
		t.Errorf("fully cached Fetch requested %q", got)
	}
}

func TestFetchFileURL(t *testing.T) {
	r, items := poolRepo(t, 2)
	for i := range items {
		items[i].URL = "file://" + filepath.ToSlash(filepath.Join(r.Dir, strings.TrimPrefix(items[i].URL, r.URL+"/")))
	}
	cache := &apt.Cache{Dir: t.TempDir()}
	if err := cache.Fetch(context.Background(), items, apt.FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := cache.ReadVerified(it.SHA256); err != nil {
			t.Errorf("%s: %v", it.Name, err)
		}
	}
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Errorf("file:// fetch went to the HTTP server: %q", reqs)
	}
}

// TestFetchParallel checks that downloads overlap, up to Parallel at a time and no more.
func TestFetchParallel(t *testing.T) {
	var inflight, peak atomic.Int32
	var mu sync.Mutex
	bodies := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		b := bodies[req.URL.Path]
		mu.Unlock()
		_, _ = w.Write(b) // the client checks what arrives against its SHA-256
	}))
	t.Cleanup(srv.Close)
	var items []apt.Download
	for i := range 12 {
		b := []byte(fmt.Sprintf("body %d", i))
		sum := sha256.Sum256(b)
		p := fmt.Sprintf("/f%d", i)
		bodies[p] = b
		items = append(items, apt.Download{Name: p, URL: srv.URL + p, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	cache := &apt.Cache{Dir: t.TempDir()}
	if err := cache.Fetch(context.Background(), items, apt.FetchOptions{Parallel: 3}); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p < 2 || p > 3 {
		t.Errorf("peak concurrency %d, want 2..3 with Parallel 3", p)
	}
}

func TestFetchCanceled(t *testing.T) {
	r, items := poolRepo(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cache := &apt.Cache{Dir: t.TempDir()}
	err := cache.Fetch(ctx, items, apt.FetchOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, it := range items {
		if !strings.Contains(err.Error(), it.Name) {
			t.Errorf("err = %v, want it to name %s", err, it.Name)
		}
	}
	if got := cacheFiles(t, cache); len(got) != 0 {
		t.Errorf("canceled Fetch left %q", got)
	}
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Errorf("canceled Fetch requested %q", reqs)
	}
}

func TestReadVerified(t *testing.T) {
	good := []byte("package bytes")
	sum := sha256hex(good)
	tests := []struct {
		name    string
		key     string
		content []byte // nil: no entry
		wantErr error
		removed bool
	}{
		{name: "good", key: sum, content: good},
		{name: "corrupt", key: sum, content: []byte("package bytez"), wantErr: apt.ErrHashMismatch, removed: true},
		{name: "missing", key: sum, wantErr: fs.ErrNotExist},
		{name: "not a hash", key: "../../etc/passwd", wantErr: apt.ErrHashMismatch},
		{name: "uppercase hash", key: strings.ToUpper(sum), wantErr: apt.ErrHashMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &apt.Cache{Dir: t.TempDir()}
			if tt.content != nil {
				if err := os.MkdirAll(filepath.Dir(c.Path(tt.key)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.Path(tt.key), tt.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.ReadVerified(tt.key)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || !bytes.Equal(got, good) {
				t.Fatalf("ReadVerified = %q, %v", got, err)
			}
			if _, err := os.Stat(c.Path(tt.key)); tt.removed && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("corrupt entry still there (%v)", err)
			}
		})
	}
}
