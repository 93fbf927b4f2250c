package catalogtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Run runs the suite: open returns an empty catalog for one subtest; Run closes it when the subtest
// ends.
func Run(t *testing.T, open func(t *testing.T) catalog.Catalog) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c catalog.Catalog)
	}{
		{"Begin", testBegin},
		{"Publish", testPublish},
		{"Grace", testGrace},
		{"Transitions", testTransitions},
		{"Get", testGet},
		{"List", testList},
		{"History", testHistory},
		{"Flag", testFlag},
		{"PendingAbandon", testPendingAbandon},
		{"EventsConcurrent", func(t *testing.T, c catalog.Catalog) { testEventsConcurrent(t, c, c) }},
		{"QueryPackage", testQueryPackage},
		{"QueryFindings", testQueryFindings},
		{"Packages", testPackages},
		{"RecordScan", testRecordScan},
		{"Scanned", testScanned},
		{"Specs", testSpecs},
		{"Upstream", testUpstream},
		{"Tokens", testTokens},
		{"Atomic", testAtomic},
		{"VMDisks", testVMDisks},
		{"CloudImages", testCloudImages},
		{"QueryCache", testQueryCache},
		{"BeginBatch", testBeginBatch},
		{"RecordScans", testRecordScans},
		{"LinkCache", testLinkCache},
		{"OpenFindings", testOpenFindings},
		{"RescanDetail", testRescanDetail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			t.Cleanup(func() {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, c)
		})
	}
}

// Concurrent checks that writers on two handles of one database (two connection pools, as two
// processes would have) interleave without failing and that the events they append are numbered
// without gaps, in an order a follower on the second handle sees as it polls.
func Concurrent(t *testing.T, a, b catalog.Catalog) {
	testEventsConcurrent(t, a, b)
}

// HalfWay checks that a write failing in the middle of its transaction leaves nothing: arm makes the
// database refuse the next finding written (a trigger, say), so Begin of a version with findings
// fails after its version, platform and package rows were written.
func HalfWay(t *testing.T, c catalog.Catalog, arm func(t *testing.T)) {
	ctx := t.Context()
	arm(t)
	v := version("halfway", "1.0", "halfway-1", []evidence.Package{npm("left-pad-halfway", "1.3.0")},
		vulnFinding("GHSA-half-way0-0001", evidence.SeverityHigh, npm("left-pad-halfway", "1.3.0"), "1.3.1"))
	if _, _, err := c.Begin(ctx, v); err == nil {
		t.Fatal("Begin succeeded although writing its findings fails")
	}
	pending, err := c.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("a failed Begin left %d pending version(s)", len(pending))
	}
	all, err := c.List(ctx, catalog.ListOptions{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 0 {
		t.Errorf("a failed Begin left %d version(s)", len(all))
	}
	pkgs, err := c.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 0 {
		t.Errorf("a failed Begin left packages: %v", pkgs)
	}
}

func begin(t *testing.T, c catalog.Catalog, v *catalog.Version) *catalog.Version {
	t.Helper()
	got, existed, err := c.Begin(t.Context(), v)
	if err != nil {
		t.Fatalf("Begin %s@%s: %v", v.Image, v.Line, err)
	}
	if existed {
		t.Fatalf("Begin %s@%s: existed", v.Image, v.Line)
	}
	return got
}

func publish(t *testing.T, c catalog.Catalog, v *catalog.Version, at time.Time, grace time.Duration) catalog.Event {
	t.Helper()
	ev, err := c.Publish(t.Context(), v.ID, catalog.Publication{
		Locations: []catalog.Location{{Kind: catalog.LocationLayout, Ref: "oci/" + v.Image + ":" + v.Tag()}},
		At:        at, Grace: grace, Actor: "ci",
	})
	if err != nil {
		t.Fatalf("Publish %s: %v", v.Ref(), err)
	}
	return ev
}

// release begins and publishes v at at, with no grace for older versions.
func release(t *testing.T, c catalog.Catalog, v *catalog.Version, at time.Time) *catalog.Version {
	t.Helper()
	got := begin(t, c, v)
	publish(t, c, got, at, 0)
	return got
}

func get(t *testing.T, c catalog.Catalog, ref string) *catalog.Version {
	t.Helper()
	r, err := catalog.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Get(t.Context(), r)
	if err != nil {
		t.Fatalf("Get %s: %v", ref, err)
	}
	return v
}

func setStatus(t *testing.T, c catalog.Catalog, v *catalog.Version, st catalog.Status, at time.Time) catalog.Event {
	t.Helper()
	ev, err := c.SetStatus(t.Context(), catalog.Ref{Image: v.Image, Version: v.Tag()},
		catalog.StatusChange{Status: st, Reason: "test: " + string(st), Actor: "tester", At: at})
	if err != nil {
		t.Fatalf("SetStatus %s %s: %v", v.Ref(), st, err)
	}
	return ev
}

func allEvents(t *testing.T, c catalog.Catalog) []catalog.Event {
	t.Helper()
	evs, err := c.Events(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testBegin(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	a1 := begin(t, c, version("app", "1.0", "a1", basePackages()))
	if a1.ID == 0 || a1.Serial != 1 || a1.Tag() != "1.0-r1" {
		t.Errorf("first version: id %d serial %d tag %s", a1.ID, a1.Serial, a1.Tag())
	}
	if a1.State != catalog.StatePending || a1.Status.Status != catalog.StatusActive {
		t.Errorf("Begin: state %s status %s, want pending and active", a1.State, a1.Status.Status)
	}
	if !a1.Built.Equal(t0) {
		t.Errorf("Built %v, want %v", a1.Built, t0)
	}
	for _, c2 := range []struct {
		image, line, seed string
		serial            int
	}{
		{"app", "1.0", "a2", 2}, // same line: next serial
		{"app", "2.0", "b1", 1}, // another line counts from 1
		{"other", "1.0", "o1", 1},
		{"third", "1.0", "a1", 1}, // the same digest in another image is another version
	} {
		got := begin(t, c, version(c2.image, c2.line, c2.seed, basePackages()))
		if got.Serial != c2.serial {
			t.Errorf("%s@%s (%s): serial %d, want %d", c2.image, c2.line, c2.seed, got.Serial, c2.serial)
		}
	}
	again, existed, err := c.Begin(ctx, version("app", "1.0", "a1", basePackages()))
	if err != nil {
		t.Fatal(err)
	}
	if !existed || again.ID != a1.ID || again.Serial != 1 || again.State != catalog.StatePending {
		t.Errorf("Begin of a recorded digest: existed %v id %d serial %d, want the first version back", existed, again.ID, again.Serial)
	}
	if len(again.Platforms) != 1 || again.Platforms[0].Evidence == nil {
		t.Errorf("Begin of a recorded digest returned no evidence")
	}
	a3 := begin(t, c, version("app", "1.0", "a3", nil))
	if a3.Serial != 3 {
		t.Errorf("after an existing digest: serial %d, want 3 (nothing consumed)", a3.Serial)
	}
	if err := c.Abandon(ctx, a3.ID); err != nil {
		t.Fatal(err)
	}
	if a4 := begin(t, c, version("app", "1.0", "a4", nil)); a4.Serial != 4 {
		t.Errorf("after abandoning r3: serial %d, want 4 (serials are never reused: a tag may have been pushed)", a4.Serial)
	}
	if a1.SpecDigest == "" || a1.LockDigest == "" || a1.SpecDigest == a1.LockDigest {
		t.Errorf("spec and lock digests not computed: %q %q", a1.SpecDigest, a1.LockDigest)
	}

	bad := map[string]func(v *catalog.Version){
		"no image":           func(v *catalog.Version) { v.Image = "" },
		"image with a space": func(v *catalog.Version) { v.Image = "my app" },
		"image with @":       func(v *catalog.Version) { v.Image = "app@1" },
		"no line":            func(v *catalog.Version) { v.Line = "" },
		"line with a space":  func(v *catalog.Version) { v.Line = "1.0 beta" },
		"bad digest":         func(v *catalog.Version) { v.Digest = "sha256:1234" },
		"upper-case digest":  func(v *catalog.Version) { v.Digest = strings.ToUpper(v.Digest) },
		"no platform":        func(v *catalog.Version) { v.Platforms = nil },
		"bad platform":       func(v *catalog.Version) { v.Platforms[0].Digest = "md5:x" },
		"platform no arch":   func(v *catalog.Version) { v.Platforms[0].Arch = "" },
		"platform twice":     func(v *catalog.Version) { v.Platforms = append(v.Platforms, v.Platforms[0]) },
		"wrong spec digest":  func(v *catalog.Version) { v.SpecDigest = strings.Repeat("0", 64) },
		"unknown kind":       func(v *catalog.Version) { v.Kind = "vmware" },
	}
	for name, mutate := range bad {
		v := version("bad", "1.0", "bad-"+name, basePackages())
		mutate(v)
		_, _, err := c.Begin(ctx, v)
		wantErr(t, "Begin with "+name, err, catalog.ErrInvalid)
	}
	if _, _, err := c.Begin(ctx, nil); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("Begin(nil): %v, want ErrInvalid", err)
	}
	all, err := c.List(ctx, catalog.ListOptions{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Errorf("%d versions recorded, want 6 (refused ones record nothing)", len(all))
	}
}

func testPublish(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	in := version("app", "1.0", "p1", basePackages(),
		vulnFinding("CVE-2024-0001", evidence.SeverityHigh, basePackages()[1], "3.0.13-1~deb12u1"))
	in.Platforms[0].Evidence.SPDX = json.RawMessage(`{"spdxVersion":"SPDX-2.3","name":"<app>"}`)
	v := begin(t, c, in)
	if _, err := c.Get(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Get of a pending version: %v, want ErrNotFound", err)
	}
	at := t0.Add(time.Hour)
	locs := []catalog.Location{{Kind: catalog.LocationLayout, Ref: "oci/app:1.0-r1"}}
	arts := []catalog.Artifact{{Kind: catalog.ArtifactSignature, Format: "legacy", Subject: v.Digest, KeyID: "k1", Ref: "reg.test/app:sha256-x.sig"}}
	ev, err := c.Publish(ctx, v.ID, catalog.Publication{Locations: locs, Artifacts: arts, At: at, Actor: "alice", Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq <= 0 || ev.Kind != catalog.EventPublished || ev.VersionID != v.ID || ev.Image != "app" || ev.Tag != "1.0-r1" ||
		ev.Digest != v.Digest || ev.Status != catalog.StatusActive || ev.Actor != "alice" || !ev.At.Equal(at) {
		t.Errorf("published event: %+v", ev)
	}
	var detail struct{ Reason string }
	if err := json.Unmarshal(ev.Detail, &detail); err != nil || detail.Reason != "ingot build" {
		t.Errorf("published event detail %s: want the version's reason (%v)", ev.Detail, err)
	}
	got := get(t, c, "app@1.0-r1")
	if got.State != catalog.StatePublished || !got.Published.Equal(at) || got.Status.Status != catalog.StatusActive ||
		!got.Status.At.Equal(at) || got.Status.Actor != "alice" {
		t.Errorf("after Publish: state %s published %v status %+v", got.State, got.Published, got.Status)
	}
	if !got.Built.Equal(t0) || got.Reason != "ingot build" || got.Kind != catalog.KindContainer || got.Line != "1.0" || got.Serial != 1 {
		t.Errorf("after Publish: %+v", got)
	}
	if string(got.Spec) != string(in.Spec) || string(got.Lock) != string(in.Lock) {
		t.Errorf("spec and lock bytes not kept: %q %q", got.Spec, got.Lock)
	}
	if !reflect.DeepEqual(got.Locations, locs) || !reflect.DeepEqual(got.Artifacts, arts) {
		t.Errorf("locations %v artifacts %v, want %v %v", got.Locations, got.Artifacts, locs, arts)
	}
	if len(got.Platforms) != 1 || jsonOf(t, got.Platforms[0].Evidence) != jsonOf(t, in.Platforms[0].Evidence) {
		t.Errorf("evidence not kept:\n got %s\nwant %s", jsonOf(t, got.Platforms), jsonOf(t, in.Platforms))
	}
	if !strings.Contains(string(got.Platforms[0].Evidence.SPDX), `"<app>"`) {
		t.Errorf("SPDX document changed: %s", got.Platforms[0].Evidence.SPDX)
	}

	// Publishing again (a push to one more registry) merges and appends nothing.
	more := catalog.Publication{
		Locations: []catalog.Location{locs[0], {Kind: catalog.LocationRegistry, Ref: "reg.test/app@" + v.Digest}},
		Artifacts: []catalog.Artifact{arts[0], {Kind: catalog.ArtifactAttestation, Format: "bundle", Subject: v.Digest, KeyID: "k1",
			PredicateType: "https://slsa.dev/provenance/v1", Ref: "reg.test/app@sha256:abc"}},
		At: at.Add(time.Hour), Actor: "bob",
	}
	ev2, err := c.Publish(ctx, v.ID, more)
	if err != nil {
		t.Fatal(err)
	}
	if ev2.Seq != ev.Seq || ev2.Actor != "alice" {
		t.Errorf("publishing again returned event %d by %s, want the first (%d)", ev2.Seq, ev2.Actor, ev.Seq)
	}
	if n := len(allEvents(t, c)); n != 1 {
		t.Errorf("%d events after publishing twice, want 1", n)
	}
	got = get(t, c, "app@1.0-r1")
	if !reflect.DeepEqual(got.Locations, more.Locations) || !reflect.DeepEqual(got.Artifacts, more.Artifacts) {
		t.Errorf("merged locations %v artifacts %v, want %v %v", got.Locations, got.Artifacts, more.Locations, more.Artifacts)
	}
	if !got.Published.Equal(at) {
		t.Errorf("publishing again moved Published to %v", got.Published)
	}

	_, err = c.Publish(ctx, v.ID+1000, catalog.Publication{Locations: locs, At: at})
	wantErr(t, "Publish of an unknown id", err, catalog.ErrNotFound)
	_, err = c.Publish(ctx, v.ID, catalog.Publication{Locations: []catalog.Location{{Kind: "ftp", Ref: "x"}}})
	wantErr(t, "Publish with a bad location", err, catalog.ErrInvalid)
	if n := len(allEvents(t, c)); n != 1 {
		t.Errorf("%d events after refused publications, want 1", n)
	}
}

func testGrace(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	r1 := release(t, c, version("app", "1.0", "g1", basePackages()), t0)
	other := release(t, c, version("app", "2.0", "g-other", basePackages()), t0)
	r2 := begin(t, c, version("app", "1.0", "g2", basePackages()))
	at := t0.Add(time.Hour)
	publish(t, c, r2, at, 24*time.Hour)
	if got := get(t, c, r1.Ref()); got.Status.Status != catalog.StatusActive || !got.DeprecateAt.Equal(at.Add(24*time.Hour)) {
		t.Errorf("superseded r1: status %s deprecateAt %v, want active until %v", got.Status.Status, got.DeprecateAt, at.Add(24*time.Hour))
	}
	if got := get(t, c, r2.Ref()); !got.DeprecateAt.IsZero() {
		t.Errorf("newest r2 has deprecateAt %v", got.DeprecateAt)
	}
	if got := get(t, c, other.Ref()); !got.DeprecateAt.IsZero() {
		t.Errorf("another line's version has deprecateAt %v", got.DeprecateAt)
	}
	evs, err := c.DeprecateDue(ctx, at.Add(23*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("DeprecateDue inside the grace period: %v", evs)
	}
	evs, err = c.DeprecateDue(ctx, at.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].VersionID != r1.ID || evs[0].Kind != catalog.EventStatus || evs[0].From != catalog.StatusActive ||
		evs[0].Status != catalog.StatusDeprecated || evs[0].Actor == "" || !strings.Contains(evs[0].Reason, "1.0-r2") ||
		!evs[0].At.Equal(at.Add(24*time.Hour)) {
		t.Fatalf("DeprecateDue at the end of the grace period: %+v", evs)
	}
	if got := get(t, c, r1.Ref()); got.Status.Status != catalog.StatusDeprecated || got.Status.Reason != evs[0].Reason {
		t.Errorf("r1 after DeprecateDue: %+v", got.Status)
	}
	if evs, err := c.DeprecateDue(ctx, at.Add(100*time.Hour)); err != nil || len(evs) != 0 {
		t.Errorf("DeprecateDue again: %v %v, want nothing", evs, err)
	}

	// No grace: the older version is deprecated by the publication itself.
	r3 := begin(t, c, version("app", "1.0", "g3", basePackages()))
	before := len(allEvents(t, c))
	publish(t, c, r3, t0.Add(2*time.Hour), 0)
	evs = allEvents(t, c)[before:]
	if len(evs) != 2 || evs[0].Kind != catalog.EventPublished || evs[1].VersionID != r2.ID || evs[1].Status != catalog.StatusDeprecated {
		t.Errorf("publishing without grace: events %+v, want published r3 then r2 deprecated", evs)
	}
	if got := get(t, c, "app@1.0"); got.ID != r3.ID {
		t.Errorf("app@1.0 is %s, want the newest active %s", got.Ref(), r3.Ref())
	}

	// Builds finishing out of order: the older serial published last is superseded at once.
	s1 := begin(t, c, version("app", "3.0", "s1", nil))
	s2 := begin(t, c, version("app", "3.0", "s2", nil))
	publish(t, c, s2, t0, time.Hour)
	publish(t, c, s1, t0.Add(time.Minute), time.Hour)
	if got := get(t, c, s1.Ref()); !got.DeprecateAt.Equal(t0.Add(time.Minute + time.Hour)) {
		t.Errorf("r1 published after r2: deprecateAt %v, want %v", got.DeprecateAt, t0.Add(time.Minute+time.Hour))
	}
	if got := get(t, c, s2.Ref()); !got.DeprecateAt.IsZero() {
		t.Errorf("r2 superseded by an older serial: %v", got.DeprecateAt)
	}
	if got := get(t, c, "app@3.0"); got.ID != s2.ID {
		t.Errorf("app@3.0 is %s, want r2", got.Ref())
	}
}

func testTransitions(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	n := 0
	for _, from := range catalog.AllStatuses() {
		for _, to := range catalog.AllStatuses() {
			n++
			name := fmt.Sprintf("%s→%s", from, to)
			v := release(t, c, version("app", "1.0", "tr-"+name, nil), t0)
			if from != catalog.StatusActive {
				setStatus(t, c, v, from, t0.Add(time.Minute))
			}
			before := len(allEvents(t, c))
			at := t0.Add(2 * time.Hour)
			ev, err := c.SetStatus(ctx, catalog.Ref{Image: "app", Version: v.Tag()},
				catalog.StatusChange{Status: to, Reason: "because " + name, Actor: "bob", At: at})
			got := get(t, c, v.Ref())
			if want := catalog.Transition(from, to); want != nil {
				wantErr(t, name, err, catalog.ErrTransition)
				if got.Status.Status != from {
					t.Errorf("%s refused, yet the status is now %s", name, got.Status.Status)
				}
				if after := len(allEvents(t, c)); after != before {
					t.Errorf("%s refused, yet %d event(s) were appended", name, after-before)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if ev.Kind != catalog.EventStatus || ev.From != from || ev.Status != to || ev.Reason != "because "+name ||
				ev.Actor != "bob" || !ev.At.Equal(at) || ev.VersionID != v.ID || ev.Tag != v.Tag() || ev.Digest != v.Digest {
				t.Errorf("%s: event %+v", name, ev)
			}
			want := catalog.StatusChange{Status: to, Reason: "because " + name, Actor: "bob", At: at}
			if got.Status.Status != want.Status || got.Status.Reason != want.Reason || got.Status.Actor != want.Actor || !got.Status.At.Equal(at) {
				t.Errorf("%s: status %+v, want %+v", name, got.Status, want)
			}
			h, err := c.History(ctx, catalog.Ref{Image: "app", Version: v.Tag()})
			if err != nil || len(h) == 0 || h[len(h)-1].Seq != ev.Seq {
				t.Errorf("%s: history %v (%v) does not end with the change", name, h, err)
			}
		}
	}
	v := release(t, c, version("app", "1.0", "tr-refusals", nil), t0)
	ref := catalog.Ref{Image: "app", Version: v.Tag()}
	_, err := c.SetStatus(ctx, ref, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "  "})
	wantErr(t, "SetStatus without a reason", err, catalog.ErrInvalid)
	_, err = c.SetStatus(ctx, ref, catalog.StatusChange{Status: "retired", Reason: "x"})
	wantErr(t, "SetStatus to an unknown status", err, catalog.ErrInvalid)
	_, err = c.SetStatus(ctx, catalog.Ref{Image: "app"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "x"})
	wantErr(t, "SetStatus of a whole image", err, catalog.ErrInvalid)
	_, err = c.SetStatus(ctx, catalog.Ref{Image: "app", Version: "1.0-r999"}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "x"})
	wantErr(t, "SetStatus of an unknown tag", err, catalog.ErrNotFound)
	p := begin(t, c, version("app", "1.0", "tr-pending", nil))
	_, err = c.SetStatus(ctx, catalog.Ref{Image: "app", Version: p.Tag()}, catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "x"})
	wantErr(t, "SetStatus of a pending version", err, catalog.ErrNotFound)

	// A restored version stays active: its pending deprecation is over.
	w1 := release(t, c, version("web", "1.0", "tr-w1", nil), t0)
	w2 := begin(t, c, version("web", "1.0", "tr-w2", nil))
	publish(t, c, w2, t0.Add(time.Hour), 48*time.Hour)
	setStatus(t, c, w1, catalog.StatusRevoked, t0.Add(2*time.Hour))
	setStatus(t, c, w1, catalog.StatusActive, t0.Add(3*time.Hour))
	if got := get(t, c, w1.Ref()); got.Status.Status != catalog.StatusActive || !got.DeprecateAt.IsZero() {
		t.Errorf("restored: %+v deprecateAt %v, want active with no deprecation pending", got.Status, got.DeprecateAt)
	}
	if evs, err := c.DeprecateDue(ctx, t0.Add(1000*time.Hour)); err != nil || len(evs) != 0 {
		t.Errorf("DeprecateDue deprecated a restored version: %v %v", evs, err)
	}
}

func testGet(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	v1 := release(t, c, version("app", "1.0", "get-v1", basePackages()), t0.Add(1*time.Hour))
	v2 := begin(t, c, version("app", "1.0", "get-v2", basePackages()))
	publish(t, c, v2, t0.Add(2*time.Hour), time.Hour)
	w1 := release(t, c, multiVersion("app", "2.0", "get-w1", basePackages(), []evidence.Package{gomod("golang.org/x/sys", "0.20.0")}), t0.Add(3*time.Hour))
	o1 := release(t, c, version("other", "1.0", "get-o1", nil), t0)
	for ref, want := range map[string]*catalog.Version{
		"app@1.0-r1":                      v1,
		"app@1.0-r2":                      v2,
		"app@1.0":                         v2, // the newest active of the line
		"app@2.0":                         w1,
		"app@latest":                      w1, // the newest active of the image
		"app":                             w1,
		"app@" + v1.Digest:                v1,
		"app@" + w1.Digest:                w1,
		"app@" + w1.Platforms[1].Digest:   w1, // a platform image's digest
		"other@" + o1.Platforms[0].Digest: o1,
		"other@latest":                    o1,
	} {
		if got := get(t, c, ref); got.ID != want.ID {
			t.Errorf("Get %s = %s, want %s", ref, got.Ref(), want.Ref())
		}
	}
	got := get(t, c, "app@2.0")
	if len(got.Platforms) != 2 || got.Platforms[1].Name() != "linux/arm64/v8" || got.Platforms[1].Evidence == nil ||
		len(got.Platforms[1].Evidence.Inventory.Packages) != 4 {
		t.Errorf("multi-platform version: %s", jsonOf(t, got.Platforms))
	}
	setStatus(t, c, v2, catalog.StatusRevoked, t0.Add(4*time.Hour))
	setStatus(t, c, w1, catalog.StatusRevoked, t0.Add(4*time.Hour))
	if got := get(t, c, "app@1.0"); got.ID != v1.ID {
		t.Errorf("app@1.0 with r2 revoked = %s, want r1", got.Ref())
	}
	if got := get(t, c, "app@latest"); got.ID != v1.ID {
		t.Errorf("app@latest with r2 and 2.0 revoked = %s, want 1.0-r1", got.Ref())
	}
	if got := get(t, c, "app@1.0-r2"); got.Status.Status != catalog.StatusRevoked {
		t.Errorf("a revoked version by its tag: %s", got.Status.Status)
	}
	p := begin(t, c, version("app", "1.0", "get-pending", nil))
	for ref, want := range map[string]error{
		"app@1.0-r9":         catalog.ErrNotFound,
		"app@9.9":            catalog.ErrNotFound,
		"app@2.0":            catalog.ErrNotFound, // its only version is revoked
		"nope@latest":        catalog.ErrNotFound,
		"other@" + v1.Digest: catalog.ErrNotFound, // another image's digest
		"app@" + p.Digest:    catalog.ErrNotFound, // pending
		"app@" + p.Tag():     catalog.ErrNotFound,
		"app@sha256:zz":      catalog.ErrInvalid,
	} {
		r, _ := catalog.ParseRef(ref)
		_, err := c.Get(ctx, r)
		wantErr(t, "Get "+ref, err, want)
	}
}

func testList(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	a1 := release(t, c, version("app", "1.0", "l-a1", basePackages()), t0)
	a2 := release(t, c, version("app", "1.0", "l-a2", basePackages()), t0.Add(time.Hour))
	b1 := release(t, c, multiVersion("app", "2.0", "l-b1", basePackages(), nil), t0.Add(2*time.Hour))
	o1 := release(t, c, version("other", "1.0", "l-o1", nil), t0.Add(3*time.Hour))
	p := begin(t, c, version("app", "1.0", "l-pending", nil))
	setStatus(t, c, a1, catalog.StatusRevoked, t0.Add(4*time.Hour))
	ids := func(vs []*catalog.Version) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		o    catalog.ListOptions
		want []*catalog.Version
	}{
		{"all", catalog.ListOptions{}, []*catalog.Version{o1, b1, a2, a1}},
		{"image", catalog.ListOptions{Image: "app"}, []*catalog.Version{b1, a2, a1}},
		{"line", catalog.ListOptions{Image: "app", Line: "1.0"}, []*catalog.Version{a2, a1}},
		{"revoked", catalog.ListOptions{Statuses: []catalog.Status{catalog.StatusRevoked}}, []*catalog.Version{a1}},
		{"active and revoked", catalog.ListOptions{Statuses: []catalog.Status{catalog.StatusActive, catalog.StatusRevoked}, Image: "app"}, []*catalog.Version{b1, a2, a1}},
		{"deprecated", catalog.ListOptions{Statuses: []catalog.Status{catalog.StatusDeprecated}}, nil},
		{"pending", catalog.ListOptions{Image: "app", Pending: true}, []*catalog.Version{p, b1, a2, a1}},
		{"limit", catalog.ListOptions{Limit: 2}, []*catalog.Version{o1, b1}},
	} {
		got, err := c.List(ctx, tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(ids(got), ids(tc.want)) {
			t.Errorf("List %s: ids %v, want %v", tc.name, ids(got), ids(tc.want))
		}
	}
	all, err := c.List(ctx, catalog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if v.Spec != nil || v.Lock != nil {
			t.Errorf("List returned the spec or lock of %s", v.Ref())
		}
		if len(v.Platforms) == 0 || len(v.Locations) == 0 || v.Digest == "" || v.Status.Status == "" {
			t.Errorf("List summary of %s incomplete: %+v", v.Ref(), v)
		}
		for _, pl := range v.Platforms {
			if pl.Evidence != nil {
				t.Errorf("List returned the evidence of %s", v.Ref())
			}
		}
	}
	if got := all[1]; len(got.Platforms) != 2 || got.Platforms[0].Digest != b1.Platforms[0].Digest {
		t.Errorf("List platforms of %s: %+v", b1.Ref(), got.Platforms)
	}
	if _, err := c.List(ctx, catalog.ListOptions{Statuses: []catalog.Status{"bogus"}}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("List with an unknown status: %v", err)
	}
}

func testHistory(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	pkgs := basePackages()
	v1 := release(t, c, version("app", "1.0", "h1", pkgs), t0)
	v2 := release(t, c, version("app", "1.0", "h2", pkgs), t0.Add(time.Hour)) // deprecates v1 at once
	release(t, c, version("other", "1.0", "h-other", pkgs), t0)
	setStatus(t, c, v1, catalog.StatusRevoked, t0.Add(2*time.Hour))
	if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: v2.ID, Platform: v2.Platforms[0].Digest, At: t0.Add(3 * time.Hour),
		Findings: []evidence.Finding{vulnFinding("CVE-2025-0001", evidence.SeverityCritical, pkgs[0], "2.36-9+deb12u10")}}); err != nil {
		t.Fatal(err)
	}
	kinds := func(evs []catalog.Event) []string {
		var out []string
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Errorf("history out of order: %d after %d", e.Seq, evs[i-1].Seq)
			}
			out = append(out, e.Kind+" "+e.Tag+" "+string(e.Status))
		}
		return out
	}
	h, err := c.History(ctx, catalog.Ref{Image: "app"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"published 1.0-r1 active", "published 1.0-r2 active", "status 1.0-r1 deprecated", "status 1.0-r1 revoked", "rescanned 1.0-r2 active"}
	if got := kinds(h); !slices.Equal(got, want) {
		t.Errorf("History(app) = %q, want %q", got, want)
	}
	h, err = c.History(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"published 1.0-r1 active", "status 1.0-r1 deprecated", "status 1.0-r1 revoked"}
	if got := kinds(h); !slices.Equal(got, want) {
		t.Errorf("History(app@1.0-r1) = %q, want %q", got, want)
	}
	if h[2].From != catalog.StatusDeprecated || h[2].Actor != "tester" {
		t.Errorf("revocation event: %+v", h[2])
	}
	_, err = c.History(ctx, catalog.Ref{Image: "nope"})
	wantErr(t, "History of an unknown image", err, catalog.ErrNotFound)
	_, err = c.History(ctx, catalog.Ref{Image: "app", Version: "1.0-r9"})
	wantErr(t, "History of an unknown version", err, catalog.ErrNotFound)
}

// testFlag: a flag appends an event naming what was found and changes no status; a status change's
// detail reaches its event; a flag needs a reason and JSON detail, and a published version.
func testFlag(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	pkgs := basePackages()
	v1 := release(t, c, version("app", "1.0", "h1", pkgs), t0)
	before := get(t, c, "app@"+v1.Tag()).Status
	detail := json.RawMessage(`{"id":"CVE-2025-0001","severity":"critical"}`)
	ev, err := c.Flag(ctx, catalog.Ref{Image: "app", Version: v1.Tag()}, catalog.Note{
		Reason: "policy: CVE-2025-0001 (critical)", Actor: "ingot", At: t0.Add(time.Hour), Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != catalog.EventFlagged || ev.Status != catalog.StatusActive || ev.From != "" || ev.Tag != v1.Tag() || ev.Seq == 0 {
		t.Errorf("flag event = %+v", ev)
	}
	if got := get(t, c, "app@"+v1.Tag()).Status; got.Status != catalog.StatusActive || !got.At.Equal(before.At) || got.Reason != before.Reason {
		t.Errorf("after a flag, status = %+v", got.Status)
	}
	ch := catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "automatic", Actor: "ingot", At: t0.Add(2 * time.Hour), Detail: detail}
	if _, err := c.SetStatus(ctx, catalog.Ref{Image: "app", Version: v1.Tag()}, ch); err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, catalog.Ref{Image: "app", Version: v1.Tag()})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range h {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{catalog.EventPublished, catalog.EventFlagged, catalog.EventStatus}; !slices.Equal(kinds, want) {
		t.Fatalf("history kinds = %q, want %q", kinds, want)
	}
	for _, e := range h[1:] {
		var got, want any
		if err := json.Unmarshal(e.Detail, &got); err != nil {
			t.Fatalf("%s event detail %q: %v", e.Kind, e.Detail, err)
		}
		_ = json.Unmarshal(detail, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s event detail = %s, want %s", e.Kind, e.Detail, detail)
		}
	}
	if h[1].Reason != "policy: CVE-2025-0001 (critical)" || h[1].Actor != "ingot" || !h[1].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("flag event as read back = %+v", h[1])
	}
	n := len(allEvents(t, c))
	_, err = c.Flag(ctx, catalog.Ref{Image: "app", Version: v1.Tag()}, catalog.Note{Reason: " ", At: t0})
	wantErr(t, "Flag without a reason", err, catalog.ErrInvalid)
	_, err = c.Flag(ctx, catalog.Ref{Image: "app", Version: v1.Tag()}, catalog.Note{Reason: "x", Detail: json.RawMessage("{"), At: t0})
	wantErr(t, "Flag with bad detail", err, catalog.ErrInvalid)
	_, err = c.Flag(ctx, catalog.Ref{Image: "app", Version: "1.0-r9"}, catalog.Note{Reason: "x", At: t0})
	wantErr(t, "Flag of an unknown version", err, catalog.ErrNotFound)
	pending := begin(t, c, version("app", "1.0", "h2", pkgs))
	_, err = c.Flag(ctx, catalog.Ref{Image: "app", Version: pending.Tag()}, catalog.Note{Reason: "x", At: t0})
	wantErr(t, "Flag of a pending version", err, catalog.ErrNotFound)
	if got := len(allEvents(t, c)); got != n {
		t.Errorf("refused flags appended %d events", got-n)
	}
}

func testPendingAbandon(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	p1 := begin(t, c, version("app", "1.0", "pa-1", basePackages()))
	pub := release(t, c, version("app", "1.0", "pa-pub", basePackages()), t0)
	p2 := begin(t, c, version("web", "1.0", "pa-2", basePackages()))
	pending, err := c.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 || pending[0].ID != p1.ID || pending[1].ID != p2.ID {
		t.Fatalf("Pending = %v, want p1 then p2", pending)
	}
	if pending[0].Platforms[0].Evidence == nil || string(pending[0].Spec) == "" || pending[0].State != catalog.StatePending {
		t.Errorf("a pending version comes with its evidence and spec, to complete it: %+v", pending[0])
	}
	if err := c.Abandon(ctx, p1.ID); err != nil {
		t.Fatal(err)
	}
	pending, err = c.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ID != p2.ID {
		t.Errorf("Pending after Abandon = %v", pending)
	}
	wantErr(t, "Abandon twice", c.Abandon(ctx, p1.ID), catalog.ErrNotFound)
	wantErr(t, "Abandon of a published version", c.Abandon(ctx, pub.ID), catalog.ErrTransition)
	wantErr(t, "Abandon of an unknown id", c.Abandon(ctx, pub.ID+1000), catalog.ErrNotFound)
	if got := get(t, c, pub.Ref()); got.ID != pub.ID {
		t.Errorf("published version gone")
	}
}

func testEventsConcurrent(t *testing.T, a, b catalog.Catalog) {
	ctx := t.Context()
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		c := a
		if w%2 == 1 {
			c = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				image := fmt.Sprintf("conc%d", w)
				v, _, err := c.Begin(ctx, version(image, "1.0", fmt.Sprintf("conc-%d-%d", w, i), basePackages()))
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.Publish(ctx, v.ID, catalog.Publication{At: t0, Grace: time.Hour, Actor: "w"}); err != nil {
					errs <- err
					return
				}
				ref := catalog.Ref{Image: image, Version: v.Tag()}
				for _, st := range []catalog.Status{catalog.StatusRevoked, catalog.StatusActive} {
					if _, err := c.SetStatus(ctx, ref, catalog.StatusChange{Status: st, Reason: "churn", Actor: "w", At: t0}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	// A follower polls as the webhook would, and must see every event once, in order.
	done := make(chan struct{})
	followed := make(chan []int64)
	go func() {
		var seen []int64
		var last int64
		for {
			stop := false
			select {
			case <-done:
				stop = true
			default:
			}
			evs, err := b.Events(ctx, last, 7)
			if err != nil {
				errs <- err
				break
			}
			for _, e := range evs {
				if e.Seq != last+1 {
					errs <- fmt.Errorf("follower after %d got %d: a gap or a late event", last, e.Seq)
				}
				last = e.Seq
				seen = append(seen, e.Seq)
			}
			if stop && len(evs) == 0 {
				break
			}
		}
		followed <- seen
	}()
	wg.Wait()
	close(done)
	seen := <-followed
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = writers * each * 3
	evs := allEvents(t, a)
	if len(evs) != total || len(seen) != total {
		t.Fatalf("%d events (the follower saw %d), want %d", len(evs), len(seen), total)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: want 1..%d without gaps", i, e.Seq, total)
		}
	}
	page, err := a.Events(ctx, total-2, 0)
	if err != nil || len(page) != 2 || page[0].Seq != total-1 {
		t.Errorf("Events(after %d) = %v %v", total-2, page, err)
	}
	page, err = a.Events(ctx, 0, 5)
	if err != nil || len(page) != 5 || page[4].Seq != 5 {
		t.Errorf("Events(0, limit 5) = %v %v", page, err)
	}
}

func testAtomic(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	v := release(t, c, version("app", "1.0", "at-1", basePackages()), t0)
	before := allEvents(t, c)
	// Publish of an unknown id, with locations to record: nothing is recorded.
	_, err := c.Publish(ctx, v.ID+77, catalog.Publication{Locations: []catalog.Location{{Kind: catalog.LocationRegistry, Ref: "reg.test/x@" + v.Digest}}})
	wantErr(t, "Publish of an unknown id", err, catalog.ErrNotFound)
	// A refused transition after the status was read.
	setStatus(t, c, v, catalog.StatusRevoked, t0.Add(time.Hour))
	_, err = c.SetStatus(ctx, catalog.Ref{Image: "app", Version: v.Tag()}, catalog.StatusChange{Status: catalog.StatusDeprecated, Reason: "x", At: t0})
	wantErr(t, "revoked to deprecated", err, catalog.ErrTransition)
	after := allEvents(t, c)
	if len(after) != len(before)+1 {
		t.Errorf("%d events, want %d: refused writes appended events", len(after), len(before)+1)
	}
	got := get(t, c, v.Ref())
	if len(got.Locations) != 1 || got.Status.Status != catalog.StatusRevoked {
		t.Errorf("after refused writes: locations %v status %s", got.Locations, got.Status.Status)
	}
}
