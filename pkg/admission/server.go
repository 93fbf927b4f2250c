package admission

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// Server serves the webhook over HTTPS: POST /validate and /mutate (AdmissionReview), GET /healthz,
// /readyz and /metrics.
type Server struct {
	Webhook *Webhook
	// Mutate serves /mutate; without it /mutate is 404.
	Mutate bool
	// Ready says whether the webhook can decide (the catalog's events are being followed); nil: always.
	Ready   func() error
	Metrics *Metrics
	Logger  *slog.Logger
	// MaxWait caps one review's work (default 9s); the API server's timeout (its ?timeout= parameter,
	// timeoutSeconds of the webhook configuration) lowers it, so the answer, a denial that says what
	// did not answer if need be, always arrives before the API server gives up.
	MaxWait time.Duration

	certCheckEvery time.Duration // tests shorten it

	decodeOnce sync.Once
	decoders   chan decodeJob
}

// decodeJob is a review to decode on one of the decoding goroutines.
type decodeJob struct {
	body []byte
	done chan decoded
}

type decoded struct {
	rev *Review
	err error
}

// decode decodes a review on a long-lived goroutine. Decoding JSON recurses deeply, and every HTTP/2
// request runs in a new goroutine whose small stack would grow, by copying, several times per review
// (an eighth of the webhook's CPU at a thousand reviews per second); the decoding goroutines keep
// their grown stacks. Only decoding runs there: it never waits on a registry.
func (s *Server) decode(body []byte) (*Review, error) {
	s.decodeOnce.Do(func() {
		s.decoders = make(chan decodeJob)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for j := range s.decoders {
					rev, err := DecodeReview(j.body)
					j.done <- decoded{rev, err}
				}
			}()
		}
	})
	done := make(chan decoded, 1)
	s.decoders <- decodeJob{body: body, done: done}
	d := <-done
	return d.rev, d.err
}

// maxReview bounds a request body: an AdmissionReview carries the object and the old object, and the
// API server caps an object at about 3 MiB.
const maxReview = 16 << 20

// DefaultMaxWait is what a review may take when neither the caller nor the API server says less.
const DefaultMaxWait = 9 * time.Second

// Handler routes the webhook's endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /validate", func(w http.ResponseWriter, r *http.Request) { s.review(w, r, s.Webhook.Validate) })
	if s.Mutate {
		mux.HandleFunc("POST /mutate", func(w http.ResponseWriter, r *http.Request) { s.review(w, r, s.Webhook.Mutate) })
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	return mux
}

// budget is how long a review may work: under the API server's timeout by a margin for the answer to
// travel back, and at most MaxWait.
func (s *Server) budget(r *http.Request) time.Duration {
	limit := s.MaxWait
	if limit <= 0 {
		limit = DefaultMaxWait
	}
	if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 {
		margin := max(t/10, 200*time.Millisecond)
		if t-margin < limit {
			return max(t-margin, 100*time.Millisecond)
		}
	}
	return limit
}

func (s *Server) review(w http.ResponseWriter, r *http.Request, decide func(context.Context, *Request) *Outcome) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReview))
	if err != nil {
		http.Error(w, "reading the review: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	rev, err := s.decode(body)
	if err != nil {
		if s.Logger != nil {
			s.Logger.Warn("admission: a malformed review", "error", err, "remote", r.RemoteAddr)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.budget(r))
	defer cancel()
	out := decide(ctx, rev.Request)
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out.Review); err != nil && s.Logger != nil {
		s.Logger.Warn("admission: writing the response", "error", err)
	}
}

// ServeTLS serves on l with the certificate and key in the files (read again when they change, so a
// rotated certificate needs no restart) until ctx ends, then lets reviews in progress finish.
func (s *Server) ServeTLS(ctx context.Context, l net.Listener, certFile, keyFile string) error {
	cr := &certReloader{certFile: certFile, keyFile: keyFile, every: s.certCheckEvery}
	if err := cr.load(); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cr.get},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if s.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	}
	return serve(ctx, srv, func() error { return srv.ServeTLS(l, "", "") })
}

// ServeMetrics serves /metrics, /healthz and /readyz over plain HTTP on l (for a scraper that does not
// speak the webhook's TLS), until ctx ends.
func (s *Server) ServeMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	h := s.Handler()
	for _, p := range []string{"GET /metrics", "GET /healthz", "GET /readyz"} {
		mux.Handle(p, h)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return serve(ctx, srv, func() error { return srv.Serve(l) })
}

func serve(ctx context.Context, srv *http.Server, run func() error) error {
	done := make(chan error, 1)
	go func() { done <- run() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if rerr := <-done; !errors.Is(rerr, http.ErrServerClosed) && err == nil {
		err = rerr
	}
	return err
}

// certReloader serves the certificate in certFile and keyFile, reading them again when their
// modification time changes (checked at most every few seconds).
type certReloader struct {
	certFile, keyFile string
	// every is how often the files' times are checked (default certCheckEvery).
	every time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	mod     time.Time
	checked time.Time
}

const certCheckEvery = 5 * time.Second

func (c *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	c.cert = &cert
	c.mod = c.modTime()
	c.checked = time.Now()
	return nil
}

func (c *certReloader) modTime() time.Time {
	var latest time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
	}
	return latest
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	every := c.every
	if every <= 0 {
		every = certCheckEvery
	}
	if time.Since(c.checked) < every {
		return c.cert, nil
	}
	c.checked = time.Now()
	if m := c.modTime(); !m.Equal(c.mod) {
		// A half-written pair fails to load: keep serving the old one until both are in place.
		if err := c.load(); err != nil {
			c.mod = m
		}
	}
	return c.cert, nil
}
