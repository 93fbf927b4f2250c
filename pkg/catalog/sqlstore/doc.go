// Package sqlstore is the one database/sql implementation of catalog.Catalog. The SQL is written once,
// with "?" placeholders; a small Dialect says what differs between backends (numbered placeholders,
// how writers are serialised, the migrations). catalog/sqlite and catalog/postgres only open a
// connection pool with the right settings and hand it here with their dialect.
//
// Every write is one transaction, serialised with every other writer of the database (SQLite's BEGIN
// IMMEDIATE, a PostgreSQL advisory lock), so serials and event sequence numbers are given out in commit
// order without gaps and a failed write changes nothing. Reads run in parallel.
package sqlstore
