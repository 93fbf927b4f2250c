package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// Config is what a Server serves and how.
type Config struct {
	// Catalog is the catalog served; the Server does not close it.
	Catalog catalog.Catalog
	// Logger receives one line per request and the server's own events; nil discards them.
	Logger *slog.Logger
	// MetricsAuth makes /metrics require a token (of any scope); it is open otherwise, like /healthz
	// and /readyz, for scrapers that carry no credentials.
	MetricsAuth bool
	// TLS names the PEM certificate and key files: Serve speaks HTTPS when both are set.
	TLS TLSFiles
	// ShutdownTimeout bounds how long Serve waits, once its context ends, for the requests in flight
	// and the background hook to finish (default 30s).
	ShutdownTimeout time.Duration
	Limits          Limits
	Hooks           Hooks
	// Now is the clock of status changes (nil: time.Now).
	Now func() time.Time
}

// TLSFiles are a certificate chain and its private key, PEM-encoded.
type TLSFiles struct{ CertFile, KeyFile string }

// Limits bound what one request may cost the server.
type Limits struct {
	// MaxBodyBytes caps a JSON request body (default 64 KiB); MaxSpecBytes a spec registration's,
	// which carries the spec's files (default 32 MiB). A larger body is refused with 413.
	MaxBodyBytes, MaxSpecBytes int64
	// MaxWait caps the wait of a long poll of /v1/events (default 60s).
	MaxWait time.Duration
	// EventPoll is how often a long poll looks for events that other processes (the CLI, workers,
	// other servers sharing the catalog) appended; the server's own changes wake it at once
	// (default 1s).
	EventPoll time.Duration
}

// Hooks are what pkg/rebuild plugs into the server: the scheduler and workers, rebuild requests and
// the patch SLA report. ingot serve wires them once that package lands; until then they are nil, and
// the routes that need one answer 501 Not Implemented.
type Hooks struct {
	// Background runs the scheduler and the workers until its context ends. Serve starts it with the
	// listener and, on shutdown, cancels it once no new requests are accepted and waits for it
	// (within ShutdownTimeout). An error it returns before shutdown stops the server.
	Background func(ctx context.Context) error
	// Rebuild enqueues a rebuild of a registered spec (POST /v1/specs/{name}/rebuild).
	Rebuild func(ctx context.Context, r RebuildRequest) (RebuildJob, error)
	// SLA computes the patch SLA report (GET /v1/sla); its result is sent as JSON.
	SLA func(ctx context.Context, q SLAQuery) (any, error)
}

// RebuildRequest asks for a rebuild of a registered spec.
type RebuildRequest struct {
	// Name is the registered spec's; Reason is recorded with the job (and the version it publishes);
	// Actor is the name of the token that asked.
	Name, Reason, Actor string
}

// RebuildJob is the job a rebuild request enqueued.
type RebuildJob struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Duplicate says an equal job was already waiting, so none was added.
	Duplicate bool `json:"duplicate,omitempty"`
}

// SLAQuery narrows the patch SLA report.
type SLAQuery struct {
	// Image restricts the report to one image (all when empty).
	Image string
}

// Defaults.
const (
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxBodyBytes    = 64 << 10
	DefaultMaxSpecBytes    = 32 << 20
	DefaultMaxWait         = 60 * time.Second
	DefaultEventPoll       = time.Second
)

// Token scopes a route may require; open routes need no token.
const (
	scopeOpen  = ""
	scopeRead  = catalog.ScopeRead
	scopeWrite = catalog.ScopeWrite
)

// Route is one operation of the API: what the OpenAPI document describes.
type Route struct {
	Method, Path string
	// Scope is the token scope it needs: "read", "write", or "" for the open routes.
	Scope string
}

// Server serves the catalog API. Its Handler may be mounted anywhere; Serve runs it on a listener
// with the background hook and shuts both down gracefully.
type Server struct {
	cfg     Config
	cat     catalog.Catalog // cfg.Catalog, timed for the metrics
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	routes  []Route
	metrics *metrics
	events  notifier

	stopOnce sync.Once
	stopping chan struct{}
}

// New checks cfg and builds the server's routes.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("server: no catalog")
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return nil, errors.New("server: TLS needs both a certificate and a key file")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	l := &cfg.Limits
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxSpecBytes <= 0 {
		l.MaxSpecBytes = DefaultMaxSpecBytes
	}
	if l.MaxWait <= 0 {
		l.MaxWait = DefaultMaxWait
	}
	if l.EventPoll <= 0 {
		l.EventPoll = DefaultEventPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(), stopping: make(chan struct{})}
	s.cat = timed{Catalog: cfg.Catalog, m: s.metrics}
	s.register()
	s.handler = s.observe(s.mux)
	return s, nil
}

// Handler is the API: every route, with logging and metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes lists the API's operations in the order they were registered.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// register declares every route: the one list the OpenAPI test compares with the document.
func (s *Server) register() {
	s.handle("GET /healthz", scopeOpen, s.healthz)
	s.handle("GET /readyz", scopeOpen, s.readyz)
	metricsScope := scopeOpen
	if s.cfg.MetricsAuth {
		metricsScope = scopeRead
	}
	s.handle("GET /metrics", metricsScope, s.serveMetrics)
	s.handle("GET /openapi.yaml", scopeOpen, serveOpenAPI)

	s.handle("GET /v1/images", scopeRead, s.listImages)
	s.handle("GET /v1/images/{image}/history", scopeRead, s.history)
	s.handle("GET /v1/versions", scopeRead, s.listVersions)
	s.handle("GET /v1/images/{image}/versions/{version}", scopeRead, s.showVersion)
	s.handle("GET /v1/images/{image}/versions/{version}/history", scopeRead, s.history)
	s.handle("GET /v1/images/{image}/versions/{version}/findings", scopeRead, s.versionFindings)
	s.handle("GET /v1/images/{image}/versions/{version}/documents/{document}", scopeRead, s.document)
	s.handle("POST /v1/images/{image}/versions/{version}/status", scopeWrite, s.setStatus)
	s.handle("GET /v1/diff", scopeRead, s.diff)
	s.handle("GET /v1/exposure", scopeRead, s.exposure)
	s.handle("GET /v1/findings", scopeRead, s.findings)
	s.handle("GET /v1/events", scopeRead, s.listEvents)
	s.handle("GET /v1/specs", scopeRead, s.listSpecs)
	s.handle("POST /v1/specs", scopeWrite, s.addSpec)
	s.handle("GET /v1/specs/{name}", scopeRead, s.showSpec)
	s.handle("DELETE /v1/specs/{name}", scopeWrite, s.removeSpec)
	s.handle("POST /v1/specs/{name}/rebuild", scopeWrite, s.rebuild)
	s.handle("GET /v1/sla", scopeRead, s.sla)

	// Everything else is a JSON 404, and a known path with another method a JSON 405: the patterns
	// without a method are less specific than the routes above, so they only get what those refuse.
	allowed := map[string][]string{}
	var paths []string
	for _, r := range s.routes {
		if allowed[r.Path] == nil {
			paths = append(paths, r.Path)
		}
		allowed[r.Path] = append(allowed[r.Path], r.Method)
	}
	for _, p := range paths {
		s.mux.Handle(p, s.wrap("", scopeOpen, methodNotAllowed(allowed[p])))
	}
	s.mux.Handle("/", s.wrap("", scopeOpen, func(http.ResponseWriter, *http.Request) error {
		return errNoRoute
	}))
}

// handler is a route's work: an error it returns becomes the response (see writeError).
type handler func(w http.ResponseWriter, r *http.Request) error

// handle registers a route that needs scope.
func (s *Server) handle(pattern, scope string, h handler) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Path: path, Scope: scope})
	s.mux.Handle(pattern, s.wrap(pattern, scope, h))
}

// wrap authenticates a request for scope, runs h and writes its error.
func (s *Server) wrap(route, scope string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoOf(r.Context())
		if route != "" {
			info.route = route
		}
		err := s.authorize(r, scope)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// Serve answers on ln until ctx ends, running the background hook beside it; then it shuts down
// gracefully: it stops accepting connections, tells long polls to answer, lets the requests in
// flight finish and stops the background hook, within ShutdownTimeout. It returns nil after a clean
// shutdown; a listener that fails or a background hook that fails before shutdown stop it too, with
// their error. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		// Long enough for the longest long poll and a large evidence document after it.
		WriteTimeout: s.cfg.Limits.MaxWait + time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	bgCtx, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bgCancel()
	bgDone := make(chan error, 1)
	if bg := s.cfg.Hooks.Background; bg != nil {
		go func() { bgDone <- bg(bgCtx) }()
	}
	served := make(chan error, 1)
	go func() {
		if s.cfg.TLS.CertFile != "" {
			served <- hs.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			served <- hs.Serve(ln)
		}
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", s.cfg.TLS.CertFile != "")

	var cause error
	bgRunning := s.cfg.Hooks.Background != nil
	select {
	case <-ctx.Done():
	case err := <-served:
		cause = fmt.Errorf("server: %w", err)
	case err := <-bgDone:
		bgRunning = false
		if err != nil {
			cause = fmt.Errorf("server: background jobs stopped: %w", err)
		} else {
			// The hook finished its work: keep serving until told to stop.
			select {
			case <-ctx.Done():
			case err := <-served:
				cause = fmt.Errorf("server: %w", err)
			}
		}
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	s.stop()
	bgCancel()
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := hs.Shutdown(shCtx); err != nil {
		_ = hs.Close() // the requests still running are cut off
		errs = append(errs, fmt.Errorf("server: requests still running after %s: %w", s.cfg.ShutdownTimeout, err))
	}
	if bgRunning {
		select {
		case err := <-bgDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("server: background jobs: %w", err))
			}
		case <-shCtx.Done():
			errs = append(errs, fmt.Errorf("server: background jobs still running after %s", s.cfg.ShutdownTimeout))
		}
	}
	if cause != nil && !errors.Is(cause, http.ErrServerClosed) {
		errs = append([]error{cause}, errs...)
	}
	err := errors.Join(errs...)
	if err == nil {
		s.log.Info("stopped")
	}
	return err
}

// stop marks the server as shutting down: readiness fails and long polls answer.
func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }
