package catalogtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// exposures renders query results as "image@tag platform name version status", sorted.
func exposures(es []catalog.Exposure) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s@%s %s %s %s %s", e.Image, e.Tag, e.Platform, e.Package.Name, e.Package.Version, e.Status))
	}
	sort.Strings(out)
	return out
}

func testQueryPackage(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	old := []evidence.Package{
		deb("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
		deb("tzdata", "2024a-0+deb12u1", "", ""),
		deb("libcrypt1", "4.4.36-4", "libxcrypt", "4.4.36-4"),
		gomod("golang.org/x/net", "v0.7.0"),
		gomod("stdlib", "go1.21.9"),
		npm("lodash", "4.17.3"),
		pypi("Django", "4.2"),
	}
	cur := []evidence.Package{
		deb("libssl3", "3.0.11-1", "openssl", "3.0.11-1"),
		deb("tzdata", "2024a-0+deb12u1", "", ""),
		deb("libcrypt1", "1:4.4.33-2", "libxcrypt", "1:4.4.33-2"), // an epoch outranks any upstream version
		gomod("golang.org/x/net", "v0.23.0"),
		gomod("stdlib", "go1.22.1"),
		npm("lodash", "4.17.21"),
		pypi("django", "4.2.11"),
	}
	w1 := release(t, c, version("web", "1.0", "q-w1", old), t0)
	w2 := release(t, c, multiVersion("web", "1.1", "q-w2", cur, []evidence.Package{deb("libatomic1", "12.2.0-14", "gcc-12", "12.2.0-14")}), t0.Add(time.Hour))
	release(t, c, version("legacy", "1.0", "q-l1", []evidence.Package{deb11("tzdata", "2021a-1+deb11u10")}), t0)
	begin(t, c, version("web", "1.2", "q-pending", []evidence.Package{deb("libssl3", "3.0.15-1~deb12u1", "openssl", "3.0.15-1~deb12u1")}))
	arm := "linux/arm64/v8"
	for _, tc := range []struct {
		name string
		q    catalog.PackageQuery
		want []string
	}{
		{"by name", catalog.PackageQuery{Name: "libssl3"}, []string{
			"web@1.0-r1 linux/amd64 libssl3 3.0.11-1~deb12u2 active",
			"web@1.1-r1 linux/amd64 libssl3 3.0.11-1 active",
			"web@1.1-r1 " + arm + " libssl3 3.0.11-1 active"}},
		{"dpkg: tilde before the release", catalog.PackageQuery{Name: "libssl3", Range: "<3.0.11-1"}, []string{
			"web@1.0-r1 linux/amd64 libssl3 3.0.11-1~deb12u2 active"}},
		{"by source package", catalog.PackageQuery{Name: "openssl", Range: "<3.0.11-1"}, []string{
			"web@1.0-r1 linux/amd64 libssl3 3.0.11-1~deb12u2 active"}},
		{"dpkg: epochs", catalog.PackageQuery{Name: "libcrypt1", Range: "<4.5"}, []string{
			"web@1.0-r1 linux/amd64 libcrypt1 4.4.36-4 active"}},
		{"dpkg: epochs, from below", catalog.PackageQuery{Name: "libxcrypt", Range: ">=1:0"}, []string{
			"web@1.1-r1 linux/amd64 libcrypt1 1:4.4.33-2 active",
			"web@1.1-r1 " + arm + " libcrypt1 1:4.4.33-2 active"}},
		{"ecosystem prefix", catalog.PackageQuery{Name: "tzdata", Ecosystem: "Debian"}, []string{
			"legacy@1.0-r1 linux/amd64 tzdata 2021a-1+deb11u10 active",
			"web@1.0-r1 linux/amd64 tzdata 2024a-0+deb12u1 active",
			"web@1.1-r1 linux/amd64 tzdata 2024a-0+deb12u1 active",
			"web@1.1-r1 " + arm + " tzdata 2024a-0+deb12u1 active"}},
		{"ecosystem release", catalog.PackageQuery{Name: "tzdata", Ecosystem: "Debian:11"}, []string{
			"legacy@1.0-r1 linux/amd64 tzdata 2021a-1+deb11u10 active"}},
		{"another release", catalog.PackageQuery{Name: "tzdata", Ecosystem: "Debian:13"}, []string{}},
		{"another ecosystem", catalog.PackageQuery{Name: "tzdata", Ecosystem: "Go"}, []string{}},
		{"Go semver: 0.7 < 0.10", catalog.PackageQuery{Name: "golang.org/x/net", Ecosystem: "Go", Range: "<0.10.0"}, []string{
			"web@1.0-r1 linux/amd64 golang.org/x/net v0.7.0 active"}},
		{"Go semver: two bounds", catalog.PackageQuery{Name: "golang.org/x/net", Range: ">=0.10.0, <1.0.0"}, []string{
			"web@1.1-r1 linux/amd64 golang.org/x/net v0.23.0 active",
			"web@1.1-r1 " + arm + " golang.org/x/net v0.23.0 active"}},
		{"Go release tags", catalog.PackageQuery{Name: "stdlib", Range: "<1.22.0"}, []string{
			"web@1.0-r1 linux/amd64 stdlib go1.21.9 active"}},
		{"npm: 4.17.21 > 4.17.9", catalog.PackageQuery{Name: "lodash", Ecosystem: "npm", Range: ">4.17.9"}, []string{
			"web@1.1-r1 linux/amd64 lodash 4.17.21 active",
			"web@1.1-r1 " + arm + " lodash 4.17.21 active"}},
		{"PyPI: names normalised, 4.2 < 4.2.1 < 4.2.11", catalog.PackageQuery{Name: "DJANGO", Range: "<4.2.1"}, []string{
			"web@1.0-r1 linux/amd64 Django 4.2 active"}},
		{"not equal", catalog.PackageQuery{Name: "django", Ecosystem: "PyPI", Range: "!=4.2"}, []string{
			"web@1.1-r1 linux/amd64 django 4.2.11 active",
			"web@1.1-r1 " + arm + " django 4.2.11 active"}},
		{"one platform only", catalog.PackageQuery{Name: "libatomic1"}, []string{
			"web@1.1-r1 " + arm + " libatomic1 12.2.0-14 active"}},
		{"nobody ships it", catalog.PackageQuery{Name: "log4j"}, []string{}},
	} {
		got, err := c.QueryPackage(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if g := exposures(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: %+v\n got %q\nwant %q", tc.name, tc.q, g, tc.want)
		}
	}
	got, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Package.Ecosystem != "Debian:12" || e.Package.Type != evidence.TypeDeb || e.Package.Source != "openssl" ||
			!strings.HasPrefix(e.Package.PURL, "pkg:deb/debian/libssl3@") || e.Package.Layer != digest("layer-base") {
			t.Errorf("exposure package incomplete: %+v", e.Package)
		}
		if (e.Tag == w1.Tag() && e.Digest != w1.Digest) || (e.Tag == w2.Tag() && e.Digest != w2.Digest) {
			t.Errorf("exposure %s has digest %s", e.Tag, e.Digest)
		}
	}
	setStatus(t, c, w2, catalog.StatusRevoked, t0.Add(2*time.Hour))
	for st, n := range map[catalog.Status]int{catalog.StatusActive: 1, catalog.StatusRevoked: 2, catalog.StatusEOL: 0} {
		got, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "libssl3", Statuses: []catalog.Status{st}})
		if err != nil || len(got) != n {
			t.Errorf("libssl3 in %s versions: %v (%v), want %d", st, exposures(got), err, n)
		}
	}
	for name, q := range map[string]catalog.PackageQuery{
		"no name":                  {Range: "<1"},
		"a malformed range":        {Name: "libssl3", Range: "<<1"},
		"a range of another order": {Name: "libssl3", Ecosystem: "Debian:12", Range: "<abc"},
		"an unknown status":        {Name: "libssl3", Statuses: []catalog.Status{"gone"}},
	} {
		_, err := c.QueryPackage(ctx, q)
		wantErr(t, "QueryPackage with "+name, err, catalog.ErrInvalid)
	}
	testQueryPackagePage(t, c)
}

// testQueryPackagePage: pages of every size, one after the other, are the whole answer in its
// order, each with the size of the whole; a page past the end is empty.
func testQueryPackagePage(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	for _, q := range []catalog.PackageQuery{{Name: "libssl3"}, {Name: "openssl", Ecosystem: "Debian"}, {Name: "tzdata"}} {
		whole, err := c.QueryPackage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(whole) < 2 {
			t.Fatalf("%s is in %d platform images: too few to page", q.Name, len(whole))
		}
		for limit := 1; limit <= len(whole)+1; limit++ {
			var got []catalog.Exposure
			for off := 0; off < len(whole); off += limit {
				p, err := c.QueryPackagePage(ctx, q, catalog.Page{Limit: limit, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != len(whole) || len(p.Exposures) != min(limit, len(whole)-off) {
					t.Fatalf("%s, limit %d offset %d: %d exposures of %d, want %d of %d",
						q.Name, limit, off, len(p.Exposures), p.Total, min(limit, len(whole)-off), len(whole))
				}
				got = append(got, p.Exposures...)
			}
			if !reflect.DeepEqual(got, whole) {
				t.Errorf("%s in pages of %d:\n got %q\nwant %q", q.Name, limit, exposures(got), exposures(whole))
			}
		}
		p, err := c.QueryPackagePage(ctx, q, catalog.Page{Offset: len(whole)})
		if err != nil || p.Total != len(whole) || p.Exposures == nil || len(p.Exposures) != 0 {
			t.Errorf("%s past the end: %+v %v, want no exposures of %d", q.Name, p, err, len(whole))
		}
	}
	for _, p := range []catalog.Page{{Limit: -1}, {Offset: -1}} {
		_, err := c.QueryPackagePage(ctx, catalog.PackageQuery{Name: "libssl3"}, p)
		wantErr(t, fmt.Sprintf("QueryPackagePage with %+v", p), err, catalog.ErrInvalid)
	}
}

func findingIDs(fs []catalog.VersionFinding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Image+"@"+f.Tag+" "+f.Finding.ID)
	}
	return out
}

func testQueryFindings(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	pkgs := basePackages()
	vexed := vulnFinding("CVE-2025-0004", evidence.SeverityCritical, pkgs[2], "")
	vexed.Status, vexed.Reason = evidence.StatusNotAffected, "vulnerable_code_not_present"
	web := release(t, c, version("web", "1.0", "qf-web", pkgs,
		vulnFinding("CVE-2025-0001", evidence.SeverityCritical, pkgs[1], "3.0.13-1~deb12u1"),
		vulnFinding("CVE-2025-0002", evidence.SeverityHigh, pkgs[0], ""),
		vulnFinding("CVE-2025-0003", evidence.SeverityLow, pkgs[0], "2.36-9+deb12u9"),
		vexed), t0)
	api := release(t, c, version("api", "1.0", "qf-api", pkgs,
		vulnFinding("CVE-2025-0005", evidence.SeverityCritical, pkgs[0], "2.36-9+deb12u10")), t0)
	begin(t, c, version("web", "1.0", "qf-pending", pkgs, vulnFinding("CVE-2025-0009", evidence.SeverityCritical, pkgs[0], "x")))
	setStatus(t, c, api, catalog.StatusRevoked, t0.Add(time.Hour))
	active := []catalog.Status{catalog.StatusActive}
	for _, tc := range []struct {
		name string
		q    catalog.FindingQuery
		want []string
	}{
		{"critical anywhere", catalog.FindingQuery{MinSeverity: evidence.SeverityCritical}, []string{"api@1.0-r1 CVE-2025-0005", "web@1.0-r1 CVE-2025-0001"}},
		{"critical in active versions", catalog.FindingQuery{MinSeverity: evidence.SeverityCritical, Statuses: active}, []string{"web@1.0-r1 CVE-2025-0001"}},
		{"high and above, most severe first", catalog.FindingQuery{MinSeverity: evidence.SeverityHigh, Image: "web"}, []string{"web@1.0-r1 CVE-2025-0001", "web@1.0-r1 CVE-2025-0002"}},
		{"with a fix", catalog.FindingQuery{MinSeverity: evidence.SeverityHigh, Image: "web", WithFix: true}, []string{"web@1.0-r1 CVE-2025-0001"}},
		{"every counting finding", catalog.FindingQuery{Image: "web"}, []string{"web@1.0-r1 CVE-2025-0001", "web@1.0-r1 CVE-2025-0002", "web@1.0-r1 CVE-2025-0003"}},
	} {
		got, err := c.QueryFindings(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if g := findingIDs(got); !slices.Equal(g, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, g, tc.want)
		}
	}
	got, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical, Statuses: active})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	f := got[0]
	if f.Digest != web.Digest || f.Status != catalog.StatusActive || f.Platform != "linux/amd64" || f.Finding.FixedVersion != "3.0.13-1~deb12u1" ||
		f.Finding.Package == nil || f.Finding.Package.Name != "libssl3" || !f.FirstSeen.Equal(t0.Add(-30*time.Second)) {
		t.Errorf("version finding: %+v (first seen is the scan's end)", f)
	}
	// A re-scan without the finding closes it.
	if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: web.ID, Platform: web.Platforms[0].Digest, At: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.QueryFindings(ctx, catalog.FindingQuery{Statuses: active}); err != nil || len(got) != 0 {
		t.Errorf("after a clean re-scan: %q %v", findingIDs(got), err)
	}
	if _, err := c.QueryFindings(ctx, catalog.FindingQuery{Statuses: []catalog.Status{"x"}}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("unknown status: %v", err)
	}
}

func testPackages(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	base := basePackages()
	release(t, c, version("web", "1.0", "pk-1", append(slices.Clone(base), gomod("golang.org/x/net", "v0.7.0"))), t0)
	w2 := release(t, c, version("web", "1.1", "pk-2", append(slices.Clone(base), gomod("golang.org/x/net", "v0.23.0"))), t0)
	release(t, c, multiVersion("api", "1.0", "pk-3", base, nil), t0)
	begin(t, c, version("web", "1.2", "pk-pending", []evidence.Package{npm("left-pad", "1.3.0")}))
	setStatus(t, c, w2, catalog.StatusRevoked, t0.Add(time.Hour))
	names := func(ps []evidence.Package) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+" "+p.Version)
		}
		sort.Strings(out)
		return out
	}
	all, err := c.Packages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"golang.org/x/net v0.23.0", "golang.org/x/net v0.7.0", "libc6 2.36-9+deb12u4", "libssl3 3.0.11-1~deb12u2", "tzdata 2024a-0+deb12u1"}
	if got := names(all); !slices.Equal(got, want) {
		t.Errorf("Packages() = %q, want %q (each once)", got, want)
	}
	for _, p := range all {
		if p.Name == "libssl3" && (p.Ecosystem != "Debian:12" || p.Source != "openssl" || p.SourceVersion != "3.0.11-1~deb12u2" || p.Type != evidence.TypeDeb || p.PURL == "") {
			t.Errorf("package incomplete: %+v", p)
		}
	}
	active, err := c.Packages(ctx, catalog.StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(active); slices.Contains(got, "golang.org/x/net v0.23.0") || len(got) != 4 {
		t.Errorf("Packages(active) = %q", got)
	}
	revoked, err := c.Packages(ctx, catalog.StatusRevoked)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(revoked); !slices.Contains(got, "golang.org/x/net v0.23.0") || len(got) != 4 {
		t.Errorf("Packages(revoked) = %q", got)
	}
}

func testRecordScan(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	pkgs := basePackages()
	cveA := vulnFinding("CVE-2025-1000", evidence.SeverityHigh, pkgs[1], "3.0.13-1~deb12u1")
	cveB := vulnFinding("CVE-2025-1001", evidence.SeverityMedium, pkgs[0], "")
	cveC := vulnFinding("CVE-2025-1002", evidence.SeverityCritical, pkgs[1], "3.0.14-1~deb12u1")
	v := release(t, c, version("web", "1.0", "rs-1", pkgs, cveA, cveB), t0)
	plat := v.Platforms[0].Digest
	first := t0.Add(-30 * time.Second) // the build's scan
	scan := func(at time.Time, fs ...evidence.Finding) catalog.ScanChange {
		t.Helper()
		ch, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: plat, Findings: fs, At: at, Data: "osv 2025-03-02"})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	tracked := func() map[string]catalog.TrackedFinding {
		t.Helper()
		h, err := c.FindingHistory(ctx, catalog.Ref{Image: "web", Version: v.Tag()})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]catalog.TrackedFinding{}
		for _, f := range h {
			if f.Platform != "linux/amd64" {
				t.Errorf("tracked finding platform %q", f.Platform)
			}
			out[f.Finding.ID] = f
		}
		return out
	}
	nEvents := len(allEvents(t, c))

	if ch := scan(t0.Add(time.Hour), cveB, cveA); ch.Changed() {
		t.Errorf("an unchanged scan changed %+v", ch)
	}
	if n := len(allEvents(t, c)); n != nEvents {
		t.Errorf("an unchanged scan appended %d event(s)", n-nEvents)
	}
	tr := tracked()
	if a := tr[cveA.ID]; !a.FirstSeen.Equal(first) || !a.LastSeen.Equal(t0.Add(time.Hour)) || !a.Open {
		t.Errorf("seen again: %+v, want first seen %v, last seen an hour later", a, first)
	}

	ch := scan(t0.Add(2*time.Hour), cveB, cveC)
	want := catalog.ScanChange{Introduced: []string{"CVE-2025-1002 libssl3 3.0.11-1~deb12u2"}, Fixed: []string{"CVE-2025-1000 libssl3 3.0.11-1~deb12u2"}}
	if !slices.Equal(ch.Introduced, want.Introduced) || !slices.Equal(ch.Fixed, want.Fixed) {
		t.Errorf("scan change %+v, want %+v", ch, want)
	}
	evs := allEvents(t, c)
	if len(evs) != nEvents+1 {
		t.Fatalf("%d events after a changing scan, want one more", len(evs)-nEvents)
	}
	ev := evs[len(evs)-1]
	var detail struct {
		catalog.ScanChange
		Platform string `json:"platform"`
	}
	if err := json.Unmarshal(ev.Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != catalog.EventRescanned || ev.VersionID != v.ID || ev.Tag != v.Tag() || ev.Status != catalog.StatusActive ||
		!ev.At.Equal(t0.Add(2*time.Hour)) || detail.Platform != plat || !slices.Equal(detail.Introduced, want.Introduced) || !slices.Equal(detail.Fixed, want.Fixed) {
		t.Errorf("rescanned event %+v detail %s", ev, ev.Detail)
	}
	tr = tracked()
	if a := tr[cveA.ID]; a.Open || !a.LastSeen.Equal(t0.Add(time.Hour)) || !a.FirstSeen.Equal(first) {
		t.Errorf("fixed finding: %+v, want closed, last seen at the previous scan", a)
	}
	if c3 := tr[cveC.ID]; !c3.Open || !c3.FirstSeen.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("new finding: %+v", c3)
	}

	// Back again: introduced, its first sighting kept.
	ch = scan(t0.Add(3*time.Hour), cveA, cveB, cveC)
	if !slices.Equal(ch.Introduced, []string{"CVE-2025-1000 libssl3 3.0.11-1~deb12u2"}) || len(ch.Fixed) != 0 {
		t.Errorf("reintroduced: %+v", ch)
	}
	if a := tracked()[cveA.ID]; !a.FirstSeen.Equal(first) || !a.Open {
		t.Errorf("reintroduced finding: %+v, first seen must stay %v", a, first)
	}

	// A VEX statement makes a finding stop counting: fixed, for the record.
	vexed := cveC
	vexed.Status, vexed.Reason = evidence.StatusNotAffected, "vulnerable_code_not_in_execute_path"
	ch = scan(t0.Add(4*time.Hour), cveA, cveB, vexed)
	if !slices.Equal(ch.Fixed, []string{"CVE-2025-1002 libssl3 3.0.11-1~deb12u2"}) || len(ch.Introduced) != 0 {
		t.Errorf("VEX'd: %+v", ch)
	}
	if got, _ := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical}); len(got) != 0 {
		t.Errorf("a finding VEX'd not affected still counts: %q", findingIDs(got))
	}
	if c3 := tracked()[cveC.ID]; c3.Finding.Status != evidence.StatusNotAffected || !c3.Open {
		t.Errorf("VEX'd finding: %+v", c3)
	}

	_, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID + 1000, Platform: plat})
	wantErr(t, "RecordScan of an unknown version", err, catalog.ErrNotFound)
	_, err = c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: digest("elsewhere")})
	wantErr(t, "RecordScan of another platform", err, catalog.ErrNotFound)
	_, err = c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: "latest"})
	wantErr(t, "RecordScan of a malformed digest", err, catalog.ErrInvalid)
	_, err = c.FindingHistory(ctx, catalog.Ref{Image: "web", Version: "9.9-r1"})
	wantErr(t, "FindingHistory of an unknown version", err, catalog.ErrNotFound)
}

func testSpecs(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	web := catalog.RegisteredSpec{Name: "web", Spec: []byte("name: web\n"), Files: []byte("tar bytes"), Lock: []byte("lock"), Added: t0}
	got, err := c.AddSpec(ctx, web)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.Digest != catalog.SpecDigest(web.Spec, web.Files) || !got.Added.Equal(t0) {
		t.Errorf("AddSpec: %+v", got)
	}
	back, err := c.Spec(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != got.ID || string(back.Spec) != "name: web\n" || string(back.Files) != "tar bytes" || string(back.Lock) != "lock" || back.Digest != got.Digest {
		t.Errorf("Spec(web): %+v", back)
	}
	web.Spec = []byte("name: web\nversion: 2\n")
	again, err := c.AddSpec(ctx, web)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != got.ID || again.Digest == got.Digest {
		t.Errorf("replacing a spec: id %d digest %s, want the same id and a new digest", again.ID, again.Digest)
	}
	if back, _ := c.Spec(ctx, "web"); string(back.Spec) != string(web.Spec) {
		t.Errorf("replaced spec reads %q", back.Spec)
	}
	if _, err := c.AddSpec(ctx, catalog.RegisteredSpec{Name: "api", Spec: []byte("name: api\n")}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListSpecs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" || list[0].Files != nil {
		t.Errorf("ListSpecs: %+v", list)
	}
	if err := c.RemoveSpec(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Spec(ctx, "web")
	wantErr(t, "Spec after RemoveSpec", err, catalog.ErrNotFound)
	wantErr(t, "RemoveSpec twice", c.RemoveSpec(ctx, "web"), catalog.ErrNotFound)
	_, err = c.AddSpec(ctx, catalog.RegisteredSpec{Name: "", Spec: []byte("x")})
	wantErr(t, "AddSpec without a name", err, catalog.ErrInvalid)
	_, err = c.AddSpec(ctx, catalog.RegisteredSpec{Name: "empty"})
	wantErr(t, "AddSpec without bytes", err, catalog.ErrInvalid)
}

func testUpstream(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	ssl := catalog.UpstreamPackage{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.13-1~deb12u1"}
	net := catalog.UpstreamPackage{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.23.0"}
	if _, ok, err := c.FirstSeen(ctx, ssl); ok || err != nil {
		t.Errorf("FirstSeen before any sighting: %v %v", ok, err)
	}
	if err := c.SeenUpstream(ctx, t0, []catalog.UpstreamPackage{ssl, net, ssl}); err != nil {
		t.Fatal(err)
	}
	if err := c.SeenUpstream(ctx, t0.Add(24*time.Hour), []catalog.UpstreamPackage{ssl}); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := c.FirstSeen(ctx, ssl); !ok || err != nil || !at.Equal(t0) {
		t.Errorf("FirstSeen after a second sighting: %v %v %v, want %v", at, ok, err, t0)
	}
	if err := c.SeenUpstream(ctx, t0.Add(-time.Hour), []catalog.UpstreamPackage{net}); err != nil {
		t.Fatal(err)
	}
	if at, _, _ := c.FirstSeen(ctx, net); !at.Equal(t0.Add(-time.Hour)) {
		t.Errorf("an earlier sighting: first seen %v, want %v", at, t0.Add(-time.Hour))
	}
	// A whole repository index at once.
	var index []catalog.UpstreamPackage
	for i := range 3000 {
		index = append(index, catalog.UpstreamPackage{Ecosystem: "Debian:12", Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1"})
	}
	if err := c.SeenUpstream(ctx, t0, index); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.FirstSeen(ctx, index[2999]); !ok {
		t.Errorf("the last package of a large index was not recorded")
	}
	err := c.SeenUpstream(ctx, t0, []catalog.UpstreamPackage{{Ecosystem: "Go", Name: "x"}})
	wantErr(t, "SeenUpstream without a version", err, catalog.ErrInvalid)
}

func testTokens(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	ci, err := c.CreateToken(ctx, catalog.Token{Name: "ci", Scope: catalog.ScopeWrite, Hash: "h-ci", Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	if ci.ID == 0 || !ci.Created.Equal(t0) || ci.Revoked {
		t.Errorf("CreateToken: %+v", ci)
	}
	if _, err := c.CreateToken(ctx, catalog.Token{Name: "dash", Scope: catalog.ScopeRead, Hash: "h-dash"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.TokenByHash(ctx, "h-ci")
	if err != nil || got.Name != "ci" || got.Scope != catalog.ScopeWrite || got.ID != ci.ID {
		t.Errorf("TokenByHash: %+v %v", got, err)
	}
	_, err = c.TokenByHash(ctx, "h-unknown")
	wantErr(t, "TokenByHash of an unknown hash", err, catalog.ErrNotFound)
	for name, tok := range map[string]catalog.Token{
		"a taken name":   {Name: "ci", Scope: catalog.ScopeRead, Hash: "h-other"},
		"a taken secret": {Name: "ci2", Scope: catalog.ScopeRead, Hash: "h-ci"},
		"a bad scope":    {Name: "admin", Scope: "admin", Hash: "h-admin"},
		"no hash":        {Name: "nohash", Scope: catalog.ScopeRead},
		"no name":        {Scope: catalog.ScopeRead, Hash: "h-noname"},
	} {
		_, err := c.CreateToken(ctx, tok)
		wantErr(t, "CreateToken with "+name, err, catalog.ErrInvalid)
	}
	if err := c.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	_, err = c.TokenByHash(ctx, "h-ci")
	wantErr(t, "TokenByHash of a revoked token", err, catalog.ErrNotFound)
	list, err := c.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "ci" || !list[0].Revoked || list[1].Name != "dash" || list[1].Revoked || list[0].Hash != "" || list[1].Hash != "" {
		t.Errorf("ListTokens: %+v", list)
	}
	wantErr(t, "RevokeToken of an unknown name", c.RevokeToken(ctx, "nope"), catalog.ErrNotFound)
}

// testRescanDetail: a scan that rates a finding anew (severity, fixed version, a VEX statement's
// reason) records it; one that differs only in the rest of the record keeps the recorded finding.
func testRescanDetail(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	pkgs := basePackages()
	cveA := vulnFinding("CVE-2025-1000", evidence.SeverityHigh, pkgs[1], "3.0.13-1~deb12u1")
	cveB := vulnFinding("CVE-2025-1001", evidence.SeverityMedium, pkgs[0], "")
	v := release(t, c, version("web", "1.0", "rd-1", pkgs, cveA, cveB), t0)
	n := 0
	scan := func(fs ...evidence.Finding) map[string]evidence.Finding {
		t.Helper()
		n++
		if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: v.Platforms[0].Digest, Findings: fs, At: t0.Add(time.Duration(n) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		h, err := c.FindingHistory(ctx, catalog.Ref{Image: "web", Version: v.Tag()})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]evidence.Finding{}
		for _, f := range h {
			if f.Open {
				out[f.Finding.ID] = f.Finding
			}
		}
		return out
	}
	retitled := cveA
	retitled.Title = "a new title"
	if got := scan(retitled, cveB)[cveA.ID]; got.Title != cveA.Title {
		t.Errorf("a finding rated as before: title %q, want the recorded %q kept", got.Title, cveA.Title)
	}
	rerated := cveA
	rerated.Severity, rerated.FixedVersion, rerated.Title = evidence.SeverityCritical, "3.0.14-1~deb12u1", "rerated"
	if got := scan(rerated, cveB)[cveA.ID]; got.Severity != evidence.SeverityCritical || got.FixedVersion != rerated.FixedVersion || got.Title != "rerated" {
		t.Errorf("a finding rated anew: %+v, want it recorded (critical, fixed in %s)", got, rerated.FixedVersion)
	}
	if crit, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical}); err != nil || !slices.Equal(findingIDs(crit), []string{"web@1.0-r1 CVE-2025-1000"}) {
		t.Errorf("critical findings after the re-rating: %q %v", findingIDs(crit), err)
	}
	vexed := cveB
	vexed.Status, vexed.Reason = evidence.StatusNotAffected, "component_not_present"
	scan(rerated, vexed)
	vexed.Reason = "vulnerable_code_not_in_execute_path"
	if got := scan(rerated, vexed)[cveB.ID]; got.Reason != vexed.Reason {
		t.Errorf("a VEX statement's new reason: %q, want %q", got.Reason, vexed.Reason)
	}
}
