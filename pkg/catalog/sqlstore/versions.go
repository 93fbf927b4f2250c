package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// ActorIngot is the actor of changes ingot makes by itself (deprecation after a grace period).
const ActorIngot = "ingot"

// addPlaces records locations and artifacts, leaving out those already recorded.
func (s *Store) addPlaces(ctx context.Context, q querier, id int64, locs []catalog.Location, arts []catalog.Artifact) error {
	var rows [][]any
	for _, l := range locs {
		rows = append(rows, []any{id, l.Kind, l.Ref})
	}
	if err := q.insertRows(ctx, "INSERT INTO locations (version_id, kind, ref) VALUES ",
		" ON CONFLICT (version_id, kind, ref) DO NOTHING", rows, nil); err != nil {
		return err
	}
	rows = rows[:0]
	for _, a := range arts {
		rows = append(rows, []any{id, a.Kind, a.Format, a.Subject, a.KeyID, a.PredicateType, a.Ref})
	}
	return q.insertRows(ctx, "INSERT INTO artifacts (version_id, kind, format, subject, key_id, predicate_type, ref) VALUES ",
		" ON CONFLICT (version_id, kind, format, subject, predicate_type, ref) DO NOTHING", rows, nil)
}

// Publish implements catalog.Versions.
func (s *Store) Publish(ctx context.Context, id int64, p catalog.Publication) (catalog.Event, error) {
	if err := p.Validate(); err != nil {
		return catalog.Event{}, err
	}
	at := norm(p.At)
	var ev catalog.Event
	err := s.write(ctx, func(q querier) error {
		v, err := s.summary(ctx, q, id)
		if err != nil {
			return err
		}
		if err := s.addPlaces(ctx, q, id, p.Locations, p.Artifacts); err != nil {
			return err
		}
		if v.State == catalog.StatePublished {
			ev, err = s.publishedEvent(ctx, q, id)
			return err
		}
		if _, err := q.exec(ctx, "UPDATE versions SET state = ?, published = ?, status_at = ?, status_actor = ? WHERE id = ?",
			string(catalog.StatePublished), micros(at), micros(at), p.Actor, id); err != nil {
			return err
		}
		if _, err := q.exec(ctx, "UPDATE platforms SET state = ? WHERE version_id = ?", string(catalog.StatePublished), id); err != nil {
			return err
		}
		// Older active versions of the line are superseded: they stay active for the grace period.
		due := at.Add(max(p.Grace, 0))
		if _, err := q.exec(ctx, `UPDATE versions SET deprecate_at = ?
			WHERE image = ? AND line = ? AND serial < ? AND state = ? AND status = ? AND (deprecate_at IS NULL OR deprecate_at > ?)`,
			micros(due), v.Image, v.Line, v.Serial, string(catalog.StatePublished), string(catalog.StatusActive), micros(due)); err != nil {
			return err
		}
		// A newer version of the line published before this one (builds finishing out of order)
		// supersedes it in turn.
		var newer int
		if err := q.scan(ctx, "SELECT COUNT(*) FROM versions WHERE image = ? AND line = ? AND serial > ? AND state = ?",
			[]any{v.Image, v.Line, v.Serial, string(catalog.StatePublished)}, &newer); err != nil {
			return err
		}
		if newer > 0 {
			if _, err := q.exec(ctx, "UPDATE versions SET deprecate_at = ? WHERE id = ?", micros(due), id); err != nil {
				return err
			}
		}
		detail, err := json.Marshal(map[string]any{"reason": v.Reason, "locations": p.Locations})
		if err != nil {
			return err
		}
		ev = catalog.Event{Kind: catalog.EventPublished, VersionID: id, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
			Status: v.Status.Status, Reason: v.Reason, Actor: p.Actor, At: at, Detail: detail}
		if err := s.appendEvent(ctx, q, &ev); err != nil {
			return err
		}
		if p.Grace <= 0 {
			_, err := s.deprecateDue(ctx, q, at, v.Image, v.Line)
			return err
		}
		return nil
	})
	return ev, err
}

// publishedEvent is the event that published version id.
func (s *Store) publishedEvent(ctx context.Context, q querier, id int64) (catalog.Event, error) {
	evs, err := s.events(ctx, q, "WHERE version_id = ? AND kind = ? ORDER BY seq LIMIT 1", id, catalog.EventPublished)
	if err != nil {
		return catalog.Event{}, err
	}
	if len(evs) == 0 {
		return catalog.Event{}, fmt.Errorf("catalog (%s): version %d is published but has no published event", s.d.Name, id)
	}
	return evs[0], nil
}

// summary reads one version's row (any state); ErrNotFound when there is none.
func (s *Store) summary(ctx context.Context, q querier, id int64) (*catalog.Version, error) {
	st, err := q.prepared(ctx, "SELECT "+versionCols+" FROM versions v WHERE v.id = ?")
	if err != nil {
		return nil, err
	}
	v, err := scanVersion(st.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: version %d", catalog.ErrNotFound, id)
	}
	if err != nil {
		return nil, q.fail("reading version", err)
	}
	return v, nil
}

// Abandon implements catalog.Versions.
func (s *Store) Abandon(ctx context.Context, id int64) error {
	return s.write(ctx, func(q querier) error {
		v, err := s.summary(ctx, q, id)
		if err != nil {
			return err
		}
		if v.State != catalog.StatePending {
			return fmt.Errorf("%w: %s is published; published versions are never removed", catalog.ErrTransition, v.Ref())
		}
		_, err = q.exec(ctx, "DELETE FROM versions WHERE id = ?", id)
		return err
	})
}

// Pending implements catalog.Versions.
func (s *Store) Pending(ctx context.Context) ([]*catalog.Version, error) {
	var out []*catalog.Version
	err := s.read(ctx, func(q querier) error {
		var ids []int64
		err := q.each(ctx, "SELECT id FROM versions WHERE state = ? ORDER BY id", []any{string(catalog.StatePending)}, func(r *sql.Rows) error {
			var id int64
			ids = append(ids, id)
			return r.Scan(&ids[len(ids)-1])
		})
		if err != nil {
			return err
		}
		out, err = s.load(ctx, q, ids, true)
		return err
	})
	return out, err
}

// resolve finds the published version a reference names (see catalog.Ref). An image alone names
// its newest active version when image is allowed, else it is an error.
func (s *Store) resolve(ctx context.Context, q querier, r catalog.Ref, image bool) (int64, error) {
	if err := catalog.ValidName(r.Image); err != nil {
		return 0, err
	}
	pub, active := string(catalog.StatePublished), string(catalog.StatusActive)
	var id int64
	try := func(query string, args ...any) (bool, error) {
		err := q.scan(ctx, query, args, &id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	switch {
	case r.Version == "" && !image:
		return 0, fmt.Errorf("%w: %q names an image; name one of its versions (IMAGE@VERSION)", catalog.ErrInvalid, r.String())
	case r.IsDigest():
		if err := catalog.ValidDigest(r.Version); err != nil {
			return 0, err
		}
		if ok, err := try("SELECT id FROM versions WHERE image = ? AND digest = ? AND state = ?", r.Image, r.Version, pub); ok || err != nil {
			return id, err
		}
		if ok, err := try(`SELECT v.id FROM platforms p JOIN versions v ON v.id = p.version_id
			WHERE p.digest = ? AND v.image = ? AND v.state = ? ORDER BY v.id DESC LIMIT 1`, r.Version, r.Image, pub); ok || err != nil {
			return id, err
		}
	case r.Version == "" || r.Version == "latest":
		if ok, err := try(`SELECT id FROM versions WHERE image = ? AND state = ? AND status = ?
			ORDER BY published DESC, id DESC LIMIT 1`, r.Image, pub, active); ok || err != nil {
			return id, err
		}
		return 0, fmt.Errorf("%w: %s has no active version", catalog.ErrNotFound, r.Image)
	default:
		if line, serial, ok := catalog.ParseTag(r.Version); ok {
			if ok, err := try("SELECT id FROM versions WHERE image = ? AND line = ? AND serial = ? AND state = ?",
				r.Image, line, serial, pub); ok || err != nil {
				return id, err
			}
		}
		if ok, err := try(`SELECT id FROM versions WHERE image = ? AND line = ? AND state = ? AND status = ?
			ORDER BY serial DESC LIMIT 1`, r.Image, r.Version, pub, active); ok || err != nil {
			return id, err
		}
	}
	return 0, fmt.Errorf("%w: %s", catalog.ErrNotFound, r.String())
}

// Get implements catalog.Versions. Pending versions are not found; an image alone is its newest
// active version.
func (s *Store) Get(ctx context.Context, r catalog.Ref) (*catalog.Version, error) {
	var v *catalog.Version
	err := s.read(ctx, func(q querier) error {
		id, err := s.resolve(ctx, q, r, true)
		if err != nil {
			return err
		}
		vs, err := s.load(ctx, q, []int64{id}, true)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return fmt.Errorf("%w: %s", catalog.ErrNotFound, r.String())
		}
		v = vs[0]
		return nil
	})
	return v, err
}

// List implements catalog.Versions.
func (s *Store) List(ctx context.Context, o catalog.ListOptions) ([]*catalog.Version, error) {
	where, args, err := listFilter(o)
	if err != nil {
		return nil, err
	}
	query := "SELECT " + versionCols + " FROM versions v" + where + " ORDER BY v.id DESC"
	if o.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, o.Limit)
	}
	var out []*catalog.Version
	err = s.read(ctx, func(q querier) error {
		byID := map[int64]*catalog.Version{}
		err := q.each(ctx, query, args, func(r *sql.Rows) error {
			v, err := scanVersion(r)
			if err != nil {
				return err
			}
			out = append(out, v)
			byID[v.ID] = v
			return nil
		})
		if err != nil {
			return err
		}
		return s.loadParts(ctx, q, byID, false)
	})
	return out, err
}

// listFilter is the WHERE clause of List.
func listFilter(o catalog.ListOptions) (string, []any, error) {
	where := " WHERE 1 = 1"
	var args []any
	if o.Image != "" {
		where += " AND v.image = ?"
		args = append(args, o.Image)
	}
	if o.Line != "" {
		where += " AND v.line = ?"
		args = append(args, o.Line)
	}
	if o.Digest != "" {
		if err := catalog.ValidDigest(o.Digest); err != nil {
			return "", nil, err
		}
		where += " AND (v.digest = ? OR v.id IN (SELECT version_id FROM platforms WHERE digest = ?))"
		args = append(args, o.Digest, o.Digest)
	}
	if !o.Pending {
		where += " AND v.state = ?"
		args = append(args, string(catalog.StatePublished))
	}
	sw, sa, err := statusFilter("v", o.Statuses)
	if err != nil {
		return "", nil, err
	}
	return where + sw, append(args, sa...), nil
}

// statusFilter is " AND <table>.status IN (...)" for the statuses (nothing when there are none).
func statusFilter(table string, statuses []catalog.Status) (string, []any, error) {
	if len(statuses) == 0 {
		return "", nil, nil
	}
	var args []any
	for _, st := range statuses {
		if _, err := catalog.ParseStatus(string(st)); err != nil {
			return "", nil, err
		}
		args = append(args, string(st))
	}
	return " AND " + table + ".status IN (" + inList(len(args)) + ")", args, nil
}

// SetStatus implements catalog.Versions.
func (s *Store) SetStatus(ctx context.Context, r catalog.Ref, c catalog.StatusChange) (catalog.Event, error) {
	if err := c.Validate(); err != nil {
		return catalog.Event{}, err
	}
	c.At = norm(c.At)
	var ev catalog.Event
	err := s.write(ctx, func(q querier) error {
		id, err := s.resolve(ctx, q, r, false)
		if err != nil {
			return err
		}
		v, err := s.summary(ctx, q, id)
		if err != nil {
			return err
		}
		if err := catalog.Transition(v.Status.Status, c.Status); err != nil {
			return fmt.Errorf("%s: %w", v.Ref(), err)
		}
		ev, err = s.changeStatus(ctx, q, v, c)
		return err
	})
	return ev, err
}

// changeStatus records a status change (already allowed) and its event. Any change ends a pending
// deprecation: a restored version stays active until the next version of its line is published.
func (s *Store) changeStatus(ctx context.Context, q querier, v *catalog.Version, c catalog.StatusChange) (catalog.Event, error) {
	if _, err := q.exec(ctx, `UPDATE versions SET status = ?, status_reason = ?, status_actor = ?, status_at = ?, deprecate_at = NULL
		WHERE id = ?`, string(c.Status), c.Reason, c.Actor, micros(c.At), v.ID); err != nil {
		return catalog.Event{}, err
	}
	if _, err := q.exec(ctx, "UPDATE platforms SET status = ? WHERE version_id = ?", string(c.Status), v.ID); err != nil {
		return catalog.Event{}, err
	}
	ev := catalog.Event{Kind: catalog.EventStatus, VersionID: v.ID, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
		Status: c.Status, From: v.Status.Status, Reason: c.Reason, Actor: c.Actor, At: c.At, Detail: c.Detail}
	return ev, s.appendEvent(ctx, q, &ev)
}

// Flag implements catalog.Versions.
func (s *Store) Flag(ctx context.Context, r catalog.Ref, n catalog.Note) (catalog.Event, error) {
	if err := n.Validate(); err != nil {
		return catalog.Event{}, err
	}
	var ev catalog.Event
	err := s.write(ctx, func(q querier) error {
		id, err := s.resolve(ctx, q, r, false)
		if err != nil {
			return err
		}
		v, err := s.summary(ctx, q, id)
		if err != nil {
			return err
		}
		ev = catalog.Event{Kind: catalog.EventFlagged, VersionID: v.ID, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
			Status: v.Status.Status, Reason: n.Reason, Actor: n.Actor, At: norm(n.At), Detail: n.Detail}
		return s.appendEvent(ctx, q, &ev)
	})
	return ev, err
}

// DeprecateDue implements catalog.Versions.
func (s *Store) DeprecateDue(ctx context.Context, now time.Time) ([]catalog.Event, error) {
	now = norm(now)
	var evs []catalog.Event
	err := s.write(ctx, func(q querier) error {
		var err error
		evs, err = s.deprecateDue(ctx, q, now, "", "")
		return err
	})
	return evs, err
}

// deprecateDue deprecates the active versions whose grace period has ended at now (of one image
// and line, when given).
func (s *Store) deprecateDue(ctx context.Context, q querier, now time.Time, image, line string) ([]catalog.Event, error) {
	query := "SELECT " + versionCols + ` FROM versions v
		WHERE v.status = ? AND v.state = ? AND v.deprecate_at IS NOT NULL AND v.deprecate_at <= ?`
	args := []any{string(catalog.StatusActive), string(catalog.StatePublished), micros(now)}
	if image != "" {
		query += " AND v.image = ? AND v.line = ?"
		args = append(args, image, line)
	}
	var due []*catalog.Version
	if err := q.each(ctx, query+" ORDER BY v.id", args, func(r *sql.Rows) error {
		v, err := scanVersion(r)
		due = append(due, v)
		return err
	}); err != nil {
		return nil, err
	}
	var evs []catalog.Event
	for _, v := range due {
		var newest int
		if err := q.scan(ctx, "SELECT MAX(serial) FROM versions WHERE image = ? AND line = ? AND state = ?",
			[]any{v.Image, v.Line, string(catalog.StatePublished)}, &newest); err != nil {
			return nil, err
		}
		reason := "superseded by " + catalog.Tag(v.Line, newest) + ", its grace period is over"
		ev, err := s.changeStatus(ctx, q, v, catalog.StatusChange{Status: catalog.StatusDeprecated, Reason: reason, Actor: ActorIngot, At: now})
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

const eventCols = "seq, kind, version_id, image, tag, digest, status, from_status, reason, actor, at, detail"

// events reads the events a clause selects.
func (s *Store) events(ctx context.Context, q querier, clause string, args ...any) ([]catalog.Event, error) {
	out := []catalog.Event{}
	err := q.each(ctx, "SELECT "+eventCols+" FROM events "+clause, args, func(r *sql.Rows) error {
		var e catalog.Event
		var status, from string
		var at int64
		var detail sql.NullString
		if err := r.Scan(&e.Seq, &e.Kind, &e.VersionID, &e.Image, &e.Tag, &e.Digest, &status, &from, &e.Reason, &e.Actor, &at, &detail); err != nil {
			return err
		}
		e.Status, e.From, e.At = catalog.Status(status), catalog.Status(from), fromMicros(at)
		if detail.Valid && detail.String != "" {
			e.Detail = json.RawMessage(detail.String)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// appendEvent adds e to the history and sets its Seq: the next number after the newest, given out
// under the write lock, so that numbers follow commit order without gaps.
func (s *Store) appendEvent(ctx context.Context, q querier, e *catalog.Event) error {
	return s.appendEvents(ctx, q, []*catalog.Event{e})
}

// appendEvents adds es to the history in order, as appendEvent does each.
func (s *Store) appendEvents(ctx context.Context, q querier, es []*catalog.Event) error {
	if len(es) == 0 {
		return nil
	}
	var next int64
	if err := q.scan(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM events", nil, &next); err != nil {
		return err
	}
	rows := make([][]any, len(es))
	for i, e := range es {
		e.Seq = next + int64(i)
		var detail any
		if len(e.Detail) > 0 {
			detail = string(e.Detail)
		}
		rows[i] = []any{e.Seq, e.Kind, e.VersionID, e.Image, e.Tag, e.Digest, string(e.Status), string(e.From), e.Reason, e.Actor, micros(e.At), detail}
	}
	return q.insertRows(ctx, "INSERT INTO events ("+eventCols+") VALUES ", "", rows, nil)
}

// History implements catalog.Versions.
func (s *Store) History(ctx context.Context, r catalog.Ref) ([]catalog.Event, error) {
	var out []catalog.Event
	err := s.read(ctx, func(q querier) error {
		if r.Version == "" {
			if err := catalog.ValidName(r.Image); err != nil {
				return err
			}
			var one int
			err := q.scan(ctx, "SELECT 1 FROM versions WHERE image = ? AND state = ? LIMIT 1", []any{r.Image, string(catalog.StatePublished)}, &one)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: image %s", catalog.ErrNotFound, r.Image)
			}
			if err != nil {
				return err
			}
			out, err = s.events(ctx, q, "WHERE image = ? ORDER BY seq", r.Image)
			return err
		}
		id, err := s.resolve(ctx, q, r, false)
		if err != nil {
			return err
		}
		out, err = s.events(ctx, q, "WHERE version_id = ? ORDER BY seq", id)
		return err
	})
	return out, err
}

// Events implements catalog.Versions. A limit of 0 or less returns every event after after.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]catalog.Event, error) {
	if limit > 0 {
		return s.events(ctx, querier{s: s}, "WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	}
	return s.events(ctx, querier{s: s}, "WHERE seq > ? ORDER BY seq", after)
}
