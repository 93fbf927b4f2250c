package apt_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/apt"
)

// TestParsedIndexCache shows what the parsed-index cache is for and how it fails safe: a second lock
// reads no index at all and gets the same packages; a damaged entry is parsed again, never trusted;
// another index (another repository state) gets an entry of its own.
func TestParsedIndexCache(t *testing.T) {
	ctx := context.Background()
	parsed := &apt.ParsedCache{Dir: t.TempDir()}
	const index = "dists/stable/main/binary-amd64/Packages.gz"
	// lock reads the index of r as a lock does, with the parsed cache and no index cache, so that
	// every parse shows up as a request for the index.
	lock := func(r *testrepo.Repo) (apt.IndexFile, []string, []string) {
		t.Helper()
		c := &apt.Client{Parsed: parsed}
		rel, err := c.Release(ctx, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		before := len(r.Requests())
		idx, pkgs, err := c.Packages(ctx, r.Source, rel, "main", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		return idx, describeAll(pkgs), r.Requests()[before:]
	}

	a := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	idxA, first, reqs := lock(a)
	if !slices.Contains(reqs, index) {
		t.Fatalf("first lock requested %q, want the index", reqs)
	}
	if len(first) != 3 {
		t.Fatalf("first lock: %d packages, want 3", len(first))
	}
	if _, err := os.Stat(parsed.Path(idxA.SHA256)); err != nil {
		t.Fatalf("no parsed entry for the index: %v", err)
	}

	_, second, reqs := lock(a)
	if len(reqs) != 0 {
		t.Errorf("second lock requested %q, want nothing: the parsed form is cached", reqs)
	}
	if !slices.Equal(second, first) {
		t.Errorf("cached packages\n%q\ndiffer from those parsed\n%q", second, first)
	}

	// A damaged entry: every byte position of the body matters, so flip one in the middle.
	entry := parsed.Path(idxA.SHA256)
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct {
		name string
		data []byte
	}{
		{"bit flip", func() []byte { b := slices.Clone(data); b[len(b)-10] ^= 0x01; return b }()},
		{"truncated", data[:len(data)-1]},
		{"empty", nil},
	} {
		if err := os.WriteFile(entry, damage.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parsed.Load(idxA.SHA256); !errors.Is(err, apt.ErrParsedEntry) {
			t.Errorf("%s: Load err = %v, want ErrParsedEntry", damage.name, err)
		}
		if err := os.WriteFile(entry, damage.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, got, reqs := lock(a)
		if !slices.Equal(got, first) {
			t.Errorf("%s: lock over a damaged entry gave\n%q\nwant\n%q", damage.name, got, first)
		}
		if !slices.Contains(reqs, index) {
			t.Errorf("%s: requests %q, want the index parsed again", damage.name, reqs)
		}
		if _, err := parsed.Load(idxA.SHA256); err != nil {
			t.Errorf("%s: entry not repaired: %v", damage.name, err)
		}
	}

	// Another repository state: another index, another entry; the first is left as it was.
	other := samplePackages()
	other[1].Version = "1:2.0-1"
	other = append(other, debtest.Package{Name: "extra", Version: "3", Arch: "amd64", Depends: "hello (>= 1:2)"})
	b := testrepo.New(t, testrepo.Options{Packages: other})
	idxB, fromB, reqs := lock(b)
	if idxB.SHA256 == idxA.SHA256 {
		t.Fatal("the two repositories serve the same index")
	}
	if !slices.Contains(reqs, index) {
		t.Errorf("lock of another index requested %q, want that index", reqs)
	}
	if len(fromB) != 4 || slices.Equal(fromB[:3], first) {
		t.Errorf("packages of the other index: %q", fromB)
	}
	if parsed.Path(idxB.SHA256) == parsed.Path(idxA.SHA256) {
		t.Error("two indexes share a parsed entry")
	}
	for _, c := range []struct {
		idx  apt.IndexFile
		want []string
		repo *testrepo.Repo
	}{{idxA, first, a}, {idxB, fromB, b}} {
		pkgs, err := parsed.Load(c.idx.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			p.Repository = c.repo.Source.Name
		}
		if got := describeAll(pkgs); !slices.Equal(got, c.want) {
			t.Errorf("entry of %s holds\n%q\nwant\n%q", c.idx.SHA256, got, c.want)
		}
	}
}
