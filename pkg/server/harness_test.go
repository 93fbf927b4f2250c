package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// t0 is when the fixtures were built.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func digest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func deb(name, version, source string) evidence.Package {
	return evidence.Package{Name: name, Version: version, Type: evidence.TypeDeb, Arch: "amd64", Ecosystem: "Debian:12",
		Source: source, SourceVersion: version, Layer: digest("layer"),
		PURL: "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-12"}
}

func vulnOf(id string, sev evidence.Severity, p evidence.Package, fixed string) evidence.Finding {
	return evidence.Finding{Kind: evidence.KindVulnerability, ID: id, Severity: sev, Status: evidence.StatusAffected,
		Title: id + " in " + p.Name, FixedVersion: fixed,
		Package: &evidence.PackageRef{Name: p.Name, Version: p.Version, Type: p.Type, PURL: p.PURL, Source: p.Source}}
}

// documents are a platform image's SBOMs and provenance, distinct per image so a wrong one shows.
func documents(dig string) (spdx, cdx, prov json.RawMessage) {
	spdx = json.RawMessage(`{"spdxVersion":"SPDX-2.3","name":"` + dig + `","packages":[]}`)
	cdx = json.RawMessage(`{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:` + dig[7:15] + `"}`)
	prov = json.RawMessage(`{"buildDefinition":{"buildType":"https://ingot.build/buildtypes/image/v1","externalParameters":{"digest":"` + dig + `"}}}`)
	return spdx, cdx, prov
}

func evidenceOf(dig string, pkgs []evidence.Package, findings ...evidence.Finding) *evidence.Set {
	spdx, cdx, prov := documents(dig)
	return &evidence.Set{
		Inventory: &evidence.Inventory{Image: evidence.Image{Digest: dig, OS: "linux", Arch: "amd64"},
			Distro: &evidence.Distro{ID: "debian", VersionID: "12"}, Packages: pkgs},
		Vulns: &evidence.Report{Image: evidence.Image{Digest: dig}, Tool: "ingot scan", Findings: findings},
		Scan: &evidence.ScanRecord{Scanner: "ingot test", DBURI: "file:///fixture", DBVersion: "2025-03-01",
			Started: t0.Add(-time.Minute), Finished: t0.Add(-30 * time.Second)},
		Secrets:    evidence.Report{Tool: "ingot secrets", Findings: []evidence.Finding{}},
		Lint:       evidence.Report{Tool: "ingot lint", Findings: []evidence.Finding{}},
		SPDX:       spdx,
		CycloneDX:  cdx,
		Provenance: prov,
	}
}

// fixture is what seed recorded.
type fixture struct {
	app1, app2, multi *catalog.Version
	pending           *catalog.Version
}

var (
	libc    = deb("libc6", "2.36-9+deb12u4", "glibc")
	sslOld  = deb("libssl3", "3.0.11-1~deb12u2", "openssl")
	sslNew  = deb("libssl3", "3.0.13-1~deb12u1", "openssl")
	tzdata  = deb("tzdata", "2024a-0+deb12u1", "")
	curlPkg = deb("curl", "7.88.1-10+deb12u5", "curl")
)

// seed records real versions through Begin and Publish, as pipeline.Publish does:
//   - app 1.0-r1 (libssl3 3.0.11, a high finding), deprecated once app 1.0-r2 superseded it;
//   - app 1.0-r2 (libssl3 3.0.11 still, curl added, a critical finding with a fix), active;
//   - multi 2.0-r1, two platform images (amd64, arm64/v8), active;
//   - app 1.0-r3, pending (never published);
//
// and registers the spec of app.
func seed(t *testing.T, c catalog.Catalog) fixture {
	t.Helper()
	ctx := context.Background()
	publish := func(v *catalog.Version, at time.Time) *catalog.Version {
		t.Helper()
		got, _, err := c.Begin(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, got.ID, catalog.Publication{
			Locations: []catalog.Location{{Kind: catalog.LocationRegistry, Ref: "registry.example/" + v.Image + "@" + v.Digest}},
			Artifacts: []catalog.Artifact{{Kind: catalog.ArtifactSignature, Format: "bundle", Subject: v.Digest, KeyID: "key", Ref: "registry.example/" + v.Image + "@sha256:sig"}},
			At:        at, Actor: "ci",
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	single := func(image, line, seed string, pkgs []evidence.Package, fs ...evidence.Finding) *catalog.Version {
		d := digest(seed)
		return &catalog.Version{Image: image, Line: line, Kind: catalog.KindContainer, Digest: d,
			Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: evidenceOf(d, pkgs, fs...)}},
			Spec:      []byte("name: " + image + "\nversion: \"" + line + "\"\n"), Lock: []byte(`{"lockVersion": 1, "seed": "` + seed + `"}`),
			Reason: "ingot build", Built: t0}
	}
	var f fixture
	f.app1 = publish(single("app", "1.0", "app-1", []evidence.Package{libc, sslOld, tzdata},
		vulnOf("CVE-2024-0001", evidence.SeverityHigh, sslOld, "3.0.13-1~deb12u1")), t0)
	f.app2 = publish(single("app", "1.0", "app-2", []evidence.Package{libc, sslOld, tzdata, curlPkg},
		vulnOf("CVE-2024-0001", evidence.SeverityHigh, sslOld, "3.0.13-1~deb12u1"),
		vulnOf("CVE-2024-0002", evidence.SeverityCritical, curlPkg, "7.88.1-10+deb12u6")), t0.Add(time.Hour))
	if _, err := c.DeprecateDue(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := single("multi", "2.0", "multi", nil)
	amd, arm := digest("multi/amd64"), digest("multi/arm64")
	m.Platforms = []catalog.Platform{
		{OS: "linux", Arch: "amd64", Digest: amd, Evidence: evidenceOf(amd, []evidence.Package{libc, sslNew})},
		{OS: "linux", Arch: "arm64", Variant: "v8", Digest: arm, Evidence: evidenceOf(arm, []evidence.Package{libc, sslNew, tzdata})},
	}
	f.multi = publish(m, t0.Add(3*time.Hour))
	var err error
	if f.pending, _, err = c.Begin(ctx, single("app", "1.0", "app-3", []evidence.Package{libc, sslNew})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSpec(ctx, catalog.RegisteredSpec{Name: "app", Spec: []byte("name: app\n"), Added: t0}); err != nil {
		t.Fatal(err)
	}
	return f
}

// openSQLite opens an empty catalog in a temporary SQLite file.
func openSQLite(t *testing.T) catalog.Catalog {
	t.Helper()
	c, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// env is a server over a catalog, on a loopback test server, with a token of each kind.
type env struct {
	t     *testing.T
	cat   catalog.Catalog
	srv   *Server
	ts    *httptest.Server
	http  *http.Client
	check *validator
	cover *coverage
	logs  *syncBuffer
	// reader and writer are secrets of read and write scope; revoked one that was revoked.
	reader, writer, revoked string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, c catalog.Catalog, configure ...func(*Config)) *env {
	t.Helper()
	e := (&env{t: t, cat: c, cover: &coverage{seen: map[string]bool{}}}).serve(configure...)
	ctx := context.Background()
	for name, dst := range map[string]*string{"reader": &e.reader, "writer": &e.writer, "gone": &e.revoked} {
		scope := catalog.ScopeRead
		if name == "writer" || name == "gone" {
			scope = catalog.ScopeWrite
		}
		secret, _, err := CreateToken(ctx, c, name, scope, t0)
		if err != nil {
			t.Fatal(err)
		}
		*dst = secret
	}
	if err := c.RevokeToken(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	return e
}

// serve is another server over e's catalog (and tokens), configured differently.
func (e *env) serve(configure ...func(*Config)) *env {
	t := e.t
	t.Helper()
	n := *e
	n.logs = &syncBuffer{}
	cfg := Config{Catalog: e.cat, Logger: slog.New(slog.NewJSONHandler(n.logs, nil)),
		Limits: Limits{EventPoll: 20 * time.Millisecond, MaxBodyBytes: 4 << 10, MaxSpecBytes: 256 << 10},
		Now:    func() time.Time { return t0.Add(24 * time.Hour) }}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	n.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(n.ts.Close)
	n.check = newValidator(t, n.ts.URL, e.cover)
	n.http = &http.Client{Transport: n.check}
	return &n
}

// serveHandler puts srv on a test server, with e's tokens and checks.
func (e *env) serveHandler(srv *Server) *env {
	n := *e
	n.srv = srv
	n.ts = httptest.NewServer(srv.Handler())
	e.t.Cleanup(n.ts.Close)
	n.check = newValidator(e.t, n.ts.URL, e.cover)
	n.http = &http.Client{Transport: n.check}
	return &n
}

// request is one call of the API.
type request struct {
	method, path, token string
	body                any    // marshalled to JSON unless a string or []byte
	contentType         string // application/json when a body is given
	header              map[string]string
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not the JSON expected: %v\n%s", r.status, err, r.body)
	}
}

// errorBody is the answer's Error.
func (r response) errorBody(t *testing.T) Error {
	t.Helper()
	var e Error
	r.json(t, &e)
	return e
}

func (e *env) do(r request) response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), r.method, e.ts.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// get is a GET with the read token that must answer 200 with JSON decoding into v.
func (e *env) get(path string, v any) response {
	e.t.Helper()
	r := e.do(request{method: http.MethodGet, path: path, token: e.reader})
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d\n%s", path, r.status, r.body)
	}
	if v != nil {
		r.json(e.t, v)
	}
	return r
}

// validator checks every request the tests make, and the server's answer, against the OpenAPI
// document: an answer must be documented (status, content type, schema), and a request the server
// accepted must be one the document allows. It remembers which operations were exercised.
type validator struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	next   http.RoundTripper

	cover *coverage
}

// coverage is which documented operations answered, and were validated, at least once.
type coverage struct {
	mu   sync.Mutex
	seen map[string]bool // "GET /v1/versions"
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI())
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func newValidator(t *testing.T, serverURL string, cover *coverage) *validator {
	t.Helper()
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, doc: doc, router: router, next: http.DefaultTransport, cover: cover}
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	v.validate(req, reqBody, resp, respBody)
	return resp, nil
}

func (v *validator) validate(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	v.t.Helper()
	ctx := context.Background()
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		// Only the catch-alls answer requests the document has no operation for: JSON 404 and 405.
		var e Error
		if (resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed) || json.Unmarshal(respBody, &e) != nil || e.Error == "" {
			v.t.Errorf("%s: no operation in the OpenAPI document (%v), and answered %d %s", what, err, resp.StatusCode, respBody)
		}
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && resp.StatusCode < 300 {
		v.t.Errorf("%s: the server accepted (%d) a request the OpenAPI document refuses: %v", what, resp.StatusCode, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		v.t.Errorf("%s: answer %d does not match the OpenAPI document: %v\n%.600s", what, resp.StatusCode, err, respBody)
		return
	}
	v.cover.mu.Lock()
	v.cover.seen[req.Method+" "+route.Path] = true
	v.cover.mu.Unlock()
}

// exercised lists the documented operations that answered at least once.
func (c *coverage) exercised() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for k := range c.seen {
		out[k] = true
	}
	return out
}
