package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus collectors, in a registry of its own (no process-wide state:
// two servers in one process, as in tests, count apart).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	catalog  *prometheus.HistogramVec
	catErrs  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingot_http_requests_total",
			Help: "HTTP requests answered, by route (method and path pattern) and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ingot_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingot_http_requests_in_flight",
			Help: "HTTP requests being answered (long polls included).",
		}),
		catalog: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ingot_catalog_operation_duration_seconds",
			Help:    "Time the catalog took for one operation (query or write), by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		catErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingot_catalog_operation_errors_total",
			Help: "Catalog operations that failed, by operation (a version or token not found included).",
		}, []string{"operation"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.catalog, m.catErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeCatalog records one catalog operation.
func (m *metrics) observeCatalog(op string, start time.Time, err error) {
	m.catalog.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.catErrs.WithLabelValues(op).Inc()
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryOf(r); err != nil {
		return err
	}
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// reqInfo is what the handlers learn about a request that its log line and metrics need.
type reqInfo struct {
	route string // "GET /v1/versions"; "unmatched" for a path no route has
	token string // the token's name, once authenticated
	err   error  // a failure (5xx), for the log
}

type infoKey struct{}

// infoOf is the request's reqInfo; a request that did not come through observe gets a throwaway.
func infoOf(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs one line per request and counts it, by route and status.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{route: "unmatched"}
		rec := &recorder{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		code := strconv.Itoa(rec.status)
		s.metrics.requests.WithLabelValues(info.route, code).Inc()
		s.metrics.latency.WithLabelValues(info.route, code).Observe(d.Seconds())
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		attrs := append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", info.route),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", d),
			slog.Int64("bytes", rec.bytes),
			slog.String("token", info.token),
			slog.String("remote", r.RemoteAddr),
		}, logAttrs(info.err)...)
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
