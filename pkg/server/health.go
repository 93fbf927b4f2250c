package server

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// health is the body of /healthz and /readyz.
type health struct {
	Status string `json:"status"`
}

// healthz says the process is up and answering.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, health{Status: "ok"})
	return nil
}

// readyTimeout bounds the catalog query of a readiness check.
const readyTimeout = 5 * time.Second

// readyz says the server can answer API requests: the catalog answers a query, and the server is
// not shutting down (so a load balancer stops sending it work while it drains).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	select {
	case <-s.stopping:
		return fault.Errorf(fault.Unavailable, "shutting down")
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	// The cheapest real query: the end of the event sequence, by its index.
	if _, err := s.cat.Events(ctx, math.MaxInt64, 1); err != nil {
		return fault.Errorf(fault.Unavailable, "catalog: %w", err)
	}
	writeJSON(w, http.StatusOK, health{Status: "ready"})
	return nil
}

// openAPI is the API's description: api/openapi.yaml, checked against the routes by the tests.
//
//go:embed api/openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Length", fmt.Sprint(len(openAPI)))
	_, _ = w.Write(openAPI) // a client that left is only logged
	return nil
}
