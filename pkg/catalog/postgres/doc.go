// Package postgres opens the catalog in a PostgreSQL database, for teams whose workers and servers
// run on several machines: pgx (github.com/jackc/pgx/v5) through its database/sql driver, with the
// schema migrated at Open. Writers take a transaction-scoped advisory lock, so every process sees
// serials and event numbers given out in commit order; readers run in repeatable-read transactions
// and never wait. The catalog itself is sqlstore's.
package postgres
