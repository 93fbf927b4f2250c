package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrTooNew means the database was migrated by a newer ingot: this binary does not know its schema
// and refuses to touch it.
var ErrTooNew = fault.New(fault.Conflict, "catalog: the database's schema is newer than this ingot")

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the dialect's numbered files (0001_name.sql), in order.
func (s *Store) migrations() ([]migration, error) {
	entries, err := fs.ReadDir(s.d.Migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("catalog (%s): reading migrations: %w", s.d.Name, err)
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("catalog (%s): migration %s: want NNNN_name.sql", s.d.Name, e.Name())
		}
		data, err := fs.ReadFile(s.d.Migrations, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: n, name: e.Name(), sql: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		// Numbers are reserved per line of work (one may land 0003 before another's 0002), so they
		// only have to be distinct; migrate applies every one the database has not recorded.
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("catalog (%s): migrations %s and %s have the same number", s.d.Name, out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate brings the schema to this binary's newest version: every migration the database has not
// recorded (a gap left by a later-numbered one that landed first included), in one transaction
// (under the write lock, so two processes opening a new database do not both migrate it). A
// database already migrated further is refused.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	return s.write(ctx, func(q querier) error {
		if _, err := q.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)`); err != nil {
			return s.unavailable("creating schema_migrations", err)
		}
		var have int
		if err := q.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
			return s.unavailable("reading schema_migrations", err)
		}
		newest := 0
		if len(ms) > 0 {
			newest = ms[len(ms)-1].version
		}
		if have > newest {
			return fmt.Errorf("%w: it is at version %d, this ingot knows %d: use a newer ingot", ErrTooNew, have, newest)
		}
		applied := map[int]bool{}
		rows, err := q.tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return s.unavailable("reading schema_migrations", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				_ = rows.Close()
				return s.unavailable("reading schema_migrations", err)
			}
			applied[v] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return s.unavailable("reading schema_migrations", err)
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := q.tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("catalog (%s): migration %s: %w", s.d.Name, m.name, err)
			}
			if _, err := q.tx.ExecContext(ctx, s.d.rebind("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)"),
				m.version, m.name, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("catalog (%s): recording migration %s: %w", s.d.Name, m.name, err)
			}
		}
		return nil
	})
}

// SchemaVersion is the version the database's schema is at.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	if err != nil {
		return 0, s.unavailable("reading schema_migrations", err)
	}
	return v, nil
}
