package store_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/store"
)

// deadPid is the pid of a process that has exited.
func deadPid(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(cmd.Process.Pid)
}

func TestSweepReachesEveryArea(t *testing.T) {
	st := store.Store{Root: t.TempDir()}
	pid := deadPid(t)
	h := v1.Hash{Algorithm: "sha256", Hex: "ab"}
	// Where killed runs of each writer leave their temporary files.
	leftovers := []string{
		filepath.Join(st.Indexes().Dir, "sha256", ".ab.tmp-"+pid+"-1"),
		filepath.Join(st.Packages().Dir, "sha256", ".fetch.tmp-"+pid+"-1"),
		filepath.Join(st.BuildCache(), ".key.tmp-"+pid+"-1"),
		filepath.Join(st.Inventories().Dir, ".x.json.tmp-"+pid+"-1"),
		filepath.Join(st.Signatures(), "sha256", ".sig.tmp-"+pid+"-1"),
		filepath.Join(st.Layouts().Dir("app"), "blobs", "sha256", ".blob.tmp-"+pid+"-1"),
		filepath.Join(st.Layouts().Dir("app"), ".index.json.tmp-"+pid+"-1"),
		filepath.Join(filepath.Dir(st.EvidenceDir("app", h)), ".evidence.tmp-"+pid+"-1", "sbom.spdx.json"),
		filepath.Join(st.VulnDB().Dir, ".import.tmp-"+pid+"-1"),
	}
	keep := []string{
		filepath.Join(st.Layouts().Dir("app"), "index.json"),
		filepath.Join(st.VulnDB().Dir, "Go.vdb"),
		filepath.Join(st.EvidenceDir("app", h), "sbom.spdx.json"),
	}
	for _, p := range append(append([]string{}, leftovers...), keep...) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := st.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(leftovers) {
		t.Errorf("removed %d entries, want %d: %v", len(removed), len(leftovers), removed)
	}
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: left behind", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestFindEvidence(t *testing.T) {
	st := store.Store{Root: t.TempDir()}
	h := v1.Hash{Algorithm: "sha256", Hex: "0123"}
	if _, err := st.FindEvidence(h); !errors.Is(err, store.ErrNoEvidence) {
		t.Fatalf("empty store: %v, want ErrNoEvidence", err)
	}
	dir := st.EvidenceDir("app", h)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := st.FindEvidence(h)
	if err != nil || got != dir {
		t.Fatalf("FindEvidence = %q, %v, want %q", got, err, dir)
	}
}

// The catalog's DSN picks the backend: the data directory's SQLite file by default.
func TestCatalogDSN(t *testing.T) {
	ctx := t.Context()
	st := store.Store{Root: filepath.Join(t.TempDir(), "data")}
	c, err := st.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := os.Stat(st.CatalogPath()); err != nil || filepath.Dir(st.CatalogPath()) != st.Root {
		t.Errorf("the default catalog is not %s: %v", st.CatalogPath(), err)
	}
	other := filepath.Join(t.TempDir(), "elsewhere.db")
	c, err = store.Store{Root: st.Root, CatalogDSN: "sqlite:" + other}.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if _, err := os.Stat(other); err != nil {
		t.Errorf("sqlite:PATH did not open %s: %v", other, err)
	}
	for _, dsn := range []string{"mysql://root:hunter2@db/ingot", "sqlite:", "hunter2"} {
		_, err := store.Store{Root: st.Root, CatalogDSN: dsn}.Catalog(ctx)
		if !errors.Is(err, store.ErrCatalogDSN) || fault.Of(err) != fault.Invalid || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("DSN %q: %v, want ErrCatalogDSN without the DSN in it", dsn, err)
		}
	}
	// Nothing listens on port 1: the database is unavailable, not the input wrong.
	_, err = store.Store{Root: st.Root, CatalogDSN: "postgres://ingot:hunter2@127.0.0.1:1/catalog?connect_timeout=2"}.Catalog(ctx)
	if fault.Of(err) != fault.Unavailable || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an unreachable PostgreSQL: %v, want unavailable without the password", err)
	}
}
