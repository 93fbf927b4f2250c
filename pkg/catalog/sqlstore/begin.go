package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Begin implements catalog.Versions.
func (s *Store) Begin(ctx context.Context, in *catalog.Version) (*catalog.Version, bool, error) {
	if in == nil {
		return nil, false, fmt.Errorf("%w: no version", catalog.ErrInvalid)
	}
	got, existed, err := s.BeginBatch(ctx, []*catalog.Version{in})
	if err != nil {
		return nil, false, err
	}
	return got[0], existed[0], nil
}

// BeginBatch implements catalog.Batch: Begin of every version in one write transaction, the rows
// of all of them (package links, findings) written together in multi-row statements.
func (s *Store) BeginBatch(ctx context.Context, in []*catalog.Version) ([]*catalog.Version, []bool, error) {
	vs := make([]*catalog.Version, len(in))
	for i, v := range in {
		var err error
		if vs[i], err = prepareBegin(v); err != nil {
			if len(in) > 1 {
				err = fmt.Errorf("version %d of the batch: %w", i+1, err)
			}
			return nil, nil, err
		}
	}
	// Compress the evidence before taking the write lock: it is the expensive part.
	packed, err := s.packAll(vs)
	if err != nil {
		return nil, nil, err
	}
	got := make([]*catalog.Version, len(vs))
	existed := make([]bool, len(vs))
	err = s.write(ctx, func(q querier) error {
		var w batchWriter
		first := map[[2]string]int{} // image and digest → the batch's first version of them
		for i, v := range vs {
			key := [2]string{v.Image, v.Digest}
			if j, ok := first[key]; ok {
				got[i], existed[i] = got[j], true
				continue
			}
			first[key] = i
			old, err := s.recorded(ctx, q, v.Image, v.Digest)
			if err != nil {
				return err
			}
			if old != nil {
				got[i], existed[i] = old, true
				continue
			}
			if err := s.insertVersion(ctx, q, v, packed[i], &w); err != nil {
				return err
			}
			got[i] = v
		}
		return w.flush(ctx, s, q)
	})
	if err != nil {
		return nil, nil, err
	}
	return got, existed, nil
}

// prepareBegin checks v and returns the copy Begin records: pending, active, times normalised,
// digests of the spec and lock computed.
func prepareBegin(in *catalog.Version) (*catalog.Version, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: no version", catalog.ErrInvalid)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	v := *in
	v.ID, v.Serial = 0, 0
	if v.Kind == "" {
		v.Kind = catalog.KindContainer
	}
	v.Built = norm(v.Built)
	v.State = catalog.StatePending
	v.Status = catalog.StatusChange{Status: catalog.StatusActive, At: v.Built}
	v.Published, v.DeprecateAt = time.Time{}, time.Time{}
	var err error
	if v.SpecDigest, err = bytesDigest("spec", v.Spec, v.SpecDigest); err != nil {
		return nil, err
	}
	if v.LockDigest, err = bytesDigest("lock", v.Lock, v.LockDigest); err != nil {
		return nil, err
	}
	v.Platforms, v.Disks = slices.Clone(v.Platforms), slices.Clone(v.Disks)
	v.Locations, v.Artifacts = slices.Clone(v.Locations), slices.Clone(v.Artifacts)
	return &v, nil
}

// packAll compresses the evidence of every platform image of vs, on every core when there are many.
func (s *Store) packAll(vs []*catalog.Version) ([][][]byte, error) {
	packed := make([][][]byte, len(vs))
	errs := make([]error, len(vs))
	pack := func(i int) {
		v := vs[i]
		packed[i] = make([][]byte, len(v.Platforms))
		for j, p := range v.Platforms {
			b, err := s.encodeEvidence(p.Evidence)
			if err != nil {
				errs[i] = fmt.Errorf("evidence of %s: %w", p.Digest, err)
				return
			}
			packed[i][j] = b
		}
	}
	if len(vs) < 4 {
		for i := range vs {
			pack(i)
		}
		return packed, errors.Join(errs...)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				pack(i)
			}
		})
	}
	for i := range vs {
		next <- i
	}
	close(next)
	wg.Wait()
	return packed, errors.Join(errs...)
}

// recorded returns the version of image with digest, in any state, or nil when there is none.
func (s *Store) recorded(ctx context.Context, q querier, image, digest string) (*catalog.Version, error) {
	var id int64
	err := q.scan(ctx, "SELECT id FROM versions WHERE image = ? AND digest = ?", []any{image, digest}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vs, err := s.load(ctx, q, []int64{id}, true)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// insertVersion writes a new version's own rows, fills in its ID and Serial, and leaves its package
// links and findings to w.
func (s *Store) insertVersion(ctx context.Context, q querier, v *catalog.Version, packed [][]byte, w *batchWriter) error {
	if err := q.scan(ctx, `INSERT INTO line_serials (image, line, last) VALUES (?, ?, 1)
		ON CONFLICT (image, line) DO UPDATE SET last = line_serials.last + 1 RETURNING last`,
		[]any{v.Image, v.Line}, &v.Serial); err != nil {
		return err
	}
	if err := q.scan(ctx, `INSERT INTO versions (image, line, serial, kind, digest, spec_digest, lock_digest,
		state, status, status_reason, status_actor, status_at, reason, built)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		[]any{v.Image, v.Line, v.Serial, string(v.Kind), v.Digest, v.SpecDigest, v.LockDigest,
			string(v.State), string(v.Status.Status), "", "", micros(v.Status.At), v.Reason, micros(v.Built)},
		&v.ID); err != nil {
		return err
	}
	if v.Spec != nil || v.Lock != nil {
		if _, err := q.exec(ctx, "INSERT INTO version_sources (version_id, spec, lock) VALUES (?, ?, ?)", v.ID, v.Spec, v.Lock); err != nil {
			return err
		}
	}
	for i, p := range v.Platforms {
		var pid int64
		scanned := p.Scanned
		if scanned.IsZero() && p.Evidence != nil && p.Evidence.Scan != nil {
			scanned = p.Evidence.Scan.Finished
		}
		if err := q.scan(ctx, `INSERT INTO platforms (version_id, os, arch, variant, digest, image, tag, version_digest, state, status, scanned)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			[]any{v.ID, p.OS, p.Arch, p.Variant, p.Digest, v.Image, v.Tag(), v.Digest, string(v.State), string(v.Status.Status), nullMicros(scanned)}, &pid); err != nil {
			return err
		}
		if p.Evidence == nil {
			continue
		}
		if _, err := q.exec(ctx, "INSERT INTO platform_evidence (platform_id, evidence) VALUES (?, ?)", pid, packed[i]); err != nil {
			return err
		}
		if inv := p.Evidence.Inventory; inv != nil {
			w.link(pid, inv.Packages)
		}
		if r := p.Evidence.Vulns; r != nil {
			seen := v.Built
			if sc := p.Evidence.Scan; sc != nil && !sc.Finished.IsZero() {
				seen = norm(sc.Finished)
			}
			w.findings = append(w.findings, newFindings{platformID: pid, findings: r.Findings, at: seen})
		}
	}
	if err := s.addPlaces(ctx, q, v.ID, v.Locations, v.Artifacts); err != nil {
		return err
	}
	return s.putDisks(ctx, q, v.ID, v.Disks) // vm versions (cloud.go)
}

// bytesDigest is the sha256 hex of b, checked against the digest the caller gave, if any.
func bytesDigest(what string, b []byte, given string) (string, error) {
	if b == nil {
		return given, nil
	}
	sum := sha256.Sum256(b)
	d := hex.EncodeToString(sum[:])
	if given != "" && given != d {
		return "", fmt.Errorf("%w: the %s's digest %s is not the sha256 of its bytes (%s)", catalog.ErrInvalid, what, given, d)
	}
	return d, nil
}

// pkgKey is a package row's unique key.
type pkgKey struct {
	name, version, ecosystem, typ, arch, source, sourceVersion, purl string
}

func keyOf(p evidence.Package) pkgKey {
	return pkgKey{p.Name, p.Version, p.Ecosystem, p.Type, p.Arch, p.Source, p.SourceVersion, p.PURL}
}

// link is one package of a platform image, from a layer.
type link struct {
	platformID int64
	pkg        pkgKey
	layer      string
}

// newFindings are the findings of a platform image Begin records (it has none yet).
type newFindings struct {
	platformID int64
	findings   []evidence.Finding
	at         time.Time
}

// batchWriter collects what the versions of one Begin or BeginBatch ship and found, to write them
// together once the versions and platforms have their ids.
type batchWriter struct {
	links    []link
	findings []newFindings
}

// link records that a platform image ships pkgs, each distinct package once (one Go module in two
// binaries is one package of the image).
func (w *batchWriter) link(platformID int64, pkgs []evidence.Package) {
	seen := make(map[pkgKey]bool, len(pkgs))
	for _, p := range pkgs {
		k := keyOf(p)
		if seen[k] {
			continue
		}
		seen[k] = true
		w.links = append(w.links, link{platformID: platformID, pkg: k, layer: p.Layer})
	}
}

// flush writes the links and findings collected: each distinct package, layer and finding detail
// found or added once, then the rows that name them.
func (w *batchWriter) flush(ctx context.Context, s *Store, q querier) error {
	if len(w.links) > 0 {
		keys := make([]pkgKey, 0, len(w.links))
		layers := make([]string, 0, 8)
		seenLayer := map[string]bool{}
		for _, l := range w.links {
			keys = append(keys, l.pkg)
			if !seenLayer[l.layer] {
				seenLayer[l.layer] = true
				layers = append(layers, l.layer)
			}
		}
		pkgIDs, err := s.packageIDs(ctx, q, keys)
		if err != nil {
			return err
		}
		layerIDs, err := s.internIDs(ctx, q, "layers", layers, nil)
		if err != nil {
			return err
		}
		rows := make([][]any, len(w.links))
		for i, l := range w.links {
			rows[i] = []any{pkgIDs[l.pkg], l.platformID, layerIDs[l.layer]}
		}
		if err := q.insertRows(ctx, "INSERT INTO platform_packages (package_id, platform_id, layer_id) VALUES ", "", rows, nil); err != nil {
			return err
		}
	}
	if len(w.findings) > 0 {
		var fs []findingRow
		for _, nf := range w.findings {
			seen := map[findingKey]bool{}
			for _, f := range nf.findings {
				k := keyOfFinding(f)
				if seen[k] {
					continue // the same advisory matched twice for one package
				}
				seen[k] = true
				fs = append(fs, findingRow{platformID: nf.platformID, key: k, f: f, at: nf.at})
			}
		}
		if err := s.insertFindings(ctx, q, fs); err != nil {
			return err
		}
	}
	return nil
}

// packageIDs finds or adds each distinct package of keys and returns their ids. Writers are
// serialised, so what the lookup does not find is not added by anyone else before the insert.
func (s *Store) packageIDs(ctx context.Context, q querier, keys []pkgKey) (map[pkgKey]int64, error) {
	ids := make(map[pkgKey]int64, len(keys))
	want := make(map[pkgKey]bool, len(keys))
	var pairs [][]any
	pairSeen := map[[2]string]bool{}
	for _, k := range keys {
		if want[k] {
			continue
		}
		want[k] = true
		if pair := [2]string{k.name, k.version}; !pairSeen[pair] {
			pairSeen[pair] = true
			pairs = append(pairs, []any{k.name, k.version})
		}
	}
	read := func(r *sql.Rows) error {
		var id int64
		var k pkgKey
		if err := r.Scan(&id, &k.name, &k.version, &k.ecosystem, &k.typ, &k.arch, &k.source, &k.sourceVersion, &k.purl); err != nil {
			return err
		}
		if want[k] {
			ids[k] = id
		}
		return nil
	}
	// Look the packages up by name and version (a prefix of the unique index), a batch at a time: the
	// rows that differ in another column are few and sorted out here.
	const pkgCols = "id, name, version, ecosystem, type, arch, source, source_version, purl"
	if err := q.selectRows(ctx, "SELECT p.id, p.name, p.version, p.ecosystem, p.type, p.arch, p.source, p.source_version, p.purl FROM (VALUES ",
		") AS x JOIN packages p ON p.name = x.column1 AND p.version = x.column2", pairs, read); err != nil {
		return nil, err
	}
	var missing [][]any
	for k := range want {
		if _, ok := ids[k]; !ok {
			missing = append(missing, []any{k.name, k.version, k.ecosystem, k.typ, k.arch, k.source, k.sourceVersion, k.purl,
				vuln.NormalizeName(k.ecosystem, k.name)})
		}
	}
	if err := q.insertRows(ctx, "INSERT INTO packages (name, version, ecosystem, type, arch, source, source_version, purl, name_key) VALUES ",
		" RETURNING "+pkgCols, missing, read); err != nil {
		return nil, err
	}
	for k := range want {
		if _, ok := ids[k]; !ok {
			return nil, fmt.Errorf("catalog (%s): package %s %s was not recorded", s.d.Name, k.name, k.version)
		}
	}
	return ids, nil
}

// internIDs finds or adds each of keys in an interning table (layers: digest; finding_details:
// digest and detail) and returns their ids. extra, when not nil, gives the other column's value of
// a key added.
func (s *Store) internIDs(ctx context.Context, q querier, table string, keys []string, extra func(key string) any) (map[string]int64, error) {
	ids := make(map[string]int64, len(keys))
	if len(keys) == 0 {
		return ids, nil
	}
	read := func(r *sql.Rows) error {
		var id int64
		var k string
		if err := r.Scan(&id, &k); err != nil {
			return err
		}
		ids[k] = id
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	per := max(1, s.d.MaxParams-8)
	for chunk := range slices.Chunk(args, per) {
		query := "SELECT id, digest FROM " + table + " WHERE digest IN (" + inList(len(chunk)) + ")"
		if err := q.run(ctx, query, chunk, read, len(chunk) <= 8); err != nil {
			return nil, err
		}
	}
	var missing [][]any
	for _, k := range keys {
		if _, ok := ids[k]; ok {
			continue
		}
		ids[k] = 0 // a key given twice is added once
		if extra != nil {
			missing = append(missing, []any{k, extra(k)})
		} else {
			missing = append(missing, []any{k})
		}
	}
	head := "INSERT INTO " + table + " (digest) VALUES "
	if extra != nil {
		head = "INSERT INTO " + table + " (digest, detail) VALUES "
	}
	if err := q.insertRows(ctx, head, " RETURNING id, digest", missing, read); err != nil {
		return nil, err
	}
	return ids, nil
}
