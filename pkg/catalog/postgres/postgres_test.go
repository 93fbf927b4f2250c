package postgres_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/catalogtest"
	"github.com/ingot-build/ingot/pkg/catalog/postgres"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/fault"
)

// TestPostgres starts one private cluster (initdb takes seconds) for every test of the package,
// each in a database of its own.
func TestPostgres(t *testing.T) {
	pg := regtest.StartPostgres(t)
	if pg == nil {
		return
	}
	open := func(t *testing.T, dsn string) *sqlstore.Store {
		t.Helper()
		c, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	t.Run("Catalog", func(t *testing.T) {
		catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
			c, err := postgres.Open(t.Context(), pg.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	// The same with every package's links kept in the cache, whatever their number (see
	// sqlstore.Store.CacheLinksFrom); and two pools so, as two servers have.
	t.Run("LinkCache", func(t *testing.T) {
		catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
			c, err := postgres.Open(t.Context(), pg.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			c.CacheLinksFrom(1)
			return c
		})
	})
	t.Run("LinkCacheTwoPools", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		a, b := open(t, dsn), open(t, dsn)
		a.CacheLinksFrom(1)
		b.CacheLinksFrom(1)
		catalogtest.CacheAcrossHandles(t, a, b)
	})
	// Two connection pools on one database, as two workers have.
	t.Run("TwoPools", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		catalogtest.Concurrent(t, open(t, dsn), open(t, dsn))
	})
	t.Run("CacheTwoPools", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		catalogtest.CacheAcrossHandles(t, open(t, dsn), open(t, dsn))
	})
	t.Run("HalfWay", func(t *testing.T) {
		c := open(t, pg.NewDatabase(t))
		catalogtest.HalfWay(t, c, func(t *testing.T) {
			if _, err := c.DB().ExecContext(t.Context(), `
				CREATE FUNCTION halfway() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'injected failure'; END $$;
				CREATE TRIGGER halfway BEFORE INSERT ON findings FOR EACH ROW EXECUTE FUNCTION halfway();`); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Migrations", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		_ = open(t, dsn).Close()
		c := open(t, dsn) // already migrated: nothing applied twice
		if v, err := c.SchemaVersion(t.Context()); err != nil || v != 3 {
			t.Fatalf("schema version %d %v, want 3", v, err)
		}
		// PostgreSQL's own client agrees on what was applied.
		if got := pg.Psql(t, dsn, "SELECT string_agg(name, ',' ORDER BY version) FROM schema_migrations"); got != "0001_catalog.sql,0002_interned.sql,0003_cloud_images.sql" {
			t.Errorf("schema_migrations holds %q", got)
		}
		pg.Psql(t, dsn, "INSERT INTO schema_migrations (version, name, applied) VALUES (4, '0004_future.sql', 0)")
		_ = c.Close()
		_, err := postgres.Open(t.Context(), dsn)
		if !errors.Is(err, sqlstore.ErrTooNew) || !strings.Contains(err.Error(), "version 4") {
			t.Fatalf("opening a newer database: %v, want ErrTooNew", err)
		}
	})
	// A catalog written by schema version 1 is migrated with its rows.
	t.Run("MigrateV1", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		v1, err := os.ReadFile("migrations/0001_catalog.sql")
		if err != nil {
			t.Fatal(err)
		}
		pg.Psql(t, dsn, "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL);"+
			string(v1)+"INSERT INTO schema_migrations VALUES (1, '0001_catalog.sql', 0);"+catalogtest.V1Rows("TRUE")+
			"SELECT setval('versions_id_seq', 1); SELECT setval('platforms_id_seq', 2); SELECT setval('packages_id_seq', 2);")
		c := open(t, dsn)
		catalogtest.CheckV1(t, c)
		if n := pg.Psql(t, dsn, "SELECT COUNT(*) FROM finding_details"); n != "1" {
			t.Errorf("%s finding details, want the one both findings share", n)
		}
	})
	t.Run("BadDSN", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://u:secret@[::1")
		if !errors.Is(err, fault.Invalid) || strings.Contains(err.Error(), "secret") {
			t.Errorf("a malformed DSN: %v, want an invalid-input error without the password", err)
		}
		_, err = postgres.Open(t.Context(), pg.DSN("no_such_database"))
		if !errors.Is(err, fault.Unavailable) {
			t.Errorf("a missing database: %v, want unavailable", err)
		}
	})
}
