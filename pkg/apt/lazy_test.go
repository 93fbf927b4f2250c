package apt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/deb"
)

// testIndex is the Index of the test stanzas of text (see testParagraphs), of repository repo.
func testIndex(t testing.TB, repo, text string) *Index {
	t.Helper()
	var b bytes.Buffer
	for _, p := range testParagraphs(t, text) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := NewIndex(repo, b.Bytes())
	if err != nil {
		t.Fatalf("NewIndex: %v\n%s", err, b.Bytes())
	}
	return ix
}

// universes are the universe of text parsed whole (NewUniverse) and parsed as asked (NewIndexUniverse):
// every resolution test runs on both.
func universes(t testing.TB, arch, text string) map[string]*Universe {
	t.Helper()
	return map[string]*Universe{
		"parsed": NewUniverse(arch, testPackages(t, text)),
		"lazy":   NewIndexUniverse(arch, testIndex(t, "", text)),
	}
}

func fileIndex(t testing.TB, repo, path string) *Index {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndex(repo, text)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// TestIndexUniverseBookworm: over real Debian indexes, a universe that parses stanzas as they are asked
// for resolves every request as the one that parsed them all, down to each field of each package,
// and parses only a few of them.
func TestIndexUniverseBookworm(t *testing.T) {
	main, security := bookworm(t)
	mainIx := fileIndex(t, "bookworm", "testdata/resolve/bookworm-main.Packages")
	secIx := fileIndex(t, "bookworm-security", "testdata/resolve/bookworm-security.Packages")
	if mainIx.Len() != len(main) || secIx.Len() != len(security) {
		t.Fatalf("the indexes hold %d and %d stanzas, parsing finds %d and %d", mainIx.Len(), secIx.Len(), len(main), len(security))
	}
	render := func(res *Resolution, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		var out []string
		for _, p := range res.Packages {
			q := *p
			q.rel = nil // its parsed part depends on what was asked for; the fields as read do not
			var raw []string
			if p.rel != nil {
				raw = p.rel.raw[:]
			}
			out = append(out, fmt.Sprintf("%+v relations %q", q, raw))
		}
		return fmt.Sprintf("%s\n%+v\n%+v", strings.Join(out, "\n"), res.Excluded, res.Virtual)
	}
	for _, req := range []Request{
		{Packages: []string{"base-files", "ca-certificates", "tzdata", "libc6"}, Exclude: []string{"debconf", "debconf-2.0"}},
		{Packages: []string{"bash", "ca-certificates", "base-files", "tzdata", "gawk"}, Exclude: []string{"debconf-2.0"}},
		{Packages: []string{"tzdata"}},
		{Packages: []string{"libc"}},                // no such package: suggestions
		{Packages: []string{"awk", "libssl3=0.1"}},  // a virtual name; a version that is not there
		{Packages: []string{"libc6", "libc6=2.36"}}, // a pin that contradicts nothing, or does
	} {
		for _, arch := range []string{"amd64", "arm64"} {
			want := render(NewUniverse(arch, security, main).Resolve(req))
			lazy := NewIndexUniverse(arch, secIx, mainIx)
			if got := render(lazy.Resolve(req)); got != want {
				t.Errorf("%s %v:\nlazy   %s\nparsed %s", arch, req.Packages, got, want)
			}
		}
	}
	// The excerpt holds what these requests need; a request for tzdata alone parses only its name's
	// stanzas and debconf's.
	fresh := fileIndex(t, "bookworm", "testdata/resolve/bookworm-main.Packages")
	if _, err := NewIndexUniverse("amd64", fresh).Resolve(Request{Packages: []string{"tzdata"}}); err != nil {
		t.Fatal(err)
	}
	var parsed []string
	for i, p := range fresh.parsed {
		if p != nil {
			parsed = append(parsed, fresh.stanzas[i].name)
		}
	}
	if want := []string{"debconf", "tzdata"}; !slices.Equal(slices.Sorted(slices.Values(parsed)), want) {
		t.Errorf("resolving tzdata parsed %q, want %q", parsed, want)
	}
}

// TestIndexUniverseConcurrent: concurrent resolutions over shared indexes (run with -race).
func TestIndexUniverseConcurrent(t *testing.T) {
	mainIx := fileIndex(t, "bookworm", "testdata/resolve/bookworm-main.Packages")
	secIx := fileIndex(t, "bookworm-security", "testdata/resolve/bookworm-security.Packages")
	u := NewIndexUniverse("amd64", secIx, mainIx)
	other := NewIndexUniverse("amd64", secIx, mainIx)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			uu := u
			if i%2 == 1 {
				uu = other
			}
			res, err := uu.Resolve(Request{Packages: []string{"tzdata", "ca-certificates", "bash"}, Exclude: []string{"debconf", "debconf-2.0"}})
			if err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = strings.Join(names(res.Packages), " ")
		})
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatalf("concurrent resolutions differ:\n%s\n%s", r, results[0])
		}
	}
}

// TestIndexStanzaErrors: the scan refuses what Packages refuses of the index as a whole (a stanza
// without Package, a field line without ':', a continuation before any field); a stanza that does not
// parse is an error of the resolutions that ask for it, and of those only.
func TestIndexStanzaErrors(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"no Package", "Package: a\nVersion: 1\n\nVersion: 2\nArchitecture: all\n"},
		{"no colon", "Package: a\nVersion 1\n"},
		{"continuation first", " Package: a\n"},
	} {
		if _, err := NewIndex("", []byte(tc.text)); err == nil {
			t.Errorf("%s: NewIndex accepts\n%s", tc.name, tc.text)
		}
	}
	good := testIndex(t, "", "Package: app\nDepends: lib\n\nPackage: lib\n\nPackage: other\n")
	bad := append(slices.Clone(good.text), "\nPackage: broken\nVersion: not a version!\nArchitecture: amd64\n"...)
	ix, err := NewIndex("", bad)
	if err != nil {
		t.Fatal(err)
	}
	// One universe, the broken stanza asked for first and again: a resolution that does not need it
	// is not failed by an earlier one that did.
	u := NewIndexUniverse("amd64", ix)
	for run := range 2 {
		if _, err := u.Resolve(Request{Packages: []string{"broken"}}); !errors.Is(err, ErrInvalidPackage) {
			t.Errorf("run %d, a resolution that asks for it: %v, want ErrInvalidPackage", run, err)
		}
		if res, err := u.Resolve(Request{Packages: []string{"app"}}); err != nil || !slices.Equal(names(res.Packages), []string{"app=1.0", "lib=1.0"}) {
			t.Errorf("run %d, a resolution that does not need the broken stanza: %v", run, err)
		}
	}
	// Parsed gives every stanza that parses and an error for the one that does not; Packages fails.
	pkgs, errs := ix.Parsed()
	if got := names(pkgs); !slices.Equal(got, []string{"app=1.0", "lib=1.0", "other=1.0"}) || len(errs) != 1 || !errors.Is(errs[0], ErrInvalidPackage) || !strings.Contains(errs[0].Error(), `"broken"`) {
		t.Errorf("Parsed = %v, %v; want app, lib and other, and the broken stanza's error", got, errs)
	}
	if _, err := ix.Packages(); !errors.Is(err, ErrInvalidPackage) {
		t.Errorf("Packages with a broken stanza: %v, want ErrInvalidPackage", err)
	}
	// A broken provider fails the resolutions that ask for what it provides.
	prov := append(slices.Clone(good.text), "\nPackage: broken-awk\nVersion: not a version!\nArchitecture: amd64\nProvides: awk\n\nPackage: needs-awk\nVersion: 1\nArchitecture: amd64\nDepends: awk\nFilename: x.deb\nSize: 1\nSHA256: "+strings.Repeat("ab", 32)+"\n"...)
	pix, err := NewIndex("", prov)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIndexUniverse("amd64", pix).Resolve(Request{Packages: []string{"needs-awk"}}); !errors.Is(err, ErrInvalidPackage) {
		t.Errorf("a resolution that needs what a broken stanza provides: %v, want ErrInvalidPackage", err)
	}
}

// FuzzNewIndex: whatever the text, the scan does not panic, and when the whole text parses (as
// Packages parses it), the scan finds every stanza under its name and architecture, in order, and
// parses each as Packages does.
func FuzzNewIndex(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: amd64\nFilename: a.deb\nSize: 1\nSHA256: " + strings.Repeat("ab", 32) + "\nProvides: b (= 1), c\n\n\nPackage: d\n"))
	f.Add([]byte("# comment\nPackage: a\n \t\nPackage: b\r\nProvides: x,\n y\n"))
	if main, err := os.ReadFile("testdata/resolve/bookworm-security.Packages"); err == nil {
		f.Add(main[:min(len(main), 4096)])
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		ix, ierr := NewIndex("r", text)
		var paras []deb.Paragraph
		perr := deb.ReadParagraphs(bytes.NewReader(text), func(p deb.Paragraph) error {
			paras = append(paras, p)
			return nil
		})
		if perr != nil || ierr != nil {
			return // either may refuse what the other leaves to the stanza's parse
		}
		if ix.Len() != len(paras) {
			t.Fatalf("the scan finds %d stanzas, ReadParagraphs %d", ix.Len(), len(paras))
		}
		for i, para := range paras {
			want, werr := ParsePackage(para)
			got, gerr := ix.pkg(int32(i))
			switch {
			case werr != nil && gerr == nil:
				t.Fatalf("stanza %d parses lazily but not whole: %v", i, werr)
			case werr == nil && gerr != nil:
				t.Fatalf("stanza %d parses whole but not lazily: %v", i, gerr)
			case werr == nil:
				want.Repository = "r"
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("stanza %d:\nlazy  %+v\nwhole %+v", i, got, want)
				}
			}
			if s := ix.stanzas[i]; s.name != para.Get("Package") || s.arch != para.Get("Architecture") {
				t.Fatalf("stanza %d scanned as %s/%s", i, s.name, s.arch)
			}
		}
	})
}

// BenchmarkNewIndex scans a whole Packages file: INGOT_BENCH_PACKAGES names one (a suite's main
// index), else the excerpt in testdata.
func BenchmarkNewIndex(b *testing.B) {
	path := os.Getenv("INGOT_BENCH_PACKAGES")
	if path == "" {
		path = "testdata/resolve/bookworm-main.Packages"
	}
	text, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := NewIndex("r", text); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTextCachePrune: the text cache keeps the MaxTextEntries most recently used entries.
func TestTextCachePrune(t *testing.T) {
	c := &TextCache{Dir: t.TempDir()}
	sha := func(i int) string { return fmt.Sprintf("%064x", i) }
	old := time.Now().Add(-time.Hour)
	for i := range MaxTextEntries {
		if err := c.Save(sha(i), []byte(fmt.Sprintf("Package: p%d\n", i))); err != nil {
			t.Fatal(err)
		}
		// Entry i was last used i minutes after the hour began.
		at := old.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(c.Path(sha(i)), at, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Load(sha(0)); err != nil { // the oldest, used now
		t.Fatal(err)
	}
	for _, i := range []int{98, 99} {
		if err := c.Save(sha(i), []byte("Package: new\n")); err != nil {
			t.Fatal(err)
		}
	}
	es, err := os.ReadDir(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != MaxTextEntries {
		t.Errorf("%d entries kept, want %d", len(es), MaxTextEntries)
	}
	for _, gone := range []int{1, 2} {
		if _, err := c.Load(sha(gone)); err == nil {
			t.Errorf("entry %d, among the least recently used, was kept", gone)
		}
	}
	for _, kept := range []int{0, 3, MaxTextEntries - 1, 98, 99} {
		if _, err := c.Load(sha(kept)); err != nil {
			t.Errorf("entry %d was pruned: %v", kept, err)
		}
	}
}
