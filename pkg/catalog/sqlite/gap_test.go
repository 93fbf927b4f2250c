package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
)

// Migration numbers are reserved per line of work, so one numbered 3 can land before the 2 of
// another: a database migrated to 1 and 3 gets 2 when a binary that has it opens the database, and
// nothing is applied twice.
func TestMigrationGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gap.db")
	open := func(files fstest.MapFS) (*sqlstore.Store, error) {
		db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		d := sqlite.Dialect()
		d.Migrations = files
		return sqlstore.Open(t.Context(), db, d)
	}
	early := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"0003_c.sql": {Data: []byte("CREATE TABLE c (x INTEGER);")},
	}
	s, err := open(early)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	later := fstest.MapFS{
		"0001_a.sql": early["0001_a.sql"],
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER);")},
		"0003_c.sql": early["0003_c.sql"],
	}
	s, err = open(later)
	if err != nil {
		t.Fatalf("opening with the gap filled: %v", err)
	}
	defer func() { _ = s.Close() }()
	var names string
	if err := s.DB().QueryRowContext(t.Context(), "SELECT group_concat(name, ',') FROM (SELECT name FROM schema_migrations ORDER BY version)").Scan(&names); err != nil {
		t.Fatal(err)
	}
	if names != "0001_a.sql,0002_b.sql,0003_c.sql" {
		t.Errorf("applied %q, want all three once", names)
	}
	if _, err := s.DB().ExecContext(t.Context(), "INSERT INTO b (x) VALUES (1)"); err != nil {
		t.Errorf("table b of the late migration: %v", err)
	}
	dup := fstest.MapFS{"0001_a.sql": later["0001_a.sql"], "0001_other.sql": later["0002_b.sql"]}
	if _, err := open(dup); err == nil {
		t.Error("two migrations numbered 1 were accepted")
	}
}
