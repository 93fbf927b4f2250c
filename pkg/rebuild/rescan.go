package rebuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// RescanOptions tune Rescan.
type RescanOptions struct {
	// Policy is what a new finding does to its version (the zero Policy does nothing).
	Policy Policy
	// Store is where registered specs are unpacked to read their VEX documents; without it, only
	// the VEX statements already recorded on findings are kept.
	Store *store.Store
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Reason says why the re-scan ran ("vulnerability data imported", "cycle"), for the result.
	Reason string
}

// RescanResult is what a re-scan found and did.
type RescanResult struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	// Data names the vulnerability data matched against (its sources and when they were imported).
	Data string `json:"data"`
	// Versions counts the active versions, Packages their distinct packages (each matched once),
	// Affected those with a finding.
	Versions int `json:"versions"`
	Packages int `json:"packages"`
	Affected int `json:"affected"`
	// Recorded counts the platform images whose findings were recorded (those with findings, now or
	// before); Changes are those whose findings changed.
	Recorded int              `json:"recorded"`
	Changes  []PlatformChange `json:"changes,omitempty"`
	// Actions are what the policy did: versions revoked or flagged, each with the findings why.
	Actions []PolicyAction `json:"actions,omitempty"`
}

// PlatformChange is what a re-scan changed for one platform image of a version.
type PlatformChange struct {
	Version  string `json:"version"`
	Platform string `json:"platform"`
	catalog.ScanChange
}

// PolicyAction is a version the policy acted on.
type PolicyAction struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
	Action  Action `json:"action"`
	// Reason is the status change's (or flag's) reason; Findings the findings that made it.
	Reason   string          `json:"reason"`
	Findings []PolicyFinding `json:"findings"`
	// Error says why the action could not be taken (the version changed status meanwhile).
	Error string `json:"error,omitempty"`
}

// PolicyFinding names a finding a policy acted on.
type PolicyFinding struct {
	ID           string            `json:"id"`
	Severity     evidence.Severity `json:"severity"`
	Package      string            `json:"package"`
	Version      string            `json:"version"`
	FixedVersion string            `json:"fixedVersion"`
	Platform     string            `json:"platform"`
}

func (f PolicyFinding) String() string {
	return fmt.Sprintf("%s (%s) in %s %s, fixed in %s", f.ID, f.Severity, f.Package, f.Version, f.FixedVersion)
}

// Revoked lists the versions the re-scan revoked.
func (r *RescanResult) Revoked() []string {
	var out []string
	for _, a := range r.Actions {
		if a.Action == ActionRevoke && a.Error == "" {
			out = append(out, a.Version)
		}
	}
	return out
}

// pkgKey names a package of the catalog as matching sees it.
type pkgKey struct{ eco, name, version, purl string }

// platformRef names a platform image of a version.
type platformRef struct {
	version *catalog.Version
	digest  string
	name    string
}

// Rescan re-scans every active version of the catalog against the vulnerability data, from the
// versions' recorded inventories: the distinct packages of active versions are matched once each
// (catalog.Packages, then vuln.DB.Match per ecosystem), the findings fanned out to the versions that
// ship each package (catalog.QueryPackage), and each platform image's findings recorded
// (catalog.RecordScan), which appends a "rescanned" event when they changed. VEX statements apply as
// at build time: the registered spec's VEX documents (opt.Store), and any statement already
// recorded on a finding. Before a platform's findings are recorded, the policy acts on the version
// for each finding the re-scan introduces that it covers (see Policy), so a crash between the two
// finds the finding new again and acts again (a version already revoked is left so). A catalog that
// records scans in batches (catalog.Batch) records them a few hundred platform images at a time, and
// answers for those platform images' open findings at once, from its columns (OpenFindings); another
// is read each version's FindingHistory.
func Rescan(ctx context.Context, cat catalog.Catalog, db *vuln.DB, opt RescanOptions) (*RescanResult, error) {
	now := time.Now().UTC()
	if opt.Now != nil {
		now = opt.Now().UTC()
	}
	st, err := db.Status()
	if err != nil {
		return nil, err
	}
	if len(st.Sources) == 0 {
		return nil, vuln.ErrNoData
	}
	res := &RescanResult{At: now, Reason: opt.Reason, Data: dataName(st)}
	active := []catalog.Status{catalog.StatusActive}
	versions, err := cat.List(ctx, catalog.ListOptions{Statuses: active})
	if err != nil {
		return nil, err
	}
	res.Versions = len(versions)
	platforms := map[string]platformRef{} // by image, tag and platform name
	pkey := func(image, tag, platform string) string { return image + "@" + tag + " " + platform }
	for _, v := range versions {
		for _, p := range v.Platforms {
			platforms[pkey(v.Image, v.Tag(), p.Name())] = platformRef{version: v, digest: p.Digest, name: p.Name()}
		}
	}
	pkgs, err := cat.Packages(ctx, active...)
	if err != nil {
		return nil, err
	}
	res.Packages = len(pkgs)
	found, err := matchOnce(ctx, db, pkgs)
	if err != nil {
		return nil, err
	}
	res.Affected = len(found)

	// Fan out: the findings of each package go to every platform image that ships it.
	byPlatform := map[string][]evidence.Finding{}
	queried := map[[2]string][]catalog.Exposure{}
	for k, fs := range found {
		q := [2]string{k.eco, k.name}
		exps, ok := queried[q]
		if !ok {
			if exps, err = cat.QueryPackage(ctx, catalog.PackageQuery{Name: k.name, Ecosystem: k.eco, Statuses: active}); err != nil {
				return nil, err
			}
			queried[q] = exps
		}
		for _, e := range exps {
			p := e.Package
			if p.Name != k.name || p.Version != k.version || p.Ecosystem != k.eco || p.PURL != k.purl {
				continue
			}
			key := pkey(e.Image, e.Tag, e.Platform)
			if _, ok := platforms[key]; !ok {
				continue
			}
			for _, f := range fs {
				f.Locations = nil
				if p.Layer != "" {
					f.Locations = []evidence.Location{{Layer: p.Layer}}
				}
				byPlatform[key] = append(byPlatform[key], f)
			}
		}
	}
	// Every active platform image in turn, its version's open findings read once (and let go after
	// it): those with findings now, or open findings that may close, are recorded.
	keys := make([]string, 0, len(platforms))
	for k := range platforms {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a version's platform images are adjacent
	vexDocs := vexCache{store: opt.Store, cat: cat, docs: map[string][]*vex.VEX{}}
	acted := map[int64]bool{}
	rec := recorder{cat: cat, res: res}
	opens := openReader{cat: cat}
	if b, ok := cat.(catalog.Batch); ok {
		rec.batch, opens.batch = b, b
	}
	for i, key := range keys {
		p := platforms[key]
		v := p.version
		prev, err := opens.of(ctx, v, keys[i:], platforms)
		if err != nil {
			return nil, err
		}
		found, ok := byPlatform[key]
		if !ok && len(prev[p.digest]) == 0 {
			continue // no findings now, none open before
		}
		docs, err := vexDocs.of(ctx, v.Image)
		if err != nil {
			return nil, err
		}
		fs := vuln.ApplyVEX(found, docs, evidence.Image{Ref: v.Image + ":" + v.Line, Digest: p.digest})
		fs = keepVEX(fs, prev[p.digest])
		if !acted[v.ID] {
			if a := opt.Policy.act(ctx, cat, v, p.name, fs, prev[p.digest], now); a != nil {
				acted[v.ID] = true
				res.Actions = append(res.Actions, *a)
			}
		}
		if err := rec.add(ctx, v, p.name, catalog.Scan{VersionID: v.ID, Platform: p.digest, Findings: fs, At: now, Data: res.Data}); err != nil {
			return nil, err
		}
	}
	if err := rec.flush(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// recordBatch is how many platform images' scans are recorded in one transaction when the
// catalog can (catalog.Batch): a transaction each costs more than the findings of most.
const recordBatch = 200

// recorder records the scans of a re-scan, in batches when the catalog can. The policy acts on a
// version before its scan is added, so before it is recorded, batch or not.
type recorder struct {
	cat     catalog.Catalog
	batch   catalog.Batch
	res     *RescanResult
	pending []catalog.Scan
	names   [][2]string // version and platform name of each pending scan
}

func (r *recorder) add(ctx context.Context, v *catalog.Version, platform string, sc catalog.Scan) error {
	if r.batch == nil {
		change, err := r.cat.RecordScan(ctx, sc)
		if err != nil {
			return fmt.Errorf("recording the re-scan of %s (%s): %w", v.Ref(), platform, err)
		}
		r.done(v.Ref(), platform, change)
		return nil
	}
	r.pending = append(r.pending, sc)
	r.names = append(r.names, [2]string{v.Ref(), platform})
	if len(r.pending) >= recordBatch {
		return r.flush(ctx)
	}
	return nil
}

func (r *recorder) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	changes, err := r.batch.RecordScans(ctx, r.pending)
	if err != nil {
		return fmt.Errorf("recording the re-scan of %d platform images (%s (%s) to %s (%s)): %w", len(r.pending),
			r.names[0][0], r.names[0][1], r.names[len(r.names)-1][0], r.names[len(r.names)-1][1], err)
	}
	for i, ch := range changes {
		r.done(r.names[i][0], r.names[i][1], ch)
	}
	r.pending, r.names = r.pending[:0], r.names[:0]
	return nil
}

func (r *recorder) done(version, platform string, change catalog.ScanChange) {
	r.res.Recorded++
	if change.Changed() {
		r.res.Changes = append(r.res.Changes, PlatformChange{Version: version, Platform: platform, ScanChange: change})
	}
}

// matchOnce matches the distinct packages against the data, once each, ecosystem by ecosystem (a
// package's ecosystem decides which advisories apply), and returns the findings of each.
func matchOnce(ctx context.Context, db *vuln.DB, pkgs []evidence.Package) (map[pkgKey][]evidence.Finding, error) {
	byEco := map[string][]evidence.Package{}
	for _, p := range pkgs {
		if p.Ecosystem != "" {
			byEco[p.Ecosystem] = append(byEco[p.Ecosystem], p)
		}
	}
	out := map[pkgKey][]evidence.Finding{}
	for eco, ps := range byEco {
		fs, err := db.Match(ctx, &evidence.Inventory{Packages: ps})
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if f.Package == nil {
				continue
			}
			k := pkgKey{eco: eco, name: f.Package.Name, version: f.Package.Version, purl: f.Package.PURL}
			out[k] = append(out[k], f)
		}
	}
	return out, nil
}

// findingID names a finding within a platform image, as the catalog keys it.
type findingID struct{ id, pkg, version string }

func idOf(f evidence.Finding) findingID {
	k := findingID{id: f.ID}
	if f.Package != nil {
		k.pkg, k.version = f.Package.Name, f.Package.Version
	}
	return k
}

// openFindings are a version's open findings, by platform image digest.
type openFindings map[string]map[findingID]catalog.OpenFinding

// openReader reads what the versions a re-scan records had open before: a catalog that can
// (catalog.Batch) answers for the versions of the next few hundred platform images at once, from its
// columns; another reads each version's FindingHistory.
type openReader struct {
	cat   catalog.Catalog
	batch catalog.Batch
	read  map[int64]openFindings // the versions of the current batch
}

// of returns v's open findings; next are the keys of the platform images still to re-scan, from v's
// on, whose versions are read with v's.
func (o *openReader) of(ctx context.Context, v *catalog.Version, next []string, platforms map[string]platformRef) (openFindings, error) {
	if got, ok := o.read[v.ID]; ok {
		return got, nil
	}
	o.read = map[int64]openFindings{v.ID: {}}
	if o.batch == nil {
		hist, err := o.cat.FindingHistory(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()})
		if err != nil {
			return nil, err
		}
		digests := map[string]string{}
		for _, p := range v.Platforms {
			digests[p.Name()] = p.Digest
		}
		for _, tf := range hist {
			if !tf.Open {
				continue
			}
			f := catalog.OpenFinding{VersionID: v.ID, Platform: digests[tf.Platform], ID: tf.Finding.ID,
				Severity: tf.Finding.Severity, Status: tf.Finding.Status, FixedVersion: tf.Finding.FixedVersion}
			if !f.Counts() {
				f.Reason = tf.Finding.Reason
			}
			if tf.Finding.Package != nil {
				f.Package, f.PackageVersion = tf.Finding.Package.Name, tf.Finding.Package.Version
			}
			o.read[v.ID].add(f)
		}
		return o.read[v.ID], nil
	}
	ids := []int64{v.ID}
	for _, k := range next[:min(len(next), recordBatch)] {
		if id := platforms[k].version.ID; o.read[id] == nil {
			o.read[id] = openFindings{}
			ids = append(ids, id)
		}
	}
	fs, err := o.batch.OpenFindings(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if got := o.read[f.VersionID]; got != nil {
			got.add(f)
		}
	}
	return o.read[v.ID], nil
}

func (o openFindings) add(f catalog.OpenFinding) {
	if o[f.Platform] == nil {
		o[f.Platform] = map[findingID]catalog.OpenFinding{}
	}
	o[f.Platform][findingID{id: f.ID, pkg: f.Package, version: f.PackageVersion}] = f
}

// keepVEX keeps the VEX statements recorded on findings (at build time, from the spec's documents):
// a finding that still counts takes the status and reason the same finding had.
func keepVEX(fs []evidence.Finding, prev map[findingID]catalog.OpenFinding) []evidence.Finding {
	for i, f := range fs {
		if !f.Counts() {
			continue
		}
		if old, ok := prev[idOf(f)]; ok && (old.Status == evidence.StatusNotAffected || old.Status == evidence.StatusFixed) {
			fs[i].Status, fs[i].Reason = old.Status, old.Reason
		}
	}
	return fs
}

// act applies the policy to a version for the findings a re-scan introduces into one of its
// platform images: those that count and were not open and counting before, at or above the
// policy's severity, with a fixed version.
func (p Policy) act(ctx context.Context, cat catalog.Catalog, v *catalog.Version, platform string, fs []evidence.Finding, prev map[findingID]catalog.OpenFinding, now time.Time) *PolicyAction {
	if p.Action == "" || p.Action == ActionNone {
		return nil
	}
	var hits []PolicyFinding
	for _, f := range fs {
		if f.Kind != evidence.KindVulnerability || !f.Counts() || f.Severity < p.MinSeverity || f.FixedVersion == "" || f.Package == nil {
			continue
		}
		if old, ok := prev[idOf(f)]; ok && old.Counts() {
			continue // not new: someone may have restored the version knowing it
		}
		hits = append(hits, PolicyFinding{ID: f.ID, Severity: f.Severity, Package: f.Package.Name, Version: f.Package.Version, FixedVersion: f.FixedVersion, Platform: platform})
	}
	if len(hits) == 0 {
		return nil
	}
	slices.SortFunc(hits, func(a, b PolicyFinding) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		return strings.Compare(a.ID+a.Package, b.ID+b.Package)
	})
	reason := "automatic: " + hits[0].String()
	if len(hits) > 1 {
		reason += fmt.Sprintf(" and %d more", len(hits)-1)
	}
	a := &PolicyAction{Version: v.Ref(), Digest: v.Digest, Action: p.Action, Reason: reason, Findings: hits}
	detail, err := json.Marshal(map[string]any{"policy": p.String(), "findings": hits})
	if err != nil {
		a.Error = err.Error()
		return a
	}
	ref := catalog.Ref{Image: v.Image, Version: v.Tag()}
	switch p.Action {
	case ActionRevoke:
		_, err = cat.SetStatus(ctx, ref, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: reason, Actor: Actor, At: now, Detail: detail})
	case ActionFlag:
		_, err = cat.Flag(ctx, ref, catalog.Note{Reason: reason, Actor: Actor, At: now, Detail: detail})
	}
	if errors.Is(err, catalog.ErrTransition) {
		err = nil // revoked already (a re-scan that died before recording its findings)
	}
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

// vexCache reads each image's registered VEX documents once.
type vexCache struct {
	store *store.Store
	cat   catalog.Catalog
	docs  map[string][]*vex.VEX
}

func (c *vexCache) of(ctx context.Context, image string) ([]*vex.VEX, error) {
	if docs, ok := c.docs[image]; ok || c.store == nil {
		return docs, nil
	}
	rs, err := c.cat.Spec(ctx, image)
	if errors.Is(err, catalog.ErrNotFound) {
		c.docs[image] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, cleanup, err := unpack(*c.store, rs)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	local, err := s.Local()
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range local.VEX {
		paths = append(paths, filepath.Join(f.Root, f.Rel))
	}
	docs, err := vuln.LoadVEX(paths...)
	if err != nil {
		return nil, fmt.Errorf("registered spec %s: %w", image, err)
	}
	c.docs[image] = docs
	return docs, nil
}

// dataName names the vulnerability data for the catalog's events: each source and when it was
// imported.
func dataName(st vuln.Status) string {
	var parts []string
	for _, s := range st.Sources {
		parts = append(parts, s.Name+" ("+s.Imported.UTC().Format(time.RFC3339)+")")
	}
	return strings.Join(parts, ", ")
}
