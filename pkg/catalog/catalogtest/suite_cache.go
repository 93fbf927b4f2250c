package catalogtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// statusesOf renders what the queries across versions say of each version: "image@tag status" for
// the exposures of libssl3 and the critical findings, each sorted.
func statusesOf(t *testing.T, c catalog.Catalog) (exposed, critical []string) {
	t.Helper()
	es, err := c.QueryPackage(t.Context(), catalog.PackageQuery{Name: "libssl3"})
	if err != nil {
		t.Fatal(err)
	}
	exposed = []string{}
	for _, e := range es {
		exposed = append(exposed, e.Image+"@"+e.Tag+" "+string(e.Status))
	}
	fs, err := c.QueryFindings(t.Context(), catalog.FindingQuery{MinSeverity: evidence.SeverityCritical})
	if err != nil {
		t.Fatal(err)
	}
	critical = []string{}
	for _, f := range fs {
		critical = append(critical, f.Image+"@"+f.Tag+" "+string(f.Status))
	}
	slices.Sort(exposed)
	slices.Sort(critical)
	return exposed, critical
}

// wantStatuses checks that both queries see exactly want.
func wantStatuses(t *testing.T, c catalog.Catalog, when string, want ...string) {
	t.Helper()
	slices.Sort(want)
	exposed, critical := statusesOf(t, c)
	if !slices.Equal(exposed, want) || !slices.Equal(critical, want) {
		t.Errorf("%s:\n exposure query %q\n findings query %q\n want %q", when, exposed, critical, want)
	}
}

// cacheFixture is a version of image shipping libssl3 with a critical finding on it.
func cacheFixture(image, seed string) *catalog.Version {
	pkgs := basePackages()
	return version(image, "1.0", seed, pkgs, vulnFinding("CVE-2025-7777", evidence.SeverityCritical, pkgs[1], "3.0.13-1"))
}

// testQueryCache: whatever a backend keeps between queries, every change of status (and every
// version published) is in the answer of the very next query, the statuses it filters on included.
func testQueryCache(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	wantStatuses(t, c, "empty catalog")
	w1 := release(t, c, cacheFixture("web", "qc-1"), t0)
	wantStatuses(t, c, "first version", "web@1.0-r1 active")
	w2 := release(t, c, cacheFixture("web", "qc-2"), t0.Add(time.Hour)) // no grace: r1 is deprecated
	wantStatuses(t, c, "second version", "web@1.0-r1 deprecated", "web@1.0-r2 active")
	setStatus(t, c, w2, catalog.StatusRevoked, t0.Add(2*time.Hour))
	wantStatuses(t, c, "r2 revoked", "web@1.0-r1 deprecated", "web@1.0-r2 revoked")
	setStatus(t, c, w1, catalog.StatusActive, t0.Add(3*time.Hour))
	wantStatuses(t, c, "r1 restored", "web@1.0-r1 active", "web@1.0-r2 revoked")
	// A filter on status is answered from the same statuses.
	active, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3", Statuses: []catalog.Status{catalog.StatusActive}})
	if err != nil || len(active) != 1 || active[0].Tag != w1.Tag() {
		t.Errorf("active versions shipping libssl3: %q %v, want r1 only", exposures(active), err)
	}
	crit, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical, Statuses: []catalog.Status{catalog.StatusRevoked}})
	if err != nil || len(crit) != 1 || crit[0].Tag != w2.Tag() {
		t.Errorf("revoked versions with a critical finding: %q %v, want r2 only", findingIDs(crit), err)
	}
	// Pending versions are never in an answer; published, they are at once.
	p := begin(t, c, cacheFixture("api", "qc-api"))
	wantStatuses(t, c, "api pending", "web@1.0-r1 active", "web@1.0-r2 revoked")
	publish(t, c, p, t0.Add(4*time.Hour), time.Hour)
	wantStatuses(t, c, "api published", "api@1.0-r1 active", "web@1.0-r1 active", "web@1.0-r2 revoked")
	// An abandoned pending version leaves nothing, and what is begun after it is not mistaken for it.
	gone := begin(t, c, cacheFixture("tmp", "qc-gone"))
	wantStatuses(t, c, "tmp pending", "api@1.0-r1 active", "web@1.0-r1 active", "web@1.0-r2 revoked")
	if err := c.Abandon(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	release(t, c, cacheFixture("other", "qc-other"), t0.Add(5*time.Hour))
	wantStatuses(t, c, "after an abandoned version", "api@1.0-r1 active", "other@1.0-r1 active", "web@1.0-r1 active", "web@1.0-r2 revoked")
	// Deprecation when the grace period ends is a change of status like any other.
	release(t, c, cacheFixture("api", "qc-api2"), t0.Add(6*time.Hour))
	if _, err := c.DeprecateDue(ctx, t0.Add(6*time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, "api r1 past its grace", "api@1.0-r1 deprecated", "api@1.0-r2 active", "other@1.0-r1 active",
		"web@1.0-r1 active", "web@1.0-r2 revoked")
	// A re-scan that closes the finding takes it out of the findings query at once.
	if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: w1.ID, Platform: w1.Platforms[0].Digest, At: t0.Add(7 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, critical := statusesOf(t, c); slices.Contains(critical, "web@1.0-r1 active") {
		t.Errorf("after a clean re-scan of web r1: %q", critical)
	}
	testCacheConcurrent(t, c, c, w1)
}

// testCacheConcurrent changes v's status on b over and over while queries run on a, and checks
// after each change that the next query on a has it.
func testCacheConcurrent(t *testing.T, a, b catalog.Catalog, v *catalog.Version) {
	ctx := t.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 3 { // readers keep the cache busy meanwhile
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3"}); err != nil {
					errs <- err
					return
				}
				if _, err := a.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityHigh}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	statuses := []catalog.Status{catalog.StatusRevoked, catalog.StatusActive, catalog.StatusDeprecated, catalog.StatusActive}
	for i := range 24 {
		st := statuses[i%len(statuses)]
		if _, err := b.SetStatus(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()}, catalog.StatusChange{Status: st, Reason: "churn", At: t0}); err != nil {
			t.Errorf("SetStatus %s: %v", st, err)
			break
		}
		es, err := a.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3"})
		if err != nil {
			t.Error(err)
			break
		}
		got := ""
		for _, e := range es {
			if e.Tag == v.Tag() && e.Image == v.Image {
				got = string(e.Status)
			}
		}
		if got != string(st) {
			t.Errorf("change %d: %s set to %s, the next query says %q", i, v.Ref(), st, got)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// CacheAcrossHandles checks that what one handle of a database (a connection pool, as another
// process has) changes is in the very next answer of the other, however warm the other's caches.
func CacheAcrossHandles(t *testing.T, a, b catalog.Catalog) {
	w1 := release(t, b, cacheFixture("web", "qh-1"), t0)
	wantStatuses(t, a, "published on the other handle", "web@1.0-r1 active")
	w2 := release(t, b, cacheFixture("web", "qh-2"), t0.Add(time.Hour))
	wantStatuses(t, a, "r2 on the other handle", "web@1.0-r1 deprecated", "web@1.0-r2 active")
	setStatus(t, b, w2, catalog.StatusRevoked, t0.Add(2*time.Hour))
	wantStatuses(t, a, "r2 revoked on the other handle", "web@1.0-r1 deprecated", "web@1.0-r2 revoked")
	setStatus(t, a, w2, catalog.StatusActive, t0.Add(3*time.Hour))
	wantStatuses(t, b, "r2 restored on the first handle", "web@1.0-r1 deprecated", "web@1.0-r2 active")
	wantStatuses(t, a, "r2 restored, asked where it was restored", "web@1.0-r1 deprecated", "web@1.0-r2 active")
	testCacheConcurrent(t, a, b, w1)
}

// testBeginBatch: BeginBatch records what Begin one by one records, in one transaction.
func testBeginBatch(t *testing.T, c catalog.Catalog) {
	bc, ok := c.(catalog.Batch)
	if !ok {
		t.Skip("the backend records versions one at a time only")
	}
	ctx := t.Context()
	pkgs := basePackages()
	one := release(t, c, version("web", "1.0", "bb-0", pkgs), t0)
	var batch []*catalog.Version
	for i := range 5 {
		image := []string{"web", "api"}[i%2]
		extra := gomod("golang.org/x/net", fmt.Sprintf("v0.%d.0", 20+i))
		batch = append(batch, version(image, "1.0", fmt.Sprintf("bb-%d", i+1), append(slices.Clone(pkgs), extra),
			vulnFinding("CVE-2025-9000", evidence.SeverityCritical, pkgs[1], "3.0.13-1"),
			vulnFinding(fmt.Sprintf("GO-2025-%04d", i), evidence.SeverityHigh, extra, "v0.30.0")))
	}
	batch = append(batch, version("web", "1.0", "bb-0", pkgs), version("api", "1.0", "bb-2", pkgs)) // recorded before; twice in the batch
	got, existed, err := bc.BeginBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(batch) || len(existed) != len(batch) {
		t.Fatalf("BeginBatch of %d returned %d versions, %d flags", len(batch), len(got), len(existed))
	}
	wantTags := []string{"web@1.0-r2", "api@1.0-r1", "web@1.0-r3", "api@1.0-r2", "web@1.0-r4", "web@1.0-r1", "api@1.0-r1"}
	for i, v := range got {
		if v.Image+"@"+v.Tag() != wantTags[i] || existed[i] != (i >= 5) {
			t.Errorf("version %d: %s existed %v, want %s existed %v", i, v.Ref(), existed[i], wantTags[i], i >= 5)
		}
	}
	if got[5].ID != one.ID || got[6].ID != got[1].ID || got[5].State != catalog.StatePublished {
		t.Errorf("versions recorded before come back as they are: %+v %+v", got[5], got[6])
	}
	for _, v := range got[:5] {
		if v.State != catalog.StatePending || v.ID == 0 {
			t.Errorf("%s: state %s id %d, want pending with an id", v.Ref(), v.State, v.ID)
		}
		publish(t, c, v, t0.Add(time.Hour), time.Hour)
	}
	// What Begin one by one records: packages linked, evidence kept, findings queryable.
	for _, v := range got[:5] {
		g := get(t, c, v.Ref())
		if g.Digest != v.Digest || len(g.Platforms) != 1 || g.Platforms[0].Evidence == nil ||
			len(g.Platforms[0].Evidence.Inventory.Packages) != len(pkgs)+1 {
			t.Errorf("%s as recorded: %+v", v.Ref(), g)
		}
	}
	es, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "golang.org/x/net", Range: ">=0.22.0"})
	if err != nil {
		t.Fatal(err)
	}
	if g := exposures(es); !slices.Equal(g, []string{
		"api@1.0-r2 linux/amd64 golang.org/x/net v0.23.0 active",
		"web@1.0-r3 linux/amd64 golang.org/x/net v0.22.0 active",
		"web@1.0-r4 linux/amd64 golang.org/x/net v0.24.0 active"}) {
		t.Errorf("x/net >= 0.22.0: %q", g)
	}
	fs, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical})
	if err != nil || len(fs) != 5 {
		t.Errorf("critical findings after the batch: %q %v, want one per version of the batch", findingIDs(fs), err)
	}
	h, err := c.FindingHistory(ctx, catalog.Ref{Image: "api", Version: "1.0-r2"})
	if err != nil || len(h) != 2 || !h[0].FirstSeen.Equal(t0.Add(-30*time.Second)) {
		t.Errorf("finding history of a batch version: %+v %v", h, err)
	}
	// One bad version refuses the whole batch: nothing of the others is recorded.
	before, err := c.List(ctx, catalog.ListOptions{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := version("web", "1.0", "bb-bad", pkgs)
	bad.Platforms[0].Digest = "md5:x"
	_, _, err = bc.BeginBatch(ctx, []*catalog.Version{version("web", "1.0", "bb-ok", pkgs), bad})
	wantErr(t, "BeginBatch with a bad version", err, catalog.ErrInvalid)
	after, err := c.List(ctx, catalog.ListOptions{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("a refused batch recorded %d version(s)", len(after)-len(before))
	}
	if got, existed, err := bc.BeginBatch(ctx, nil); err != nil || len(got) != 0 || len(existed) != 0 {
		t.Errorf("an empty batch: %v %v %v", got, existed, err)
	}
}

// testRecordScans: RecordScans records what RecordScan one by one records, in one transaction.
func testRecordScans(t *testing.T, c catalog.Catalog) {
	bc, ok := c.(catalog.Batch)
	if !ok {
		t.Skip("the backend records scans one at a time only")
	}
	ctx := t.Context()
	pkgs := basePackages()
	cveA := vulnFinding("CVE-2025-1000", evidence.SeverityHigh, pkgs[1], "3.0.13-1~deb12u1")
	cveB := vulnFinding("CVE-2025-1001", evidence.SeverityMedium, pkgs[0], "")
	cveC := vulnFinding("CVE-2025-1002", evidence.SeverityCritical, pkgs[1], "3.0.14-1~deb12u1")
	v1 := release(t, c, version("web", "1.0", "rss-1", pkgs, cveA), t0)
	v2 := release(t, c, version("api", "1.0", "rss-2", pkgs, cveB), t0)
	at := t0.Add(time.Hour)
	scan := func(v *catalog.Version, fs ...evidence.Finding) catalog.Scan {
		return catalog.Scan{VersionID: v.ID, Platform: v.Platforms[0].Digest, Findings: fs, At: at, Data: "osv 2025-03-02"}
	}
	nEvents := len(allEvents(t, c))
	changes, err := bc.RecordScans(ctx, []catalog.Scan{scan(v1, cveA, cveC), scan(v2, cveB)})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !slices.Equal(changes[0].Introduced, []string{"CVE-2025-1002 libssl3 3.0.11-1~deb12u2"}) ||
		len(changes[0].Fixed) != 0 || changes[1].Changed() {
		t.Errorf("changes = %+v, want CVE-2025-1002 introduced in the first, nothing in the second", changes)
	}
	evs := allEvents(t, c)
	if len(evs) != nEvents+1 || evs[len(evs)-1].Kind != catalog.EventRescanned || evs[len(evs)-1].VersionID != v1.ID {
		t.Errorf("events after the batch: %d more, last %+v; want one rescanned event of %s", len(evs)-nEvents, evs[len(evs)-1], v1.Ref())
	}
	crit, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical})
	if err != nil || !slices.Equal(findingIDs(crit), []string{"web@1.0-r1 CVE-2025-1002"}) {
		t.Errorf("critical findings after the batch: %q %v", findingIDs(crit), err)
	}
	for _, v := range []*catalog.Version{v1, v2} {
		if g := get(t, c, v.Ref()); !g.Platforms[0].Scanned.Equal(at) {
			t.Errorf("%s scanned %v, want %v", v.Ref(), g.Platforms[0].Scanned, at)
		}
	}
	// One scan that cannot be recorded refuses the whole batch: the other's finding stays closed.
	nEvents = len(allEvents(t, c))
	bad := scan(v2, cveB)
	bad.Platform = "sha256:" + strings.Repeat("0", 64)
	_, err = bc.RecordScans(ctx, []catalog.Scan{scan(v1, cveC), bad})
	wantErr(t, "RecordScans with an unknown platform image", err, catalog.ErrNotFound)
	if n := len(allEvents(t, c)); n != nEvents {
		t.Errorf("a refused batch appended %d event(s)", n-nEvents)
	}
	h, err := c.FindingHistory(ctx, catalog.Ref{Image: "web", Version: v1.Tag()})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range h {
		if f.Finding.ID == cveA.ID && !f.Open {
			t.Errorf("a refused batch closed %s", cveA.ID)
		}
	}
	// One platform image twice in a batch: the second scan is compared with what the first recorded,
	// as two RecordScan calls would be, and the events follow in order.
	nEvents = len(allEvents(t, c))
	later := scan(v2, cveB, cveC)
	later.At = at.Add(time.Hour)
	changes, err = bc.RecordScans(ctx, []catalog.Scan{scan(v2), later})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || !slices.Equal(changes[0].Fixed, []string{"CVE-2025-1001 libc6 2.36-9+deb12u4"}) ||
		!slices.Equal(changes[1].Introduced, []string{"CVE-2025-1001 libc6 2.36-9+deb12u4", "CVE-2025-1002 libssl3 3.0.11-1~deb12u2"}) {
		t.Errorf("changes of one platform image scanned twice = %+v, want CVE-2025-1001 fixed, then it and CVE-2025-1002 introduced", changes)
	}
	evs = allEvents(t, c)
	if len(evs) != nEvents+2 || evs[len(evs)-2].Seq >= evs[len(evs)-1].Seq || evs[len(evs)-1].At.Before(evs[len(evs)-2].At) {
		t.Errorf("events after scanning one platform image twice: %d more (%+v), want two in order", len(evs)-nEvents, evs[nEvents:])
	}
	if g := get(t, c, v2.Ref()); !g.Platforms[0].Scanned.Equal(later.At) {
		t.Errorf("%s scanned %v, want the later scan's %v", v2.Ref(), g.Platforms[0].Scanned, later.At)
	}
	bad.Platform = "md5:x"
	_, err = bc.RecordScans(ctx, []catalog.Scan{bad})
	wantErr(t, "RecordScans with a malformed digest", err, catalog.ErrInvalid)
	if changes, err := bc.RecordScans(ctx, nil); err != nil || len(changes) != 0 {
		t.Errorf("an empty batch: %v %v", changes, err)
	}
}

// testOpenFindings: OpenFindings answers, for many versions at once, the open findings of each
// platform image with what a re-scan compares (severity, status, fixed version, and the reason of a
// finding that does not count), and nothing of other versions or closed findings.
func testOpenFindings(t *testing.T, c catalog.Catalog) {
	bc, ok := c.(catalog.Batch)
	if !ok {
		t.Skip("the backend records scans one at a time only")
	}
	ctx := t.Context()
	pkgs := basePackages()
	cveA := vulnFinding("CVE-2025-1000", evidence.SeverityHigh, pkgs[1], "3.0.13-1~deb12u1")
	cveB := vulnFinding("CVE-2025-1001", evidence.SeverityMedium, pkgs[0], "")
	cveC := vulnFinding("CVE-2025-1002", evidence.SeverityCritical, pkgs[1], "3.0.14-1~deb12u1")
	v1 := release(t, c, version("web", "1.0", "of-1", pkgs, cveA, cveB), t0)
	v2 := release(t, c, version("api", "1.0", "of-2", pkgs, cveC), t0)
	release(t, c, version("db", "1.0", "of-3", pkgs, cveA), t0) // not asked for
	// A re-scan of v1: cveB gone (closed), cveA not affected by a VEX statement.
	vexA := cveA
	vexA.Status, vexA.Reason = evidence.StatusNotAffected, "vulnerable_code_not_in_execute_path"
	if _, err := bc.RecordScans(ctx, []catalog.Scan{{VersionID: v1.ID, Platform: v1.Platforms[0].Digest,
		Findings: []evidence.Finding{vexA}, At: t0.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := bc.OpenFindings(ctx, []int64{v2.ID, v1.ID})
	if err != nil {
		t.Fatal(err)
	}
	first, second := v1, v2
	if v2.ID < v1.ID {
		first, second = v2, v1
	}
	want := map[int64]catalog.OpenFinding{
		v1.ID: {VersionID: v1.ID, Platform: v1.Platforms[0].Digest, ID: cveA.ID, Package: "libssl3", PackageVersion: pkgs[1].Version,
			Severity: evidence.SeverityHigh, Status: evidence.StatusNotAffected, Reason: vexA.Reason, FixedVersion: cveA.FixedVersion},
		v2.ID: {VersionID: v2.ID, Platform: v2.Platforms[0].Digest, ID: cveC.ID, Package: "libssl3", PackageVersion: pkgs[1].Version,
			Severity: evidence.SeverityCritical, Status: evidence.StatusAffected, FixedVersion: cveC.FixedVersion},
	}
	if len(got) != 2 || got[0] != want[first.ID] || got[1] != want[second.ID] {
		t.Errorf("OpenFindings = %+v\nwant %+v then %+v (v3's and the closed %s left out)", got, want[first.ID], want[second.ID], cveB.ID)
	}
	if !want[v2.ID].Counts() || want[v1.ID].Counts() {
		t.Errorf("OpenFinding.Counts: want the affected finding counted and the not-affected one not")
	}
	if got, err := bc.OpenFindings(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("OpenFindings of no versions: %v %v", got, err)
	}
}

// testLinkCache: an exposure query answers versions published after it, never pending ones, and
// never a pending platform image that was abandoned, even where the backend gives its id to the
// next one (SQLite) and the query's links were kept in memory before (stores that keep them are
// told to keep every package's).
func testLinkCache(t *testing.T, c catalog.Catalog) {
	if lc, ok := c.(interface{ CacheLinksFrom(int) }); ok {
		lc.CacheLinksFrom(1)
	}
	ctx := t.Context()
	pkgs := basePackages()
	only := []evidence.Package{pkgs[2]} // tzdata, no libssl3
	tags := func() []string {
		t.Helper()
		es, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Image+"@"+e.Tag)
		}
		slices.Sort(out)
		return out
	}
	want := func(what string, w ...string) {
		t.Helper()
		if got := tags(); !slices.Equal(got, w) {
			t.Errorf("%s: libssl3 in %q, want %q", what, got, w)
		}
	}
	release(t, c, version("lc", "1.0", "lc-1", pkgs), t0)
	want("one version", "lc@1.0-r1")
	p := begin(t, c, version("lc", "1.0", "lc-2", pkgs))
	want("a pending version ships it too", "lc@1.0-r1")
	if err := c.Abandon(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	release(t, c, version("lc", "1.0", "lc-3", pkgs), t0.Add(time.Hour))
	// (The abandoned version had taken serial 2.)
	want("after one was abandoned and another published", "lc@1.0-r1", "lc@1.0-r3")
	// The newest platform image does not ship libssl3, and is abandoned; its id may go to the next
	// one, which does.
	p = begin(t, c, version("other", "1.0", "lc-4", only))
	want("a pending version of another package", "lc@1.0-r1", "lc@1.0-r3")
	if err := c.Abandon(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	release(t, c, version("lc", "1.0", "lc-5", pkgs), t0.Add(2*time.Hour))
	release(t, c, version("other", "1.0", "lc-6", only), t0.Add(3*time.Hour))
	want("after the abandoned id was given again", "lc@1.0-r1", "lc@1.0-r3", "lc@1.0-r4")
	// A pending version published later joins the answer.
	p = begin(t, c, version("late", "1.0", "lc-7", pkgs))
	release(t, c, version("lc", "1.0", "lc-8", pkgs), t0.Add(4*time.Hour))
	want("a newer one published first", "lc@1.0-r1", "lc@1.0-r3", "lc@1.0-r4", "lc@1.0-r5")
	publish(t, c, p, t0.Add(5*time.Hour), time.Hour)
	want("the older pending one published", "late@1.0-r1", "lc@1.0-r1", "lc@1.0-r3", "lc@1.0-r4", "lc@1.0-r5")
}
