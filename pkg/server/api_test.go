package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/postgres"
)

// TestAPI runs the API's tests against the SQLite catalog.
func TestAPI(t *testing.T) {
	testAPI(t, openSQLite)
}

// TestAPIPostgres runs them against PostgreSQL: a private cluster the test starts (skipped locally
// without the postgresql package, a failure under CI).
func TestAPIPostgres(t *testing.T) {
	pg := regtest.StartPostgres(t)
	if pg == nil {
		return
	}
	testAPI(t, func(t *testing.T) catalog.Catalog {
		c, err := postgres.Open(context.Background(), pg.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}

func testAPI(t *testing.T, open func(*testing.T) catalog.Catalog) {
	var exercised []map[string]bool
	run := func(name string, f func(t *testing.T, e *env, fx fixture)) {
		t.Run(name, func(t *testing.T) {
			c := open(t)
			fx := seed(t, c)
			e := newEnv(t, c)
			f(t, e, fx)
			exercised = append(exercised, e.cover.exercised())
		})
	}
	run("Read", testRead)
	run("Documents", testDocuments)
	run("Queries", testQueries)
	run("StatusChange", testStatusChange)
	run("Events", testEvents)
	run("Specs", testSpecs)
	run("Refused", testRefused)
	run("Hooks", testHooks)
	run("Health", testHealth)

	// Every operation of the document was exercised, and answered as documented.
	if t.Failed() {
		return
	}
	seen := map[string]bool{}
	for _, m := range exercised {
		for k := range m {
			seen[k] = true
		}
	}
	for path, item := range loadOpenAPI(t).Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				t.Errorf("no test exercised %s %s", method, path)
			}
		}
	}
}

func tags(vs []versionSummary) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Image+"@"+v.Tag)
	}
	return out
}

func testRead(t *testing.T, e *env, fx fixture) {
	var images []imageSummary
	e.get("/v1/images", &images)
	if len(images) != 2 || images[0].Name != "app" || images[1].Name != "multi" {
		t.Fatalf("images: %+v", images)
	}
	app := images[0]
	if app.Versions != 2 || app.Statuses[catalog.StatusActive] != 1 || app.Statuses[catalog.StatusDeprecated] != 1 ||
		app.Latest == nil || app.Latest.Tag != "1.0-r2" || app.Latest.Digest != fx.app2.Digest || !app.Registered ||
		!slices.Equal(app.Lines, []string{"1.0"}) {
		t.Errorf("image app: %+v", app)
	}
	if images[1].Registered || images[1].Latest == nil || images[1].Latest.Tag != "2.0-r1" {
		t.Errorf("image multi: %+v", images[1])
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"multi@2.0-r1", "app@1.0-r2", "app@1.0-r1"}},
		{"?image=app", []string{"app@1.0-r2", "app@1.0-r1"}},
		{"?image=app&pending=true", []string{"app@1.0-r3", "app@1.0-r2", "app@1.0-r1"}},
		{"?image=app&line=1.0&status=deprecated", []string{"app@1.0-r1"}},
		{"?status=active", []string{"multi@2.0-r1", "app@1.0-r2"}},
		{"?status=deprecated,revoked&status=eol", []string{"app@1.0-r1"}},
		{"?limit=1", []string{"multi@2.0-r1"}},
		{"?image=nothing", nil},
	} {
		var vs []versionSummary
		r := e.get("/v1/versions"+tc.query, &vs)
		if !slices.Equal(tags(vs), tc.want) {
			t.Errorf("versions%s: %v, want %v", tc.query, tags(vs), tc.want)
		}
		if strings.Contains(string(r.body), `"evidence"`) || strings.Contains(string(r.body), "null") {
			t.Errorf("versions%s lists evidence or nulls: %.300s", tc.query, r.body)
		}
	}

	// A version, however it is named, with its evidence but not its documents.
	for _, name := range []string{"1.0-r2", "1.0", "latest", fx.app2.Digest} {
		var d struct {
			versionSummary
			Documents []documentLink `json:"documents"`
		}
		r := e.get("/v1/images/app/versions/"+url.PathEscape(name), &d)
		if d.ID != fx.app2.ID || d.Tag != "1.0-r2" || d.Status.Status != catalog.StatusActive || d.State != catalog.StatePublished {
			t.Errorf("app@%s: %+v", name, d.Version)
			continue
		}
		ev := d.Platforms[0].Evidence
		if ev == nil || ev.Inventory == nil || len(ev.Inventory.Packages) != 4 || ev.Vulns == nil || len(ev.Vulns.Findings) != 2 {
			t.Errorf("app@%s: evidence %+v", name, ev)
		} else if ev.SPDX != nil || ev.CycloneDX != nil || ev.Provenance != nil || d.Spec != nil || d.Lock != nil {
			t.Errorf("app@%s: the large documents are inline", name)
		}
		if len(d.Documents) != 5 || len(d.Locations) != 1 || len(d.Artifacts) != 1 || d.SpecDigest == "" {
			t.Errorf("app@%s: documents %+v, locations %+v, artifacts %+v", name, d.Documents, d.Locations, d.Artifacts)
		}
		if strings.Contains(string(r.body), `"spdxVersion"`) {
			t.Errorf("app@%s carries the SBOM", name)
		}
	}
	// The deprecated version, by tag; the pending one is not found.
	var d versionSummary
	e.get("/v1/images/app/versions/1.0-r1", &d)
	if d.Status.Status != catalog.StatusDeprecated || d.Status.Actor == "" {
		t.Errorf("app@1.0-r1: status %+v", d.Status)
	}
	if r := e.do(request{method: http.MethodGet, path: "/v1/images/app/versions/1.0-r3", token: e.reader}); r.status != http.StatusNotFound || r.errorBody(t).Code != "not_found" {
		t.Errorf("the pending version: %d %s", r.status, r.body)
	}

	// History: the image's every event, a version's own.
	var evs []catalog.Event
	e.get("/v1/images/app/history", &evs)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Tag+" "+ev.Kind+" "+string(ev.Status))
	}
	want := []string{"1.0-r1 published active", "1.0-r2 published active", "1.0-r1 status deprecated"}
	if !slices.Equal(kinds, want) {
		t.Errorf("app history: %v, want %v", kinds, want)
	}
	e.get("/v1/images/app/versions/1.0-r2/history", &evs)
	if len(evs) != 1 || evs[0].Kind != catalog.EventPublished || evs[0].Tag != "1.0-r2" {
		t.Errorf("app@1.0-r2 history: %+v", evs)
	}

	// Findings of a version, with their life.
	var tracked []catalog.TrackedFinding
	e.get("/v1/images/app/versions/1.0-r2/findings?open=true", &tracked)
	var ids []string
	for _, f := range tracked {
		ids = append(ids, f.Finding.ID)
		if !f.Open || f.Platform != "linux/amd64" || f.FirstSeen.IsZero() {
			t.Errorf("tracked finding %+v", f)
		}
	}
	sort.Strings(ids)
	if !slices.Equal(ids, []string{"CVE-2024-0001", "CVE-2024-0002"}) {
		t.Errorf("app@1.0-r2 findings: %v", ids)
	}

	// Diff: curl added, the critical finding introduced.
	var diff catalog.VersionDiff
	e.get("/v1/diff?from=app@1.0-r1&to=app@1.0-r2", &diff)
	if diff.From != "app@1.0-r1" || diff.To != "app@1.0-r2" || len(diff.Platforms) != 1 {
		t.Fatalf("diff: %+v", diff)
	}
	p := diff.Platforms[0]
	if len(p.Added) != 1 || p.Added[0].Name != "curl" || len(p.Removed)+len(p.Changed)+len(p.Fixed) != 0 ||
		len(p.Introduced) != 1 || p.Introduced[0].ID != "CVE-2024-0002" {
		t.Errorf("diff app@1.0-r1 app@1.0-r2: %+v", p)
	}
	e.get("/v1/diff?from=app@1.0-r2&to=multi@2.0-r1", &diff)
	if len(diff.Platforms) != 2 || diff.Platforms[1].Only != "to" {
		t.Errorf("diff across images: %+v", diff.Platforms)
	}
}

func testDocuments(t *testing.T, e *env, fx fixture) {
	// Every linked document is the recorded one, byte for byte, with its media type.
	var d versionDetail
	e.get("/v1/images/multi/versions/2.0-r1", &d)
	if len(d.Documents) != 2+3*2 {
		t.Fatalf("multi@2.0-r1 links %d documents: %+v", len(d.Documents), d.Documents)
	}
	for _, l := range d.Documents {
		r := e.get(l.Href, nil)
		if got := r.header.Get("Content-Type"); got != l.MediaType || len(r.body) != l.Size {
			t.Errorf("%s: %s, %d bytes; the link says %s, %d", l.Href, got, len(r.body), l.MediaType, l.Size)
		}
		var want []byte
		switch l.Name {
		case docSpec:
			want = fx.multi.Spec
		case docLock:
			want = fx.multi.Lock
		default:
			p, err := pickPlatform(fx.multi, l.Platform)
			if err != nil {
				t.Fatal(err)
			}
			want = map[string][]byte{docSPDX: p.Evidence.SPDX, docCycloneDX: p.Evidence.CycloneDX, docProvenance: p.Evidence.Provenance}[l.Name]
		}
		if string(r.body) != string(want) {
			t.Errorf("%s: %s, want %s", l.Href, r.body, want)
		}
	}
	// A platform named by its digest; the only platform of a single image needs no name.
	arm := fx.multi.Platforms[1]
	r := e.get("/v1/images/multi/versions/2.0-r1/documents/spdx?platform="+url.QueryEscape(arm.Digest), nil)
	if string(r.body) != string(arm.Evidence.SPDX) {
		t.Errorf("the arm64 SBOM by digest: %s", r.body)
	}
	r = e.get("/v1/images/app/versions/latest/documents/provenance", nil)
	if string(r.body) != string(fx.app2.Platforms[0].Evidence.Provenance) {
		t.Errorf("app@latest provenance: %s", r.body)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/images/multi/versions/2.0-r1/documents/spdx", http.StatusBadRequest}, // which platform?
		{"/v1/images/multi/versions/2.0-r1/documents/spdx?platform=linux/s390x", http.StatusNotFound},
		{"/v1/images/multi/versions/2.0-r1/documents/spec?platform=linux/amd64", http.StatusBadRequest},
		{"/v1/images/multi/versions/2.0-r1/documents/vex", http.StatusNotFound},
		{"/v1/images/multi/versions/9.9-r1/documents/spec", http.StatusNotFound},
	} {
		r := e.do(request{method: http.MethodGet, path: tc.path, token: e.reader})
		if r.status != tc.status || r.errorBody(t).Error == "" {
			t.Errorf("GET %s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
		}
	}
}

func testQueries(t *testing.T, e *env, fx fixture) {
	exposed := func(q string) []string {
		var es []catalog.Exposure
		e.get("/v1/exposure?"+q, &es)
		var out []string
		for _, x := range es {
			out = append(out, x.Image+"@"+x.Tag+" "+x.Platform+" "+x.Package.Name+" "+x.Package.Version+" "+string(x.Status))
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"package=curl", []string{"app@1.0-r2 linux/amd64 curl 7.88.1-10+deb12u5 active"}},
		// The source package finds the binary, in every Debian release; the range is dpkg's.
		{"package=openssl&ecosystem=Debian&range=" + url.QueryEscape("<3.0.13-1~deb12u1"), []string{
			"app@1.0-r1 linux/amd64 libssl3 3.0.11-1~deb12u2 deprecated",
			"app@1.0-r2 linux/amd64 libssl3 3.0.11-1~deb12u2 active"}},
		{"package=libssl3&range=" + url.QueryEscape(">=3.0.13-1~deb12u1") + "&status=active", []string{
			"multi@2.0-r1 linux/amd64 libssl3 3.0.13-1~deb12u1 active",
			"multi@2.0-r1 linux/arm64/v8 libssl3 3.0.13-1~deb12u1 active"}},
		{"package=tzdata&status=active", []string{
			"app@1.0-r2 linux/amd64 tzdata 2024a-0+deb12u1 active",
			"multi@2.0-r1 linux/arm64/v8 tzdata 2024a-0+deb12u1 active"}},
		{"package=tzdata&ecosystem=Go", nil},
	} {
		if got := exposed(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("exposure %s:\n got %q\nwant %q", tc.query, got, tc.want)
		}
	}
	// A page at a time: the pages, followed by their Link headers, are the whole answer in its order.
	whole := testPages[catalog.Exposure](t, e, "/v1/exposure?package=libssl3")
	var none []catalog.Exposure
	if r := e.get("/v1/exposure?package=libssl3&offset=1000", &none); len(none) != 0 || r.header.Get("X-Total-Count") != strconv.Itoa(len(whole)) {
		t.Errorf("a page past the end: %d exposures, X-Total-Count %q", len(none), r.header.Get("X-Total-Count"))
	}

	testPages[catalog.VersionFinding](t, e, "/v1/findings?severity=low")

	findings := func(q string) []string {
		var fs []catalog.VersionFinding
		e.get("/v1/findings?"+q, &fs)
		var out []string
		for _, f := range fs {
			out = append(out, f.Image+"@"+f.Tag+" "+f.Finding.ID+" "+f.Finding.Severity.String())
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"severity=critical&status=active", []string{"app@1.0-r2 CVE-2024-0002 critical"}},
		{"severity=high&status=active&fixed=true", []string{"app@1.0-r2 CVE-2024-0001 high", "app@1.0-r2 CVE-2024-0002 critical"}},
		{"severity=high", []string{"app@1.0-r1 CVE-2024-0001 high", "app@1.0-r2 CVE-2024-0001 high", "app@1.0-r2 CVE-2024-0002 critical"}},
		{"severity=critical&status=deprecated", nil},
		{"image=multi", nil},
	} {
		if got := findings(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("findings %s:\n got %q\nwant %q", tc.query, got, tc.want)
		}
	}
}

func testStatusChange(t *testing.T, e *env, fx fixture) {
	path := "/v1/images/app/versions/1.0-r2/status"
	r := e.do(request{method: http.MethodPost, path: path, token: e.writer, body: map[string]string{"status": "revoked", "reason": "CVE-2024-0002 exploited"}})
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	var ev catalog.Event
	r.json(t, &ev)
	if ev.Kind != catalog.EventStatus || ev.Status != catalog.StatusRevoked || ev.From != catalog.StatusActive ||
		ev.Actor != "writer" || ev.Reason != "CVE-2024-0002 exploited" || ev.Tag != "1.0-r2" || ev.Seq == 0 {
		t.Errorf("revoke event: %+v", ev)
	}
	got, err := e.cat.Get(context.Background(), catalog.Ref{Image: "app", Version: "1.0-r2"})
	if err != nil || got.Status.Status != catalog.StatusRevoked || got.Status.Actor != "writer" || !got.Status.At.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("the catalog after revoke: %+v %v", got.Status, err)
	}
	// The same change again conflicts and appends nothing.
	before := allEvents(t, e.cat)
	r = e.do(request{method: http.MethodPost, path: path, token: e.writer, body: map[string]string{"status": "revoked", "reason": "again"}})
	if r.status != http.StatusConflict || r.errorBody(t).Code != "conflict" || !strings.Contains(r.errorBody(t).Error, "already revoked") {
		t.Errorf("revoking twice: %d %s", r.status, r.body)
	}
	if after := allEvents(t, e.cat); len(after) != len(before) {
		t.Errorf("a refused change appended %d events", len(after)-len(before))
	}
	// Restore, then every other verb.
	for _, st := range []string{"active", "deprecated", "eol", "revoked"} {
		r = e.do(request{method: http.MethodPost, path: path, token: e.writer, body: map[string]string{"status": st, "reason": "testing " + st}})
		if r.status != http.StatusOK {
			t.Errorf("to %s: %d %s", st, r.status, r.body)
		}
	}
	// The newest active version moves: app@latest is no longer r2 (nothing of app is active).
	if r := e.do(request{method: http.MethodGet, path: "/v1/images/app/versions/latest", token: e.reader}); r.status != http.StatusNotFound {
		t.Errorf("app@latest with nothing active: %d %s", r.status, r.body)
	}
}

func allEvents(t *testing.T, c catalog.Catalog) []catalog.Event {
	t.Helper()
	evs, err := c.Events(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// snapshot is everything a refused request must leave as it was.
type snapshot struct {
	Versions []*catalog.Version
	Events   []catalog.Event
	Specs    []catalog.RegisteredSpec
	Tokens   []catalog.Token
}

func takeSnapshot(t *testing.T, c catalog.Catalog) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	var err error
	if s.Versions, err = c.List(ctx, catalog.ListOptions{Pending: true}); err != nil {
		t.Fatal(err)
	}
	s.Events = allEvents(t, c)
	if s.Specs, err = c.ListSpecs(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range s.Specs { // the bytes are left out of JSON: compare them too
		sp, err := c.Spec(ctx, s.Specs[i].Name)
		if err != nil {
			t.Fatal(err)
		}
		s.Specs[i] = sp
	}
	if s.Tokens, err = c.ListTokens(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s snapshot) equal(o snapshot) bool {
	a, _ := json.Marshal(s)
	b, _ := json.Marshal(o)
	return string(a) == string(b) && reflect.DeepEqual(s.Specs, o.Specs)
}

// testPages reads path whole (one page of the default size), then in pages of two, following the
// Link headers: the pages, in order, must be the whole answer, and each must give its size.
func testPages[T any](t *testing.T, e *env, path string) []T {
	t.Helper()
	var whole []T
	r := e.get(path, &whole)
	if r.header.Get("X-Total-Count") != strconv.Itoa(len(whole)) || r.header.Get("Link") != "" || len(whole) < 3 {
		t.Fatalf("%s whole: %d items, X-Total-Count %q, Link %q", path, len(whole), r.header.Get("X-Total-Count"), r.header.Get("Link"))
	}
	var paged []T
	next := path + "&limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > len(whole) {
			t.Fatalf("more pages than items: the Link headers loop (%s)", next)
		}
		var page []T
		r := e.get(next, &page)
		if r.header.Get("X-Total-Count") != strconv.Itoa(len(whole)) || len(page) > 2 {
			t.Fatalf("GET %s: %d items, X-Total-Count %q", next, len(page), r.header.Get("X-Total-Count"))
		}
		paged = append(paged, page...)
		next = ""
		if link := r.header.Get("Link"); link != "" {
			p, ok := strings.CutSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			if !ok {
				t.Fatalf("Link %q", link)
			}
			next = p
		}
	}
	if !reflect.DeepEqual(paged, whole) {
		t.Errorf("the pages of %s are not the whole answer:\n pages %+v\n whole %+v", path, paged, whole)
	}
	return whole
}
