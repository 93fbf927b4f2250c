package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
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

// recordedFinding is what a platform image's recorded finding says, as a scan compares it.
type recordedFinding struct {
	id           int64
	open, counts bool
	severity     int
	status       string
	fixed        string
	detailID     int64
}

// unchanged reports whether f, found again, is o as the columns say: open, counting as before, at
// the same severity and fixed version. Such a finding is seen again and keeps its recorded detail:
// encoding every finding of a re-scan of the whole catalog to compare it costs more than the
// re-scan's matching, and what a re-scan decides on is in these columns. Another is compared whole,
// by its detail's digest (a finding that does not count: its VEX reason).
func (o recordedFinding) unchanged(f evidence.Finding) bool {
	return o.open && f.Counts() && o.counts && o.status == f.Status && o.severity == int(f.Severity) && o.fixed == f.FixedVersion
}

// findingWrites are the writes that record scans, gathered for a batch and made set-wise.
//
// A finding's last_seen is written when it is added and when it is closed, not each time a scan
// sees it again: an open finding was seen by its platform image's newest scan (platforms.scanned),
// which is what FindingHistory answers for it. A re-scan of the whole catalog that changes nothing
// so writes one row per platform image, not one per finding. Closing a finding sets its last_seen
// to the platform image's newest scan before this one, so it must run before platforms.scanned
// moves on.
type findingWrites struct {
	upserts []findingRow
	closed  []int64
}

// diff makes fs the open findings of platform image pid as of at, against what it recorded
// (existing): new ones are added (first seen at), those still there are seen again (their FirstSeen
// kept), those gone are closed (their LastSeen kept). What counts against the image
// (evidence.Finding.Counts) and did not before is introduced; what counted and no longer does, fixed.
// digests are the digests of recorded details that are not unchanged, by detail id.
func (w *findingWrites) diff(pid int64, existing map[findingKey]recordedFinding, digests map[int64]string, fs []evidence.Finding, at time.Time) (catalog.ScanChange, error) {
	var change catalog.ScanChange
	seen := make(map[findingKey]bool, len(fs))
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
		if had && o.unchanged(f) {
			continue
		}
		detail, digest, err := detailOf(f)
		if err != nil {
			return catalog.ScanChange{}, err
		}
		if had && o.open && digests[o.detailID] == digest {
			continue
		}
		w.upserts = append(w.upserts, findingRow{platformID: pid, key: k, f: f, at: at, detail: detail})
	}
	for k, o := range existing {
		if o.open && !seen[k] {
			w.closed = append(w.closed, o.id)
			if o.counts {
				change.Fixed = append(change.Fixed, k.String())
			}
		}
	}
	sort.Strings(change.Introduced)
	sort.Strings(change.Fixed)
	return change, nil
}

// write makes the gathered writes.
func (w *findingWrites) write(ctx context.Context, s *Store, q querier) error {
	if err := s.insertFindings(ctx, q, w.upserts); err != nil {
		return err
	}
	return s.updateIDs(ctx, q, `UPDATE findings SET open = ?, last_seen = COALESCE((SELECT pl.scanned FROM platforms pl
		WHERE pl.id = findings.platform_id AND pl.scanned > findings.last_seen), last_seen) WHERE id IN `, []any{false}, w.closed)
}

// sortedKeys are m's keys, ascending.
func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
	changes, err := s.RecordScans(ctx, []catalog.Scan{sc})
	if err != nil {
		return catalog.ScanChange{}, err
	}
	return changes[0], nil
}

// RecordScans implements catalog.Batch.
func (s *Store) RecordScans(ctx context.Context, scans []catalog.Scan) ([]catalog.ScanChange, error) {
	for i, sc := range scans {
		if err := catalog.ValidDigest(sc.Platform); err != nil {
			if len(scans) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("scan %d of the batch: %w", i+1, err)
		}
	}
	changes := make([]catalog.ScanChange, len(scans))
	if len(scans) == 0 {
		return changes, nil
	}
	err := s.write(ctx, func(q querier) error {
		// A platform image scanned twice in one batch is recorded in order: its second scan is
		// compared with what the first recorded, in a group of its own.
		for start := 0; start < len(scans); {
			end := start
			in := map[[2]any]bool{}
			for ; end < len(scans); end++ {
				k := [2]any{scans[end].VersionID, scans[end].Platform}
				if in[k] {
					break
				}
				in[k] = true
			}
			if err := s.recordScans(ctx, q, scans[start:end], changes[start:end]); err != nil {
				return err
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// recordScans records scans of distinct platform images in q's write transaction, setting each one's
// change: a few statements for the whole group, whatever its size (the versions, their platform
// images and what those recorded are each read at once, and the writes made set-wise).
func (s *Store) recordScans(ctx context.Context, q querier, scans []catalog.Scan, changes []catalog.ScanChange) error {
	var vids []int64
	for _, sc := range scans {
		vids = append(vids, sc.VersionID)
	}
	slices.Sort(vids)
	vids = slices.Compact(vids)
	versions, err := s.summaries(ctx, q, vids)
	if err != nil {
		return err
	}
	platforms, err := s.platformsOf(ctx, q, vids)
	if err != nil {
		return err
	}
	pids := make(map[[2]any]int64, len(platforms)) // by version id and digest
	for _, p := range platforms {
		pids[[2]any{p.version, p.digest}] = p.id
	}
	ids := make([]int64, len(scans))
	for i, sc := range scans {
		v, ok := versions[sc.VersionID]
		if !ok {
			return fmt.Errorf("%w: version %d", catalog.ErrNotFound, sc.VersionID)
		}
		if ids[i], ok = pids[[2]any{sc.VersionID, sc.Platform}]; !ok {
			return fmt.Errorf("%w: %s has no platform image %s", catalog.ErrNotFound, v.Ref(), sc.Platform)
		}
	}
	existing, err := s.recordedFindings(ctx, q, ids)
	if err != nil {
		return err
	}
	// The recorded details that findings found again are compared with: the few that changed or
	// do not count.
	var compare []int64
	for i, sc := range scans {
		for _, f := range sc.Findings {
			if o, ok := existing[ids[i]][keyOfFinding(f)]; ok && o.open && !o.unchanged(f) {
				compare = append(compare, o.detailID)
			}
		}
	}
	digests, err := s.detailColumn(ctx, q, "digest", compare)
	if err != nil {
		return err
	}
	var w findingWrites
	scanned := map[int64][]int64{} // platform ids by the time (micros) of their scan
	var events []*catalog.Event
	for i, sc := range scans {
		at := norm(sc.At)
		if changes[i], err = w.diff(ids[i], existing[ids[i]], digests, sc.Findings, at); err != nil {
			return err
		}
		scanned[micros(at)] = append(scanned[micros(at)], ids[i])
		if !changes[i].Changed() {
			continue
		}
		detail, err := json.Marshal(struct {
			Platform string `json:"platform"`
			Data     string `json:"data,omitempty"`
			catalog.ScanChange
		}{sc.Platform, sc.Data, changes[i]})
		if err != nil {
			return err
		}
		v := versions[sc.VersionID]
		events = append(events, &catalog.Event{Kind: catalog.EventRescanned, VersionID: v.ID, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
			Status: v.Status.Status, Reason: fmt.Sprintf("re-scan: %d introduced, %d fixed", len(changes[i].Introduced), len(changes[i].Fixed)),
			Actor: ActorIngot, At: at, Detail: detail})
	}
	if err := w.write(ctx, s, q); err != nil {
		return err
	}
	// The last scan moves forward only: a late report of an older scan does not make a version
	// look staler than it is.
	for _, at := range sortedKeys(scanned) {
		if err := s.updateIDs(ctx, q, "UPDATE platforms SET scanned = ? WHERE (scanned IS NULL OR scanned < ?) AND id IN ",
			[]any{at, at}, scanned[at]); err != nil {
			return err
		}
	}
	return s.appendEvents(ctx, q, events)
}

// summaries reads the summaries of the versions ids, by id.
func (s *Store) summaries(ctx context.Context, q querier, ids []int64) (map[int64]*catalog.Version, error) {
	out := make(map[int64]*catalog.Version, len(ids))
	err := s.inChunks(ids, func(chunk []any) error {
		return q.run(ctx, "SELECT "+versionCols+" FROM versions v WHERE v.id IN ("+inList(len(chunk))+")", chunk, func(r *sql.Rows) error {
			v, err := scanVersion(r)
			if err != nil {
				return err
			}
			out[v.ID] = v
			return nil
		}, len(chunk) == 1)
	})
	return out, err
}

// platformRow names a platform image: its id, version and digest.
type platformRow struct {
	id, version int64
	digest      string
}

// platformsOf reads the platform images of the versions vids.
func (s *Store) platformsOf(ctx context.Context, q querier, vids []int64) ([]platformRow, error) {
	var out []platformRow
	err := s.inChunks(vids, func(chunk []any) error {
		return q.run(ctx, "SELECT id, version_id, digest FROM platforms WHERE version_id IN ("+inList(len(chunk))+")", chunk,
			func(r *sql.Rows) error {
				var p platformRow
				if err := r.Scan(&p.id, &p.version, &p.digest); err != nil {
					return err
				}
				out = append(out, p)
				return nil
			}, false)
	})
	return out, err
}

// recordedFindings reads every finding recorded for the platform images pids, open or closed.
func (s *Store) recordedFindings(ctx context.Context, q querier, pids []int64) (map[int64]map[findingKey]recordedFinding, error) {
	out := make(map[int64]map[findingKey]recordedFinding, len(pids))
	err := s.eachRecordedFinding(ctx, q, pids, func(pid int64, k findingKey, o recordedFinding) {
		m := out[pid]
		if m == nil {
			m = map[findingKey]recordedFinding{}
			out[pid] = m
		}
		m[k] = o
	})
	return out, err
}

// eachRecordedFinding calls fn for every finding recorded for the platform images pids.
func (s *Store) eachRecordedFinding(ctx context.Context, q querier, pids []int64, fn func(pid int64, k findingKey, o recordedFinding)) error {
	return s.inChunks(pids, func(chunk []any) error {
		return q.run(ctx, `SELECT platform_id, id, vuln_id, pkg_name, pkg_version, open, severity, status, fixed_version, detail_id
			FROM findings WHERE platform_id IN (`+inList(len(chunk))+`)`, chunk,
			func(r *sql.Rows) error {
				var pid int64
				var o recordedFinding
				var k findingKey
				if err := r.Scan(&pid, &o.id, &k.id, &k.pkg, &k.version, &o.open, &o.severity, &o.status, &o.fixed, &o.detailID); err != nil {
					return err
				}
				o.counts = evidence.Finding{Status: o.status}.Counts()
				fn(pid, k, o)
				return nil
			}, len(chunk) == 1)
	})
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
		// An open finding was seen by the platform image's newest scan (see findingWrites).
		return q.each(ctx, `SELECT pl.os, pl.arch, pl.variant, d.detail, f.first_seen,
			CASE WHEN f.open AND pl.scanned > f.last_seen THEN pl.scanned ELSE f.last_seen END, f.open
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
// images, read as a re-scan's write reads them (eachRecordedFinding), a few hundred platform images per
// query. Only the findings whose status does not count carry their detail, for its reason.
func (s *Store) OpenFindings(ctx context.Context, versionIDs []int64) ([]catalog.OpenFinding, error) {
	out := []catalog.OpenFinding{}
	err := s.read(ctx, func(q querier) error {
		list, err := s.platformsOf(ctx, q, versionIDs)
		if err != nil {
			return err
		}
		platforms := make(map[int64]platformRow, len(list))
		pids := make([]int64, len(list))
		for i, p := range list {
			platforms[p.id], pids[i] = p, p.id
		}
		type row struct {
			f        catalog.OpenFinding
			platform int64
			detail   int64
		}
		var rows []row
		var reasons []int64
		err = s.eachRecordedFinding(ctx, q, pids, func(pid int64, k findingKey, o recordedFinding) {
			if !o.open {
				return
			}
			p := platforms[pid]
			rows = append(rows, row{platform: pid, detail: o.detailID, f: catalog.OpenFinding{VersionID: p.version, Platform: p.digest,
				ID: k.id, Package: k.pkg, PackageVersion: k.version, Severity: evidence.Severity(o.severity),
				Status: o.status, FixedVersion: o.fixed}})
			if !o.counts {
				reasons = append(reasons, o.detailID)
			}
		})
		if err != nil {
			return err
		}
		details, err := s.detailColumn(ctx, q, "detail", reasons)
		if err != nil {
			return err
		}
		slices.SortFunc(rows, func(a, b row) int {
			return cmp.Or(cmp.Compare(a.f.VersionID, b.f.VersionID), cmp.Compare(a.platform, b.platform), strings.Compare(a.f.ID, b.f.ID),
				strings.Compare(a.f.Package, b.f.Package), strings.Compare(a.f.PackageVersion, b.f.PackageVersion))
		})
		out = make([]catalog.OpenFinding, len(rows))
		for i, x := range rows {
			out[i] = x.f
			if d, ok := details[x.detail]; ok && !x.f.Counts() {
				var v struct {
					Reason string `json:"reason"`
				}
				if err := json.Unmarshal([]byte(d), &v); err != nil {
					return err
				}
				out[i].Reason = v.Reason
			}
		}
		return nil
	})
	return out, err
}

// detailColumn reads one column (digest or detail) of the finding details ids, by id.
func (s *Store) detailColumn(ctx context.Context, q querier, col string, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	err := s.inChunks(ids, func(chunk []any) error {
		return q.run(ctx, "SELECT id, "+col+" FROM finding_details WHERE id IN ("+inList(len(chunk))+")", chunk, func(r *sql.Rows) error {
			var id int64
			var v string
			if err := r.Scan(&id, &v); err != nil {
				return err
			}
			out[id] = v
			return nil
		}, false)
	})
	return out, err
}
