package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// versionCols are the columns of a version's summary, read by scanVersion.
const versionCols = `v.id, v.image, v.line, v.serial, v.kind, v.digest, v.spec_digest, v.lock_digest, v.state,
	v.status, v.status_reason, v.status_actor, v.status_at, v.reason, v.built, v.published, v.deprecate_at`

type scanner interface{ Scan(dest ...any) error }

// scanVersion reads versionCols, then extra.
func scanVersion(sc scanner, extra ...any) (*catalog.Version, error) {
	v := &catalog.Version{}
	var kind, state, status string
	var statusAt, built int64
	var published, deprecateAt sql.NullInt64
	dest := append([]any{&v.ID, &v.Image, &v.Line, &v.Serial, &kind, &v.Digest, &v.SpecDigest, &v.LockDigest, &state,
		&status, &v.Status.Reason, &v.Status.Actor, &statusAt, &v.Reason, &built, &published, &deprecateAt}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	v.Kind, v.State, v.Status.Status = catalog.Kind(kind), catalog.State(state), catalog.Status(status)
	v.Status.At, v.Built = fromMicros(statusAt), fromMicros(built)
	v.Published, v.DeprecateAt = fromNullMicros(published), fromNullMicros(deprecateAt)
	return v, nil
}

// load reads the versions ids, in that order: summaries with their platforms, locations and
// artifacts; with full, also the spec and lock bytes and each platform's evidence. A few queries
// whatever the number of versions.
func (s *Store) load(ctx context.Context, q querier, ids []int64, full bool) ([]*catalog.Version, error) {
	byID := make(map[int64]*catalog.Version, len(ids))
	query := "SELECT " + versionCols + " FROM versions v"
	if full {
		query = "SELECT " + versionCols + ", s.spec, s.lock FROM versions v LEFT JOIN version_sources s ON s.version_id = v.id"
	}
	err := s.inChunks(ids, func(chunk []any) error {
		return q.each(ctx, query+" WHERE v.id IN ("+inList(len(chunk))+")", chunk, func(r *sql.Rows) error {
			var spec, lock []byte
			var extra []any
			if full {
				extra = []any{&spec, &lock}
			}
			v, err := scanVersion(r, extra...)
			if err != nil {
				return err
			}
			v.Spec, v.Lock = nonEmpty(spec), nonEmpty(lock)
			byID[v.ID] = v
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.loadParts(ctx, q, byID, full); err != nil {
		return nil, err
	}
	out := make([]*catalog.Version, 0, len(ids))
	for _, id := range ids {
		if v := byID[id]; v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// loadParts fills in the platforms, locations and artifacts of the versions.
func (s *Store) loadParts(ctx context.Context, q querier, byID map[int64]*catalog.Version, full bool) error {
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	platforms := "SELECT p.version_id, p.os, p.arch, p.variant, p.digest, p.scanned FROM platforms p"
	if full {
		platforms = "SELECT p.version_id, p.os, p.arch, p.variant, p.digest, p.scanned, e.evidence FROM platforms p LEFT JOIN platform_evidence e ON e.platform_id = p.id"
	}
	return s.inChunks(ids, func(chunk []any) error {
		list := "(" + inList(len(chunk)) + ")"
		in := " WHERE version_id IN " + list + " ORDER BY id"
		err := q.each(ctx, platforms+" WHERE p.version_id IN "+list+" ORDER BY p.id", chunk, func(r *sql.Rows) error {
			var id int64
			var p catalog.Platform
			var ev []byte
			var scanned sql.NullInt64
			dest := []any{&id, &p.OS, &p.Arch, &p.Variant, &p.Digest, &scanned}
			if full {
				dest = append(dest, &ev)
			}
			if err := r.Scan(dest...); err != nil {
				return err
			}
			p.Scanned = fromNullMicros(scanned)
			if full && len(ev) > 0 {
				set, err := s.decodeEvidence(ev)
				if err != nil {
					return fmt.Errorf("evidence of %s: %w", p.Digest, err)
				}
				p.Evidence = set
			}
			byID[id].Platforms = append(byID[id].Platforms, p)
			return nil
		})
		if err != nil {
			return err
		}
		err = q.each(ctx, "SELECT version_id, kind, ref FROM locations"+in, chunk, func(r *sql.Rows) error {
			var id int64
			var l catalog.Location
			if err := r.Scan(&id, &l.Kind, &l.Ref); err != nil {
				return err
			}
			byID[id].Locations = append(byID[id].Locations, l)
			return nil
		})
		if err != nil {
			return err
		}
		return q.each(ctx, "SELECT version_id, kind, format, subject, key_id, predicate_type, ref FROM artifacts"+in, chunk, func(r *sql.Rows) error {
			var id int64
			var a catalog.Artifact
			if err := r.Scan(&id, &a.Kind, &a.Format, &a.Subject, &a.KeyID, &a.PredicateType, &a.Ref); err != nil {
				return err
			}
			byID[id].Artifacts = append(byID[id].Artifacts, a)
			return nil
		})
	})
}

// inChunks calls fn with the ids as query arguments, as many at a time as a statement may take.
func (s *Store) inChunks(ids []int64, fn func(chunk []any) error) error {
	per := max(1, s.d.MaxParams-8)
	for len(ids) > 0 {
		n := min(per, len(ids))
		chunk := make([]any, n)
		for i, id := range ids[:n] {
			chunk[i] = id
		}
		if err := fn(chunk); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// zstdMagic starts every zstd frame; evidence without it is plain JSON.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// encodeEvidence is the evidence as stored: zstd-compressed JSON (SBOMs compress tenfold).
func (s *Store) encodeEvidence(set *evidence.Set) ([]byte, error) {
	if set == nil {
		return nil, nil
	}
	// Documents keep their characters ("<" stays "<"); encoding/json compacts them, which changes no
	// value.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(set); err != nil {
		return nil, err
	}
	return s.enc.EncodeAll(buf.Bytes(), make([]byte, 0, buf.Len()/4)), nil
}

func (s *Store) decodeEvidence(b []byte) (*evidence.Set, error) {
	if bytes.HasPrefix(b, zstdMagic) {
		var err error
		if b, err = s.dec.DecodeAll(b, nil); err != nil {
			return nil, err
		}
	}
	set := &evidence.Set{}
	if err := json.Unmarshal(b, set); err != nil {
		return nil, err
	}
	return set, nil
}
