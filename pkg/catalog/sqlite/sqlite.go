package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/fault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ingot_sha256(text) is the sha256 hex of its argument's bytes: migration 0002 interns finding
// details by it, as the store does in Go.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("ingot_sha256", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		var b []byte
		switch v := args[0].(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		case nil:
			return nil, nil
		default:
			return nil, fmt.Errorf("ingot_sha256 of a %T", v)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:]), nil
	})
}

// BusyTimeoutMS is how long a writer waits for another process's write transaction before failing.
const BusyTimeoutMS = 30_000

// Dialect is SQLite's: "?" placeholders, writers serialised by BEGIN IMMEDIATE (and, within one
// process, by a mutex, so they queue instead of polling).
func Dialect() sqlstore.Dialect {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory exists: a build without it does not compile
	}
	return sqlstore.Dialect{
		Name:        "sqlite",
		Migrations:  sub,
		LocalWriter: true,
		ReadTx:      &sql.TxOptions{ReadOnly: true},
		MaxParams:   32766,
		IDList:      "group_concat(%s)",
	}
}

// Open opens (creating it if needed) the catalog in the SQLite file at path and migrates it.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	if path == "" {
		return nil, fault.Errorf(fault.Invalid, "catalog: no SQLite file name")
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// 16 MiB of page cache per connection: the tables an exposure query walks (packages, versions,
	// platforms and the links between them) stay in memory at 10,000 versions.
	q.Add("_pragma", "cache_size(-16384)")
	q.Set("_txlock", "immediate")
	// A file: URI (SQLite decodes %XX in its path), so that no character of the path is read as the
	// start of the parameters.
	uriPath := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+uriPath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("catalog: opening %s: %w", path, err)
	}
	// Readers run in parallel (WAL); writers queue on the store's mutex, so a handful of connections
	// is plenty, and keeping them open keeps their prepared statements.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fault.Errorf(fault.Unavailable, "catalog: opening %s: %w", path, err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return s, nil
}

// ErrDamaged means a catalog file fails SQLite's own consistency check.
var ErrDamaged = fault.New(fault.Integrity, "catalog: the SQLite file is damaged")

// Check opens the catalog file read-only, without migrating it, and runs SQLite's quick_check:
// ErrDamaged when pages or indexes are inconsistent, sqlstore.ErrTooNew when a newer ingot wrote it,
// another error when it is not a catalog at all.
func Check(ctx context.Context, path string) error {
	uriPath := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+uriPath+"?mode=ro&_pragma=busy_timeout(30000)")
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // read-only: nothing to lose
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	}
	var problems []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			_ = rows.Close()
			return err
		}
		if msg != "ok" {
			problems = append(problems, msg)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrDamaged, strings.Join(problems, "; "))
	}
	var have int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return fmt.Errorf("not an ingot catalog: %w", err)
	}
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return err
	}
	newest := 0
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		if n, err := strconv.Atoi(num); err == nil && n > newest {
			newest = n
		}
	}
	if have > newest {
		return fmt.Errorf("%w: it is at version %d, this ingot knows %d", sqlstore.ErrTooNew, have, newest)
	}
	return nil
}
