package sqlstore

import (
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
)

// Dialect is what differs between the SQL backends.
type Dialect struct {
	// Name names the backend in errors ("sqlite", "postgres").
	Name string
	// Migrations holds the schema's numbered migrations, NNNN_name.sql at its root, applied in order.
	Migrations fs.FS
	// Numbered placeholders: PostgreSQL's $1, $2 instead of "?".
	Numbered bool
	// WriteLock runs first in every write transaction and holds until it ends, serialising writers
	// across processes (a PostgreSQL advisory lock); empty when beginning a write transaction already
	// does (SQLite's BEGIN IMMEDIATE).
	WriteLock string
	// LocalWriter serialises the writers of one process before they reach the database: SQLite makes
	// a waiting writer poll (busy_timeout), which costs latency that a mutex does not.
	LocalWriter bool
	// ReadTx are the options of a read transaction (several statements that must see one state).
	ReadTx *sql.TxOptions
	// MaxParams caps the parameters of one statement (batches are cut to fit).
	MaxParams int
	// ExistsFence ends an EXISTS subquery that must run once per outer row and stop at its first
	// match, where the planner would otherwise join everything first (PostgreSQL turns EXISTS into a
	// hash semi-join over every row; " OFFSET 0" keeps it a subplan).
	ExistsFence string
	// IDList is the aggregate that joins a column of integers into one text of comma-separated
	// decimals (a format with one %s, the column): SQLite's group_concat, PostgreSQL's string_agg.
	IDList string
}

// rebind turns "?" placeholders into the dialect's.
func (d *Dialect) rebind(q string) string {
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
