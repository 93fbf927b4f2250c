package admission

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the webhook's Prometheus metrics, in a registry of their own (nothing global). A nil
// *Metrics counts nothing, for the offline tools.
type Metrics struct {
	reg          *prometheus.Registry
	reviews      *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	images       *prometheus.CounterVec
	cache        *prometheus.CounterVec
	checks       *prometheus.HistogramVec
	unavailable  *prometheus.CounterVec
	events       prometheus.Counter
	eventSeq     prometheus.Gauge
	followErrors prometheus.Counter
}

// latencyBuckets cover a warm review (well under a millisecond) to a cold one at the webhook timeout.
var latencyBuckets = []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

// NewMetrics registers the metrics, and Go's and the process's own.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ingot_admission_reviews_total",
			Help: "Admission reviews answered, by webhook (validate, mutate), operation, kind and decision (allow, deny, warn, error)."},
			[]string{"webhook", "operation", "kind", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ingot_admission_review_duration_seconds",
			Help: "Time to answer an admission review, by webhook and decision.", Buckets: latencyBuckets},
			[]string{"webhook", "decision"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ingot_admission_image_decisions_total",
			Help: "Images decided, by policy, mode and result (pass, or the first requirement that failed)."},
			[]string{"policy", "mode", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ingot_admission_cache_lookups_total",
			Help: "Verdict and catalog cache lookups, by cache (registry, catalog) and result (hit, miss, refresh, bypass)."},
			[]string{"cache", "result"}),
		checks: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ingot_admission_check_duration_seconds",
			Help: "Time of one uncached check, by source (registry: signatures and attestations; catalog: a record).", Buckets: latencyBuckets},
			[]string{"source"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ingot_admission_unavailable_total",
			Help: "Checks that could not be made (the registry or the catalog did not answer), by source."},
			[]string{"source"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "ingot_admission_catalog_events_total",
			Help: "Catalog events applied."}),
		eventSeq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ingot_admission_catalog_event_seq",
			Help: "The last catalog event seen."}),
		followErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ingot_admission_catalog_follow_errors_total",
			Help: "Failed polls of the catalog's events."}),
	}
	m.reg.MustRegister(m.reviews, m.duration, m.images, m.cache, m.checks, m.unavailable, m.events, m.eventSeq, m.followErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the metrics' registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) review(webhook, op, kind, decision string, took time.Duration) {
	if m == nil {
		return
	}
	m.reviews.WithLabelValues(webhook, op, kind, decision).Inc()
	m.duration.WithLabelValues(webhook, decision).Observe(took.Seconds())
}

func (m *Metrics) image(policy, mode, result string) {
	if m != nil {
		m.images.WithLabelValues(policy, mode, result).Inc()
	}
}

func (m *Metrics) cacheLookup(name string) func(string) {
	if m == nil {
		return nil
	}
	return func(result string) { m.cache.WithLabelValues(name, result).Inc() }
}

func (m *Metrics) check(source string, took time.Duration, unavailable bool) {
	if m == nil {
		return
	}
	m.checks.WithLabelValues(source).Observe(took.Seconds())
	if unavailable {
		m.unavailable.WithLabelValues(source).Inc()
	}
}

func (m *Metrics) followed(n int, seq int64) {
	if m != nil {
		m.events.Add(float64(n))
		m.eventSeq.Set(float64(seq))
	}
}

func (m *Metrics) setSeq(seq int64) {
	if m != nil {
		m.eventSeq.Set(float64(seq))
	}
}

func (m *Metrics) followError() {
	if m != nil {
		m.followErrors.Inc()
	}
}
