package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The large PostgreSQL catalog is the catalog loaded through the store, copied inside the database:
// loading 100,000 versions through BeginBatch and Publish takes over half an hour on the 2-core
// machine, and what is measured is the queries, not the load. Each copy k renames every image
// (IMAGE-ck) and gives every version and platform image a digest of its own (the sha256 of the old
// one and k), new ids above the loaded ones and the same packages, findings, evidence, locations,
// artifacts and events. The statements follow the schema of the migrations (pkg/catalog/postgres);
// TestCloneMatchesSchema checks that no table is left out.

// clonedTables are the tables cloneCopies copies; the others (packages, layers, finding details,
// specs, tokens, upstream_seen, vm and cloud tables, River's) are shared by every copy or empty.
var clonedTables = []string{"versions", "version_sources", "line_serials", "platforms", "platform_evidence",
	"platform_packages", "findings", "locations", "artifacts", "events"}

// sharedTables are the catalog's tables that the copies share or that the bench leaves empty.
var sharedTables = []string{"packages", "layers", "finding_details", "specs", "tokens", "upstream_seen",
	"vm_disks", "cloud_images", "schema_migrations"}

// cloneStatements are the statements of copy {k}, with {V} the highest version id, {P} the highest
// platform id and {E} the highest event number of the catalog as loaded: integers the bench computes,
// written into the text (a parameter would need a type in each place it is used).
var cloneStatements = []string{
	`INSERT INTO versions (id, image, line, serial, kind, digest, spec_digest, lock_digest, state, status,
		status_reason, status_actor, status_at, reason, built, published, deprecate_at)
	SELECT id + {k} * {V}, image || '-c' || {k}, line, serial, kind, ` + redigest("digest") + `, spec_digest, lock_digest,
		state, status, status_reason, status_actor, status_at, reason, built, published, deprecate_at
	FROM versions WHERE id <= {V}`,
	`INSERT INTO version_sources (version_id, spec, lock)
	SELECT version_id + {k} * {V}, spec, lock FROM version_sources WHERE version_id <= {V}`,
	`INSERT INTO line_serials (image, line, last)
	SELECT image || '-c' || {k}, line, last FROM line_serials WHERE image !~ '-c[0-9]+$'`,
	`INSERT INTO platforms (id, version_id, os, arch, variant, digest, image, tag, version_digest, state, status, scanned)
	SELECT id + {k} * {P}, version_id + {k} * {V}, os, arch, variant, ` + redigest("digest") + `, image || '-c' || {k}, tag,
		` + redigest("version_digest") + `, state, status, scanned
	FROM platforms WHERE id <= {P}`,
	`INSERT INTO platform_evidence (platform_id, evidence)
	SELECT platform_id + {k} * {P}, evidence FROM platform_evidence WHERE platform_id <= {P}`,
	`INSERT INTO platform_packages (package_id, platform_id, layer_id)
	SELECT package_id, platform_id + {k} * {P}, layer_id FROM platform_packages WHERE platform_id <= {P}`,
	`INSERT INTO findings (platform_id, vuln_id, pkg_name, pkg_version, severity, status, fixed_version, detail_id,
		first_seen, last_seen, open)
	SELECT platform_id + {k} * {P}, vuln_id, pkg_name, pkg_version, severity, status, fixed_version, detail_id,
		first_seen, last_seen, open
	FROM findings WHERE platform_id <= {P}`,
	`INSERT INTO locations (version_id, kind, ref)
	SELECT version_id + {k} * {V}, kind, ref || '-c' || {k} FROM locations WHERE version_id <= {V}`,
	`INSERT INTO artifacts (version_id, kind, format, subject, key_id, predicate_type, ref)
	SELECT version_id + {k} * {V}, kind, format, ` + redigest("subject") + `, key_id, predicate_type, ref || '-c' || {k}
	FROM artifacts WHERE version_id <= {V}`,
	`INSERT INTO events (seq, kind, version_id, image, tag, digest, status, from_status, reason, actor, at, detail)
	SELECT seq + {k} * {E}, kind, version_id + {k} * {V}, image || '-c' || {k}, tag, ` + redigest("digest") + `, status,
		from_status, reason, actor, at, detail
	FROM events WHERE seq <= {E}`,
}

// redigest is the SQL of a digest of copy {k}: "sha256:" and the sha256 hex of the column and the copy.
func redigest(col string) string {
	return "'sha256:' || encode(sha256(convert_to(" + col + " || ' ' || {k}, 'UTF8')), 'hex')"
}

// cloneCopies adds copies-1 copies of the catalog in db (PostgreSQL), each in its own transaction,
// so that it holds copies times the versions loaded; progress is told after each.
func cloneCopies(ctx context.Context, db *sql.DB, copies int, progress func(done int)) error {
	var maxVersion, maxPlatform, maxSeq int64
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(id), 0) FROM versions),
		(SELECT COALESCE(MAX(id), 0) FROM platforms), (SELECT COALESCE(MAX(seq), 0) FROM events)`).
		Scan(&maxVersion, &maxPlatform, &maxSeq); err != nil {
		return err
	}
	for k := 1; k < copies; k++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// The copies reference rows that exist (they are copies of rows that do): skip the foreign
		// key checks, a trigger per row, as a restore of a dump does. It needs a superuser, which
		// the bench's private cluster gives it.
		if _, err := tx.ExecContext(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			_ = tx.Rollback()
			return err
		}
		r := strings.NewReplacer("{k}", strconv.Itoa(k), "{V}", strconv.FormatInt(maxVersion, 10),
			"{P}", strconv.FormatInt(maxPlatform, 10), "{E}", strconv.FormatInt(maxSeq, 10))
		for _, st := range cloneStatements {
			if _, err := tx.ExecContext(ctx, r.Replace(st)); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("copy %d: %q: %w", k, strings.Join(strings.Fields(st)[:3], " "), err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		progress(k + 1)
	}
	for _, seq := range []string{"versions", "platforms"} {
		if _, err := db.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+seq+"', 'id'), (SELECT MAX(id) FROM "+seq+"))"); err != nil {
			return err
		}
	}
	// A catalog that grew to this size has been vacuumed by autovacuum many times; one bulk copy
	// has not, and without a visibility map every index-only scan reads the heap too.
	_, err := db.ExecContext(ctx, "VACUUM (ANALYZE)")
	return err
}
