package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// childEnv names the database a child process writes to (see TestChildWriter).
const childEnv = "INGOT_TEST_CATALOG_CHILD"

// churn begins, publishes, revokes and restores n versions of image: three events each.
func churn(t *testing.T, c catalog.Catalog, image string, n int) {
	ctx := t.Context()
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", image, i))
		d := "sha256:" + hex.EncodeToString(sum[:])
		v, _, err := c.Begin(ctx, &catalog.Version{Image: image, Line: "1.0", Digest: d,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, v.ID, catalog.Publication{Grace: time.Hour}); err != nil {
			t.Fatal(err)
		}
		for _, st := range []catalog.Status{catalog.StatusRevoked, catalog.StatusActive} {
			if _, err := c.SetStatus(ctx, catalog.Ref{Image: image, Version: v.Tag()}, catalog.StatusChange{Status: st, Reason: "churn"}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestChildWriter is the other process of TestTwoProcesses; alone it does nothing.
func TestChildWriter(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("run by TestTwoProcesses")
	}
	c := open(t, path)
	churn(t, c, "child", 40)
}

// Two processes write to one file at once: neither fails with SQLITE_BUSY, and the events of both
// are numbered 1..n without gaps.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	_ = open(t, path).Close() // migrated before the race, so both only write versions
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var out []byte
	var childErr error
	var wg sync.WaitGroup
	wg.Go(func() { out, childErr = cmd.CombinedOutput() })
	c := open(t, path)
	churn(t, c, "parent", 40)
	wg.Wait()
	if childErr != nil {
		t.Fatalf("child process: %v\n%s", childErr, out)
	}
	evs, err := c.Events(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2*40*3 {
		t.Fatalf("%d events, want %d", len(evs), 2*40*3)
	}
	images := map[string]int{}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: gaps or reordering", i, e.Seq)
		}
		images[e.Image]++
	}
	if images["child"] != 120 || images["parent"] != 120 {
		t.Errorf("events per process: %v", images)
	}
}

// The catalog file can live in a directory whose name needs escaping in a URI.
func TestOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data dir %41 #1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "catalog.db")
	c, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the catalog is not where asked: %v", err)
	}
}

// revokeEnv names the database and version a child process revokes (see TestChildRevoker).
const revokeEnv = "INGOT_TEST_CATALOG_REVOKE"

// TestChildRevoker is the other process of TestCacheOtherProcess; alone it does nothing.
func TestChildRevoker(t *testing.T) {
	path, ref, ok := strings.Cut(os.Getenv(revokeEnv), "|")
	if !ok {
		t.Skip("run by TestCacheOtherProcess")
	}
	r, err := catalog.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, path).SetStatus(t.Context(), r, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "from another process"}); err != nil {
		t.Fatal(err)
	}
}

// A version revoked by another process is revoked in the very next answer of this one, though
// this one's queries had it active a moment before.
func TestCacheOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c := open(t, path)
	ctx := t.Context()
	pkgs := []evidence.Package{{Name: "libssl3", Version: "3.0.11-1", Type: evidence.TypeDeb, Ecosystem: "Debian:12", Source: "openssl"}}
	sum := sha256.Sum256([]byte("other-process"))
	d := "sha256:" + hex.EncodeToString(sum[:])
	v, _, err := c.Begin(ctx, &catalog.Version{Image: "web", Line: "1.0", Digest: d, Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d,
		Evidence: &evidence.Set{Inventory: &evidence.Inventory{Packages: pkgs}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, v.ID, catalog.Publication{}); err != nil {
		t.Fatal(err)
	}
	status := func() catalog.Status {
		es, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3"})
		if err != nil || len(es) != 1 {
			t.Fatalf("exposures %v %v", es, err)
		}
		return es[0].Status
	}
	for range 3 { // warm
		if st := status(); st != catalog.StatusActive {
			t.Fatalf("before: %s", st)
		}
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildRevoker$", "-test.count=1")
	cmd.Env = append(os.Environ(), revokeEnv+"="+path+"|"+v.Ref())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if st := status(); st != catalog.StatusRevoked {
		t.Errorf("after another process revoked %s, the next query says %s", v.Ref(), st)
	}
}
