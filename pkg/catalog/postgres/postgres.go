package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/fault"
)

//go:embed migrations/*.sql
var migrations embed.FS

// lockKey names the advisory lock every catalog writer holds ("ingotcat" in ASCII): other
// applications sharing the database do not take it.
const lockKey = 0x696e676f74636174

// Dialect is PostgreSQL's: numbered placeholders, writers serialised by an advisory lock held until
// the end of their transaction, reads in one snapshot.
func Dialect() sqlstore.Dialect {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory exists: a build without it does not compile
	}
	return sqlstore.Dialect{
		Name:        "postgres",
		Migrations:  sub,
		Numbered:    true,
		WriteLock:   fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(lockKey)),
		ReadTx:      &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		MaxParams:   65535,
		ExistsFence: " OFFSET 0",
		IDList:      "string_agg(%s::text, ',')",
	}
}

// IsDSN reports whether s names a PostgreSQL database (postgres:// or postgresql://).
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the catalog in the PostgreSQL database dsn (postgres://user@host:port/db?...)
// and migrates it.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The error repeats the DSN, password included: say only what is wrong with it.
		return nil, fault.Errorf(fault.Invalid, "catalog: the PostgreSQL connection string does not parse (want postgres://user@host:port/database)")
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fault.Errorf(fault.Unavailable, "catalog: connecting to PostgreSQL at %s: %w", where(cfg), err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect())
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("catalog at %s: %w", where(cfg), err)
	}
	return s, nil
}

// where names the server and database without the credentials.
func where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
