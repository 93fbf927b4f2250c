package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// findingKey names a finding within one platform image: the advisory and the package it affects.
type findingKey struct{ id, pkg, version string }

func keyOfFinding(f evidence.Finding) findingKey {
	k := findingKey{id: f.ID}
	if f.Package != nil {
		k.pkg, k.version = f.Package.Name, f.Package.Version
	}
	return k
}

// String is how a ScanChange names the finding: "ID package version".
func (k findingKey) String() string {
	return strings.TrimSpace(strings.Join([]string{k.id, k.pkg, k.version}, " "))
}

// findingRow is a finding of a platform image to write, seen at at.
type findingRow struct {
	platformID int64
	key        findingKey
	f          evidence.Finding
	at         time.Time
	detail     string // the finding as JSON
}

// detailOf is the finding as stored (JSON) and the sha256 hex that interns it.
func detailOf(f evidence.Finding) (string, string, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:]), nil
}

// detailIDs interns the details of rows (each distinct one found or added once in finding_details)
// and returns the id of each row's detail, by digest.
func (s *Store) detailIDs(ctx context.Context, q querier, rows []findingRow) ([]int64, error) {
	digests := make([]string, len(rows))
	byDigest := map[string]string{}
	var keys []string
	for i := range rows {
		if rows[i].detail == "" {
			d, sum, err := detailOf(rows[i].f)
			if err != nil {
				return nil, err
			}
			rows[i].detail = d
			digests[i] = sum
		} else {
			sum := sha256.Sum256([]byte(rows[i].detail))
			digests[i] = hex.EncodeToString(sum[:])
		}
		if _, ok := byDigest[digests[i]]; !ok {
			byDigest[digests[i]] = rows[i].detail
			keys = append(keys, digests[i])
		}
	}
	ids, err := s.internIDs(ctx, q, "finding_details", keys, func(k string) any { return byDigest[k] })
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(rows))
	for i, d := range digests {
		out[i] = ids[d]
	}
	return out, nil
}

// insertFindings writes findings (first seen at their time), replacing those of the same platform,
// advisory and package.
func (s *Store) insertFindings(ctx context.Context, q querier, fs []findingRow) error {
	ids, err := s.detailIDs(ctx, q, fs)
	if err != nil {
		return err
	}
	rows := make([][]any, len(fs))
	for i, r := range fs {
		rows[i] = []any{r.platformID, r.key.id, r.key.pkg, r.key.version, int(r.f.Severity), r.f.Status, r.f.FixedVersion,
			ids[i], micros(r.at), micros(r.at), true}
	}
	return q.insertRows(ctx, `INSERT INTO findings (platform_id, vuln_id, pkg_name, pkg_version, severity, status,
		fixed_version, detail_id, first_seen, last_seen, open) VALUES `,
		` ON CONFLICT (platform_id, vuln_id, pkg_name, pkg_version) DO UPDATE SET severity = excluded.severity,
		status = excluded.status, fixed_version = excluded.fixed_version, detail_id = excluded.detail_id,
		last_seen = excluded.last_seen, open = excluded.open`, rows, nil)
}

// writeFindings makes findings the open findings of a platform image as of at: new ones are added
// (first seen at), those still there are seen again (their FirstSeen kept), those gone are closed (their
// LastSeen kept). What counts against the image (evidence.Finding.Counts) and did not before is
// introduced; what counted and no longer does, fixed.
func (s *Store) writeFindings(ctx context.Context, q querier, platformID int64, fs []evidence.Finding, at time.Time) (catalog.ScanChange, error) {
	type old struct {
		id           int64
		open, counts bool
		severity     int
		status       string
		fixed        string
		digest       string
	}
	existing := map[findingKey]old{}
	err := q.each(ctx, `SELECT f.id, f.vuln_id, f.pkg_name, f.pkg_version, f.open, f.severity, f.status, f.fixed_version, d.digest
		FROM findings f JOIN finding_details d ON d.id = f.detail_id WHERE f.platform_id = ?`,
		[]any{platformID}, func(r *sql.Rows) error {
			var o old
			var k findingKey
			if err := r.Scan(&o.id, &k.id, &k.pkg, &k.version, &o.open, &o.severity, &o.status, &o.fixed, &o.digest); err != nil {
				return err
			}
			o.counts = evidence.Finding{Status: o.status}.Counts()
			existing[k] = o
			return nil
		})
	if err != nil {
		return catalog.ScanChange{}, err
	}
	var change catalog.ScanChange
	var upserts []findingRow
	var seenAgain, closed []int64
	seen := map[findingKey]bool{}
	for _, f := range fs {
		k := keyOfFinding(f)
		if seen[k] {
			continue // the same advisory matched twice for one package
		}
		seen[k] = true
		o, had := existing[k]
		countedBefore := had && o.open && o.counts
		if f.Counts() && !countedBefore {
			change.Introduced = append(change.Introduced, k.String())
		}
		if !f.Counts() && countedBefore {
			change.Fixed = append(change.Fixed, k.String())
		}
		// An open finding that counts as it did, at the same severity and fixed version, is seen
		// again and keeps its recorded detail: encoding every finding of a re-scan of the whole
		// catalog to compare it costs more than the re-scan's matching, and what a re-scan decides
		// on is in these columns. A finding that does not count is compared whole (its VEX reason).
		if had && o.open && f.Counts() && o.counts && o.status == f.Status && o.severity == int(f.Severity) && o.fixed == f.FixedVersion {
			seenAgain = append(seenAgain, o.id)
			continue
		}
		detail, digest, err := detailOf(f)
		if err != nil {
			return catalog.ScanChange{}, err
		}
		if had && o.open && o.digest == digest {
			seenAgain = append(seenAgain, o.id)
			continue
		}
		upserts = append(upserts, findingRow{platformID: platformID, key: k, f: f, at: at, detail: detail})
	}
	for k, o := range existing {
		if o.open && !seen[k] {
			closed = append(closed, o.id)
			if o.counts {
				change.Fixed = append(change.Fixed, k.String())
			}
		}
	}
	if err := s.insertFindings(ctx, q, upserts); err != nil {
		return catalog.ScanChange{}, err
	}
	if err := s.updateIDs(ctx, q, "UPDATE findings SET last_seen = ? WHERE id IN ", []any{micros(at)}, seenAgain); err != nil {
		return catalog.ScanChange{}, err
	}
	if err := s.updateIDs(ctx, q, "UPDATE findings SET open = ? WHERE id IN ", []any{false}, closed); err != nil {
		return catalog.ScanChange{}, err
	}
	sort.Strings(change.Introduced)
	sort.Strings(change.Fixed)
	return change, nil
}

// updateIDs runs "UPDATE ... WHERE id IN " with args, then the ids, as many at a time as fit.
func (s *Store) updateIDs(ctx context.Context, q querier, head string, args []any, ids []int64) error {
	return s.inChunks(ids, func(chunk []any) error {
		query := head + "(" + inList(len(chunk)) + ")"
		return q.run(ctx, query, append(append([]any{}, args...), chunk...), nil, false)
	})
}

// RecordScan implements catalog.Findings.
func (s *Store) RecordScan(ctx context.Context, sc catalog.Scan) (catalog.ScanChange, error) {
	if err := catalog.ValidDigest(sc.Platform); err != nil {
		return catalog.ScanChange{}, err
	}
	var change catalog.ScanChange
	err := s.write(ctx, func(q querier) error {
		var err error
		change, err = s.recordScan(ctx, q, sc)
		return err
	})
	return change, err
}

// RecordScans implements catalog.Batch.
func (s *Store) RecordScans(ctx context.Context, scans []catalog.Scan) ([]catalog.ScanChange, error) {
	for i, sc := range scans {
		if err := catalog.ValidDigest(sc.Platform); err != nil {
			return nil, fmt.Errorf("scan %d of the batch: %w", i+1, err)
		}
	}
	changes := make([]catalog.ScanChange, len(scans))
	if len(scans) == 0 {
		return changes, nil
	}
	err := s.write(ctx, func(q querier) error {
		for i, sc := range scans {
			var err error
			if changes[i], err = s.recordScan(ctx, q, sc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// recordScan records one scan in q's write transaction.
func (s *Store) recordScan(ctx context.Context, q querier, sc catalog.Scan) (catalog.ScanChange, error) {
	at := norm(sc.At)
	v, err := s.summary(ctx, q, sc.VersionID)
	if err != nil {
		return catalog.ScanChange{}, err
	}
	var pid int64
	err = q.scan(ctx, "SELECT id FROM platforms WHERE version_id = ? AND digest = ?", []any{v.ID, sc.Platform}, &pid)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.ScanChange{}, fmt.Errorf("%w: %s has no platform image %s", catalog.ErrNotFound, v.Ref(), sc.Platform)
	}
	if err != nil {
		return catalog.ScanChange{}, err
	}
	change, err := s.writeFindings(ctx, q, pid, sc.Findings, at)
	if err != nil {
		return catalog.ScanChange{}, err
	}
	// The last scan moves forward only: a late report of an older scan does not make a version
	// look staler than it is.
	if _, err := q.exec(ctx, "UPDATE platforms SET scanned = ? WHERE id = ? AND (scanned IS NULL OR scanned < ?)",
		micros(at), pid, micros(at)); err != nil {
		return catalog.ScanChange{}, err
	}
	if !change.Changed() {
		return change, nil
	}
	detail, err := json.Marshal(struct {
		Platform string `json:"platform"`
		Data     string `json:"data,omitempty"`
		catalog.ScanChange
	}{sc.Platform, sc.Data, change})
	if err != nil {
		return catalog.ScanChange{}, err
	}
	ev := catalog.Event{Kind: catalog.EventRescanned, VersionID: v.ID, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
		Status: v.Status.Status, Reason: fmt.Sprintf("re-scan: %d introduced, %d fixed", len(change.Introduced), len(change.Fixed)),
		Actor: ActorIngot, At: at, Detail: detail}
	return change, s.appendEvent(ctx, q, &ev)
}

// Packages implements catalog.Findings: the distinct packages of published versions.
func (s *Store) Packages(ctx context.Context, statuses ...catalog.Status) ([]evidence.Package, error) {
	sw, sargs, err := statusFilter("pl", statuses)
	if err != nil {
		return nil, err
	}
	// Per package, the first link to a platform of a version in the statuses is enough: most packages
	// are found at their first link, so the query reads about one link per package, not every link.
	query := `SELECT p.name, p.version, p.ecosystem, p.type, p.arch, p.source, p.source_version, p.purl FROM packages p
		WHERE EXISTS (SELECT 1 FROM platform_packages pp JOIN platforms pl ON pl.id = pp.platform_id
			WHERE pp.package_id = p.id AND pl.state = ?` + sw + s.d.ExistsFence + `)
		ORDER BY p.ecosystem, p.name, p.version, p.id`
	out := []evidence.Package{}
	err = querier{s: s}.each(ctx, query, append([]any{string(catalog.StatePublished)}, sargs...), func(r *sql.Rows) error {
		var p evidence.Package
		if err := r.Scan(&p.Name, &p.Version, &p.Ecosystem, &p.Type, &p.Arch, &p.Source, &p.SourceVersion, &p.PURL); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// FindingHistory implements catalog.Findings.
func (s *Store) FindingHistory(ctx context.Context, r catalog.Ref) ([]catalog.TrackedFinding, error) {
	out := []catalog.TrackedFinding{}
	err := s.read(ctx, func(q querier) error {
		id, err := s.resolve(ctx, q, r, true)
		if err != nil {
			return err
		}
		return q.each(ctx, `SELECT pl.os, pl.arch, pl.variant, d.detail, f.first_seen, f.last_seen, f.open
			FROM findings f JOIN platforms pl ON pl.id = f.platform_id JOIN finding_details d ON d.id = f.detail_id
			WHERE pl.version_id = ? ORDER BY pl.id, f.first_seen, f.vuln_id, f.pkg_name, f.pkg_version`, []any{id}, func(r *sql.Rows) error {
			var tf catalog.TrackedFinding
			var p catalog.Platform
			var detail []byte
			var first, last int64
			if err := r.Scan(&p.OS, &p.Arch, &p.Variant, &detail, &first, &last, &tf.Open); err != nil {
				return err
			}
			if err := json.Unmarshal(detail, &tf.Finding); err != nil {
				return err
			}
			tf.Platform, tf.FirstSeen, tf.LastSeen = p.Name(), fromMicros(first), fromMicros(last)
			out = append(out, tf)
			return nil
		})
	})
	return out, err
}

// OpenFindings implements catalog.Batch: the columns of the open findings of the versions' platform
// images, a few hundred versions per query. Only the findings whose status does not count carry
// their detail, for its reason.
func (s *Store) OpenFindings(ctx context.Context, versionIDs []int64) ([]catalog.OpenFinding, error) {
	out := []catalog.OpenFinding{}
	err := s.read(ctx, func(q querier) error {
		return s.inChunks(versionIDs, func(chunk []any) error {
			// Closed findings are skipped here, not in the query: with "open = ?" in it, SQLite scans
			// the open findings of the whole catalog (the index led by open) for every chunk.
			query := `SELECT pl.version_id, pl.digest, f.vuln_id, f.pkg_name, f.pkg_version, f.severity, f.status,
				f.fixed_version, f.open, d.detail
				FROM platforms pl JOIN findings f ON f.platform_id = pl.id
				LEFT JOIN finding_details d ON d.id = f.detail_id AND f.status IN (?, ?)
				WHERE pl.version_id IN (` + inList(len(chunk)) + `)
				ORDER BY pl.version_id, pl.id, f.vuln_id, f.pkg_name, f.pkg_version`
			args := append([]any{evidence.StatusNotAffected, evidence.StatusFixed}, chunk...)
			return q.run(ctx, query, args, func(r *sql.Rows) error {
				var f catalog.OpenFinding
				var sev int
				var open bool
				var detail []byte
				if err := r.Scan(&f.VersionID, &f.Platform, &f.ID, &f.Package, &f.PackageVersion, &sev, &f.Status,
					&f.FixedVersion, &open, &detail); err != nil {
					return err
				}
				if !open {
					return nil
				}
				f.Severity = evidence.Severity(sev)
				if len(detail) > 0 {
					var d struct {
						Reason string `json:"reason"`
					}
					if err := json.Unmarshal(detail, &d); err != nil {
						return err
					}
					f.Reason = d.Reason
				}
				out = append(out, f)
				return nil
			}, false)
		})
	})
	return out, err
}
