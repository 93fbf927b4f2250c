package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/catalogtest"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
)

func TestCatalog(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// The same with every package's links kept in the cache, whatever their number (see
// sqlstore.Store.CacheLinksFrom).
func TestCatalogLinkCache(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		c.CacheLinksFrom(1)
		return c
	})
}

// Two pools that keep every package's links: what one records, the other answers.
func TestLinkCacheTwoPools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	a, b := open(t, path), open(t, path)
	a.CacheLinksFrom(1)
	b.CacheLinksFrom(1)
	catalogtest.CacheAcrossHandles(t, a, b)
}

func open(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	c, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Two connection pools on one file, as two processes have: writers wait for each other (no
// SQLITE_BUSY) and the events stay gap-free.
func TestTwoPools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	catalogtest.Concurrent(t, open(t, path), open(t, path))
}

// What one pool changes is in the next answer of the other, however warm its caches.
func TestCacheTwoPools(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	catalogtest.CacheAcrossHandles(t, open(t, path), open(t, path))
}

// A write that fails half-way (a trigger refuses its findings) leaves nothing behind.
func TestHalfWay(t *testing.T) {
	c := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	catalogtest.HalfWay(t, c, func(t *testing.T) {
		if _, err := c.DB().ExecContext(t.Context(), `CREATE TRIGGER halfway BEFORE INSERT ON findings
			BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
			t.Fatal(err)
		}
	})
}

// Opening migrates once; a database migrated by a newer ingot is refused.
func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	_ = open(t, path).Close()
	c := open(t, path) // already at this binary's version: nothing applied twice
	if v, err := c.SchemaVersion(t.Context()); err != nil || v != 3 {
		t.Fatalf("schema version %d %v, want 3", v, err)
	}
	if _, err := c.DB().ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name, applied) VALUES (4, '0004_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	_, err := sqlite.Open(t.Context(), path)
	if !errors.Is(err, sqlstore.ErrTooNew) || !strings.Contains(err.Error(), "version 4") {
		t.Fatalf("opening a newer database: %v, want ErrTooNew", err)
	}
}

// A catalog written by schema version 1 is migrated with its rows: layers and finding details
// interned, the answers unchanged.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile("migrations/0001_catalog.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)",
		string(v1),
		"INSERT INTO schema_migrations VALUES (1, '0001_catalog.sql', 0)",
		catalogtest.V1Rows("1"),
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	c := open(t, path)
	catalogtest.CheckV1(t, c)
	var n int
	if err := c.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM finding_details").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d finding details (%v), want the one both findings share", n, err)
	}
}
