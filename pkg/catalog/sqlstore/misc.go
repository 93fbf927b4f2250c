package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// AddSpec implements catalog.Specs.
func (s *Store) AddSpec(ctx context.Context, rs catalog.RegisteredSpec) (catalog.RegisteredSpec, error) {
	if err := catalog.ValidName(rs.Name); err != nil {
		return rs, err
	}
	if len(rs.Spec) == 0 {
		return rs, fmt.Errorf("%w: spec %s has no bytes", catalog.ErrInvalid, rs.Name)
	}
	rs.Digest = catalog.SpecDigest(rs.Spec, rs.Files)
	rs.Added = norm(rs.Added)
	err := s.write(ctx, func(q querier) error {
		return q.scan(ctx, `INSERT INTO specs (name, spec, files, lock, digest, added) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, files = excluded.files, lock = excluded.lock,
			digest = excluded.digest, added = excluded.added RETURNING id`,
			[]any{rs.Name, rs.Spec, rs.Files, rs.Lock, rs.Digest, micros(rs.Added)}, &rs.ID)
	})
	return rs, err
}

const specCols = "id, name, spec, files, lock, digest, added"

func scanSpec(sc scanner) (catalog.RegisteredSpec, error) {
	var rs catalog.RegisteredSpec
	var added int64
	if err := sc.Scan(&rs.ID, &rs.Name, &rs.Spec, &rs.Files, &rs.Lock, &rs.Digest, &added); err != nil {
		return rs, err
	}
	rs.Files, rs.Lock, rs.Added = nonEmpty(rs.Files), nonEmpty(rs.Lock), fromMicros(added)
	return rs, nil
}

// Spec implements catalog.Specs.
func (s *Store) Spec(ctx context.Context, name string) (catalog.RegisteredSpec, error) {
	q := querier{s: s}
	st, err := q.prepared(ctx, "SELECT "+specCols+" FROM specs WHERE name = ?")
	if err != nil {
		return catalog.RegisteredSpec{}, err
	}
	rs, err := scanSpec(st.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return rs, fmt.Errorf("%w: no spec registered for %s", catalog.ErrNotFound, name)
	}
	if err != nil {
		return rs, q.fail("reading spec", err)
	}
	return rs, nil
}

// ListSpecs implements catalog.Specs.
func (s *Store) ListSpecs(ctx context.Context) ([]catalog.RegisteredSpec, error) {
	out := []catalog.RegisteredSpec{}
	err := querier{s: s}.each(ctx, "SELECT "+specCols+" FROM specs ORDER BY name", nil, func(r *sql.Rows) error {
		rs, err := scanSpec(r)
		out = append(out, rs)
		return err
	})
	return out, err
}

// RemoveSpec implements catalog.Specs.
func (s *Store) RemoveSpec(ctx context.Context, name string) error {
	return s.write(ctx, func(q querier) error {
		res, err := q.exec(ctx, "DELETE FROM specs WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%w: no spec registered for %s", catalog.ErrNotFound, name)
		}
		return nil
	})
}

// SeenUpstream implements catalog.Upstream. A sighting earlier than the one recorded (a clock set
// back, indexes read out of order) moves the first time back.
func (s *Store) SeenUpstream(ctx context.Context, at time.Time, pkgs []catalog.UpstreamPackage) error {
	at = norm(at)
	rows := make([][]any, 0, len(pkgs))
	seen := map[catalog.UpstreamPackage]bool{}
	for _, p := range pkgs {
		if p.Ecosystem == "" || p.Name == "" || p.Version == "" {
			return fmt.Errorf("%w: upstream package %q %q in %q: ecosystem, name and version are required", catalog.ErrInvalid, p.Name, p.Version, p.Ecosystem)
		}
		k := catalog.UpstreamPackage{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version}
		if seen[k] {
			continue // one statement may not touch a row twice
		}
		seen[k] = true
		rows = append(rows, []any{p.Ecosystem, p.Name, p.Version, p.Source, micros(at)})
	}
	return s.write(ctx, func(q querier) error {
		return q.insertRows(ctx, "INSERT INTO upstream_seen (ecosystem, name, version, source, first_seen) VALUES ",
			` ON CONFLICT (ecosystem, name, version) DO UPDATE SET first_seen = excluded.first_seen
			WHERE excluded.first_seen < upstream_seen.first_seen`, rows, nil)
	})
}

// FirstSeen implements catalog.Upstream.
func (s *Store) FirstSeen(ctx context.Context, p catalog.UpstreamPackage) (time.Time, bool, error) {
	var at int64
	err := querier{s: s}.scan(ctx, "SELECT first_seen FROM upstream_seen WHERE ecosystem = ? AND name = ? AND version = ?",
		[]any{p.Ecosystem, p.Name, p.Version}, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return fromMicros(at), true, nil
}

// CreateToken implements catalog.Tokens. Names are unique, revoked tokens' included (they stay for
// the record).
func (s *Store) CreateToken(ctx context.Context, t catalog.Token) (catalog.Token, error) {
	if err := catalog.ValidName(t.Name); err != nil {
		return t, err
	}
	if t.Scope != catalog.ScopeRead && t.Scope != catalog.ScopeWrite {
		return t, fmt.Errorf("%w: token scope %q (want %s or %s)", catalog.ErrInvalid, t.Scope, catalog.ScopeRead, catalog.ScopeWrite)
	}
	if strings.TrimSpace(t.Hash) == "" {
		return t, fmt.Errorf("%w: token %s has no hash", catalog.ErrInvalid, t.Name)
	}
	t.Created, t.Revoked = norm(t.Created), false
	err := s.write(ctx, func(q querier) error {
		var n int
		if err := q.scan(ctx, "SELECT COUNT(*) FROM tokens WHERE name = ? OR hash = ?", []any{t.Name, t.Hash}, &n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: a token named %s (or with that secret) exists", catalog.ErrInvalid, t.Name)
		}
		return q.scan(ctx, "INSERT INTO tokens (name, scope, hash, created, revoked) VALUES (?, ?, ?, ?, ?) RETURNING id",
			[]any{t.Name, t.Scope, t.Hash, micros(t.Created), false}, &t.ID)
	})
	return t, err
}

// TokenByHash implements catalog.Tokens.
func (s *Store) TokenByHash(ctx context.Context, hash string) (catalog.Token, error) {
	var t catalog.Token
	var created int64
	err := querier{s: s}.scan(ctx, "SELECT id, name, scope, hash, created FROM tokens WHERE hash = ? AND revoked = ?",
		[]any{hash, false}, &t.ID, &t.Name, &t.Scope, &t.Hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("%w: no such token", catalog.ErrNotFound)
	}
	t.Created = fromMicros(created)
	return t, err
}

// ListTokens implements catalog.Tokens.
func (s *Store) ListTokens(ctx context.Context) ([]catalog.Token, error) {
	out := []catalog.Token{}
	err := querier{s: s}.each(ctx, "SELECT id, name, scope, created, revoked FROM tokens ORDER BY name", nil, func(r *sql.Rows) error {
		var t catalog.Token
		var created int64
		if err := r.Scan(&t.ID, &t.Name, &t.Scope, &created, &t.Revoked); err != nil {
			return err
		}
		t.Created = fromMicros(created)
		out = append(out, t)
		return nil
	})
	return out, err
}

// RevokeToken implements catalog.Tokens.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	return s.write(ctx, func(q querier) error {
		res, err := q.exec(ctx, "UPDATE tokens SET revoked = ? WHERE name = ?", true, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("%w: no token named %s", catalog.ErrNotFound, name)
		}
		return nil
	})
}
