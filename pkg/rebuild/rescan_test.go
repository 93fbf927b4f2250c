package rebuild

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// vexNotAffected is an OpenVEX document saying image vexed:1.0 is not affected by CVE-2099-0001.
const vexNotAffected = `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1",
  "author": "tests",
  "timestamp": "2024-01-01T00:00:00Z",
  "version": 1,
  "statements": [{
    "vulnerability": {"name": "CVE-2099-0001"},
    "products": [{"@id": "vexed:1.0"}],
    "status": "not_affected",
    "justification": "vulnerable_code_not_in_execute_path"
  }]
}`

// TestRescanRevokesAndSLA: three images are built with hello-data 1.0 pinned (app, and vexed, whose
// VEX document says it is not affected) or without it (other). A newer hello-data appears upstream
// (a cycle records when), then an advisory fixed by it arrives: the re-scan revokes exactly app's
// version (critical, fix available, no VEX), naming the finding in the event. A high advisory in
// base-files, whose fix never appears upstream, revokes nothing. Registered again without the pin,
// app is rebuilt with the fix, and the SLA says: the critical finding's clock started when the fix
// was first seen upstream and stopped when the rebuilt version was published (3 days, within 7);
// the high one, counted from its advisory's publication, is an open breach in every image.
func TestRescanRevokesAndSLA(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	t0 := f.clock.Now()
	day := 24 * time.Hour
	cfg := f.config()
	f.register(f.specBody("app", "hello-data=1.0", ""), nil)
	f.register(f.specBody("vexed", "hello-data=1.0", "evidence: {vex: [vex.json]}\n"), map[string]string{"vex.json": vexNotAffected})
	f.register(f.specBody("other", "base-files", ""), nil)
	if res := rebuilt(t, f.cycle(cfg)); len(res) != 3 {
		t.Fatalf("first cycle rebuilt %+v, want the three images", res)
	}

	// Day 1: hello-data 1.1 upstream; the pinned specs do not change.
	f.clock.set(t0.Add(day))
	f.repo.Publish(t, repoWith(baseFiles("12.4"), helloData("1.0"), helloData("1.1")))
	if out := f.cycle(cfg); len(out.Report.Rebuilds) != 0 {
		t.Fatalf("a cycle rebuilt pinned specs: %+v", out.Report.Rebuilds)
	}

	// Day 2: the advisories arrive.
	f.clock.set(t0.Add(2 * day))
	advPublished := t0.Add(36 * time.Hour)
	importAdvisories(t, f.st,
		advisory{id: "CVE-2099-0001", pkg: "hello-data", fixed: "1.1", cvss: cvssCritical, published: advPublished},
		advisory{id: "CVE-2099-0002", pkg: "base-files", fixed: "12.5", cvss: cvssHigh, published: advPublished})
	res, err := Rescan(ctx, f.cat, f.st.VulnDB(), RescanOptions{Policy: DefaultPolicy(), Store: &f.st, Now: f.clock.Now, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Revoked(); !slices.Equal(got, []string{"app@1.0-r1"}) {
		t.Fatalf("revoked %v, want exactly app@1.0-r1 (actions %+v)", got, res.Actions)
	}
	if res.Versions != 3 || res.Affected != 2 {
		t.Errorf("re-scan of %d versions found %d affected packages, want 3 and 2 (hello-data 1.0, base-files 12.4)", res.Versions, res.Affected)
	}
	for image, want := range map[string]catalog.Status{"app": catalog.StatusRevoked, "vexed": catalog.StatusActive, "other": catalog.StatusActive} {
		vs := f.versions(image)
		if len(vs) != 1 || vs[0].Status.Status != want {
			t.Errorf("%s: versions %+v, want one %s", image, vs, want)
		}
	}
	h, err := f.cat.History(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"})
	if err != nil {
		t.Fatal(err)
	}
	// The revocation comes first, then the re-scan's own event.
	kinds := []string{}
	for _, e := range h {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{catalog.EventPublished, catalog.EventStatus, catalog.EventRescanned}; !slices.Equal(kinds, want) {
		t.Fatalf("app@1.0-r1's history %q, want %q", kinds, want)
	}
	last := h[1]
	if last.Kind != catalog.EventStatus || last.Status != catalog.StatusRevoked || last.Actor != Actor ||
		!strings.Contains(last.Reason, "CVE-2099-0001 (critical) in hello-data 1.0, fixed in 1.1") {
		t.Errorf("revocation event %+v", last)
	}
	var detail struct {
		Findings []PolicyFinding `json:"findings"`
	}
	if err := json.Unmarshal(last.Detail, &detail); err != nil || len(detail.Findings) != 1 || detail.Findings[0].ID != "CVE-2099-0001" {
		t.Errorf("revocation detail %s (%v): want the finding", last.Detail, err)
	}
	vexed := findings(t, f, "vexed@1.0-r1")
	if fd := vexed["CVE-2099-0001"]; fd.Status != evidence.StatusNotAffected {
		t.Errorf("vexed's CVE-2099-0001 is %q, want not_affected by its VEX document", fd.Status)
	}

	// A second re-scan with the same data changes nothing and acts on nothing.
	events := len(allEvents(t, f.cat))
	again, err := Rescan(ctx, f.cat, f.st.VulnDB(), RescanOptions{Policy: DefaultPolicy(), Store: &f.st, Now: f.clock.Now})
	if err != nil || len(again.Actions) != 0 || len(again.Changes) != 0 {
		t.Errorf("second re-scan: %+v, %v; want nothing new", again, err)
	}
	if n := len(allEvents(t, f.cat)); n != events {
		t.Errorf("the second re-scan appended %d events", n-events)
	}

	// Day 5: app registered again without the pin, and rebuilt with the fix.
	f.clock.set(t0.Add(5 * day))
	f.register(f.specBody("app", "hello-data", ""), nil)
	out := f.cycle(cfg)
	r := rebuilt(t, out)["app"]
	if !r.Published || r.Version != "app@1.0-r2" || !strings.Contains(r.Reason, "hello-data 1.0 → 1.1 (fixes CVE-2099-0001)") ||
		!strings.Contains(r.Reason, "the registered spec changed since app@1.0-r1") {
		t.Fatalf("rebuild after registering again: %+v", out.Report.Rebuilds)
	}

	// Day 20: the SLA.
	now := t0.Add(20 * day)
	rep, err := SLA(ctx, f.cat, SLAOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	crit := slaFinding(t, rep, "app", "CVE-2099-0001")
	if crit.FixSource != FixUpstream || !crit.FixAvailable.Equal(t0.Add(day)) {
		t.Errorf("critical fix available %s from %s, want %s, when a cycle first saw hello-data 1.1", crit.FixAvailable, crit.FixSource, t0.Add(day))
	}
	if crit.State != SLARemediated || crit.RemediatedBy != "app@1.0-r2" || !crit.RemediatedAt.Equal(t0.Add(5*day)) {
		t.Errorf("critical finding %+v: want remediated by app@1.0-r2 on day 5", crit)
	}
	if crit.HoursToRemediate != 96 || !crit.WithinTarget || crit.Breached || crit.TargetHours != 7*24 {
		t.Errorf("critical finding took %vh (target %vh, within %v, breached %v), want 96h within 168h", crit.HoursToRemediate, crit.TargetHours, crit.WithinTarget, crit.Breached)
	}
	if _, ok := slaLookup(rep, "vexed", "CVE-2099-0001"); ok {
		t.Error("the SLA measures a finding VEX says does not affect the image")
	}
	for _, image := range []string{"app", "vexed", "other"} {
		high := slaFinding(t, rep, image, "CVE-2099-0002")
		if high.FixSource != FixAdvisory || !high.FixAvailable.Equal(advPublished) || high.State != SLAOpen || !high.Breached ||
			!high.Due.Equal(advPublished.Add(14*day)) {
			t.Errorf("%s's high finding %+v: want open, breached, due 14 days after the advisory", image, high)
		}
	}
	if len(rep.Breaches) != 3 {
		t.Errorf("open breaches %+v, want the three high findings", rep.Breaches)
	}
	var critStats *SLAStats
	for i := range rep.BySeverity {
		if rep.BySeverity[i].Key == "critical" {
			critStats = &rep.BySeverity[i]
		}
	}
	if critStats == nil || critStats.Remediated != 1 || critStats.WithinTarget != 1 || critStats.MedianHours != 96 {
		t.Errorf("critical stats %+v", critStats)
	}
	var remediated int
	for _, w := range rep.Trend {
		remediated += w.Remediated
	}
	if remediated != 1 {
		t.Errorf("trend %+v: want the one remediation", rep.Trend)
	}
}

func findings(t *testing.T, f *fixture, ref string) map[string]evidence.Finding {
	t.Helper()
	r, _ := catalog.ParseRef(ref)
	h, err := f.cat.FindingHistory(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]evidence.Finding{}
	for _, tf := range h {
		out[tf.Finding.ID] = tf.Finding
	}
	return out
}

func slaLookup(rep *SLAReport, image, id string) (SLAFinding, bool) {
	for _, f := range rep.Findings {
		if f.Image == image && f.ID == id {
			return f, true
		}
	}
	return SLAFinding{}, false
}

func slaFinding(t *testing.T, rep *SLAReport, image, id string) SLAFinding {
	t.Helper()
	f, ok := slaLookup(rep, image, id)
	if !ok {
		t.Fatalf("no SLA finding %s in %s among %+v", id, image, rep.Findings)
	}
	return f
}

// TestRescanPolicies: with the flag policy a new critical finding appends a flagged event naming it
// and leaves the version active; with none, only the re-scan's event; below the policy's level,
// nothing acts.
func TestRescanPolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		kinds  []string
		status catalog.Status
	}{
		{"flag", Policy{Action: ActionFlag, MinSeverity: evidence.SeverityCritical}, []string{catalog.EventPublished, catalog.EventFlagged, catalog.EventRescanned}, catalog.StatusActive},
		{"none", Policy{Action: ActionNone, MinSeverity: evidence.SeverityCritical}, []string{catalog.EventPublished, catalog.EventRescanned}, catalog.StatusActive},
		{"zero", Policy{}, []string{catalog.EventPublished, catalog.EventRescanned}, catalog.StatusActive},
		{"above", Policy{Action: ActionRevoke, MinSeverity: evidence.SeverityCritical + 1}, []string{catalog.EventPublished, catalog.EventRescanned}, catalog.StatusActive},
		{"revoke at high", Policy{Action: ActionRevoke, MinSeverity: evidence.SeverityHigh}, []string{catalog.EventPublished, catalog.EventStatus, catalog.EventRescanned}, catalog.StatusRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "", nil)
			ctx := context.Background()
			f.register(f.specBody("app", "hello-data", ""), nil)
			f.cycle(f.config())
			importAdvisories(t, f.st, advisory{id: "CVE-2099-0001", pkg: "hello-data", fixed: "1.1", cvss: cvssCritical, published: f.clock.Now()})
			res, err := Rescan(ctx, f.cat, f.st.VulnDB(), RescanOptions{Policy: tc.policy, Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			h, err := f.cat.History(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range h {
				kinds = append(kinds, e.Kind)
				if e.Kind == catalog.EventFlagged && !strings.Contains(e.Reason, "CVE-2099-0001 (critical) in hello-data 1.0") {
					t.Errorf("flag event reason %q does not name the finding", e.Reason)
				}
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("history %q, want %q (actions %+v)", kinds, tc.kinds, res.Actions)
			}
			if got := f.versions("app")[0].Status.Status; got != tc.status {
				t.Errorf("status %s, want %s", got, tc.status)
			}
		})
	}
}

func TestParsePolicyAndTargets(t *testing.T) {
	for _, tc := range []struct {
		action, severity string
		want             Policy
		err              bool
	}{
		{"", "", DefaultPolicy(), false},
		{"flag", "high", Policy{Action: ActionFlag, MinSeverity: evidence.SeverityHigh}, false},
		{"REVOKE", "medium", Policy{Action: ActionRevoke, MinSeverity: evidence.SeverityMedium}, false},
		{"revoke", "none", Policy{Action: ActionNone, MinSeverity: evidence.SeverityCritical}, false},
		{"delete", "", Policy{}, true},
		{"", "severe", Policy{}, true},
	} {
		got, err := ParsePolicy(tc.action, tc.severity)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("ParsePolicy(%q, %q) = %+v, %v; want %+v (error %v)", tc.action, tc.severity, got, err, tc.want, tc.err)
		}
	}
	tg, err := ParseTargets("critical=2d, high=36h, medium=none, low=90d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "critical=2d,high=36h0m0s,low=90d"; tg.String() != want {
		t.Errorf("targets %s, want %s", tg, want)
	}
	for _, bad := range []string{"critical", "critical=soon", "severe=1d", "high=-1d", "high=0d"} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("ParseTargets(%q) succeeded", bad)
		}
	}
	if DefaultTargets().String() != "critical=7d,high=14d,medium=30d" {
		t.Errorf("default targets %s", DefaultTargets())
	}
}

// TestRescanOneAtATime: a catalog that cannot answer for many versions at once (no catalog.Batch)
// is re-scanned from each version's finding history: the new finding is flagged once, and a second
// re-scan with the same data neither acts again nor changes anything.
func TestRescanOneAtATime(t *testing.T) {
	f := newFixture(t, "", nil)
	ctx := context.Background()
	f.register(f.specBody("app", "hello-data", ""), nil)
	f.cycle(f.config())
	importAdvisories(t, f.st, advisory{id: "CVE-2099-0001", pkg: "hello-data", fixed: "1.1", cvss: cvssCritical, published: f.clock.Now()})
	cat := struct{ catalog.Catalog }{f.cat} // hides catalog.Batch
	if _, ok := catalog.Catalog(cat).(catalog.Batch); ok {
		t.Fatal("the wrapped catalog still records in batches")
	}
	policy := Policy{Action: ActionFlag, MinSeverity: evidence.SeverityCritical}
	res, err := Rescan(ctx, cat, f.st.VulnDB(), RescanOptions{Policy: policy, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Actions) != 1 || res.Actions[0].Version != "app@1.0-r1" || len(res.Changes) != 1 || res.Recorded != 1 {
		t.Fatalf("first re-scan: actions %+v, changes %+v, recorded %d; want app@1.0-r1 flagged and changed", res.Actions, res.Changes, res.Recorded)
	}
	again, err := Rescan(ctx, cat, f.st.VulnDB(), RescanOptions{Policy: policy, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Actions) != 0 || len(again.Changes) != 0 || again.Recorded != 1 {
		t.Errorf("second re-scan: actions %+v, changes %+v, recorded %d; want nothing new, app@1.0-r1 recorded again", again.Actions, again.Changes, again.Recorded)
	}
}
