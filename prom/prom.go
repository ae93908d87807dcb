// Package prom exposes the gateway's metrics in the Prometheus format. Labels are service,
// action and status classes only: no org (unbounded), and never a key or a credential.
package prom

import (
	"net/http"
	"strconv"
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

// Start counts a request in flight; the returned func ends it.
func (m *Metrics) Start() func() {
	m.inflight.Inc()
	return m.inflight.Dec
}

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

// Observe records one finished request. service and action are empty for routes that are
// not invokes; upstreamStatus is 0 when there was no upstream answer.
func (m *Metrics) Observe(service, action string, status, upstreamStatus int, d time.Duration, bytes int64) {
	if service == "" {
		service, action = "-", "-"
	}
	m.requests.WithLabelValues(service, action, code(status)).Inc()
	if upstreamStatus != 0 {
		m.upstream.WithLabelValues(service, code(upstreamStatus)).Inc()
	}
	m.duration.WithLabelValues(service).Observe(d.Seconds())
	m.bytesOut.WithLabelValues(service).Add(float64(bytes))
}
