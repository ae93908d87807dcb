// Package prom exposes the gateway's metrics in the Prometheus format. Labels are service,
// action and status classes only: no org (unbounded), and never a key or a credential.
package prom

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics records requests. It implements httpapi.Metrics.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	upstream *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesOut *prometheus.CounterVec
	inflight prometheus.Gauge
	cache    sync.Map // seriesKey → *series
}

// New returns metrics registered in a registry of their own, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aiproxy_requests_total", Help: "Requests answered, by service, action and status.",
		}, []string{"service", "action", "code"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aiproxy_upstream_responses_total", Help: "Upstream answers, by service and status.",
		}, []string{"service", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aiproxy_request_duration_seconds", Help: "Time from request to the end of the response, by service.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"service"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aiproxy_response_bytes_total", Help: "Response body bytes sent to clients, by service.",
		}, []string{"service"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aiproxy_requests_in_flight", Help: "Requests being served.",
		}),
	}
	m.registry.MustRegister(m.requests, m.upstream, m.duration, m.bytesOut, m.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Begin counts a request in flight; Observe ends it.
func (m *Metrics) Begin() { m.inflight.Inc() }

// statusText avoids an allocation per request for the common codes.
var statusText = func() map[int]string {
	t := map[int]string{}
	for c := 100; c < 600; c++ {
		t[c] = strconv.Itoa(c)
	}
	return t
}()

func code(c int) string {
	if s, ok := statusText[c]; ok {
		return s
	}
	return strconv.Itoa(c)
}

// series are the metric children of one (service, action, status, upstream status),
// looked up once: WithLabelValues allocates on every call, this map does not.
type series struct {
	requests prometheus.Counter
	upstream prometheus.Counter // nil without an upstream status
	duration prometheus.Observer
	bytesOut prometheus.Counter
}

type seriesKey struct {
	service, action  string
	status, upstream int
}

func (m *Metrics) series(k seriesKey) *series {
	if s, ok := m.cache.Load(k); ok {
		return s.(*series)
	}
	s := &series{
		requests: m.requests.WithLabelValues(k.service, k.action, code(k.status)),
		duration: m.duration.WithLabelValues(k.service),
		bytesOut: m.bytesOut.WithLabelValues(k.service),
	}
	if k.upstream != 0 {
		s.upstream = m.upstream.WithLabelValues(k.service, code(k.upstream))
	}
	m.cache.Store(k, s)
	return s
}

// Observe records one finished request. service and action are empty for routes that are
// not invokes; upstreamStatus is 0 when there was no upstream answer.
func (m *Metrics) Observe(service, action string, status, upstreamStatus int, d time.Duration, bytes int64) {
	if service == "" {
		service, action = "-", "-"
	}
	m.inflight.Dec()
	s := m.series(seriesKey{service, action, status, upstreamStatus})
	s.requests.Inc()
	if s.upstream != nil {
		s.upstream.Inc()
	}
	s.duration.Observe(d.Seconds())
	s.bytesOut.Add(float64(bytes))
}
