package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// TestReadmeExamples: every curl example of the README's API section names a route of the server
// with parameters and a body the OpenAPI document allows, so the examples follow the API when it
// changes.
func TestReadmeExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## API\n")
	if !ok {
		t.Fatal("README has no API section")
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	block = strings.ReplaceAll(block, "\\\n", " ")

	srv, err := New(Config{Catalog: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: "http://127.0.0.1:8080"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	urlRE := regexp.MustCompile(`"\$API(/[^"]*)"`)
	bodyRE := regexp.MustCompile(`--json '([^']*)'`)
	n := 0
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "curl ") {
			continue
		}
		m := urlRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("a curl example without $API: %s", line)
			continue
		}
		method, body := http.MethodGet, ""
		if b := bodyRE.FindStringSubmatch(line); b != nil {
			method, body = http.MethodPost, b[1]
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:8080"+m[1], strings.NewReader(body))
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if _, pattern := srv.mux.Handler(req); !strings.HasPrefix(pattern, method+" ") {
			t.Errorf("%s %s: no route (matched %q)", method, m[1], pattern)
			continue
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in the OpenAPI document: %v", method, m[1], err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the document refuses it: %v", method, m[1], err)
		}
		for name := range req.URL.Query() { // the document allows others; the server does not
			if route.Operation.Parameters.GetByInAndName(openapi3.ParameterInQuery, name) == nil {
				t.Errorf("%s %s: no query parameter %q", method, m[1], name)
			}
		}
		n++
	}
	if n < 8 {
		t.Errorf("only %d curl examples found", n)
	}
}
