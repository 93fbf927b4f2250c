package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Store is a catalog in a SQL database.
type Store struct {
	db *sql.DB
	d  Dialect
	// writer holds the process's one write transaction when the dialect asks for it (LocalWriter).
	writer chan struct{}

	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	closeOnce sync.Once
	closeErr  error

	enc *zstd.Encoder
	dec *zstd.Decoder

	// cache serves the queries across versions (see queryCache).
	cache *queryCache
}

var (
	_ catalog.Catalog = (*Store)(nil)
	_ catalog.Batch   = (*Store)(nil)
)

// Open migrates the database to the schema of this binary and returns the catalog in it. The Store
// owns db from then on: Close closes it.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	if d.MaxParams <= 0 {
		d.MaxParams = 999
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	if d.IDList == "" {
		d.IDList = "group_concat(%s)"
	}
	s := &Store{db: db, d: d, stmts: map[string]*sql.Stmt{}, enc: enc, dec: dec, cache: newQueryCache()}
	if d.LocalWriter {
		s.writer = make(chan struct{}, 1)
	}
	if err := s.migrate(ctx); err != nil {
		s.dec.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the prepared statements and the database; closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		var errs []error
		for _, st := range s.stmts {
			errs = append(errs, st.Close())
		}
		s.stmts = map[string]*sql.Stmt{}
		s.mu.Unlock()
		s.dec.Close()
		errs = append(errs, s.db.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// DB is the connection pool, for a backend's own checks (tests, fsck).
func (s *Store) DB() *sql.DB { return s.db }

// unavailable marks a failure to reach the database (to begin or commit a transaction): the service
// the work depends on failed, not the request.
func (s *Store) unavailable(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fault.Errorf(fault.Unavailable, "catalog (%s): %s: %w", s.d.Name, what, err)
}

// write runs fn in a write transaction, serialised with every other writer of the database; fn's
// error rolls everything back.
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-s.writer }()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.unavailable("beginning a write", err)
	}
	defer func() { _ = tx.Rollback() }() // after a commit a no-op; else what fn did is undone
	q := querier{s: s, tx: tx}
	if s.d.WriteLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.WriteLock); err != nil {
			return s.unavailable("taking the write lock", err)
		}
	}
	if err := fn(q); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.unavailable("committing", err)
	}
	return nil
}

// read runs fn in a read transaction: several statements that see one state of the database.
func (s *Store) read(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.db.BeginTx(ctx, s.d.ReadTx)
	if err != nil {
		return s.unavailable("beginning a read", err)
	}
	defer func() { _ = tx.Rollback() }() // a read changes nothing
	return fn(querier{s: s, tx: tx})
}

// stmt returns the prepared statement of query, preparing it once per Store.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st := s.stmts[query]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, fmt.Errorf("catalog (%s): preparing %q: %w", s.d.Name, oneLine(query), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.stmts[query]; old != nil {
		_ = st.Close() // another goroutine prepared it first
		return old, nil
	}
	s.stmts[query] = st
	return st, nil
}

// querier runs statements in a transaction, or on the pool when tx is nil.
type querier struct {
	s  *Store
	tx *sql.Tx
}

func (q querier) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := q.s.stmt(ctx, query)
	if err != nil || q.tx == nil {
		return st, err
	}
	return q.tx.StmtContext(ctx, st), nil
}

func (q querier) fail(query string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("catalog (%s): %q: %w", q.s.d.Name, oneLine(query), err)
}

func (q querier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := q.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	r, err := st.ExecContext(ctx, args...)
	if err != nil {
		return nil, q.fail(query, err)
	}
	return r, nil
}

func (q querier) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := q.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, q.fail(query, err)
	}
	return rows, nil
}

// scan runs a query of one row into dest; sql.ErrNoRows when there is none.
func (q querier) scan(ctx context.Context, query string, args []any, dest ...any) error {
	st, err := q.prepared(ctx, query)
	if err != nil {
		return err
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return q.fail(query, err)
	}
	return err
}

// each runs a query and calls fn for every row.
func (q querier) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }() // read to the end or failed: nothing more to learn
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return q.fail(query, err)
	}
	return nil
}

// selectRows runs a query over a VALUES list of rows (head ends with "(VALUES ", tail starts with
// ")"), in batches that fit the dialect's parameter cap.
func (q querier) selectRows(ctx context.Context, head, tail string, rows [][]any, fn func(*sql.Rows) error) error {
	return q.insertRows(ctx, head, tail, rows, fn)
}

// insertRows inserts rows (each of the same number of values) with multi-row INSERTs that fit the
// dialect's parameter cap: head is "INSERT INTO t (a, b) VALUES ", tail what follows the values
// (" ON CONFLICT ... DO NOTHING", " RETURNING id"); fn, when not nil, reads the rows RETURNING gives.
// Full batches share one prepared statement.
func (q querier) insertRows(ctx context.Context, head, tail string, rows [][]any, fn func(*sql.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	per := max(1, min(q.s.d.MaxParams/width, 250))
	for len(rows) > 0 {
		n := min(per, len(rows))
		var b strings.Builder
		b.WriteString(head)
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
		args := make([]any, 0, n*width)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = append(args, rows[i]...)
		}
		b.WriteString(tail)
		query := b.String()
		if err := q.run(ctx, query, args, fn, n == per); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// run executes a statement, prepared and kept when keep says it will be run again, reading its rows
// with fn when fn is not nil.
func (q querier) run(ctx context.Context, query string, args []any, fn func(*sql.Rows) error, keep bool) error {
	if keep {
		if fn == nil {
			_, err := q.exec(ctx, query, args...)
			return err
		}
		return q.each(ctx, query, args, fn)
	}
	text := q.s.d.rebind(query)
	var c interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	} = q.s.db
	if q.tx != nil {
		c = q.tx
	}
	if fn == nil {
		if _, err := c.ExecContext(ctx, text, args...); err != nil {
			return q.fail(query, err)
		}
		return nil
	}
	rows, err := c.QueryContext(ctx, text, args...)
	if err != nil {
		return q.fail(query, err)
	}
	defer func() { _ = rows.Close() }() // read to the end or failed
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return q.fail(query, err)
	}
	return nil
}

// inList is "?, ?, ?" for n values.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func oneLine(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 120 {
		q = q[:120] + "…"
	}
	return q
}

// Times are stored as microseconds since the Unix epoch, UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is t in microseconds, or NULL for the zero time.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

// norm is t as the catalog keeps it: UTC, to the microsecond; now when t is zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}
