package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
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

// writeFindings makes findings the open findings of a platform image as of at: new ones are added
// (first seen at), those still there are seen again (their FirstSeen kept), those gone are closed (their
// LastSeen kept). What counts against the image (evidence.Finding.Counts) and did not before is
// introduced; what counted and no longer does, fixed.
func (s *Store) writeFindings(ctx context.Context, q querier, platformID int64, fs []evidence.Finding, at time.Time) (catalog.ScanChange, error) {
	type old struct {
		id           int64
		open, counts bool
		detail       string
	}
	existing := map[findingKey]old{}
	err := q.each(ctx, "SELECT id, vuln_id, pkg_name, pkg_version, open, status, detail FROM findings WHERE platform_id = ?",
		[]any{platformID}, func(r *sql.Rows) error {
			var o old
			var k findingKey
			var status string
			if err := r.Scan(&o.id, &k.id, &k.pkg, &k.version, &o.open, &status, &o.detail); err != nil {
				return err
			}
			o.counts = evidence.Finding{Status: status}.Counts()
			existing[k] = o
			return nil
		})
	if err != nil {
		return catalog.ScanChange{}, err
	}
	var change catalog.ScanChange
	var upserts [][]any
	var seenAgain, closed []int64
	seen := map[findingKey]bool{}
	for _, f := range fs {
		k := keyOfFinding(f)
		if seen[k] {
			continue // the same advisory matched twice for one package
		}
		seen[k] = true
		detail, err := json.Marshal(f)
		if err != nil {
			return catalog.ScanChange{}, err
		}
		o, had := existing[k]
		countedBefore := had && o.open && o.counts
		if f.Counts() && !countedBefore {
			change.Introduced = append(change.Introduced, k.String())
		}
		if !f.Counts() && countedBefore {
			change.Fixed = append(change.Fixed, k.String())
		}
		if had && o.open && o.detail == string(detail) {
			seenAgain = append(seenAgain, o.id)
			continue
		}
		upserts = append(upserts, []any{platformID, k.id, k.pkg, k.version, int(f.Severity), f.Status, f.FixedVersion,
			string(detail), micros(at), micros(at), true})
	}
	for k, o := range existing {
		if o.open && !seen[k] {
			closed = append(closed, o.id)
			if o.counts {
				change.Fixed = append(change.Fixed, k.String())
			}
		}
	}
	if err := q.insertRows(ctx, `INSERT INTO findings (platform_id, vuln_id, pkg_name, pkg_version, severity, status,
		fixed_version, detail, first_seen, last_seen, open) VALUES `,
		` ON CONFLICT (platform_id, vuln_id, pkg_name, pkg_version) DO UPDATE SET severity = excluded.severity,
		status = excluded.status, fixed_version = excluded.fixed_version, detail = excluded.detail,
		last_seen = excluded.last_seen, open = excluded.open`, upserts, nil); err != nil {
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
	at := norm(sc.At)
	var change catalog.ScanChange
	err := s.write(ctx, func(q querier) error {
		v, err := s.summary(ctx, q, sc.VersionID)
		if err != nil {
			return err
		}
		var pid int64
		err = q.scan(ctx, "SELECT id FROM platforms WHERE version_id = ? AND digest = ?", []any{v.ID, sc.Platform}, &pid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s has no platform image %s", catalog.ErrNotFound, v.Ref(), sc.Platform)
		}
		if err != nil {
			return err
		}
		if change, err = s.writeFindings(ctx, q, pid, sc.Findings, at); err != nil {
			return err
		}
		// The last scan moves forward only: a late report of an older scan does not make a version
		// look staler than it is.
		if _, err := q.exec(ctx, "UPDATE platforms SET scanned = ? WHERE id = ? AND (scanned IS NULL OR scanned < ?)",
			micros(at), pid, micros(at)); err != nil {
			return err
		}
		if !change.Changed() {
			return nil
		}
		detail, err := json.Marshal(struct {
			Platform string `json:"platform"`
			Data     string `json:"data,omitempty"`
			catalog.ScanChange
		}{sc.Platform, sc.Data, change})
		if err != nil {
			return err
		}
		ev := catalog.Event{Kind: catalog.EventRescanned, VersionID: v.ID, Image: v.Image, Tag: v.Tag(), Digest: v.Digest,
			Status: v.Status.Status, Reason: fmt.Sprintf("re-scan: %d introduced, %d fixed", len(change.Introduced), len(change.Fixed)),
			Actor: ActorIngot, At: at, Detail: detail}
		return s.appendEvent(ctx, q, &ev)
	})
	return change, err
}

// QueryPackage implements catalog.Findings. The name matches a package's name (as its ecosystem
// compares names: PyPI's are normalised) or its source package (a Debian source, as advisories
// name it); a range is compared with the version of what matched. The distinct packages are matched
// first, once each, then the versions that ship the matching ones are read in one query.
func (s *Store) QueryPackage(ctx context.Context, pq catalog.PackageQuery) ([]catalog.Exposure, error) {
	name := strings.TrimSpace(pq.Name)
	if name == "" {
		return nil, fmt.Errorf("%w: no package name to look for", catalog.ErrInvalid)
	}
	rng, err := catalog.ParseRange(pq.Range)
	if err != nil {
		return nil, err
	}
	sw, sargs, err := statusFilter("pl", pq.Statuses)
	if err != nil {
		return nil, err
	}
	q := querier{s: s}
	pkgs := map[int64]evidence.Package{}
	var ids []int64
	var rangeErr error
	compared := false
	err = q.each(ctx, `SELECT id, name, version, ecosystem, type, arch, source, source_version, purl FROM packages
		WHERE name_key IN (?, ?) OR source = ?`, []any{name, vuln.NormalizeName("PyPI", name), name}, func(r *sql.Rows) error {
		var id int64
		var p evidence.Package
		if err := r.Scan(&id, &p.Name, &p.Version, &p.Ecosystem, &p.Type, &p.Arch, &p.Source, &p.SourceVersion, &p.PURL); err != nil {
			return err
		}
		if !catalog.MatchEcosystem(pq.Ecosystem, p.Ecosystem) {
			return nil
		}
		cmpName, cmpVersion := p.Name, p.Version
		switch {
		case p.Name == name || vuln.NormalizeName(p.Ecosystem, p.Name) == vuln.NormalizeName(p.Ecosystem, name):
		case p.Source == name:
			cmpName = p.Source
			if p.SourceVersion != "" {
				cmpVersion = p.SourceVersion
			}
		default:
			return nil // another ecosystem's package whose name is this one normalised
		}
		if !rng.IsZero() {
			ok, err := rng.Contains(p.Ecosystem, cmpName, cmpVersion)
			if err != nil {
				rangeErr = cmp(rangeErr, err)
				return nil // a version this ecosystem cannot order is not in the range
			}
			compared = true
			if !ok {
				return nil
			}
		}
		pkgs[id] = p
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !compared && rangeErr != nil {
		return nil, fmt.Errorf("%w: version range %q: %w", catalog.ErrInvalid, pq.Range, rangeErr)
	}
	out := []catalog.Exposure{}
	if len(ids) == 0 {
		return out, nil
	}
	// One row per platform image that ships a matching package, read from the links and the platform
	// (which carries what the exposure needs of its version). The fewer columns, the faster (SQLite's
	// driver pays per column), so the platform's name is made by the database.
	// Rows are kept small until sorted; the exposures, large values, are made once, in order.
	type row struct {
		image, tag, digest, status, platform, layer string
		id, pkg                                     int64
	}
	var rows []row
	err = s.inChunks(ids, func(chunk []any) error {
		query := `SELECT pp.package_id, pp.layer, pl.version_id, pl.image, pl.tag, pl.version_digest, pl.status,
				pl.os || '/' || pl.arch || CASE WHEN pl.variant <> '' THEN '/' || pl.variant ELSE '' END
			FROM platform_packages pp JOIN platforms pl ON pl.id = pp.platform_id
			WHERE pp.package_id IN (` + inList(len(chunk)) + `) AND pl.state = ?` + sw
		args := append(append(chunk, string(catalog.StatePublished)), sargs...)
		return q.run(ctx, query, args, func(r *sql.Rows) error {
			var x row
			if err := r.Scan(&x.pkg, &x.layer, &x.id, &x.image, &x.tag, &x.digest, &x.status, &x.platform); err != nil {
				return err
			}
			rows = append(rows, x)
			return nil
		}, len(chunk) <= 32) // short lists recur: keep their statements prepared
	})
	if err != nil {
		return nil, err
	}
	// By image, newest version first, then platform and package.
	sort.Slice(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		switch {
		case a.image != b.image:
			return a.image < b.image
		case a.id != b.id:
			return a.id > b.id
		case a.platform != b.platform:
			return a.platform < b.platform
		}
		return a.pkg < b.pkg
	})
	out = make([]catalog.Exposure, len(rows))
	for i, x := range rows {
		e := &out[i]
		e.Image, e.Tag, e.Digest, e.Status, e.Platform = x.image, x.tag, x.digest, catalog.Status(x.status), x.platform
		e.Package = pkgs[x.pkg]
		e.Package.Layer = x.layer
	}
	return out, nil
}

// cmp keeps the first error.
func cmp(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// QueryFindings implements catalog.Findings: open vulnerability findings that count, of published
// versions, most severe first.
func (s *Store) QueryFindings(ctx context.Context, fq catalog.FindingQuery) ([]catalog.VersionFinding, error) {
	sw, sargs, err := statusFilter("pl", fq.Statuses)
	if err != nil {
		return nil, err
	}
	query := `SELECT pl.image, pl.tag, pl.version_digest, pl.status, pl.os, pl.arch, pl.variant, f.detail, f.first_seen
		FROM findings f JOIN platforms pl ON pl.id = f.platform_id
		WHERE f.open = ? AND f.severity >= ? AND f.status IN (?, ?) AND pl.state = ?` + sw
	args := append([]any{true, int(fq.MinSeverity), evidence.StatusAffected, evidence.StatusFailed, string(catalog.StatePublished)}, sargs...)
	if fq.Image != "" {
		query += " AND pl.image = ?"
		args = append(args, fq.Image)
	}
	if fq.WithFix {
		query += " AND f.fixed_version <> ''"
	}
	query += " ORDER BY f.severity DESC, pl.image, pl.version_id DESC, pl.id, f.vuln_id, f.pkg_name"
	out := []catalog.VersionFinding{}
	err = querier{s: s}.each(ctx, query, args, func(r *sql.Rows) error {
		var vf catalog.VersionFinding
		var status string
		var p catalog.Platform
		var detail []byte
		var first int64
		if err := r.Scan(&vf.Image, &vf.Tag, &vf.Digest, &status, &p.OS, &p.Arch, &p.Variant, &detail, &first); err != nil {
			return err
		}
		if err := json.Unmarshal(detail, &vf.Finding); err != nil {
			return fmt.Errorf("finding of %s: %w", vf.Digest, err)
		}
		vf.Status, vf.Platform, vf.FirstSeen = catalog.Status(status), p.Name(), fromMicros(first)
		out = append(out, vf)
		return nil
	})
	return out, err
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
		return q.each(ctx, `SELECT pl.os, pl.arch, pl.variant, f.detail, f.first_seen, f.last_seen, f.open
			FROM findings f JOIN platforms pl ON pl.id = f.platform_id
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
