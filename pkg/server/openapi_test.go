package server

import (
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: every route the server registers is an operation of api/openapi.yaml,
// and every operation of the document is a route, with the same authentication (open routes say
// security: []).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	srv, err := New(Config{Catalog: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]Route{}
	for _, r := range srv.Routes() {
		routes[r.Method+" "+r.Path] = r
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			documented[key] = true
			r, ok := routes[key]
			if !ok {
				t.Errorf("the document has %s, which the server does not route", key)
				continue
			}
			// Open: no requirement, or an empty one among them (a token is optional).
			open := op.Security != nil && len(*op.Security) == 0
			if op.Security != nil {
				for _, req := range *op.Security {
					open = open || len(req) == 0
				}
			}
			if open != (r.Scope == scopeOpen) {
				t.Errorf("%s: the document says open=%v, the server needs scope %q", key, open, r.Scope)
			}
		}
	}
	var missing []string
	for key := range routes {
		if !documented[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes missing from api/openapi.yaml: %s", strings.Join(missing, ", "))
	}
	if len(routes) < 20 {
		t.Errorf("only %d routes: %v", len(routes), routes)
	}
	// The server serves the document it embeds.
	e := newEnv(t, openSQLite(t))
	r := e.do(request{method: http.MethodGet, path: "/openapi.yaml"})
	if r.status != http.StatusOK || string(r.body) != string(OpenAPI()) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") {
		t.Errorf("GET /openapi.yaml: %d %q, %d bytes", r.status, r.header.Get("Content-Type"), len(r.body))
	}
}
