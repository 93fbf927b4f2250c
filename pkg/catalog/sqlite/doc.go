// Package sqlite opens the catalog embedded in the data directory: one SQLite file, read and written
// by pure Go (modernc.org/sqlite, no cgo). The database runs in WAL mode, so readers never wait for
// the writer; writers begin IMMEDIATE and wait (busy_timeout) for each other instead of failing, also
// across processes sharing the file; foreign keys are enforced. The catalog itself is sqlstore's.
package sqlite
