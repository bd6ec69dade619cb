// Package metrics holds the gateway's Prometheus metrics, served on the
// admin port only. Labels are low-cardinality by construction: route
// templates, rule and tier names, status codes; never user ids or IPs.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stackauth-platform/infra/ratelimit/limiter"
)

// Metrics is the gateway's registry and instruments.
type Metrics struct {
	registry *prometheus.Registry

	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	exceeded       *prometheus.CounterVec
	storeOps       *prometheus.CounterVec
	storeDuration  *prometheus.HistogramVec
	degraded       *prometheus.CounterVec
	shed           prometheus.Counter
	inFlight       prometheus.Gauge
	upstreamErrors prometheus.Counter
}

// New registers every metric, plus build_info with version.
func New(version string) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "Requests answered by the gateway, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time from request to response through the gateway, upstream included.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		exceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rate_limit_exceeded_total",
			Help: "Requests refused with 429, by the rule that refused them and the tier.",
		}, []string{"rule", "tier"}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_operations_total",
			Help: "Round trips to the rate-limit store (one per decision), by store and result.",
		}, []string{"store", "result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rate_limit_store_duration_seconds",
			Help:    "Latency of one rate-limit decision on the store.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25},
		}, []string{"store"}),
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rate_limit_degraded_decisions_total",
			Help: "Rule evaluations made without the shared store, by rule and the policy applied (deny, local, allow).",
		}, []string{"rule", "policy"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "http_requests_shed_total",
			Help: "Requests refused with 503 because MAX_CONCURRENT_REQUESTS were already in flight.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "Requests being served by this replica.",
		}),
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "upstream_errors_total",
			Help: "Admitted requests that could not be proxied to the upstream (answered 502).",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "build_info",
		Help:        "Always 1; labels carry the gateway version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.registry.MustRegister(m.requests, m.duration, m.exceeded, m.storeOps, m.storeDuration,
		m.degraded, m.shed, m.inFlight, m.upstreamErrors, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Request records one answered request.
func (m *Metrics) Request(route, method string, code int, elapsed time.Duration) {
	method = methodLabel(method)
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(route, method, c).Inc()
	m.duration.WithLabelValues(route, method, c).Observe(elapsed.Seconds())
}

// Exceeded records a 429.
func (m *Metrics) Exceeded(rule, tier string) { m.exceeded.WithLabelValues(rule, tier).Inc() }

// Shed records a request refused by the in-flight limit.
func (m *Metrics) Shed() { m.shed.Inc() }

// InFlight tracks requests in progress.
func (m *Metrics) InFlight(delta float64) { m.inFlight.Add(delta) }

// UpstreamError records a failed proxy attempt.
func (m *Metrics) UpstreamError() { m.upstreamErrors.Inc() }

// StoreCall implements limiter.Observer.
func (m *Metrics) StoreCall(store string, err error, elapsed time.Duration) {
	result := "ok"
	switch {
	case isTimeout(err):
		result = "timeout"
	case err != nil:
		result = "error"
	}
	m.storeOps.WithLabelValues(store, result).Inc()
	m.storeDuration.WithLabelValues(store).Observe(elapsed.Seconds())
}

// Degraded implements limiter.Observer.
func (m *Metrics) Degraded(rule string, policy limiter.Policy) {
	m.degraded.WithLabelValues(rule, string(policy)).Inc()
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
