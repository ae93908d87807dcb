// Package httpapi is the gateway's HTTP surface: routes under the configurable prefix,
// authentication, discovery, invoke and the admin API, the request log, and the one JSON
// error writer. It depends on the domain and small interfaces, never on a database.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/catalog"
	"github.com/aiproxy/aiproxy/internal/gateway"
	"github.com/aiproxy/aiproxy/internal/providerkeys"
	"github.com/aiproxy/aiproxy/internal/ratelimit"
	"github.com/aiproxy/aiproxy/internal/tenancy"
	"github.com/aiproxy/aiproxy/internal/webhooks"
)

// DefaultPrefix is where the API lives unless configured otherwise (contract §1).
const DefaultPrefix = "/api/ai-proxy"

// Config is what a Server needs.
type Config struct {
	Store   aiproxy.Store
	Catalog *catalog.Catalog
	Gateway *gateway.Gateway
	Vault   *providerkeys.Vault
	Logger  *slog.Logger
	Prefix  string
	// CORSOrigins are origins allowed for every org, besides each org's own list.
	CORSOrigins []string
	Now         func() time.Time
	// Extra routes (metrics, health) mounted outside the prefix.
	Extra map[string]http.Handler
	// Metrics, when set, records every request.
	Metrics Metrics
	// Limiter enforces each org's invoke rate limit; nil: no limits at all.
	Limiter ratelimit.Limiter
	// DefaultRateLimit is the invokes per minute allowed to an org whose own
	// RateLimitPerMinute is 0; 0: unlimited.
	DefaultRateLimit int
	// PublicURL is the gateway's address as clients reach it (scheme://host[:port]), for
	// absolute links such as pagination's next; empty: links are relative (path and query).
	// Never taken from the client's Host header.
	PublicURL string
	// MetricsHandler, when set, is served at GET /metrics to operator keys only.
	MetricsHandler http.Handler
	// BodyIdleTimeout bounds the silence between reads of a request body
	// (DefaultBodyIdleTimeout when 0).
	BodyIdleTimeout time.Duration
	// MaxInflightPerKey bounds one key's requests in progress (0: no bound).
	MaxInflightPerKey int
	// IdempotencyMaxBody is the largest passthrough or stream answer kept for idempotent
	// replay (DefaultIdempotencyMaxBody when 0); json answers are always kept.
	IdempotencyMaxBody int64
	// Budgets reserves budget units across replicas (nil: the store's counters).
	Budgets tenancy.BudgetLedger
	// NoAccounting turns off what a shared provider account needs: job records, ownership
	// and account-scope checks, usage metering and budgets. It exists so that benchmarks
	// can measure what they cost; no deployment that shares a key should set it.
	NoAccounting bool
	// WebhookAllowPrivate lets org webhooks be http and aim at loopback, private and
	// link-local addresses (tests, a gateway whose receivers are on its own network).
	WebhookAllowPrivate bool
	// WebhookTimeout bounds each delivery attempt (DefaultWebhookTimeout when 0).
	WebhookTimeout time.Duration
	// Realtime bounds the WebSocket relay (realtime.go, docs/realtime.md); zero values
	// take the defaults.
	Realtime RealtimeLimits
}

// DefaultWebhookTimeout bounds one attempt to deliver an org's webhook.
const DefaultWebhookTimeout = 10 * time.Second

// Metrics records requests (implemented by package prom).
type Metrics interface {
	// Begin counts a request in flight.
	Begin()
	// Observe records a finished request and ends its in-flight count. service and action
	// are empty unless the request named a catalog action; upstreamStatus is 0 without an
	// upstream answer.
	Observe(service, action string, status, upstreamStatus int, d time.Duration, bytes int64)
}

// Server serves the API.
type Server struct {
	store       aiproxy.Store
	catalog     *catalog.Catalog
	gateway     *gateway.Gateway
	vault       *providerkeys.Vault
	logger      *slog.Logger
	prefix      string
	corsOrigins []string
	now         func() time.Time
	mux         *http.ServeMux
	handler     http.Handler
	touches     *touchBatcher
	metrics     Metrics
	tenancy     *tenancy.Manager // every rule: access, keys, orgs, credentials, settings
	limiter     ratelimit.Limiter
	defRate     int
	table       []Route // every route registered, for Routes

	publicURL    string
	bodyIdle     time.Duration
	inflight     *inflight
	idemMaxBody  int64
	noAccounting bool
	meter        *tenancy.Meter
	jobs         *jobHub     // the pollers of jobs clients wait on (jobs_poll.go)
	watcher      *jobWatcher // this replica's watch of every job (jobs_watch.go); nil without a store

	webhookAllowPrivate bool
	deliverer           *webhooks.Deliverer // this replica's sender of the webhook outbox; nil without a store
	stopDeliverer       func()
	refresher           resultRefresher // jobs_refresh.go
	rt                  *realtimeHub    // the WebSocket sessions in progress (realtime.go)
}

// Route is one route of the API: its pattern relative to the prefix, without the trailing
// slash (which is optional), and the methods it serves.
type Route struct {
	Pattern       string
	Methods       []string
	Authenticated bool
}

// Routes returns every route the server registered, in registration order. Tests derive
// their matrices from it, so that a new route cannot go untested.
func (s *Server) Routes() []Route { return s.table }

// New returns a Server. Close it to flush pending key-usage times.
func New(cfg Config) *Server {
	s := &Server{
		store: cfg.Store, catalog: cfg.Catalog, gateway: cfg.Gateway, vault: cfg.Vault,
		logger: cfg.Logger, prefix: strings.TrimSuffix(cfg.Prefix, "/"), corsOrigins: cfg.CORSOrigins,
		now: cfg.Now, mux: http.NewServeMux(), metrics: cfg.Metrics,
		limiter: cfg.Limiter, defRate: cfg.DefaultRateLimit,
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"), bodyIdle: cfg.BodyIdleTimeout,
		inflight: newInflight(cfg.MaxInflightPerKey), idemMaxBody: cfg.IdempotencyMaxBody, noAccounting: cfg.NoAccounting,
		webhookAllowPrivate: cfg.WebhookAllowPrivate,
	}
	if s.idemMaxBody <= 0 {
		s.idemMaxBody = DefaultIdempotencyMaxBody
	}
	if s.bodyIdle <= 0 {
		s.bodyIdle = DefaultBodyIdleTimeout
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.prefix == "" && cfg.Prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.touches = newTouchBatcher(s.store, s.logger)
	s.meter = tenancy.NewMeter(s.store, s.logger)
	s.jobs = newJobHub(s)
	s.tenancy = &tenancy.Manager{Store: s.store, Vault: s.vault, Catalog: s.catalog, Now: s.now,
		Budgets: cfg.Budgets, Meter: s.meter, Logger: s.logger}
	if s.store != nil {
		s.watcher = newJobWatcher(s)
		s.watcher.start()
		timeout := cfg.WebhookTimeout
		if timeout <= 0 {
			timeout = DefaultWebhookTimeout
		}
		s.deliverer = s.newDeliverer(cfg.WebhookAllowPrivate, timeout)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.deliverer.Run(ctx) }()
		s.stopDeliverer = func() { cancel(); <-done }
	}
	s.rt = newRealtimeHub(cfg.Realtime)
	s.routes()
	s.healthRoutes(cfg.MetricsHandler)
	for pattern, h := range cfg.Extra {
		s.mux.Handle(pattern, h)
	}
	s.handler = s.withRequestLog(s.mux)
	return s
}

// Tenancy returns the service layer the server calls, for the process that wires it (the
// demo makes its org through it).
func (s *Server) Tenancy() *tenancy.Manager { return s.tenancy }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close flushes pending work.
func (s *Server) Close() {
	if s.watcher != nil {
		s.watcher.stop()
	}
	if s.stopDeliverer != nil {
		s.stopDeliverer()
	}
	s.jobs.closeStreams()
	s.rt.closeAll() // before the meter: a session records its usage as it ends
	s.touches.Close()
	s.meter.Close()
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// methods maps HTTP methods to handlers of one route.
type methods map[string]handlerFunc

// route registers path (relative to the prefix, without trailing slash) with and without
// a trailing slash (docs/contract.md §1). For every request it: answers CORS for the org
// the router parsed (preflights before authentication: browsers send no key on them);
// bounds the silence of the request body; authenticates; counts the key's requests in
// progress; then answers 405 for a method the route does not serve, as the API always did.
func (s *Server) route(path string, m methods, authenticated bool) {
	h := s.routeHandler(m, authenticated)
	rt := Route{Pattern: path, Authenticated: authenticated}
	for method := range m {
		rt.Methods = append(rt.Methods, method)
	}
	sort.Strings(rt.Methods)
	s.table = append(s.table, rt)
	full := s.prefix + "/" + path
	if strings.HasSuffix(path, "...}") {
		s.mux.Handle(full, h) // a trailing wildcard takes both forms itself
		return
	}
	s.mux.Handle(full, h)
	s.mux.Handle(full+"/{$}", h)
}

// routeHandler is what route registers for one route's methods.
func (s *Server) routeHandler(m methods, authenticated bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cors(w, r) {
			return // a preflight, answered
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: s.bodyIdle}
		}
		if authenticated {
			key, err := s.authenticate(r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if err := s.inflight.enter(key.ID); err != nil {
				s.fail(w, r, err)
				return
			}
			defer s.inflight.leave(key.ID)
			r = withActor(r, key)
		}
		fn, ok := m[r.Method]
		if !ok && r.Method == http.MethodHead {
			fn, ok = m[http.MethodGet]
		}
		if !ok {
			s.fail(w, r, errMethodNotAllowed(r.Method))
			return
		}
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail answers err and records the status for the request log. A request whose body was
// not read to its end (refused before it was needed: no key, a bad key, no permission) is
// answered with Connection: close, so that the server does not read the body first: an
// unauthenticated client cannot make the gateway wait for its bytes.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if unread(r) {
		w.Header().Set("Connection", "close")
	}
	status := s.writeError(w, r, err)
	if li := logInfoFrom(r.Context()); li != nil {
		li.status = status
		li.err = err
	}
}

func (s *Server) routes() {
	s.route("orgs/{org}/services", methods{"GET": s.listServices}, true)
	s.route("orgs/{org}/services/{service}", methods{"GET": s.getService}, true)
	s.route("orgs/{org}/services/{service}/{action}", methods{"POST": s.invoke}, true)
	s.route(realtimeRoute, methods{"GET": s.realtime}, true)
	native := methods{}
	for _, m := range nativeMethods {
		native[m] = s.native
	}
	s.route(nativeRoute, native, true)
	s.adminRoutes()
	s.webhookRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !s.cors(w, r) {
			s.fail(w, r, errRouteNotFound)
		}
	})
}
