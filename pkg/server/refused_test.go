package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// testRefused: unauthenticated, wrong-scope, revoked-token and malformed requests to every route
// are refused with the right status and a JSON error that says what is wrong, and change nothing.
func testRefused(t *testing.T, e *env, _ fixture) {
	before := takeSnapshot(t, e.cat)
	const (
		get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete
		status         = "/v1/images/app/versions/1.0-r2/status"
	)
	revoke := map[string]string{"status": "revoked", "reason": "x"}
	type tc struct {
		name   string
		req    request
		status int
		code   string
		says   string
	}
	cases := []tc{
		// Authentication and scope.
		{"no token", request{method: get, path: "/v1/versions"}, 401, "unauthenticated", "Bearer"},
		{"no token, a change", request{method: post, path: status, body: revoke}, 401, "unauthenticated", "token"},
		{"not a bearer", request{method: get, path: "/v1/versions", header: map[string]string{"Authorization": "Basic d3JpdGVyOng="}}, 401, "unauthenticated", "Bearer"},
		{"empty bearer", request{method: get, path: "/v1/events", header: map[string]string{"Authorization": "Bearer "}}, 401, "unauthenticated", "Bearer"},
		{"unknown token", request{method: get, path: "/v1/images", token: "ingot_" + strings.Repeat("A", 43)}, 401, "unauthenticated", "unknown or revoked"},
		{"revoked token", request{method: get, path: "/v1/events", token: e.revoked}, 401, "unauthenticated", "revoked"},
		{"revoked token, a change", request{method: post, path: status, token: e.revoked, body: revoke}, 401, "unauthenticated", "revoked"},
		{"read token revokes", request{method: post, path: status, token: e.reader, body: revoke}, 403, "forbidden", "scope write"},
		{"read token registers", request{method: post, path: "/v1/specs", token: e.reader, body: specRegistration{Spec: webSpec}}, 403, "forbidden", "reader"},
		{"read token removes", request{method: del, path: "/v1/specs/app", token: e.reader}, 403, "forbidden", "read"},
		{"read token rebuilds", request{method: post, path: "/v1/specs/app/rebuild", token: e.reader}, 403, "forbidden", "write"},

		// Status changes.
		{"bad JSON", request{method: post, path: status, token: e.writer, body: `{"status": "revoked",`}, 400, "invalid", "body"},
		{"unknown field", request{method: post, path: status, token: e.writer, body: `{"status": "revoked", "reason": "x", "actor": "me"}`}, 400, "invalid", `"actor"`},
		{"trailing data", request{method: post, path: status, token: e.writer, body: `{"status": "revoked", "reason": "x"} {}`}, 400, "invalid", "more than one"},
		{"not an object", request{method: post, path: status, token: e.writer, body: `["revoked"]`}, 400, "invalid", "body"},
		{"unknown status", request{method: post, path: status, token: e.writer, body: map[string]string{"status": "gone", "reason": "x"}}, 400, "invalid", "gone"},
		{"status in capitals", request{method: post, path: status, token: e.writer, body: map[string]string{"status": "REVOKED", "reason": "x"}}, 400, "invalid", "REVOKED"},
		{"no reason", request{method: post, path: status, token: e.writer, body: map[string]string{"status": "revoked", "reason": "  "}}, 400, "invalid", "reason"},
		{"no body", request{method: post, path: status, token: e.writer}, 400, "invalid", "empty"},
		{"oversized body", request{method: post, path: status, token: e.writer, body: map[string]string{"status": "revoked", "reason": strings.Repeat("x", 8<<10)}}, 413, "too_large", "larger than"},
		{"form body", request{method: post, path: status, token: e.writer, body: "status=revoked&reason=x", contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "application/json"},
		{"a pending version", request{method: post, path: "/v1/images/app/versions/1.0-r3/status", token: e.writer, body: revoke}, 404, "not_found", "not found"},
		{"an unknown image", request{method: post, path: "/v1/images/nope/versions/1.0-r1/status", token: e.writer, body: revoke}, 404, "not_found", "not found"},
		{"a query parameter", request{method: post, path: status + "?force=true", token: e.writer, body: revoke}, 400, "invalid", "force"},

		// Queries.
		{"bad range", request{method: get, path: "/v1/exposure?package=libssl3&range=%3C%3C1", token: e.reader}, 400, "invalid", "range"},
		{"range and garbage", request{method: get, path: "/v1/exposure?package=libssl3&range=%3E%3D1.0+%3C2.0", token: e.reader}, 400, "invalid", "range"},
		{"no package", request{method: get, path: "/v1/exposure?ecosystem=Debian", token: e.reader}, 400, "invalid", "package"},
		{"exposure limit 0", request{method: get, path: "/v1/exposure?package=libssl3&limit=0", token: e.reader}, 400, "invalid", "limit"},
		{"exposure limit too large", request{method: get, path: "/v1/exposure?package=libssl3&limit=10001", token: e.reader}, 400, "invalid", "limit"},
		{"exposure negative offset", request{method: get, path: "/v1/exposure?package=libssl3&offset=-1", token: e.reader}, 400, "invalid", "offset"},
		{"findings limit too large", request{method: get, path: "/v1/findings?limit=20000", token: e.reader}, 400, "invalid", "limit"},
		{"misspelt parameter", request{method: get, path: "/v1/versions?stauts=active", token: e.reader}, 400, "invalid", "stauts"},
		{"unknown status filter", request{method: get, path: "/v1/versions?status=active,gone", token: e.reader}, 400, "invalid", "gone"},
		{"negative limit", request{method: get, path: "/v1/versions?limit=-1", token: e.reader}, 400, "invalid", "limit"},
		{"pending not a bool", request{method: get, path: "/v1/versions?pending=yes", token: e.reader}, 400, "invalid", "pending"},
		{"line without image", request{method: get, path: "/v1/versions?line=1.0", token: e.reader}, 400, "invalid", "image"},
		{"bad image filter", request{method: get, path: "/v1/versions?image=a:b", token: e.reader}, 400, "invalid", "a:b"},
		{"unknown severity", request{method: get, path: "/v1/findings?severity=severe", token: e.reader}, 400, "invalid", "severe"},
		{"fixed not a bool", request{method: get, path: "/v1/findings?fixed=1", token: e.reader}, 400, "invalid", "fixed"},
		{"diff without to", request{method: get, path: "/v1/diff?from=app@1.0-r1", token: e.reader}, 400, "invalid", "to"},
		{"diff of a bad ref", request{method: get, path: "/v1/diff?from=app@&to=app@1.0-r2", token: e.reader}, 400, "invalid", "app@"},
		{"diff of an unknown version", request{method: get, path: "/v1/diff?from=app@1.0-r9&to=app@1.0-r2", token: e.reader}, 404, "not_found", "not found"},
		{"an unknown version", request{method: get, path: "/v1/images/app/versions/7.0-r1", token: e.reader}, 404, "not_found", "not found"},
		{"a bad image name", request{method: get, path: "/v1/images/a:b/history", token: e.reader}, 400, "invalid", "a:b"},
		{"open not a bool", request{method: get, path: "/v1/images/app/versions/latest/findings?open=maybe", token: e.reader}, 400, "invalid", "open"},

		// Events.
		{"limit not a number", request{method: get, path: "/v1/events?limit=ten", token: e.reader}, 400, "invalid", "limit"},
		{"limit over the page", request{method: get, path: "/v1/events?limit=1001", token: e.reader}, 400, "invalid", "1000"},
		{"limit zero", request{method: get, path: "/v1/events?limit=0", token: e.reader}, 400, "invalid", "limit"},
		{"after negative", request{method: get, path: "/v1/events?after=-1", token: e.reader}, 400, "invalid", "after"},
		{"after twice", request{method: get, path: "/v1/events?after=1&after=2", token: e.reader}, 400, "invalid", "once"},
		{"wait too long", request{method: get, path: "/v1/events?wait=10m", token: e.reader}, 400, "invalid", "wait"},
		{"wait not a duration", request{method: get, path: "/v1/events?wait=soon", token: e.reader}, 400, "invalid", "wait"},
		{"wait negative", request{method: get, path: "/v1/events?wait=-1s", token: e.reader}, 400, "invalid", "wait"},

		// Specs, rebuilds, SLAs.
		{"spec too large", request{method: post, path: "/v1/specs", token: e.writer, body: specRegistration{Spec: webSpec, Files: make([]byte, 300<<10)}}, 413, "too_large", "larger than"},
		{"remove an unknown spec", request{method: del, path: "/v1/specs/nope", token: e.writer}, 404, "not_found", "nope"},
		{"rebuild an unknown spec", request{method: post, path: "/v1/specs/nope/rebuild", token: e.writer}, 404, "not_found", "not found"},
		{"rebuild with a bad body", request{method: post, path: "/v1/specs/app/rebuild", token: e.writer, body: `{"why": "x"}`}, 400, "invalid", "why"},
		{"rebuild without workers", request{method: post, path: "/v1/specs/app/rebuild", token: e.writer, body: map[string]string{"reason": "now"}}, 501, "not_implemented", "rebuild workers"},
		{"SLA without workers", request{method: get, path: "/v1/sla", token: e.reader}, 501, "not_implemented", "SLA"},
		{"SLA of a bad image", request{method: get, path: "/v1/sla?image=a@b", token: e.reader}, 400, "invalid", "a@b"},

		// Routes.
		{"no such route", request{method: get, path: "/v1/nothing", token: e.reader}, 404, "not_found", "route"},
		{"no such method", request{method: http.MethodPut, path: "/v1/versions", token: e.writer, body: revoke}, 405, "method_not_allowed", "GET"},
		{"a parameter to healthz", request{method: get, path: "/healthz?verbose=1"}, 400, "invalid", "verbose"},
	}
	for name, bad := range badSpecs(t) {
		cases = append(cases, tc{"spec: " + name, request{method: post, path: "/v1/specs", token: e.writer, body: bad.body}, 400, "invalid", bad.says})
	}
	for _, c := range cases {
		r := e.do(c.req)
		if r.status != c.status {
			t.Errorf("%s: %s %s answered %d, want %d: %s", c.name, c.req.method, c.req.path, r.status, c.status, r.body)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		got := r.errorBody(t)
		if got.Code != c.code || !strings.Contains(strings.ToLower(got.Error), strings.ToLower(c.says)) {
			t.Errorf("%s: %+v, want code %s saying %q", c.name, got, c.code, c.says)
		}
		if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if c.status == 405 && r.header.Get("Allow") != "GET" {
			t.Errorf("%s: Allow %q", c.name, r.header.Get("Allow"))
		}
	}
	if after := takeSnapshot(t, e.cat); !before.equal(after) {
		a, _ := json.Marshal(before)
		b, _ := json.Marshal(after)
		t.Errorf("refused requests changed the catalog:\nbefore %s\nafter  %s", a, b)
	}
}

// testHooks: with the rebuild and SLA hooks wired, their routes call them, with the token's name as
// the actor; a hook's error maps like any other.
func testHooks(t *testing.T, e *env, _ fixture) {
	var got []RebuildRequest
	h := e.serve(func(c *Config) {
		c.Hooks.Rebuild = func(_ context.Context, r RebuildRequest) (RebuildJob, error) {
			got = append(got, r)
			if r.Reason == "fail" {
				return RebuildJob{}, errors.New("queue on fire")
			}
			return RebuildJob{ID: int64(len(got)), Name: r.Name, Duplicate: len(got) > 1}, nil
		}
		c.Hooks.SLA = func(_ context.Context, q SLAQuery) (any, error) {
			if q.Image == "nope" {
				return nil, catalog.ErrNotFound
			}
			return map[string]any{"image": q.Image, "breaches": []string{}}, nil
		}
	})
	r := h.do(request{method: http.MethodPost, path: "/v1/specs/app/rebuild", token: e.writer, body: map[string]string{"reason": "base image moved"}})
	var job RebuildJob
	if r.status != http.StatusAccepted {
		t.Fatalf("rebuild: %d %s", r.status, r.body)
	}
	r.json(t, &job)
	if job.ID != 1 || job.Name != "app" || len(got) != 1 || got[0] != (RebuildRequest{Name: "app", Reason: "base image moved", Actor: "writer"}) {
		t.Errorf("rebuild: job %+v, hook got %+v", job, got)
	}
	// No body: a default reason.
	r = h.do(request{method: http.MethodPost, path: "/v1/specs/app/rebuild", token: e.writer})
	if r.status != http.StatusAccepted || len(got) != 2 || got[1].Reason == "" {
		t.Errorf("rebuild without a body: %d %s, hook got %+v", r.status, r.body, got)
	}
	r = h.do(request{method: http.MethodPost, path: "/v1/specs/app/rebuild", token: e.writer, body: map[string]string{"reason": "fail"}})
	if r.status != http.StatusInternalServerError || strings.Contains(string(r.body), "fire") || !strings.Contains(h.logs.String(), "queue on fire") {
		t.Errorf("a failing hook: %d %s; the log: %s", r.status, r.body, h.logs.String())
	}
	var rep map[string]any
	h.get("/v1/sla?image=app", &rep)
	if rep["image"] != "app" {
		t.Errorf("sla: %v", rep)
	}
	if r := h.do(request{method: http.MethodGet, path: "/v1/sla?image=nope", token: e.reader}); r.status != http.StatusNotFound {
		t.Errorf("sla of nothing: %d %s", r.status, r.body)
	}
}

// testHealth: /healthz and /readyz, metrics and the log line of each request.
func testHealth(t *testing.T, e *env, _ fixture) {
	if r := e.do(request{method: http.MethodGet, path: "/openapi.yaml"}); r.status != http.StatusOK || string(r.body) != string(OpenAPI()) {
		t.Errorf("openapi.yaml: %d", r.status)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		r := e.do(request{method: http.MethodGet, path: path})
		var hb health
		if r.status != http.StatusOK || json.Unmarshal(r.body, &hb) != nil || hb.Status != want {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	e.get("/v1/versions?image=app", nil)
	e.do(request{method: http.MethodGet, path: "/v1/versions"})
	e.do(request{method: http.MethodGet, path: "/v1/versions", token: e.revoked})

	// Metrics: requests by route and code, catalog operations by name; open to scrapers.
	r := e.do(request{method: http.MethodGet, path: "/metrics"})
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	for _, want := range []string{
		`ingot_http_requests_total{code="200",route="GET /v1/versions"} 1`,
		`ingot_http_requests_total{code="401",route="GET /v1/versions"} 2`,
		`ingot_http_requests_total{code="200",route="GET /readyz"} 1`,
		`ingot_http_request_duration_seconds_count{code="200",route="GET /v1/versions"} 1`,
		`ingot_catalog_operation_duration_seconds_count{operation="list"} 1`,
		`ingot_catalog_operation_duration_seconds_count{operation="token_by_hash"}`,
		`ingot_catalog_operation_errors_total{operation="token_by_hash"} 1`,
		`ingot_http_requests_in_flight 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Metrics behind a token when asked.
	m := e.serve(func(c *Config) { c.MetricsAuth = true })
	if r := m.do(request{method: http.MethodGet, path: "/metrics"}); r.status != http.StatusUnauthorized {
		t.Errorf("metrics without a token, --metrics-token: %d", r.status)
	}
	if r := m.do(request{method: http.MethodGet, path: "/metrics", token: e.reader}); r.status != http.StatusOK {
		t.Errorf("metrics with a token: %d", r.status)
	}

	// One log line per request: method, route, status, duration, token.
	type line struct {
		Msg, Method, Route, Path, Token string
		Status                          int
		Duration                        float64
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("a log line is not JSON: %s", sc.Bytes())
		}
		if l.Msg == "request" {
			lines = append(lines, l)
		}
	}
	find := func(route string, status int, token string) bool {
		for _, l := range lines {
			if l.Route == route && l.Status == status && l.Token == token && l.Method == http.MethodGet && l.Duration > 0 {
				return true
			}
		}
		return false
	}
	if !find("GET /v1/versions", 200, "reader") || !find("GET /v1/versions", 401, "") || !find("GET /healthz", 200, "") {
		t.Errorf("the log lacks a request's line: %+v", lines)
	}
	if len(lines) != 7 {
		t.Errorf("%d request lines for 7 requests", len(lines))
	}

	// A catalog that does not answer: not ready (503, no detail), still alive.
	gone := openSQLite(t)
	down, err := New(Config{Catalog: gone})
	if err != nil {
		t.Fatal(err)
	}
	_ = gone.Close()
	d := e.serveHandler(down)
	if r := d.do(request{method: http.MethodGet, path: "/readyz"}); r.status != http.StatusServiceUnavailable || r.errorBody(t).Code != "unavailable" {
		t.Errorf("readyz over a closed catalog: %d %s", r.status, r.body)
	}
	if r := d.do(request{method: http.MethodGet, path: "/healthz"}); r.status != http.StatusOK {
		t.Errorf("healthz over a closed catalog: %d %s", r.status, r.body)
	}
}
